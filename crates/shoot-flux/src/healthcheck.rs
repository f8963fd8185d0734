//! The health check: the one writer of the Extension's `SystemComponentsHealthy` condition,
//! derived from the shoot ManagedResources every sync period (the verdict is `health`'s).
//! Conditions are a list, which a merge patch would replace whole, so they are written by
//! read-modify-write under optimistic locking, touching only this condition type.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::Store;
use serde_json::json;

use crate::apierror::is_conflict;
use crate::apiresources::{extension_resource, managed_resource_resource, typed_managed_resource};
use crate::clustercache::ClusterCache;
use crate::reconciler::now;
use shoot_flux_core::gardener::conditions::{self, Verdict};
use shoot_flux_core::gardener::types::{Condition, Extension};
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

/// Read-modify-write of one condition type under optimistic locking, retried on conflict.
pub async fn write_condition(
    client: &Client,
    namespace: &str,
    name: &str,
    kind: &str,
    verdict: &Verdict,
) -> Result<(), kube::Error> {
    write_conditions(client, namespace, name, &[(kind, verdict.clone())]).await
}

/// Read-modify-write of condition types under optimistic locking, retried on conflict; no
/// write when none changed. A merge patch would replace the list whole, hence the locking.
pub async fn write_conditions(
    client: &Client,
    namespace: &str,
    name: &str,
    verdicts: &[(&str, Verdict)],
) -> Result<(), kube::Error> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &extension_resource());
    for _ in 0..5 {
        let Some(current) = api.get_opt(name).await? else {
            return Ok(());
        };
        let json = serde_json::to_value(&current).unwrap_or_default();
        let conditions: Vec<Condition> =
            serde_json::from_value(json["status"]["conditions"].clone()).unwrap_or_default();
        let Some(updated) = conditions::merge(&conditions, verdicts, &now()) else {
            return Ok(());
        };
        let patch = json!({
            "metadata": {"resourceVersion": current.metadata.resource_version},
            "status": {"conditions": updated}
        });
        match api
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Err(e) if is_conflict(&e) => continue,
            other => return other.map(|_| ()),
        }
    }
    Ok(())
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
