//! Watches of the seed that tell the periodic observers (health check, sync status poll) what
//! changed, so that a steady shoot costs them no request: every Cluster's resourceVersion
//! (metadata only), the status of shoot-flux's ManagedResources (by their `origin` label, no
//! spec), and every shoot-access Secret's resourceVersion (metadata only: the token is read when
//! it changed, never kept here). Until a watch has listed, or while it is denied (an older RBAC),
//! readers fall back to a GET.
//!
//! The reconciler does not use them: a reconcile must see the Cluster as it is now, and the
//! Extension that triggers it can arrive before the Cluster change on another watch.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};

use crate::apiresources::{Cluster, ManagedResourceStatusOnly};
use shoot_flux_core::managedresource::{ManagedResource, ORIGIN};

/// One watch's cache and whether it has listed.
pub struct Watched<K: kube::Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    listed: Arc<AtomicBool>,
}

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Clone for Watched<K> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            listed: self.listed.clone(),
        }
    }
}

/// What a watch knows of one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known<T> {
    /// The watch has not listed (or is denied): ask the API server.
    Unknown,
    Absent,
    Present(T),
}

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Watched<K> {
    /// What the watch has of `namespace`/`name` (`namespace` None for a cluster-scoped kind).
    pub fn get(&self, namespace: Option<&str>, name: &str) -> Known<Arc<K>> {
        if !self.listed.load(Ordering::SeqCst) {
            return Known::Unknown;
        }
        let mut reference = ObjectRef::new(name);
        if let Some(namespace) = namespace {
            reference = reference.within(namespace);
        }
        match self.store.get(&reference) {
            Some(object) => Known::Present(object),
            None => Known::Absent,
        }
    }

    /// The resourceVersion of `namespace`/`name` as last seen by the watch.
    pub fn version(&self, namespace: Option<&str>, name: &str) -> Known<String> {
        match self.get(namespace, name) {
            Known::Unknown => Known::Unknown,
            Known::Absent => Known::Absent,
            Known::Present(object) => match object.meta().resource_version.clone() {
                Some(version) => Known::Present(version),
                None => Known::Unknown,
            },
        }
    }

    pub fn len(&self) -> usize {
        self.store.state().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A cache whose watch never lists: every reader falls back to a GET.
    pub fn never() -> Self {
        Self {
            store: reflector::store::Writer::default().as_reader(),
            listed: Arc::default(),
        }
    }

    /// Follows `api` with `config` into the cache, keeping what `slim` leaves of each object,
    /// until the process ends; a failing watch is retried with backoff.
    fn spawn(api: Api<K>, config: watcher::Config, slim: fn(&mut K), what: &'static str) -> Self
    where
        K: serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync,
    {
        let writer = reflector::store::Writer::default();
        let store = writer.as_reader();
        let listed: Arc<AtomicBool> = Arc::default();
        let flag = listed.clone();
        tokio::spawn(async move {
            watcher(api, config)
                .default_backoff()
                .modify(slim)
                .reflect(writer)
                .for_each(|event| {
                    match &event {
                        Ok(watcher::Event::InitDone) => {
                            if !flag.swap(true, Ordering::SeqCst) {
                                tracing::debug!(watch = what, "watch listed");
                            }
                        }
                        Err(e) => tracing::warn!(watch = what, error = %e, "watch failed"),
                        Ok(_) => {}
                    }
                    std::future::ready(())
                })
                .await;
        });
        Self { store, listed }
    }
}

/// The seed watches of the observers.
#[derive(Clone)]
pub struct SeedWatches {
    /// Every Cluster's name and resourceVersion.
    pub clusters: Watched<PartialObjectMeta<Cluster>>,
    /// GRM's status of shoot-flux's ManagedResources.
    pub managed_resources: Watched<ManagedResourceStatusOnly>,
    /// Every shoot-access Secret's name and resourceVersion.
    pub access_secrets: Watched<PartialObjectMeta<Secret>>,
}

/// Keeps name, namespace, resourceVersion and generation: what the readers compare.
fn identity_only(meta: &mut kube::api::ObjectMeta) {
    let kept = kube::api::ObjectMeta {
        name: meta.name.take(),
        namespace: meta.namespace.take(),
        resource_version: meta.resource_version.take(),
        generation: meta.generation.take(),
        ..Default::default()
    };
    *meta = kept;
}

fn slim_cluster(cluster: &mut PartialObjectMeta<Cluster>) {
    identity_only(&mut cluster.metadata);
}

fn slim_secret(secret: &mut PartialObjectMeta<Secret>) {
    identity_only(&mut secret.metadata);
}

fn slim_managed_resource(mr: &mut ManagedResourceStatusOnly) {
    identity_only(&mut mr.metadata);
    // Only the condition fields the verdict reads were decoded; drop empty messages' capacity.
    if let Some(status) = mr.status.as_mut() {
        status.conditions.shrink_to_fit();
    }
}

impl SeedWatches {
    /// Starts the three watches (every replica runs them, so a standby takes over warm).
    pub fn spawn(seed: &Client) -> Self {
        // Pages of 50: a Cluster's metadata carries its managedFields, which name every field
        // of its Shoot, Seed and CloudProfile (tens of KiB), until `slim_cluster` drops them.
        let clusters = Watched::spawn(
            Api::all(seed.clone()),
            watcher::Config::default().page_size(50),
            slim_cluster,
            "clusters",
        );
        let managed_resources = Watched::spawn(
            Api::all(seed.clone()),
            watcher::Config::default()
                .labels(&format!("origin={ORIGIN}"))
                .page_size(100),
            slim_managed_resource,
            "managedresources",
        );
        let access_secrets = Watched::spawn(
            Api::all(seed.clone()),
            watcher::Config::default().fields(&format!(
                "metadata.name={}",
                shoot_flux_core::access::SECRET_NAME
            )),
            slim_secret,
            "shoot-access secrets",
        );
        Self {
            clusters,
            managed_resources,
            access_secrets,
        }
    }

    /// Watches that never list: every reader asks the API server (tests, tools).
    pub fn none() -> Self {
        Self {
            clusters: Watched::never(),
            managed_resources: Watched::never(),
            access_secrets: Watched::never(),
        }
    }

    /// The ManagedResource `name` in `namespace` as the health verdict reads it.
    pub fn managed_resource(&self, namespace: &str, name: &str) -> Known<ManagedResource> {
        match self.managed_resources.get(Some(namespace), name) {
            Known::Unknown => Known::Unknown,
            Known::Absent => Known::Absent,
            Known::Present(mr) => Known::Present(mr.to_managed_resource()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slim_copies_keep_only_what_is_compared() {
        let mut secret: PartialObjectMeta<Secret> = serde_json::from_value(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": "shoot-access-extension-shoot-flux", "namespace": "shoot--a--b",
                "resourceVersion": "7", "uid": "u",
                "annotations": {"serviceaccount.resources.gardener.cloud/token-renew-timestamp": "t"},
                "labels": {"resources.gardener.cloud/purpose": "token-requestor"},
                "managedFields": [{"manager": "gardener-resource-manager"}]}
        }))
        .unwrap();
        slim_secret(&mut secret);
        assert_eq!(
            serde_json::to_value(&secret.metadata).unwrap(),
            serde_json::json!({"name": "shoot-access-extension-shoot-flux",
                "namespace": "shoot--a--b", "resourceVersion": "7"})
        );
        let mut mr: ManagedResourceStatusOnly = serde_json::from_value(serde_json::json!({
            "apiVersion": "resources.gardener.cloud/v1alpha1", "kind": "ManagedResource",
            "metadata": {"name": "extension-shoot-flux-install", "namespace": "shoot--a--b",
                "generation": 3, "resourceVersion": "9", "labels": {"origin": "shoot-flux"}},
            "spec": {"secretRefs": [{"name": "s"}]},
            "status": {"observedGeneration": 3, "resources": [{"kind": "Deployment", "name": "x"}],
                "conditions": [{"type": "ResourcesApplied", "status": "True", "message": "m",
                    "reason": "r", "lastUpdateTime": "2026-12-05T00:00:00Z"}]}
        }))
        .unwrap();
        slim_managed_resource(&mut mr);
        let typed = mr.to_managed_resource();
        assert_eq!(typed.metadata.generation, Some(3));
        assert_eq!(typed.status.as_ref().unwrap().observed_generation, Some(3));
        assert_eq!(typed.condition("ResourcesApplied").unwrap().status, "True");
        assert!(typed.metadata.labels.is_none());
        assert!(typed.spec.secret_refs.is_empty());
    }

    #[test]
    fn a_watch_that_has_not_listed_knows_nothing() {
        let watches = SeedWatches::none();
        assert_eq!(
            watches.clusters.version(None, "shoot--a--b"),
            Known::Unknown
        );
        assert_eq!(
            watches.managed_resource("shoot--a--b", "extension-shoot-flux-install"),
            Known::Unknown
        );
    }

    #[test]
    fn a_listed_watch_tells_present_from_absent() {
        let mut writer = reflector::store::Writer::<PartialObjectMeta<Cluster>>::default();
        let cluster: PartialObjectMeta<Cluster> = serde_json::from_value(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
            "metadata": {"name": "shoot--a--b", "resourceVersion": "42"}
        }))
        .unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(cluster));
        let watched = Watched {
            store: writer.as_reader(),
            listed: Arc::new(AtomicBool::new(true)),
        };
        assert_eq!(
            watched.version(None, "shoot--a--b"),
            Known::Present("42".to_string())
        );
        assert_eq!(watched.version(None, "shoot--a--c"), Known::Absent);
    }
}
