//! Prometheus metrics: reconciles by operation and result, their durations, and errors by a
//! stable label.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::gardener::operation::OperationType;

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

pub struct Metrics {
    registry: Mutex<Registry>,
    reconciles: Family<ReconcileLabels, Counter>,
    durations: Family<OperationLabels, Histogram>,
    errors: Family<ErrorLabels, Counter>,
    deploy_keys_created: Counter,
    deploy_key_conflicts: Counter,
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
        Self {
            registry: Mutex::new(registry),
            reconciles,
            durations,
            errors,
            deploy_keys_created,
            deploy_key_conflicts,
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

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}
