//! Read access to the shoot, least privilege: keeps the `shoot-access-*` Secret (`access`) in
//! the shoot namespace, which the shoot's GRM token requestor fills with a token for ServiceAccount
//! `kube-system/extension-shoot-flux` (its read-only RBAC ships through a ManagedResource), and
//! makes a client from the `generic-token-kubeconfig` with that token. There is no fallback to the
//! admin kubeconfigs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use kube::config::{AuthInfo, KubeConfigOptions, Kubeconfig};
use serde_json::json;

use crate::apierror::is_conflict;
use crate::kubeclient::WriteMode;
use shoot_flux_core::access::{GENERIC_KUBECONFIG_ANNOTATION, SECRET_NAME, access_secret};

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

/// Creates the access Secret, or restores its labels and annotations; never touches its data,
/// which belongs to the token requestor. `WriteMode::CreateFirst`: it is expected not to exist, so it is created
/// without reading first.
pub async fn ensure_secret(
    seed: &kube::Client,
    namespace: &str,
    mode: WriteMode,
) -> Result<(), kube::Error> {
    let api: Api<Secret> = Api::namespaced(seed.clone(), namespace);
    let desired = access_secret(namespace);
    if mode == WriteMode::CreateFirst {
        match crate::kubeclient::create_unread(&api, &desired).await {
            Ok(_) => return Ok(()),
            Err(e) if is_conflict(&e) => {}
            Err(e) => return Err(e),
        }
    }
    match api.get_metadata_opt(SECRET_NAME).await? {
        None => match crate::kubeclient::create_unread(&api, &desired).await {
            Ok(_) => Ok(()),
            Err(e) if is_conflict(&e) => Ok(()),
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

/// Why there is no token yet.
pub fn waiting_for_token() -> ShootAccessError {
    ShootAccessError::Waiting(format!(
        "the token requestor has not written a token to Secret {SECRET_NAME} yet"
    ))
}

/// The access Secret as read: its resourceVersion (None: no Secret) and its token, if the token
/// requestor wrote one.
pub struct TokenRead {
    pub version: Option<String>,
    pub token: Option<String>,
}

/// Reads the access Secret in shoot namespace `namespace`.
pub async fn read_token(seed: &kube::Client, namespace: &str) -> Result<TokenRead, kube::Error> {
    let secrets: Api<Secret> = Api::namespaced(seed.clone(), namespace);
    let Some(secret) = secrets.get_opt(SECRET_NAME).await? else {
        return Ok(TokenRead {
            version: None,
            token: None,
        });
    };
    let token = secret
        .data
        .as_ref()
        .and_then(|d| d.get("token"))
        .map(|v| String::from_utf8_lossy(&v.0).to_string())
        .filter(|t| !t.is_empty());
    Ok(TokenRead {
        version: secret.metadata.resource_version,
        token,
    })
}

/// The token the token requestor wrote, or `Waiting`.
pub async fn token(seed: &kube::Client, namespace: &str) -> Result<String, ShootAccessError> {
    read_token(seed, namespace)
        .await?
        .token
        .ok_or_else(waiting_for_token)
}

/// A client with `token` for the shoot whose seed namespace is `namespace`, or `Waiting` while
/// the generic kubeconfig is not there. See [`client_from_kubeconfig`] for `timeout` and
/// `counter`.
pub async fn client(
    seed: &kube::Client,
    namespace: &str,
    generic_kubeconfig_secret: Option<&str>,
    token: &str,
    timeout: std::time::Duration,
    counter: Option<crate::opsmetrics::RequestCounter>,
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
    client_from_kubeconfig(&generic, token, timeout, counter).await
}

/// A client from the generic kubeconfig `generic` with `token`. Connecting and waiting for each
/// answer give up after `timeout`, so a stopped shoot API server never holds a reader for long
/// (the sync poll also bounds each whole read by it, the storage migration by the reconcile's
/// deadline). The connection has no read timeout of its own: it would close the kept
/// connection whenever the pause between two reads (the sync period, 30 s by default) is longer
/// than `timeout`, and every round would pay a new connection and TLS handshake per shoot.
/// `counter` counts the client's requests and connections.
pub async fn client_from_kubeconfig(
    generic: &str,
    token: &str,
    timeout: std::time::Duration,
    counter: Option<crate::opsmetrics::RequestCounter>,
) -> Result<kube::Client, ShootAccessError> {
    let kubeconfig = kubeconfig_with_token(generic, token)?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| ShootAccessError::Kubeconfig(e.to_string()))?;
    config.connect_timeout = Some(timeout);
    config.read_timeout = None;
    crate::kubeclient::counted_client(config, crate::kubeclient::Pool::SHOOT, timeout, counter)
        .map_err(|e| ShootAccessError::Kubeconfig(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shoot is read once per sync period; its connection must outlive a pause longer than
    /// the request budget. The count is the server's.
    #[tokio::test]
    async fn the_connection_is_kept_across_a_pause_longer_than_the_request_budget() {
        let (address, accepted) =
            crate::kubeclient::tests::keep_alive_server_answering(200, "{}".into()).await;
        let generic = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://{address}\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: extension\ncurrent-context: c\nusers:\n- name: extension\n  user:\n    tokenFile: /unused\n"
        );
        let budget = std::time::Duration::from_millis(500);
        let client = client_from_kubeconfig(&generic, "t0ken", budget, None)
            .await
            .unwrap();
        for _ in 0..2 {
            assert_eq!(crate::kubeclient::tests::get_configmap(&client).await, "{}");
            tokio::time::sleep(budget * 3).await;
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
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
}
