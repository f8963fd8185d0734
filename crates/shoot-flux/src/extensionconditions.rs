//! The Extension's `status.conditions`, written by several concerns (the health check, the sync
//! poll, the storage migration), each touching only its own condition types, and the timestamp
//! format of Gardener's status fields.

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;

use crate::apierror::is_conflict;
use crate::apiresources::extension_resource;
use shoot_flux_core::gardener::conditions::{self, Verdict};
use shoot_flux_core::gardener::types::Condition;

/// Now, in whole seconds, as Gardener's status timestamps are written.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now().to_string())
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
