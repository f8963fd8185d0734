//! Prometheus metrics: reconciles by operation and result, their durations, and errors by a
//! stable label.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use shoot_flux_core::gardener::operation::OperationType;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    operation: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShootLabels {
    namespace: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatestChangeLabels {
    from: String,
    to: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<ReconcileLabels, Counter>,
    durations: Family<OperationLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    deploy_keys_created: Counter,
    deploy_key_conflicts: Counter,
    deploy_keys_held: Gauge,
    sync_ready: Family<ShootLabels, Gauge>,
    sync_age: Family<ShootLabels, Gauge<f64, AtomicU64>>,
    shoots_by_state: Family<StateLabels, Gauge>,
    shoot_connections: Gauge,
    health_rounds: Counter,
    flux_latest_changes: Family<LatestChangeLabels, Counter>,
    /// The namespaces with per-shoot series, so that gone shoots' series are removed.
    shoots: Mutex<BTreeSet<String>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("shoot_flux");
        let reconciles = Family::<ReconcileLabels, Counter>::default();
        let durations = Family::<OperationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 180.0])
        });
        let errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "reconciles",
            "Extension operations by type and result",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of Extension operations",
            durations.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed Extension operations by cause",
            errors.clone(),
        );
        let deploy_keys_created = Counter::default();
        let deploy_key_conflicts = Counter::default();
        registry.register(
            "deploy_keys_created",
            "Project deploy key Secrets created in the garden",
            deploy_keys_created.clone(),
        );
        registry.register(
            "deploy_key_create_conflicts",
            "Deploy key creations that found the Secret created concurrently (AlreadyExists) and used that key",
            deploy_key_conflicts.clone(),
        );
        let deploy_keys_held = Gauge::default();
        registry.register(
            "deploy_keys_held",
            "Projects whose private deploy key this process holds in memory (only projects with shoots on this seed that use one)",
            deploy_keys_held.clone(),
        );
        let sync_ready = Family::<ShootLabels, Gauge>::default();
        let sync_age = Family::<ShootLabels, Gauge<f64, AtomicU64>>::default();
        let shoots_by_state = Family::<StateLabels, Gauge>::default();
        let shoot_connections = Gauge::default();
        registry.register(
            "sync_ready",
            "1 when the shoot's Flux source and main Kustomization are Ready, else 0 (per shoot namespace)",
            sync_ready.clone(),
        );
        registry.register(
            "sync_last_success_age_seconds",
            "Seconds since the shoot was last seen synced (source and Kustomization Ready); absent until it was",
            sync_age.clone(),
        );
        registry.register(
            "shoots",
            "Shoots by sync state (ready, failing, progressing, waiting, unreachable, hibernated)",
            shoots_by_state.clone(),
        );
        registry.register(
            "shoot_connections",
            "Shoot API clients held by the sync status poll (at most one per shoot)",
            shoot_connections.clone(),
        );
        let health_rounds = Counter::default();
        registry.register(
            "health_check_rounds",
            "Completed rounds of the health check and sync status poll over every Extension",
            health_rounds.clone(),
        );
        let flux_latest_changes = Family::<LatestChangeLabels, Counter>::default();
        registry.register(
            "flux_latest_changes",
            "Changes of the Flux release that `latest` resolves to, seen by this process (shoots asking for latest move to it)",
            flux_latest_changes.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            flux_latest_changes,
            health_rounds,
            sync_ready,
            sync_age,
            shoots_by_state,
            shoot_connections,
            shoots: Mutex::new(BTreeSet::new()),
            reconciles,
            durations,
            errors,
            deploy_keys_created,
            deploy_key_conflicts,
            deploy_keys_held,
        }
    }
}

impl Metrics {
    pub fn observe(&self, op: OperationType, elapsed: Duration, error: Option<&str>) {
        let operation = op.as_str().to_string();
        self.reconciles
            .get_or_create(&ReconcileLabels {
                operation: operation.clone(),
                result: if error.is_some() { "error" } else { "success" }.into(),
            })
            .inc();
        self.durations
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
        if let Some(label) = error {
            self.errors
                .get_or_create(&ErrorLabels {
                    error: label.into(),
                })
                .inc();
        }
    }

    pub fn deploy_key_created(&self) {
        self.deploy_keys_created.inc();
    }

    pub fn deploy_key_create_conflict(&self) {
        self.deploy_key_conflicts.inc();
    }

    /// The gauge the holder of deploy keys keeps current.
    pub fn deploy_keys_held(&self) -> Gauge {
        self.deploy_keys_held.clone()
    }

    /// One shoot's sync: ready or not, and the age of its last seen success (None: never seen).
    pub fn shoot_sync(&self, namespace: &str, ready: bool, last_success_age: Option<f64>) {
        let labels = ShootLabels {
            namespace: namespace.to_string(),
        };
        self.sync_ready.get_or_create(&labels).set(i64::from(ready));
        if let Some(age) = last_success_age {
            self.sync_age.get_or_create(&labels).set(age);
        }
        if let Ok(mut shoots) = self.shoots.lock() {
            shoots.insert(namespace.to_string());
        }
    }

    /// Removes the per-shoot series of shoots for which `keep` is false.
    pub fn retain_shoots(&self, keep: impl Fn(&str) -> bool) {
        let Ok(mut shoots) = self.shoots.lock() else {
            return;
        };
        shoots.retain(|namespace| {
            if keep(namespace) {
                return true;
            }
            let labels = ShootLabels {
                namespace: namespace.clone(),
            };
            self.sync_ready.remove(&labels);
            self.sync_age.remove(&labels);
            false
        });
    }

    pub fn shoots_in_state(&self, state: &str, count: i64) {
        self.shoots_by_state
            .get_or_create(&StateLabels {
                state: state.to_string(),
            })
            .set(count);
    }

    /// The release `latest` resolves to changed from `from` to `to`.
    pub fn flux_latest_changed(&self, from: &str, to: &str) {
        self.flux_latest_changes
            .get_or_create(&LatestChangeLabels {
                from: from.to_string(),
                to: to.to_string(),
            })
            .inc();
    }

    pub fn health_round_done(&self) {
        self.health_rounds.inc();
    }

    pub fn shoot_connections(&self, count: usize) {
        self.shoot_connections
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_shoot_series_go_with_their_shoot() {
        let m = Metrics::default();
        m.shoot_sync("shoot--a--x", true, Some(3.0));
        m.shoot_sync("shoot--b--y", false, None);
        m.shoots_in_state("ready", 1);
        let text = m.encode();
        assert!(
            text.contains("shoot_flux_sync_ready{namespace=\"shoot--a--x\"} 1"),
            "{text}"
        );
        assert!(text.contains("shoot_flux_sync_ready{namespace=\"shoot--b--y\"} 0"));
        assert!(
            text.contains(
                "shoot_flux_sync_last_success_age_seconds{namespace=\"shoot--a--x\"} 3.0"
            )
        );
        assert!(
            !text.contains("shoot_flux_sync_last_success_age_seconds{namespace=\"shoot--b--y\"}")
        );
        m.retain_shoots(|ns| ns == "shoot--b--y");
        let text = m.encode();
        assert!(!text.contains("shoot--a--x"), "{text}");
        assert!(text.contains("shoot--b--y"));
        assert!(text.contains("shoot_flux_shoots{state=\"ready\"} 1"));
    }

    #[test]
    fn latest_changes_are_counted_by_from_and_to() {
        let m = Metrics::default();
        m.flux_latest_changed("v2.6.4", "v2.9.5");
        m.flux_latest_changed("v2.6.4", "v2.9.5");
        let text = m.encode();
        assert!(
            text.contains("shoot_flux_flux_latest_changes_total{from=\"v2.6.4\",to=\"v2.9.5\"} 2"),
            "{text}"
        );
    }
}
