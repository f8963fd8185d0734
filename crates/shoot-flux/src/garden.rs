//! Access to the garden cluster: the project's `flux-config` ConfigMap and its deploy key Secret
//! `flux-source`. The kubeconfig is the one gardenlet injects (`GARDEN_KUBECONFIG`); without it,
//! or when the garden answers 403, the project layer is unavailable and the status of affected
//! shoots says so.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, PostParams};

use crate::config::project::CONFIGMAP_NAME;

#[derive(Debug, thiserror::Error)]
pub enum GardenError {
    #[error(
        "no garden access is configured (GARDEN_KUBECONFIG), so the project's {CONFIGMAP_NAME} ConfigMap cannot be read"
    )]
    NotConfigured,
    #[error(
        "the garden denied to {action} in {namespace} (403): install the ClusterRole with label authorization.gardener.cloud/custom-extensions-permissions from example/ (details: {message})"
    )]
    Forbidden {
        action: &'static str,
        namespace: String,
        message: String,
    },
    #[error("the garden request to {action} in {namespace} failed: {message}")]
    Unavailable {
        action: &'static str,
        namespace: String,
        message: String,
    },
}

impl GardenError {
    fn from_kube(action: &'static str, namespace: &str, error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status) if status.code == 403 => Self::Forbidden {
                action,
                namespace: namespace.to_string(),
                message: status.message,
            },
            e => Self::Unavailable {
                action,
                namespace: namespace.to_string(),
                message: crate::kubeclient::describe(&e),
            },
        }
    }
}

/// The result of creating a Secret that may have been created concurrently.
#[derive(Debug)]
pub enum Created {
    /// Ours is the one.
    Created,
    /// Someone else's was first (AlreadyExists); theirs is returned, or None if it is already
    /// gone again.
    LostRace(Option<Box<Secret>>),
}

#[derive(Clone)]
pub struct Garden {
    client: Option<Client>,
}

impl std::fmt::Debug for Garden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Garden")
            .field("configured", &self.client.is_some())
            .finish()
    }
}

impl Garden {
    pub fn new(client: Option<Client>) -> Self {
        Self { client }
    }

    pub fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }

    fn require(&self) -> Result<&Client, GardenError> {
        self.client.as_ref().ok_or(GardenError::NotConfigured)
    }

    /// The data of `flux-config` in `project_namespace`, or None when the project has none.
    pub async fn project_config(
        &self,
        project_namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, GardenError> {
        let api: Api<ConfigMap> = Api::namespaced(self.require()?.clone(), project_namespace);
        api.get_opt(CONFIGMAP_NAME)
            .await
            .map(|found| found.map(|cm| cm.data.unwrap_or_default()))
            .map_err(|e| GardenError::from_kube("read ConfigMap flux-config", project_namespace, e))
    }

    /// The Secret `name` in `project_namespace`, or None.
    pub async fn secret(
        &self,
        project_namespace: &str,
        name: &str,
    ) -> Result<Option<Secret>, GardenError> {
        let api: Api<Secret> = Api::namespaced(self.require()?.clone(), project_namespace);
        api.get_opt(name)
            .await
            .map_err(|e| GardenError::from_kube("read Secret flux-source", project_namespace, e))
    }

    /// Creates `secret` unless it exists; never overwrites.
    pub async fn create_secret(
        &self,
        project_namespace: &str,
        secret: &Secret,
    ) -> Result<Created, GardenError> {
        let api: Api<Secret> = Api::namespaced(self.require()?.clone(), project_namespace);
        match api.create(&PostParams::default(), secret).await {
            Ok(_) => Ok(Created::Created),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let name = secret.metadata.name.as_deref().unwrap_or_default();
                Ok(Created::LostRace(
                    self.secret(project_namespace, name).await?.map(Box::new),
                ))
            }
            Err(e) => Err(GardenError::from_kube(
                "create Secret flux-source",
                project_namespace,
                e,
            )),
        }
    }
}
