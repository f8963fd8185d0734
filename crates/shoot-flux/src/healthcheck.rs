//! The health check: the one writer of the Extension's `SystemComponentsHealthy` condition,
//! derived from the shoot ManagedResources every sync period (the verdict is `health`'s).
//! It is written through `extensionconditions`, touching only this condition type. Its inputs
//! come from watches (`seedwatch`): the Extension, its Cluster's version and GRM's status of the
//! ManagedResources, so a shoot whose verdict did not change costs no request.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject};

use crate::apiresources::{managed_resource_resource, typed_managed_resource};
use crate::cachedextension::CachedExtension;
use crate::clustercache::ClusterCache;
use crate::extensionconditions::write_conditions_over;
use crate::observerinputs::ObserverInputs;
use crate::seedwatch::{Known, SeedWatches};
use shoot_flux_core::gardener::types::Extension;
use shoot_flux_core::health::{CONDITION_TYPE, verdict, with_sync_failure};
use shoot_flux_core::managedresource::{CONFIG_NAME, INSTALL_NAME, ManagedResource};

/// ManagedResource `name` of shoot namespace `namespace`, from the watch once it has listed.
async fn managed_resource(
    client: &Client,
    watches: &SeedWatches,
    namespace: &str,
    name: &str,
) -> Result<Option<ManagedResource>, kube::Error> {
    match watches.managed_resource(namespace, name) {
        Known::Present(mr) => Ok(Some(mr)),
        Known::Absent => Ok(None),
        Known::Unknown => {
            let mrs: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), namespace, &managed_resource_resource());
            Ok(mrs
                .get_opt(name)
                .await?
                .as_ref()
                .and_then(typed_managed_resource))
        }
    }
}

async fn check_one(
    client: &Client,
    clusters: &ClusterCache,
    watches: &SeedWatches,
    object: &CachedExtension,
    fail_on_sync: bool,
) -> Result<(), kube::Error> {
    let json = object.to_json();
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
    let Some(cluster) = clusters
        .observed(client, &watches.clusters, &ext.namespace)
        .await?
    else {
        return Ok(());
    };
    let Ok(shoot) = &cluster.facts else {
        return Ok(());
    };
    let install = managed_resource(client, watches, &ext.namespace, INSTALL_NAME).await?;
    let config = managed_resource(client, watches, &ext.namespace, CONFIG_NAME).await?;
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
    write_conditions_over(client, object, &[(CONDITION_TYPE, verdict)]).await
}

/// Checks every Extension of ours each `period`, until the process ends, as the controller's
/// watch cache has them once it has listed (`listed`; no LIST here: at a thousand shoots each
/// was tens of MiB to decode). Clusters come from `clusters` (shared with the reconciler) while
/// the Cluster watch reports their resourceVersion unchanged. `fail_on_sync`: the operator's
/// `syncStatus.failHealthCheck`.
pub async fn run(
    inputs: ObserverInputs,
    period: Duration,
    fail_on_sync: bool,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
) {
    let ObserverInputs {
        seed,
        extensions,
        listed,
        clusters,
        watches,
    } = inputs;
    listed.wait().await;
    loop {
        for object in extensions.state() {
            if let Err(e) = check_one(&seed, &clusters, &watches, &object, fail_on_sync).await {
                tracing::warn!(namespace = ?object.metadata.namespace, error = %e, "health check failed");
            }
        }
        metrics.health_round_done();
        tokio::time::sleep(period).await;
    }
}
