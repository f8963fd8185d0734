//! The health check: the one writer of the Extension's `SystemComponentsHealthy` condition,
//! derived from the shoot ManagedResources every sync period (the verdict is `health`'s).
//! It is written through `extensionconditions`, touching only this condition type.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::Store;

use crate::apiresources::{managed_resource_resource, typed_managed_resource};
use crate::clustercache::ClusterCache;
use crate::extensionconditions::write_condition;
use shoot_flux_core::gardener::types::Extension;
use shoot_flux_core::health::{CONDITION_TYPE, verdict, with_sync_failure};
use shoot_flux_core::managedresource::{CONFIG_NAME, INSTALL_NAME};

async fn check_one(
    client: &Client,
    clusters: &ClusterCache,
    object: &DynamicObject,
    fail_on_sync: bool,
) -> Result<(), kube::Error> {
    let json = serde_json::to_value(object).unwrap_or_default();
    let Ok(ext) = Extension::from_json(&json) else {
        return Ok(());
    };
    // Never reconciled yet (a shoot being created): nothing of ours to check, and checking
    // would only compete with its first reconcile; the next round covers it.
    if !ext.is_ours()
        || ext.status.last_operation.is_none()
        || ext.deletion_timestamp.is_some()
        || ext.operation_annotation() == Some("migrate")
        || ext
            .status
            .last_operation
            .as_ref()
            .is_some_and(|l| l.type_ == "Migrate")
    {
        return Ok(());
    }
    let Some(cluster) = clusters.checked(client, &ext.namespace).await? else {
        return Ok(());
    };
    let Ok(shoot) = &cluster.facts else {
        return Ok(());
    };
    let mrs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ext.namespace, &managed_resource_resource());
    let install = mrs
        .get_opt(INSTALL_NAME)
        .await?
        .as_ref()
        .and_then(typed_managed_resource);
    let config = mrs
        .get_opt(CONFIG_NAME)
        .await?
        .as_ref()
        .and_then(typed_managed_resource);
    let hibernated = shoot.is_hibernation_enabled();
    let verdict = verdict(hibernated, install.as_ref(), config.as_ref());
    let verdict = if fail_on_sync && !hibernated {
        with_sync_failure(
            verdict,
            shoot_flux_core::syncstatus::sync_failure(
                ext.status.conditions.as_deref().unwrap_or_default(),
            ),
        )
    } else {
        verdict
    };
    write_condition(client, &ext.namespace, &ext.name, CONDITION_TYPE, &verdict).await
}

/// Checks every Extension of ours each `period`, until the process ends, as the controller's
/// watch cache has them once it has listed (`listed`; no LIST here: at a thousand shoots each
/// was tens of MiB to decode). Clusters come from `clusters` (shared with the reconciler) while
/// their resourceVersion is unchanged: a metadata-only read per shoot. `fail_on_sync`: the
/// operator's `syncStatus.failHealthCheck`.
pub async fn run(
    client: Client,
    extensions: Store<DynamicObject>,
    listed: std::sync::Arc<crate::server::Readiness>,
    period: Duration,
    fail_on_sync: bool,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    clusters: std::sync::Arc<ClusterCache>,
) {
    listed.wait().await;
    loop {
        for object in extensions.state() {
            if let Err(e) = check_one(&client, &clusters, &object, fail_on_sync).await {
                tracing::warn!(namespace = ?object.metadata.namespace, error = %e, "health check failed");
            }
        }
        metrics.health_round_done();
        tokio::time::sleep(period).await;
    }
}
