//! The sync objects and the shoot-info ConfigMap a shoot gets, with the seed's names and
//! defaults: GitRepository `main-gitrepo`, Kustomization `main-ks`, both Flux v1 APIs.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use super::types::{
    CrossNamespaceSourceReference, GitRepository, GitRepositoryRef, GitRepositorySpec,
    Kustomization, KustomizationSpec, LocalObjectReference, PostBuild, SubstituteReference,
};

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

fn metadata(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.into()),
        namespace: Some(namespace.into()),
        annotations: Some(BTreeMap::from([(
            FINALIZE_DELETION_AFTER.0.to_string(),
            FINALIZE_DELETION_AFTER.1.to_string(),
        )])),
        ..Default::default()
    }
}

pub fn git_repository(namespace: &str, sync: &SyncConfig) -> GitRepository {
    GitRepository {
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: "GitRepository".into(),
        metadata: metadata(GIT_REPOSITORY_NAME, namespace),
        spec: GitRepositorySpec {
            interval: "30s".into(),
            url: sync.url.clone(),
            reference: Some(GitRepositoryRef {
                branch: Some(sync.branch.clone()),
                ..Default::default()
            }),
            secret_ref: (sync.repository_type == RepositoryType::Private).then(|| {
                LocalObjectReference {
                    name: SOURCE_SECRET_NAME.into(),
                }
            }),
        },
    }
}

pub fn kustomization(namespace: &str, sync: &SyncConfig) -> Kustomization {
    Kustomization {
        api_version: "kustomize.toolkit.fluxcd.io/v1".into(),
        kind: "Kustomization".into(),
        metadata: metadata(KUSTOMIZATION_NAME, namespace),
        spec: KustomizationSpec {
            interval: "5m".into(),
            path: sync.path.clone(),
            prune: true,
            target_namespace: Some(sync.target_namespace.clone()),
            source_ref: CrossNamespaceSourceReference {
                kind: "GitRepository".into(),
                name: GIT_REPOSITORY_NAME.into(),
                namespace: None,
            },
            post_build: Some(PostBuild {
                substitute_from: vec![SubstituteReference {
                    kind: "ConfigMap".into(),
                    name: SHOOT_INFO_NAME.into(),
                    optional: true,
                }],
            }),
        },
    }
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
