//! Read access to the shoot, least privilege: a `shoot-access-*`
//! Secret in the shoot namespace that the shoot's GRM token requestor fills with a token for
//! ServiceAccount `kube-system/extension-shoot-flux`, RBAC for that ServiceAccount shipped
//! through a ManagedResource (reading Flux sources, Kustomizations and the Flux Deployments, no
//! more), and a client from the `generic-token-kubeconfig` with that token. There is no fallback
//! to the admin kubeconfigs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use serde_json::{Value, json};

pub const SERVICE_ACCOUNT: &str = "extension-shoot-flux";
pub const SERVICE_ACCOUNT_NAMESPACE: &str = "kube-system";
pub const SECRET_NAME: &str = "shoot-access-extension-shoot-flux";
/// The Cluster annotation naming the current generic token kubeconfig Secret.
pub const GENERIC_KUBECONFIG_ANNOTATION: &str =
    "generic-token-kubeconfig.secret.gardener.cloud/name";
const ROLE_NAME: &str = "gardener.cloud:extension-shoot-flux:read";

#[derive(Debug, thiserror::Error)]
pub enum ShootAccessError {
    /// The token requestor has not written a token yet, or the Cluster names no kubeconfig.
    #[error("waiting for shoot access: {0}")]
    Waiting(String),
    #[error("the shoot access kubeconfig is unusable: {0}")]
    Kubeconfig(String),
    #[error("seed API request failed: {0}")]
    Seed(#[from] kube::Error),
}

/// The Secret the token requestor fills (labels and annotations only; GRM writes the data).
pub fn access_secret(namespace: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(SECRET_NAME.into()),
            namespace: Some(namespace.into()),
            labels: Some(BTreeMap::from([
                (
                    "resources.gardener.cloud/purpose".to_string(),
                    "token-requestor".to_string(),
                ),
                (
                    "resources.gardener.cloud/class".to_string(),
                    "shoot".to_string(),
                ),
            ])),
            annotations: Some(BTreeMap::from([
                (
                    "serviceaccount.resources.gardener.cloud/name".to_string(),
                    SERVICE_ACCOUNT.to_string(),
                ),
                (
                    "serviceaccount.resources.gardener.cloud/namespace".to_string(),
                    SERVICE_ACCOUNT_NAMESPACE.to_string(),
                ),
            ])),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// RBAC in the shoot for the ServiceAccount: read Flux's sources and Kustomizations anywhere,
/// and the Deployments of the Flux namespace.
pub fn rbac_objects(flux_namespace: &str) -> Vec<Value> {
    let subject = json!([{
        "kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": SERVICE_ACCOUNT_NAMESPACE
    }]);
    let read = json!(["get", "list", "watch"]);
    vec![
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": ROLE_NAME},
            "rules": [
                {"apiGroups": ["source.toolkit.fluxcd.io"],
                 "resources": ["gitrepositories", "ocirepositories", "buckets", "helmrepositories", "helmcharts"],
                 "verbs": read},
                {"apiGroups": ["kustomize.toolkit.fluxcd.io"], "resources": ["kustomizations"], "verbs": read}
            ]
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": ROLE_NAME},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE_NAME},
            "subjects": subject
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": ROLE_NAME, "namespace": flux_namespace},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": read}]
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": ROLE_NAME, "namespace": flux_namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
            "subjects": subject
        }),
    ]
}

/// Creates the access Secret, or restores its labels and annotations; never touches its data,
/// which belongs to the token requestor. `fresh`: it is expected not to exist, so it is created
/// without reading first.
pub async fn ensure_secret(
    seed: &kube::Client,
    namespace: &str,
    fresh: bool,
) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(seed.clone(), namespace);
    let desired = access_secret(namespace);
    if fresh {
        match api.create(&PostParams::default(), &desired).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e),
        }
    }
    match api.get_metadata_opt(SECRET_NAME).await? {
        None => match api.create(&PostParams::default(), &desired).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(e),
        },
        Some(current) => {
            let has = |have: &Option<BTreeMap<String, String>>,
                       want: &Option<BTreeMap<String, String>>| {
                want.iter()
                    .flatten()
                    .all(|(k, v)| have.as_ref().and_then(|h| h.get(k)) == Some(v))
            };
            if has(&current.metadata.labels, &desired.metadata.labels)
                && has(&current.metadata.annotations, &desired.metadata.annotations)
            {
                return Ok(());
            }
            let patch = json!({"metadata": {
                "labels": desired.metadata.labels,
                "annotations": desired.metadata.annotations
            }});
            api.patch(SECRET_NAME, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
        }
    }
}

/// A kubeconfig for the shoot: the generic token kubeconfig's cluster with `token` as the user.
pub fn kubeconfig_with_token(generic: &str, token: &str) -> Result<Kubeconfig, ShootAccessError> {
    let mut kubeconfig =
        Kubeconfig::from_yaml(generic).map_err(|e| ShootAccessError::Kubeconfig(e.to_string()))?;
    if kubeconfig.auth_infos.is_empty() {
        return Err(ShootAccessError::Kubeconfig("it has no user".into()));
    }
    for named in &mut kubeconfig.auth_infos {
        named.auth_info = Some(AuthInfo {
            token: Some(token.to_string().into()),
            ..Default::default()
        });
    }
    Ok(kubeconfig)
}

/// The token the token requestor wrote, or `Waiting`.
pub async fn token(seed: &kube::Client, namespace: &str) -> Result<String, ShootAccessError> {
    let secrets: Api<Secret> = Api::namespaced(seed.clone(), namespace);
    secrets
        .get_opt(SECRET_NAME)
        .await?
        .and_then(|s| s.data)
        .and_then(|d| {
            d.get("token")
                .map(|v| String::from_utf8_lossy(&v.0).to_string())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ShootAccessError::Waiting(format!(
                "the token requestor has not written a token to Secret {SECRET_NAME} yet"
            ))
        })
}

/// A client with `token` for the shoot whose seed namespace is `namespace`, or `Waiting` while
/// the generic kubeconfig is not there. Connecting and each read give up after `timeout`.
pub async fn client(
    seed: &kube::Client,
    namespace: &str,
    generic_kubeconfig_secret: Option<&str>,
    token: &str,
    timeout: std::time::Duration,
) -> Result<kube::Client, ShootAccessError> {
    let secrets: Api<Secret> = Api::namespaced(seed.clone(), namespace);
    let generic_name = generic_kubeconfig_secret.ok_or_else(|| {
        ShootAccessError::Waiting(format!(
            "the Cluster has no annotation {GENERIC_KUBECONFIG_ANNOTATION}"
        ))
    })?;
    let text = |secret: Option<Secret>, key: &str| {
        secret
            .and_then(|s| s.data)
            .and_then(|d| {
                d.get(key)
                    .map(|v| String::from_utf8_lossy(&v.0).to_string())
            })
            .filter(|v| !v.is_empty())
    };
    let generic = text(secrets.get_opt(generic_name).await?, "kubeconfig").ok_or_else(|| {
        ShootAccessError::Waiting(format!("Secret {generic_name} has no kubeconfig yet"))
    })?;
    let kubeconfig = kubeconfig_with_token(&generic, token)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| ShootAccessError::Kubeconfig(e.to_string()))?;
    // A stopped shoot API server must not hold a reader for long.
    config.connect_timeout = Some(timeout);
    config.read_timeout = Some(timeout);
    crate::kubeclient::client(config, crate::kubeclient::Pool::SHOOT, timeout)
        .map_err(|e| ShootAccessError::Kubeconfig(e.to_string()))
}

/// The field managers, other than GRM, that write Flux's own Deployments: another owner (the
/// repository carrying Flux's components, applied by kustomize-controller) in Managed mode.
pub fn other_owners(deployments: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in deployments {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        for entry in d["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let manager = entry["manager"].as_str().unwrap_or_default();
            if matches!(manager, "kustomize-controller" | "helm-controller" | "flux") {
                out.push((name.to_string(), manager.to_string()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_secret_asks_the_token_requestor_for_a_shoot_service_account() {
        let s = access_secret("shoot--dev--app");
        let labels = s.metadata.labels.unwrap();
        assert_eq!(
            labels["resources.gardener.cloud/purpose"],
            "token-requestor"
        );
        assert_eq!(labels["resources.gardener.cloud/class"], "shoot");
        let annotations = s.metadata.annotations.unwrap();
        assert_eq!(
            annotations["serviceaccount.resources.gardener.cloud/namespace"],
            "kube-system"
        );
        assert!(s.data.is_none());
    }

    #[test]
    fn rbac_only_reads() {
        let objects = rbac_objects("flux-system");
        for o in &objects {
            for rule in o["rules"].as_array().into_iter().flatten() {
                assert_eq!(rule["verbs"], json!(["get", "list", "watch"]));
            }
        }
        assert_eq!(objects[2]["metadata"]["namespace"], "flux-system");
        assert_eq!(objects[2]["rules"][0]["resources"], json!(["deployments"]));
    }

    #[test]
    fn the_token_replaces_the_token_file() {
        let generic = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: extension\ncurrent-context: c\nusers:\n- name: extension\n  user:\n    tokenFile: /var/run/secrets/gardener.cloud/shoot/generic-kubeconfig/token\n";
        let k = kubeconfig_with_token(generic, "t0ken").unwrap();
        let user = k.auth_infos[0].auth_info.as_ref().unwrap();
        assert!(user.token_file.is_none());
        assert!(user.token.is_some());
        assert!(kubeconfig_with_token("users: []\n", "t").is_err());
    }

    #[test]
    fn flux_applying_its_own_deployments_is_another_owner() {
        let deployments = vec![
            json!({"metadata": {"name": "source-controller", "managedFields": [
                {"manager": "gardener-resource-manager"}, {"manager": "kustomize-controller"}
            ]}}),
            json!({"metadata": {"name": "kustomize-controller", "managedFields": [
                {"manager": "gardener-resource-manager"}, {"manager": "kube-controller-manager"}
            ]}}),
        ];
        assert_eq!(
            other_owners(&deployments),
            [(
                "source-controller".to_string(),
                "kustomize-controller".to_string()
            )]
        );
    }
}
