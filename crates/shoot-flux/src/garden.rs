//! Access to the garden cluster: the project's `flux-config` ConfigMap and its deploy key Secret
//! `flux-source`. The kubeconfig is the one gardenlet injects (`GARDEN_KUBECONFIG`); without it,
//! or when the garden answers 403, the project layer is unavailable and the status of affected
//! shoots says so.
//!
//! Key hygiene: the garden holds the private deploy key of every project of the landscape, a seed
//! needs only those of projects with shoots on it. The `flux-source` watch is metadata-only (it
//! tells whether the Secret exists and its resourceVersion, never its data); a key is read when a
//! reconcile of one of the project's shoots needs it, held in `DeployKeys` for as long as the
//! Secret stays at that version and the project has shoots here, and zeroized when dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store, store::Writer};
use kube::runtime::watcher;
use prometheus_client::metrics::gauge::Gauge;
use zeroize::Zeroize;

use crate::apierror::is_conflict;
use shoot_flux_core::config::project::CONFIGMAP_NAME;
use shoot_flux_core::deploykey::{DeployKey, SECRET_NAME};

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
    /// Ours is the one, stored at this resourceVersion.
    Created { resource_version: Option<String> },
    /// Someone else's was first (AlreadyExists); theirs is returned, or None if it is already
    /// gone again.
    LostRace(Option<Box<Secret>>),
}

/// Overwrites the values of a Secret's data before it is dropped: the parts of a deploy key
/// Secret that this process does not keep are not left behind in freed memory.
pub fn scrub(secret: &mut Secret) {
    for value in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
        value.0.zeroize();
    }
    for value in secret.string_data.iter_mut().flat_map(|d| d.values_mut()) {
        value.zeroize();
    }
}

/// What the `flux-source` watch keeps of a Secret's metadata: its name, namespace and version.
/// Annotations go: a Secret written with client-side `kubectl apply` carries its whole content,
/// the key included, in `kubectl.kubernetes.io/last-applied-configuration`.
pub fn strip_secret_metadata(secret: &mut PartialObjectMeta<Secret>) {
    let meta = &mut secret.metadata;
    meta.managed_fields = None;
    if let Some(mut annotations) = meta.annotations.take() {
        for value in annotations.values_mut() {
            value.zeroize();
        }
    }
    meta.labels = None;
}

/// What the `flux-source` watch knows of a project's deploy key Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KnownSecret {
    /// The watch has not listed (or is denied): ask the garden.
    Unknown,
    /// Listed, and there is none.
    Absent,
    /// There is one, at this resourceVersion.
    Present { resource_version: String },
}

#[derive(Clone)]
pub struct Garden {
    client: Option<Client>,
    cache: Option<GardenCache>,
    keys: DeployKeys,
}

/// What the controller's garden watches hold (they are restricted by name): every project's
/// `flux-config` ConfigMap, and the metadata of every project's `flux-source` Secret (no key
/// bytes). Once a watch has listed, reads are answered from it instead of a request per shoot; a
/// change reaches the cache before the reconciles it triggers. Until then, or when the watch is
/// denied, reads go to the garden.
#[derive(Clone)]
pub struct GardenCache {
    configmaps: Store<ConfigMap>,
    secrets: Store<PartialObjectMeta<Secret>>,
    configmaps_listed: Arc<AtomicBool>,
    secrets_listed: Arc<AtomicBool>,
    keys: DeployKeys,
}

/// The writing ends of a `GardenCache`, fed by the controller's garden watches, which set the
/// flags once they have listed.
pub struct GardenCacheWriters {
    pub configmaps: Writer<ConfigMap>,
    pub secrets: Writer<PartialObjectMeta<Secret>>,
    pub configmaps_listed: Arc<AtomicBool>,
    pub secrets_listed: Arc<AtomicBool>,
    /// The keys read so far, dropped as the `flux-source` watch reports changes.
    pub keys: DeployKeys,
}

impl GardenCacheWriters {
    /// For the `flux-source` watch, after its reflector: drops a held key once the watch reports
    /// its Secret changed or deleted (also across a relist).
    pub fn key_hygiene(
        &self,
    ) -> impl Fn(&Result<watcher::Event<PartialObjectMeta<Secret>>, watcher::Error>) + use<> {
        let keys = self.keys.clone();
        let store = self.secrets.as_reader();
        move |event| match event {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                if let Some(namespace) = o.metadata.namespace.as_deref() {
                    keys.forget_unless(namespace, o.metadata.resource_version.as_deref());
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                if let Some(namespace) = o.metadata.namespace.as_deref() {
                    keys.forget_unless(namespace, None);
                }
            }
            Ok(watcher::Event::InitDone) => keys.retain_versions(|namespace| {
                store
                    .get(&ObjectRef::new(SECRET_NAME).within(namespace))
                    .and_then(|o| o.metadata.resource_version.clone())
            }),
            Ok(watcher::Event::Init) | Err(_) => {}
        }
    }
}

impl GardenCache {
    pub fn new() -> (Self, GardenCacheWriters) {
        let configmaps = Writer::default();
        let secrets = Writer::default();
        let (configmaps_listed, secrets_listed) = (Arc::default(), Arc::default());
        let keys = DeployKeys::default();
        (
            Self {
                configmaps: configmaps.as_reader(),
                secrets: secrets.as_reader(),
                configmaps_listed: Arc::clone(&configmaps_listed),
                secrets_listed: Arc::clone(&secrets_listed),
                keys: keys.clone(),
            },
            GardenCacheWriters {
                configmaps,
                secrets,
                configmaps_listed,
                secrets_listed,
                keys,
            },
        )
    }

    /// The object if the store has listed once (Some(None): listed, and it is not there).
    fn lookup<K>(
        store: &Store<K>,
        listed: &AtomicBool,
        namespace: &str,
        name: &str,
    ) -> Option<Option<Arc<K>>>
    where
        K: kube::Resource<DynamicType = ()> + Clone + 'static,
    {
        listed
            .load(Ordering::SeqCst)
            .then(|| store.get(&ObjectRef::new(name).within(namespace)))
    }
}

/// A deploy key as read from its Secret at one resourceVersion.
struct Held {
    resource_version: String,
    key: DeployKey,
}

#[derive(Default)]
struct KeyState {
    /// By project namespace.
    held: HashMap<String, Held>,
    /// Shoot namespace -> the project namespace whose key its last reconcile used.
    users: HashMap<String, String>,
    /// One read of a project's Secret at a time; who waited finds the key held.
    reads: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
    gauge: Option<Gauge>,
}

impl KeyState {
    /// Records that `user` uses the project's key; a project it used before keeps its key only
    /// if other shoots use it too.
    fn use_by(&mut self, user: &str, project_namespace: &str) {
        let before = self
            .users
            .insert(user.to_string(), project_namespace.to_string());
        if let Some(before) = before
            && before != project_namespace
            && !self.users.values().any(|p| *p == before)
        {
            self.reads.remove(&before);
            self.drop_project(&before);
        }
    }

    fn drop_project(&mut self, project_namespace: &str) {
        // DeployKey zeroizes its private half when dropped.
        self.held.remove(project_namespace);
        self.update_gauge();
    }

    fn update_gauge(&self) {
        if let Some(gauge) = &self.gauge {
            gauge.set(i64::try_from(self.held.len()).unwrap_or(i64::MAX));
        }
    }
}

/// The private deploy keys this process holds: only those of projects whose shoots on this seed
/// used them, each valid for the resourceVersion it was read at. A key goes when the last of
/// those shoots leaves (`release`) and when the watch reports its Secret changed or deleted.
#[derive(Clone, Default)]
pub struct DeployKeys {
    state: Arc<Mutex<KeyState>>,
}

impl std::fmt::Debug for DeployKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployKeys")
            .field("held", &self.held())
            .finish_non_exhaustive()
    }
}

impl DeployKeys {
    fn with<T>(&self, f: impl FnOnce(&mut KeyState) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Reports the number of held keys in `gauge` from now on.
    pub fn report_to(&self, gauge: Gauge) {
        self.with(|s| {
            s.gauge = Some(gauge);
            s.update_gauge();
        });
    }

    /// How many projects' keys are held.
    pub fn held(&self) -> usize {
        self.with(|s| s.held.len())
    }

    /// The project's key if it is held at `resource_version`; `user` (the shoot namespace) is
    /// recorded as using it.
    pub fn current(
        &self,
        project_namespace: &str,
        resource_version: &str,
        user: &str,
    ) -> Option<DeployKey> {
        self.with(|s| {
            let key = s
                .held
                .get(project_namespace)
                .filter(|h| h.resource_version == resource_version)?
                .key
                .clone();
            s.use_by(user, project_namespace);
            Some(key)
        })
    }

    /// Holds the project's key as read (or created) at `resource_version` (None: unknown, so it
    /// is not held), for `user`.
    pub fn keep(
        &self,
        project_namespace: &str,
        resource_version: Option<&str>,
        key: &DeployKey,
        user: &str,
    ) {
        self.with(|s| {
            s.use_by(user, project_namespace);
            match resource_version {
                Some(rv) => {
                    s.held.insert(
                        project_namespace.into(),
                        Held {
                            resource_version: rv.into(),
                            key: key.clone(),
                        },
                    );
                }
                None => {
                    s.held.remove(project_namespace);
                }
            }
            s.update_gauge();
        });
    }

    /// The shoot in namespace `user` no longer uses a deploy key here (it left the seed, or its
    /// repository is no longer private); the project's key goes with its last user.
    pub fn release(&self, user: &str) {
        self.with(|s| {
            let Some(project) = s.users.remove(user) else {
                return;
            };
            if !s.users.values().any(|p| *p == project) {
                s.reads.remove(&project);
                s.drop_project(&project);
            }
        });
    }

    /// Drops the project's key unless it is held at `resource_version` (None: the Secret is gone).
    pub fn forget_unless(&self, project_namespace: &str, resource_version: Option<&str>) {
        self.with(|s| {
            let stale = s
                .held
                .get(project_namespace)
                .is_some_and(|h| Some(h.resource_version.as_str()) != resource_version);
            if stale {
                s.drop_project(project_namespace);
            }
        });
    }

    /// Keeps only keys whose Secret is still at the version they were read at, as `current`
    /// (project namespace -> resourceVersion, None when gone) says.
    pub fn retain_versions(&self, current: impl Fn(&str) -> Option<String>) {
        self.with(|s| {
            s.held.retain(|namespace, held| {
                current(namespace).as_deref() == Some(held.resource_version.as_str())
            });
            s.update_gauge();
        });
    }

    /// The lock that makes reads of the project's Secret one at a time.
    pub fn read_lock(&self, project_namespace: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.with(|s| {
            s.reads
                .entry(project_namespace.to_string())
                .or_default()
                .clone()
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
            keys: DeployKeys::default(),
        }
    }

    /// Answers project reads from the controller's garden watches once they have listed, and
    /// holds deploy keys where the watch drops them.
    pub fn with_cache(self, cache: GardenCache) -> Self {
        Self {
            keys: cache.keys.clone(),
            cache: Some(cache),
            ..self
        }
    }

    pub fn client(&self) -> Option<&Client> {
        self.client.as_ref()
    }

    /// The deploy keys this process holds.
    pub fn deploy_keys(&self) -> &DeployKeys {
        &self.keys
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
            return Ok(found.map(|cm| cm.data.clone().unwrap_or_default()));
        }
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), project_namespace);
        api.get_opt(CONFIGMAP_NAME)
            .await
            .map(|found| found.map(|cm| cm.data.unwrap_or_default()))
            .map_err(|e| GardenError::from_kube("read ConfigMap flux-config", project_namespace, e))
    }

    /// Whether the project's `flux-source` exists, and its version, as the watch has it.
    pub fn deploy_key_secret(&self, project_namespace: &str) -> KnownSecret {
        let found = self.cache.as_ref().and_then(|c| {
            GardenCache::lookup(
                &c.secrets,
                &c.secrets_listed,
                project_namespace,
                SECRET_NAME,
            )
        });
        match found {
            None => KnownSecret::Unknown,
            Some(None) => KnownSecret::Absent,
            Some(Some(meta)) => match meta.metadata.resource_version.clone() {
                Some(resource_version) => KnownSecret::Present { resource_version },
                None => KnownSecret::Unknown,
            },
        }
    }

    /// The Secret `name` in `project_namespace`, or None, read now. Whoever reads a deploy key
    /// with it scrubs it (`scrub`) once the key is taken out.
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
            Ok(mut created) => {
                // The answer repeats the key; only its version is kept.
                scrub(&mut created);
                Ok(Created::Created {
                    resource_version: created.metadata.resource_version.take(),
                })
            }
            Err(e) if is_conflict(&e) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;
    use kube::core::PartialObjectMetaExt;

    fn key() -> DeployKey {
        DeployKey::generate("t", String::new()).unwrap()
    }

    fn flux_source(namespace: &str, version: &str) -> PartialObjectMeta<Secret> {
        ObjectMeta {
            name: Some(SECRET_NAME.into()),
            namespace: Some(namespace.into()),
            resource_version: Some(version.into()),
            ..Default::default()
        }
        .into_response_partial()
    }

    #[test]
    fn a_key_is_held_at_its_version_while_shoots_use_it_and_goes_with_the_last() {
        let keys = DeployKeys::default();
        let gauge = Gauge::default();
        keys.report_to(gauge.clone());
        let alpha = key();
        keys.keep("garden-alpha", Some("7"), &alpha, "shoot--alpha--a");
        assert_eq!(
            keys.current("garden-alpha", "7", "shoot--alpha--b"),
            Some(alpha.clone())
        );
        // Another version of the Secret is another key.
        assert_eq!(keys.current("garden-alpha", "8", "shoot--alpha--c"), None);
        assert_eq!(keys.current("garden-beta", "7", "shoot--beta--a"), None);
        keys.keep("garden-beta", Some("3"), &key(), "shoot--beta--a");
        assert_eq!((keys.held(), gauge.get()), (2, 2));

        // A shoot that never used a key, or that used another project's, changes nothing.
        keys.release("shoot--gamma--a");
        keys.release("shoot--alpha--c");
        keys.release("shoot--alpha--a");
        assert_eq!(
            keys.current("garden-alpha", "7", "shoot--alpha--b"),
            Some(alpha)
        );
        // The last shoot of the project leaves: its key goes, the other project's stays.
        keys.release("shoot--alpha--b");
        assert_eq!(keys.current("garden-alpha", "7", "shoot--alpha--b"), None);
        assert_eq!((keys.held(), gauge.get()), (1, 1));
        keys.release("shoot--beta--a");
        assert_eq!((keys.held(), gauge.get()), (0, 0));
    }

    #[test]
    fn a_shoot_that_uses_another_project_key_releases_the_first() {
        let keys = DeployKeys::default();
        keys.keep("garden-a", Some("1"), &key(), "shoot--a--x");
        keys.keep("garden-b", Some("1"), &key(), "shoot--a--x");
        assert_eq!(keys.held(), 1);
        assert!(keys.current("garden-b", "1", "shoot--a--x").is_some());
    }

    #[test]
    fn a_key_read_at_an_unknown_version_is_not_held() {
        let keys = DeployKeys::default();
        keys.keep("garden-alpha", Some("1"), &key(), "shoot--alpha--a");
        keys.keep("garden-alpha", None, &key(), "shoot--alpha--a");
        assert_eq!(keys.held(), 0);
    }

    #[test]
    fn the_watch_drops_keys_whose_secret_changed_or_went() {
        let (cache, mut writers) = GardenCache::new();
        let hygiene = writers.key_hygiene();
        let keys = cache.keys.clone();
        let mut event = |e: watcher::Event<PartialObjectMeta<Secret>>| {
            writers.secrets.apply_watcher_event(&e);
            hygiene(&Ok(e));
        };
        for (project, version) in [("garden-a", "1"), ("garden-b", "2"), ("garden-c", "3")] {
            keys.keep(
                project,
                Some(version),
                &key(),
                &format!("shoot--{project}--x"),
            );
        }
        // The key's own version, as our own create or read is echoed by the watch: kept.
        event(watcher::Event::Apply(flux_source("garden-a", "1")));
        event(watcher::Event::Apply(flux_source("garden-b", "2")));
        event(watcher::Event::Apply(flux_source("garden-c", "3")));
        assert_eq!(keys.held(), 3);
        // Rotated in place: dropped.
        event(watcher::Event::Apply(flux_source("garden-a", "4")));
        assert_eq!(keys.current("garden-a", "1", "s"), None);
        // Deleted: dropped.
        event(watcher::Event::Delete(flux_source("garden-b", "2")));
        assert_eq!(keys.current("garden-b", "2", "s"), None);
        assert_eq!(keys.held(), 1);
        // A relist that no longer has it (deleted while the watch was down): dropped.
        keys.keep("garden-d", Some("5"), &key(), "shoot--d--x");
        event(watcher::Event::Init);
        event(watcher::Event::InitApply(flux_source("garden-c", "3")));
        event(watcher::Event::InitDone);
        assert_eq!(keys.held(), 1);
        assert!(keys.current("garden-c", "3", "s").is_some());
    }

    #[test]
    fn the_watch_keeps_no_annotations_of_a_secret() {
        let mut meta = flux_source("garden-a", "1");
        let applied = r#"{"data":{"identity":"LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS0K"}}"#;
        meta.metadata.annotations = Some(BTreeMap::from([(
            "kubectl.kubernetes.io/last-applied-configuration".to_string(),
            applied.to_string(),
        )]));
        meta.metadata.labels = Some(BTreeMap::from([("a".to_string(), "b".to_string())]));
        strip_secret_metadata(&mut meta);
        assert_eq!(meta.metadata.annotations, None);
        assert_eq!(meta.metadata.labels, None);
        assert_eq!(meta.metadata.resource_version.as_deref(), Some("1"));
        assert_eq!(meta.metadata.namespace.as_deref(), Some("garden-a"));
    }

    #[test]
    fn the_watch_tells_whether_a_deploy_key_exists_and_its_version() {
        let (cache, mut writers) = GardenCache::new();
        let garden = Garden::new(None).with_cache(cache);
        assert_eq!(garden.deploy_key_secret("garden-a"), KnownSecret::Unknown);
        writers
            .secrets
            .apply_watcher_event(&watcher::Event::Apply(flux_source("garden-a", "9")));
        writers.secrets_listed.store(true, Ordering::SeqCst);
        assert_eq!(
            garden.deploy_key_secret("garden-a"),
            KnownSecret::Present {
                resource_version: "9".into()
            }
        );
        assert_eq!(garden.deploy_key_secret("garden-b"), KnownSecret::Absent);
        // The garden's keys and the watch's are the same.
        garden
            .deploy_keys()
            .keep("garden-a", Some("9"), &key(), "shoot--a--x");
        assert_eq!(writers.keys.held(), 1);
    }
}
