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
use crate::deploykey::DeployKey;
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

/// Flux's GitRepository admits only URLs with a scheme: `git@host:org/repo.git` (the seed's
/// ConfigMaps may use it) becomes `ssh://git@host/org/repo.git`.
pub fn flux_git_url(url: &str) -> String {
    match crate::giturl::url_scheme(url) {
        Some("scp") => format!("ssh://{}", url.replacen(':', "/", 1)),
        _ => url.to_string(),
    }
}

pub fn git_repository(namespace: &str, sync: &SyncConfig) -> GitRepository {
    GitRepository {
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: "GitRepository".into(),
        metadata: metadata(GIT_REPOSITORY_NAME, namespace),
        spec: GitRepositorySpec {
            interval: "30s".into(),
            url: flux_git_url(&sync.url),
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

/// The GitRepository's SSH secret: the project's deploy key and the host keys it may trust.
pub fn source_secret(namespace: &str, key: &DeployKey) -> Value {
    let data: serde_json::Map<String, Value> = key
        .secret_data_base64()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SOURCE_SECRET_NAME, "namespace": namespace},
        "type": "Opaque",
        "data": data
    })
}

/// On a seed copy of a `Shoot.spec.resources` Secret, the stackit extension's opt-in to carrying
/// the Secret's labels over to the shoot.
pub const COPY_LABELS_ANNOTATION: &str = "gardener-extension-shoot-flux/copy-labels";

/// The true spellings of Go's `strconv.ParseBool`, with which the stackit extension reads
/// `COPY_LABELS_ANNOTATION`; anything else (including what Go rejects) means false.
fn go_bool_true(value: &str) -> bool {
    matches!(value, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

/// A Secret's content as the seed holds it (values base64, as in the API).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretPayload {
    pub type_: Option<String>,
    pub data: BTreeMap<String, String>,
    /// The seed Secret's labels, copied only when `copy_labels` says so.
    pub labels: BTreeMap<String, String>,
    /// The seed Secret's `gardener-extension-shoot-flux/copy-labels` annotation, as written.
    pub copy_labels: Option<String>,
}

/// A Secret of `Shoot.spec.resources`, copied into the Flux namespace keeping its type and data.
/// With `COPY_LABELS_ANNOTATION` true on the seed copy, all its labels come along, and win over
/// the `managed-by` label, as in the stackit extension.
pub fn copied_secret(namespace: &str, name: &str, payload: &SecretPayload) -> Value {
    let mut labels = BTreeMap::from([(
        "app.kubernetes.io/managed-by".to_string(),
        "gardener-extension-shoot-flux".to_string(),
    )]);
    if payload.copy_labels.as_deref().is_some_and(go_bool_true) {
        labels.extend(payload.labels.clone());
    }
    let mut secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": labels
        },
        "data": payload.data
    });
    if let Some(type_) = &payload.type_ {
        secret["type"] = Value::String(type_.clone());
    }
    secret
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scp_like_urls_get_a_scheme() {
        assert_eq!(
            flux_git_url("git@github.com:org/repo.git"),
            "ssh://git@github.com/org/repo.git"
        );
        assert_eq!(
            flux_git_url("ssh://git@host:2222/org/repo.git"),
            "ssh://git@host:2222/org/repo.git"
        );
        assert_eq!(
            flux_git_url("https://host/org/repo"),
            "https://host/org/repo"
        );
    }
}
