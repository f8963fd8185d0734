//! The Extension's `status.conditions`, written by several concerns (the health check, the sync
//! poll, the storage migration), each touching only its own condition types, and the timestamp
//! format of Gardener's status fields.

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::json;

use crate::apierror::is_conflict;
use crate::apiresources::extension_resource;
use crate::cachedextension::CachedExtension;
use shoot_flux_core::gardener::conditions::{self, Verdict};
use shoot_flux_core::gardener::types::Condition;

/// Now, in whole seconds, as Gardener's status timestamps are written.
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now().to_string())
}

/// Sets condition types on the Extension as the watch cache has it (`listed`): no request when
/// none changed; else one patch under the listed resourceVersion, and on a conflict (the cache
/// was behind) the read-modify-write of `write_conditions`.
pub async fn write_conditions_over(
    client: &Client,
    listed: &CachedExtension,
    verdicts: &[(&str, Verdict)],
) -> Result<(), kube::Error> {
    let (Some(namespace), Some(name)) = (
        listed.metadata.namespace.as_deref(),
        listed.metadata.name.as_deref(),
    ) else {
        return Ok(());
    };
    let conditions: Vec<Condition> =
        serde_json::from_value(listed.conditions()).unwrap_or_default();
    let version = listed.metadata.resource_version.as_deref();
    match patch_at(
        &api(client, namespace),
        name,
        version,
        &conditions,
        verdicts,
    )
    .await
    {
        Ok(Patched::Done) => Ok(()),
        Ok(Patched::Conflict) => write_conditions(client, namespace, name, verdicts).await,
        Err(e) if crate::apierror::is_not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Read-modify-write of condition types under optimistic locking, retried on conflict; no
/// write when none changed. A merge patch would replace the list whole, hence the locking.
pub async fn write_conditions(
    client: &Client,
    namespace: &str,
    name: &str,
    verdicts: &[(&str, Verdict)],
) -> Result<(), kube::Error> {
    let api = api(client, namespace);
    for _ in 0..5 {
        let Some(current) = api.get_opt(name).await? else {
            return Ok(());
        };
        let json = serde_json::to_value(&current).unwrap_or_default();
        let conditions: Vec<Condition> =
            serde_json::from_value(json["status"]["conditions"].clone()).unwrap_or_default();
        let version = current.metadata.resource_version.as_deref();
        if patch_at(&api, name, version, &conditions, verdicts).await? == Patched::Done {
            return Ok(());
        }
    }
    Ok(())
}

fn api(client: &Client, namespace: &str) -> Api<DynamicObject> {
    Api::namespaced_with(client.clone(), namespace, &extension_resource())
}

#[derive(Debug, PartialEq, Eq)]
enum Patched {
    /// Written, or nothing to write.
    Done,
    /// The object is no longer at that resourceVersion.
    Conflict,
}

/// Sets `verdicts` into `conditions`, the Extension's at resourceVersion `version`, and patches
/// the status under that version; nothing when none changed.
async fn patch_at(
    api: &Api<DynamicObject>,
    name: &str,
    version: Option<&str>,
    conditions: &[Condition],
    verdicts: &[(&str, Verdict)],
) -> Result<Patched, kube::Error> {
    let Some(updated) = conditions::merge(conditions, verdicts, &now()) else {
        return Ok(Patched::Done);
    };
    let patch = json!({
        "metadata": {"resourceVersion": version},
        "status": {"conditions": updated}
    });
    match api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(Patched::Done),
        Err(e) if is_conflict(&e) => Ok(Patched::Conflict),
        Err(e) => Err(e),
    }
}
