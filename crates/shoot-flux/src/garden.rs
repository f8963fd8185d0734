//! Access to the garden cluster: the project's `flux-config` ConfigMap and its deploy key Secret
//! `flux-source`. The kubeconfig is the one gardenlet injects (`GARDEN_KUBECONFIG`); without it,
//! or when the garden answers 403, the project layer is unavailable and the status of affected
//! shoots says so.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};

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
    cache: Option<GardenCache>,
}

/// What the controller's garden watches hold (they are restricted by name): every project's
/// `flux-config` ConfigMap and `flux-source` Secret. Once a watch has listed, reads are
/// answered from it instead of a request per shoot; a change reaches the cache before the
/// reconciles it triggers. Until then, or when the watch is denied, reads go to the garden.
#[derive(Clone)]
pub struct GardenCache {
    configmaps: Store<ConfigMap>,
    secrets: Store<Secret>,
    configmaps_listed: Arc<AtomicBool>,
    secrets_listed: Arc<AtomicBool>,
}

/// The writing ends of a `GardenCache`, fed by the controller's garden watches, which set the
/// flags once they have listed.
pub struct GardenCacheWriters {
    pub configmaps: Writer<ConfigMap>,
    pub secrets: Writer<Secret>,
    pub configmaps_listed: Arc<AtomicBool>,
    pub secrets_listed: Arc<AtomicBool>,
}

impl GardenCache {
    pub fn new() -> (Self, GardenCacheWriters) {
        let configmaps = Writer::default();
        let secrets = Writer::default();
        let (configmaps_listed, secrets_listed) = (Arc::default(), Arc::default());
        (
            Self {
                configmaps: configmaps.as_reader(),
                secrets: secrets.as_reader(),
                configmaps_listed: Arc::clone(&configmaps_listed),
                secrets_listed: Arc::clone(&secrets_listed),
            },
            GardenCacheWriters {
                configmaps,
                secrets,
                configmaps_listed,
                secrets_listed,
            },
        )
    }

    /// The object if the store has listed once (Some(None): listed, and it is not there).
    fn lookup<K>(
        store: &Store<K>,
        listed: &AtomicBool,
        namespace: &str,
        name: &str,
    ) -> Option<Option<K>>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        listed.load(Ordering::SeqCst).then(|| {
            store
                .get(&ObjectRef::new(name).within(namespace))
                .map(|o| (*o).clone())
        })
    }
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
        Self {
            client,
            cache: None,
        }
    }

    /// Answers project reads from the controller's garden watches once they have listed.
    pub fn with_cache(self, cache: GardenCache) -> Self {
        Self {
            cache: Some(cache),
            ..self
        }
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
        let client = self.require()?;
        if let Some(found) = self.cache.as_ref().and_then(|c| {
            GardenCache::lookup(
                &c.configmaps,
                &c.configmaps_listed,
                project_namespace,
                CONFIGMAP_NAME,
            )
        }) {
            return Ok(found.map(|cm| cm.data.unwrap_or_default()));
        }
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), project_namespace);
        api.get_opt(CONFIGMAP_NAME)
            .await
            .map(|found| found.map(|cm| cm.data.unwrap_or_default()))
            .map_err(|e| GardenError::from_kube("read ConfigMap flux-config", project_namespace, e))
    }

    /// The project's Secret `name` as the garden watch has it, else read now; only for names
    /// the watch covers (`flux-source`).
    pub async fn watched_secret(
        &self,
        project_namespace: &str,
        name: &str,
    ) -> Result<Option<Secret>, GardenError> {
        self.require()?;
        if let Some(found) = self.cache.as_ref().and_then(|c| {
            GardenCache::lookup(&c.secrets, &c.secrets_listed, project_namespace, name)
        }) {
            return Ok(found);
        }
        self.secret(project_namespace, name).await
    }

    /// The Secret `name` in `project_namespace`, or None, read now.
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
