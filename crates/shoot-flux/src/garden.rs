//! Access to the garden cluster: the project's `flux-config` ConfigMap. The kubeconfig is the one
//! gardenlet injects (`GARDEN_KUBECONFIG`); without it, or when the garden answers 403, the
//! project layer is unavailable and the status of affected shoots says so.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;

use crate::config::project::CONFIGMAP_NAME;

#[derive(Debug, thiserror::Error)]
pub enum GardenError {
    #[error(
        "no garden access is configured (GARDEN_KUBECONFIG), so the project's {CONFIGMAP_NAME} ConfigMap cannot be read"
    )]
    NotConfigured,
    #[error(
        "the garden denied reading ConfigMap {namespace}/{CONFIGMAP_NAME} (403): install the ClusterRole with label authorization.gardener.cloud/custom-extensions-permissions from example/ (details: {message})"
    )]
    Forbidden { namespace: String, message: String },
    #[error("reading ConfigMap {namespace}/{CONFIGMAP_NAME} from the garden failed: {message}")]
    Unavailable { namespace: String, message: String },
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

    /// The data of `flux-config` in `project_namespace`, or None when the project has none.
    pub async fn project_config(
        &self,
        project_namespace: &str,
    ) -> Result<Option<BTreeMap<String, String>>, GardenError> {
        let Some(client) = &self.client else {
            return Err(GardenError::NotConfigured);
        };
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), project_namespace);
        match api.get_opt(CONFIGMAP_NAME).await {
            Ok(found) => Ok(found.map(|cm| cm.data.unwrap_or_default())),
            Err(kube::Error::Api(status)) if status.code == 403 => Err(GardenError::Forbidden {
                namespace: project_namespace.to_string(),
                message: status.message,
            }),
            Err(e) => Err(GardenError::Unavailable {
                namespace: project_namespace.to_string(),
                message: e.to_string(),
            }),
        }
    }
}
