//! Watches and work queue: Extensions of type shoot-flux (filtered by Gardener's event
//! predicates), plus the triggers that map other changes onto them: Clusters (with
//! `--ignore-operation-annotation`), the garden's `flux-config` ConfigMaps and `flux-source`
//! deploy key Secrets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Client;
use kube::api::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};

use crate::apiresources::Cluster;
use crate::cachedextension::CachedExtension;
use crate::clustercache::ClusterCache;
use crate::garden::GardenCacheWriters;
use crate::lease::Leadership;
use crate::progress::Progress;
use crate::reconciler::{Next, Previous, ReconcileError, Reconciler};
use crate::server::Readiness;
use shoot_flux_core::config::project::CONFIGMAP_NAME;
use shoot_flux_core::deploykey;
use shoot_flux_core::gardener::operation::{SeenExtension, event_triggers_after};
use shoot_flux_core::gardener::types::{Extension, OPERATION_ANNOTATION, is_ours_json};

#[derive(Debug, Clone)]
pub struct Options {
    pub ignore_operation_annotation: bool,
    pub max_concurrent_reconciles: u16,
    pub resync: Duration,
    /// How long one reconcile may take, not counting the wait for leadership.
    pub reconcile_timeout: Duration,
    /// Reconciles wait for it: a standby watches and queues, the leader works.
    pub leadership: Leadership,
}

struct Context {
    reconciler: Arc<Reconciler>,
    failures: Mutex<HashMap<String, u32>>,
    timeout: Duration,
    leadership: Leadership,
    store: Store<CachedExtension>,
}

async fn reconcile(obj: Arc<CachedExtension>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    // On a standby the object waits here (the scheduler keeps one entry per object meanwhile);
    // a standby that shuts down first leaves it alone.
    if !ctx.leadership.wait().await {
        return Ok(Action::await_change());
    }
    // The object as the cache has it now: the wait for leadership may have been long.
    let reference = ObjectRef::from_obj(obj.as_ref());
    let Some(obj) = ctx.store.get(&reference) else {
        return Ok(Action::await_change());
    };
    // error_policy counted a failure of the attempt before (it runs before a waiting request).
    let previous = match ctx.failures.lock() {
        Ok(f) if f.contains_key(&obj.key()) => Previous::Failed,
        _ => Previous::Unremarkable,
    };
    let progress = Progress::default();
    let work = progress.track(ctx.reconciler.reconcile(&obj, previous));
    let next = match tokio::time::timeout(ctx.timeout, work).await {
        Ok(result) => result?,
        // The Error status is written after the deadline, with the normal request timeout; the
        // object is retried with backoff.
        Err(_) => {
            let pending = progress.current();
            return Err(ctx
                .reconciler
                .report_deadline(&obj, ctx.timeout, pending.as_ref())
                .await);
        }
    };
    if let Ok(mut f) = ctx.failures.lock() {
        f.remove(&obj.key());
    }
    Ok(match next {
        Next::AwaitChange => Action::await_change(),
        Next::RequeueAfter(d) => Action::requeue(d),
    })
}

/// What decides whether a malformed Extension is worth another look: its generation (spec), the
/// operation annotation and the deletion timestamp. Our own Error status write changes none.
fn fingerprint(object: &serde_json::Value) -> String {
    let meta = &object["metadata"];
    format!(
        "{}|{}|{}",
        meta["generation"], meta["annotations"][OPERATION_ANNOTATION], meta["deletionTimestamp"]
    )
}

/// Per-object exponential backoff (5 s doubling up to 5 min); errors only new input can fix wait
/// their own, longer interval.
fn error_policy(obj: Arc<CachedExtension>, error: &ReconcileError, ctx: Arc<Context>) -> Action {
    // The actuator's errors are logged (and written to the status) where they happen; the others
    // (a denied or failed read of the Extension or Cluster, a status write) are only seen here.
    if !matches!(
        error,
        ReconcileError::Actuator(_) | ReconcileError::Deadline(_)
    ) {
        tracing::warn!(object = %obj.key(), error = %error, label = error.label(), "reconcile failed");
    }
    if let Some(after) = error.requeue_after() {
        return Action::requeue(after);
    }
    let failures = ctx
        .failures
        .lock()
        .map(|mut f| {
            let n = f.entry(obj.key()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        })
        .unwrap_or(1);
    let delay = Duration::from_secs(5).saturating_mul(1 << failures.min(6).saturating_sub(1));
    Action::requeue(delay.min(Duration::from_secs(300)))
}

/// Extensions in the shoot namespace `namespace`.
fn in_namespace(
    store: &Store<CachedExtension>,
    namespace: &str,
) -> Vec<ObjectRef<CachedExtension>> {
    store
        .state()
        .iter()
        .filter(|o| o.metadata.namespace.as_deref() == Some(namespace))
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// Our Extensions of the shoots whose project lives in garden namespace `namespace`, by what
/// the Clusters say (`ClusterCache::of_project`): a garden change (`flux-config`,
/// `flux-source`) in a project's namespace maps to its shoots here, whatever the namespace's
/// name. Empty when no shoot of the project is on this seed.
pub fn project_shoots(
    store: &Store<CachedExtension>,
    clusters: &ClusterCache,
    namespace: Option<&str>,
) -> Vec<ObjectRef<CachedExtension>> {
    let Some(namespace) = namespace else {
        return Vec::new();
    };
    // The project's shoots first, by namespace: a garden watch's (re)list brings an event per
    // project, and parsing every Extension for each of them grew with projects times shoots.
    let objects = store.state();
    let shoots: std::collections::HashSet<&str> = clusters
        .of_project(
            namespace,
            objects
                .iter()
                .filter_map(|o| o.metadata.namespace.as_deref()),
        )
        .into_iter()
        .collect();
    objects
        .iter()
        .filter(|o| {
            o.metadata
                .namespace
                .as_deref()
                .is_some_and(|n| shoots.contains(n))
                && o.is_ours()
        })
        .map(|o| ObjectRef::from_obj(o.as_ref()))
        .collect()
}

/// Gardener's event predicates over the Extension watch. They remember a few facts of each
/// object between its events (`SeenExtension`) and forget objects once deleted, also those
/// deleted while the watch was down (gone from a relist).
struct Predicates {
    ignore_operation_annotation: bool,
    seen: HashMap<String, SeenExtension>,
    /// Malformed objects of ours, with the fingerprint of the last one reported.
    malformed: HashMap<String, String>,
    /// The keys listed since the current (re)list began.
    relisted: Option<std::collections::HashSet<String>>,
}

impl Predicates {
    fn new(ignore_operation_annotation: bool) -> Self {
        Self {
            ignore_operation_annotation,
            seen: HashMap::new(),
            malformed: HashMap::new(),
            relisted: None,
        }
    }

    /// The object to reconcile for a watch event, if the predicates pass it.
    fn on(
        &mut self,
        event: Result<watcher::Event<CachedExtension>, watcher::Error>,
    ) -> Option<Result<CachedExtension, watcher::Error>> {
        match event {
            Err(e) => Some(Err(e)),
            Ok(watcher::Event::Init) => {
                self.relisted = Some(std::collections::HashSet::new());
                None
            }
            Ok(watcher::Event::InitApply(object)) => {
                if let Some(listed) = self.relisted.as_mut() {
                    listed.insert(object.key());
                }
                self.passes(&object).then_some(Ok(object))
            }
            Ok(watcher::Event::InitDone) => {
                if let Some(listed) = self.relisted.take() {
                    self.seen.retain(|k, _| listed.contains(k));
                    self.malformed.retain(|k, _| listed.contains(k));
                }
                None
            }
            Ok(watcher::Event::Apply(object)) => self.passes(&object).then_some(Ok(object)),
            // Gone from the API: nothing left to reconcile (its finalizer was handled before).
            Ok(watcher::Event::Delete(object)) => {
                let k = object.key();
                self.seen.remove(&k);
                self.malformed.remove(&k);
                None
            }
        }
    }

    fn passes(&mut self, object: &CachedExtension) -> bool {
        let json = object.to_json();
        match Extension::from_json(&json) {
            // A malformed object of ours goes to the reconciler, which reports it, once per
            // change that could fix it (not on its own status write).
            Err(_) => {
                is_ours_json(&json) && {
                    let print = fingerprint(&json);
                    self.malformed.insert(object.key(), print.clone()) != Some(print)
                }
            }
            Ok(new) if !new.is_ours() => false,
            Ok(new) => {
                let k = object.key();
                let pass =
                    event_triggers_after(self.seen.get(&k), &new, self.ignore_operation_annotation);
                self.seen.insert(k, SeenExtension::of(&new));
                pass
            }
        }
    }
}

/// Sets `flag` once the watch has listed.
fn listed<K>(
    flag: Arc<std::sync::atomic::AtomicBool>,
) -> impl Fn(&Result<watcher::Event<K>, watcher::Error>) {
    move |event| {
        if matches!(event, Ok(watcher::Event::InitDone)) {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// The writer of the Extension cache, to be handed to `run`; its reader serves the reconciler,
/// the health check and the sync status poll.
pub fn extension_cache() -> reflector::store::Writer<CachedExtension> {
    reflector::store::Writer::default()
}

pub async fn run(
    seed: Client,
    garden: Option<(Client, GardenCacheWriters)>,
    reconciler: Arc<Reconciler>,
    options: Options,
    ready: Arc<Readiness>,
    writer: reflector::store::Writer<CachedExtension>,
) {
    let extensions: Api<CachedExtension> = Api::all(seed.clone());
    let store = writer.as_reader();

    let mut predicates = Predicates::new(options.ignore_operation_annotation);
    let ignore = options.ignore_operation_annotation;
    let initial_list_done = ready.clone();
    // Lists in pages of 100: a page is decoded whole, and 500 Extensions with their status
    // were ~20 MiB of transient memory at the start.
    let triggers = watcher(extensions, watcher::Config::default().page_size(100))
        .default_backoff()
        .reflect(writer)
        .inspect(move |event| {
            if matches!(event, Ok(watcher::Event::InitDone)) && !initial_list_done.get() {
                initial_list_done.set();
                tracing::info!("Extension cache synced; ready");
            }
        })
        .filter_map(move |event| std::future::ready(predicates.on(event)));

    let mut controller = crate::trigger_backoff::each_trigger_backs_off_alone(
        Controller::for_stream(triggers, store.clone()),
    )
    .with_config(ControllerConfig::default().concurrency(options.max_concurrent_reconciles));

    if ignore {
        let clusters: Api<PartialObjectMeta<Cluster>> = Api::all(seed.clone());
        let store = store.clone();
        controller = controller.watches_stream(
            // Pages of 50: each Cluster's metadata carries managedFields naming every field of
            // its Shoot, Seed and CloudProfile.
            watcher(clusters, watcher::Config::default().page_size(50))
                .default_backoff()
                .touched_objects(),
            move |cluster| {
                in_namespace(&store, cluster.metadata.name.as_deref().unwrap_or_default())
            },
        );
    }
    if let Some((garden, writers)) = garden {
        let key_hygiene = writers.key_hygiene();
        // A changed flux-config, and a created or deleted deploy key (rotation), re-reconcile
        // the project's shoots. Both watches are restricted by name, as the RBAC in example/ is,
        // and feed the cache the reconciler reads them from.
        let configmaps: Api<ConfigMap> = Api::all(garden.clone());
        let (store_cm, clusters_cm) = (store.clone(), reconciler.clusters.clone());
        let config = watcher::Config::default().fields(&format!("metadata.name={CONFIGMAP_NAME}"));
        controller = controller.watches_stream(
            watcher(configmaps, config)
                .default_backoff()
                .modify(|cm| cm.metadata.managed_fields = None)
                .reflect(writers.configmaps)
                .inspect(listed(writers.configmaps_listed))
                .touched_objects(),
            move |cm| project_shoots(&store_cm, &clusters_cm, cm.metadata.namespace.as_deref()),
        );
        // Metadata only: the existence and version of every project's deploy key, never its
        // bytes; the keys of projects with shoots here are read when a reconcile needs them.
        let secrets: Api<PartialObjectMeta<Secret>> = Api::all(garden);
        let (store_secret, clusters_secret) = (store.clone(), reconciler.clusters.clone());
        let config =
            watcher::Config::default().fields(&format!("metadata.name={}", deploykey::SECRET_NAME));
        controller = controller.watches_stream(
            watcher(secrets, config)
                .default_backoff()
                .modify(crate::garden::strip_secret_metadata)
                .reflect(writers.secrets)
                .inspect(key_hygiene)
                .inspect(listed(writers.secrets_listed))
                .touched_objects(),
            move |secret| {
                project_shoots(
                    &store_secret,
                    &clusters_secret,
                    secret.metadata.namespace.as_deref(),
                )
            },
        );
    }

    // The resync also covers projects whose ConfigMaps cannot be watched.
    let resync = options.resync;
    let ticks = futures::stream::unfold((), move |()| async move {
        tokio::time::sleep(resync).await;
        Some(((), ()))
    });
    controller = controller.reconcile_all_on(ticks);

    let context = Arc::new(Context {
        reconciler,
        failures: Mutex::new(HashMap::new()),
        timeout: options.reconcile_timeout,
        leadership: options.leadership.clone(),
        store: store.clone(),
    });
    controller
        .shutdown_on_signal()
        .run(reconcile, error_policy, context)
        .for_each(|result| async move {
            match result {
                // A failing watch (a denied list or watch, an unreachable API server) is retried
                // with backoff; until then changes go unseen, so it is worth a warning.
                Err(kube::runtime::controller::Error::QueueError(e)) => {
                    tracing::warn!(error = %e, "watch failed");
                }
                Err(e) => tracing::debug!(error = %e, "controller event"),
                Ok(_) => {}
            }
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shoot_flux_core::gardener::shoot::{ClusterInfo, ShootFacts};

    fn extension(namespace: &str, type_: &str) -> CachedExtension {
        serde_json::from_value(json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
            "metadata": {"name": type_, "namespace": namespace},
            "spec": {"type": type_}
        }))
        .unwrap()
    }

    fn read(cache: &ClusterCache, project: &str, project_namespace: &str, shoot: &str) {
        let name = format!("shoot--{project}--{shoot}");
        let facts = ShootFacts {
            cluster_name: name.clone(),
            name: shoot.into(),
            project: project.into(),
            project_namespace: project_namespace.into(),
            technical_id: name.clone(),
            ..Default::default()
        };
        let info = Arc::new(ClusterInfo {
            facts: Ok(facts),
            generic_kubeconfig: None,
        });
        cache.store(&name, Some("1".into()), &info);
    }

    fn namespaces(refs: Vec<ObjectRef<CachedExtension>>) -> Vec<String> {
        let mut out: Vec<String> = refs.into_iter().filter_map(|r| r.namespace).collect();
        out.sort();
        out
    }

    fn ours(namespace: &str, annotation: Option<&str>, state: &str) -> CachedExtension {
        serde_json::from_value(json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
            "metadata": {"name": "shoot-flux", "namespace": namespace, "generation": 1,
                "annotations": annotation.map(|a| json!({"gardener.cloud/operation": a}))
                    .unwrap_or(json!({}))},
            "spec": {"type": "shoot-flux"},
            "status": {"observedGeneration": 1, "lastOperation": {"type": "Reconcile",
                "state": state, "progress": 100, "description": "d",
                "lastUpdateTime": "2026-12-05T00:00:00Z"}}
        }))
        .unwrap()
    }

    #[test]
    fn the_predicates_remember_little_and_forget_deleted_objects() {
        let mut predicates = Predicates::new(false);
        let passes = |p: &mut Predicates, event| p.on(Ok(event)).is_some();
        // First sight of a quiet object: nothing to do; a new reconcile annotation: reconcile.
        assert!(!passes(
            &mut predicates,
            watcher::Event::Apply(ours("a", None, "Succeeded"))
        ));
        assert!(passes(
            &mut predicates,
            watcher::Event::Apply(ours("a", Some("reconcile"), "Succeeded"))
        ));
        // Our own status write while the annotation is still there does not trigger again.
        assert!(!passes(
            &mut predicates,
            watcher::Event::Apply(ours("a", Some("reconcile"), "Processing"))
        ));
        assert_eq!(predicates.seen.len(), 1);
        // Deleted: forgotten.
        predicates.on(Ok(watcher::Event::Delete(ours("a", None, "Succeeded"))));
        assert!(predicates.seen.is_empty());
        // Deleted while the watch was down: forgotten at the relist that misses it.
        for ns in ["b", "c"] {
            predicates.on(Ok(watcher::Event::Apply(ours(ns, None, "Succeeded"))));
        }
        predicates.on(Ok(watcher::Event::Init));
        predicates.on(Ok(watcher::Event::InitApply(ours("b", None, "Succeeded"))));
        assert_eq!(predicates.seen.len(), 2, "kept until the relist is done");
        predicates.on(Ok(watcher::Event::InitDone));
        assert_eq!(predicates.seen.keys().collect::<Vec<_>>(), ["b/shoot-flux"]);
    }

    #[test]
    fn a_garden_change_reconciles_exactly_the_shoots_of_the_project_in_that_namespace() {
        let mut writer = extension_cache();
        for (namespace, type_) in [
            ("shoot--alpha--app", "shoot-flux"),
            ("shoot--alpha--app", "shoot-dns-service"),
            ("shoot--alpha--web", "shoot-flux"),
            ("shoot--team-a--x", "shoot-flux"),
            ("shoot--beta--new", "shoot-flux"),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(extension(namespace, type_)));
        }
        let store = writer.as_reader();
        let clusters = ClusterCache::default();
        // Project alpha lives in garden-team-a; a project named team-a lives elsewhere.
        read(&clusters, "alpha", "garden-team-a", "app");
        read(&clusters, "alpha", "garden-team-a", "web");
        read(&clusters, "team-a", "garden-other", "x");

        assert_eq!(
            namespaces(project_shoots(&store, &clusters, Some("garden-team-a"))),
            ["shoot--alpha--app", "shoot--alpha--web"]
        );
        // Only our Extension of the shoot.
        assert!(
            project_shoots(&store, &clusters, Some("garden-team-a"))
                .iter()
                .all(|r| r.name == "shoot-flux")
        );
        assert_eq!(
            namespaces(project_shoots(&store, &clusters, Some("garden-other"))),
            ["shoot--team-a--x"]
        );
        assert!(project_shoots(&store, &clusters, Some("garden-alpha")).is_empty());
        assert!(project_shoots(&store, &clusters, Some("garden-nobody")).is_empty());
        assert!(project_shoots(&store, &clusters, None).is_empty());
        // A shoot whose Cluster was not read yet (a new shoot, or right after a restart).
        assert_eq!(
            namespaces(project_shoots(&store, &clusters, Some("garden-beta"))),
            ["shoot--beta--new"]
        );
        // Once its Cluster is read, what it says counts.
        read(&clusters, "beta", "garden-b", "new");
        assert!(project_shoots(&store, &clusters, Some("garden-beta")).is_empty());
        assert_eq!(
            namespaces(project_shoots(&store, &clusters, Some("garden-b"))),
            ["shoot--beta--new"]
        );
    }
}
