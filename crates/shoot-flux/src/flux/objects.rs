//! The sync objects and the shoot-info ConfigMap a shoot gets, with the seed's names and
//! defaults: GitRepository `main-gitrepo`, Kustomization `main-ks`, both Flux v1 APIs.

use serde_json::{Value, json};

use crate::config::SyncConfig;
use crate::config::project::RepositoryType;
use crate::gardener::shoot::ShootFacts;

pub const GIT_REPOSITORY_NAME: &str = "main-gitrepo";
pub const KUSTOMIZATION_NAME: &str = "main-ks";
pub const SOURCE_SECRET_NAME: &str = "flux-source";
pub const SHOOT_INFO_NAME: &str = "shoot-info";
/// GRM removes the finalizers of these objects this long after their deletion started, so a
/// broken Flux cannot block the removal of the extension forever.
pub const FINALIZE_DELETION_AFTER: (&str, &str) =
    ("resources.gardener.cloud/finalize-deletion-after", "5m");

pub fn git_repository(namespace: &str, sync: &SyncConfig) -> Value {
    let mut spec = json!({
        "interval": "30s",
        "url": sync.url,
        "ref": {"branch": sync.branch}
    });
    if sync.repository_type == RepositoryType::Private {
        spec["secretRef"] = json!({"name": SOURCE_SECRET_NAME});
    }
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {
            "name": GIT_REPOSITORY_NAME,
            "namespace": namespace,
            "annotations": {FINALIZE_DELETION_AFTER.0: FINALIZE_DELETION_AFTER.1}
        },
        "spec": spec
    })
}

pub fn kustomization(namespace: &str, sync: &SyncConfig) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {
            "name": KUSTOMIZATION_NAME,
            "namespace": namespace,
            "annotations": {FINALIZE_DELETION_AFTER.0: FINALIZE_DELETION_AFTER.1}
        },
        "spec": {
            "interval": "5m",
            "path": sync.path,
            "prune": true,
            "targetNamespace": sync.target_namespace,
            "sourceRef": {"kind": "GitRepository", "name": GIT_REPOSITORY_NAME},
            "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": SHOOT_INFO_NAME, "optional": true}]}
        }
    })
}

/// `SHOOT_INFO_*` facts for Flux's `postBuild.substituteFrom`.
pub fn shoot_info(namespace: &str, shoot: &ShootFacts) -> Value {
    let mut data = serde_json::Map::new();
    let mut put = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            data.insert(format!("SHOOT_INFO_{key}"), Value::String(v.to_string()));
        }
    };
    put("CLUSTER_IDENTITY", shoot.cluster_identity.as_deref());
    put("NAME", Some(&shoot.name));
    put("TECHNICAL_ID", Some(&shoot.technical_id));
    put(
        "GARDEN_CLUSTER_IDENTITY",
        shoot.garden_cluster_identity.as_deref(),
    );
    put("PROJECT", Some(&shoot.project));
    put("REGION", shoot.region.as_deref());
    put("PROVIDER_TYPE", shoot.provider_type.as_deref());
    put("KUBERNETES_VERSION", shoot.kubernetes_version.as_deref());
    put("PURPOSE", shoot.purpose.as_deref());
    put("SEED", shoot.seed_name.as_deref());
    put("DOMAIN", shoot.domain.as_deref());
    json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": SHOOT_INFO_NAME, "namespace": namespace},
        "data": data
    })
}
