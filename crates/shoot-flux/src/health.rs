//! The health check: the one writer of the Extension's `SystemComponentsHealthy` condition,
//! derived from the shoot ManagedResources every sync period.
//! Conditions are a list, which a merge patch would replace whole, so they are written by
//! read-modify-write under optimistic locking, touching only this condition type.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::reflector::Store;
use serde_json::{Value, json};

use crate::gardener::shoot::ClusterCache;
use crate::gardener::types::{Condition, Extension, extension_resource, managed_resource_resource};
use crate::managedresource::{CONFIG_NAME, INSTALL_NAME};
use crate::reconciler::now;

pub const CONDITION_TYPE: &str = "SystemComponentsHealthy";

/// The verdict for one condition: status, reason, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

fn mr_condition<'a>(mr: &'a Value, kind: &str) -> Option<&'a Value> {
    mr["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Gardener's rule for a ManagedResource: applied and healthy for its current generation, and
/// not progressing. Returns None when healthy, else (progressing?, message).
pub fn managed_resource_problem(name: &str, mr: Option<&Value>) -> Option<(bool, String)> {
    let Some(mr) = mr else {
        return Some((true, format!("ManagedResource {name} does not exist yet")));
    };
    if mr["status"]["observedGeneration"] != mr["metadata"]["generation"] {
        return Some((
            true,
            format!("ManagedResource {name} is not yet observed in its latest generation"),
        ));
    }
    for kind in ["ResourcesApplied", "ResourcesHealthy"] {
        match mr_condition(mr, kind) {
            Some(c) if c["status"] == "True" => {}
            Some(c) => {
                return Some((
                    c["status"] == "Unknown" || c["status"] == "Progressing",
                    format!(
                        "ManagedResource {name}: {kind} is {}: {}",
                        c["status"].as_str().unwrap_or("?"),
                        c["message"].as_str().unwrap_or_default()
                    ),
                ));
            }
            None => {
                return Some((
                    true,
                    format!("ManagedResource {name}: {kind} is not reported yet"),
                ));
            }
        }
    }
    if let Some(c) = mr_condition(mr, "ResourcesProgressing")
        && c["status"] == "True"
    {
        return Some((
            true,
            format!(
                "ManagedResource {name} is progressing: {}",
                c["message"].as_str().unwrap_or_default()
            ),
        ));
    }
    None
}

/// The verdict over both ManagedResources (None = missing).
pub fn verdict(hibernated: bool, install: Option<&Value>, config: Option<&Value>) -> Verdict {
    if hibernated {
        return Verdict {
            status: "True",
            reason: "HealthCheckSuccessful",
            message: "Shoot is hibernated".into(),
        };
    }
    let problems: Vec<(bool, String)> = [(INSTALL_NAME, install), (CONFIG_NAME, config)]
        .into_iter()
        .filter_map(|(name, mr)| managed_resource_problem(name, mr))
        .collect();
    if problems.is_empty() {
        return Verdict {
            status: "True",
            reason: "HealthCheckSuccessful",
            message: "(2/2) Health checks successful".into(),
        };
    }
    let message = problems
        .iter()
        .map(|(_, m)| m.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    if problems.iter().all(|(progressing, _)| *progressing) {
        Verdict {
            status: "Progressing",
            reason: "HealthCheckProgressing",
            message,
        }
    } else {
        Verdict {
            status: "False",
            reason: "HealthCheckUnsuccessful",
            message,
        }
    }
}

/// Sets condition `kind` in `conditions`, keeping every other type as it is and the transition
/// time when the status did not change.
pub fn set_condition(
    conditions: &[Condition],
    kind: &str,
    verdict: &Verdict,
    now: &str,
) -> Vec<Condition> {
    let previous = conditions.iter().find(|c| c.type_ == kind);
    let transition = match previous {
        Some(p) if p.status == verdict.status => p.last_transition_time.clone(),
        _ => now.to_string(),
    };
    let new = Condition {
        type_: kind.to_string(),
        status: verdict.status.to_string(),
        last_transition_time: transition,
        last_update_time: now.to_string(),
        reason: verdict.reason.to_string(),
        message: verdict.message.clone(),
        codes: vec![],
    };
    let mut out: Vec<Condition> = conditions
        .iter()
        .filter(|c| c.type_ != kind)
        .cloned()
        .collect();
    out.push(new);
    out
}

/// With the operator's `syncStatus.failHealthCheck`, a failing Flux sync (as the sync status
/// poll recorded it on the Extension) makes a healthy verdict False and is added to others.
pub fn with_sync_failure(verdict: Verdict, failure: Option<String>) -> Verdict {
    let Some(failure) = failure else {
        return verdict;
    };
    let message = if verdict.status == "True" {
        failure
    } else {
        format!("{}; {failure}", verdict.message)
    };
    Verdict {
        status: "False",
        reason: "HealthCheckUnsuccessful",
        message,
    }
}

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
        .map(|o| serde_json::to_value(o).unwrap_or_default());
    let config = mrs
        .get_opt(CONFIG_NAME)
        .await?
        .map(|o| serde_json::to_value(o).unwrap_or_default());
    let hibernated = shoot.is_hibernation_enabled();
    let verdict = verdict(hibernated, install.as_ref(), config.as_ref());
    let verdict = if fail_on_sync && !hibernated {
        with_sync_failure(
            verdict,
            crate::syncstatus::sync_failure(ext.status.conditions.as_deref().unwrap_or_default()),
        )
    } else {
        verdict
    };
    write_condition(client, &ext.namespace, &ext.name, CONDITION_TYPE, &verdict).await
}

/// `existing` with `verdicts` set, keeping other types and transition times; None when none of
/// them changed (status, reason and message), so a steady state causes no write.
pub fn merge_conditions(
    existing: &[Condition],
    verdicts: &[(&str, Verdict)],
    now: &str,
) -> Option<Vec<Condition>> {
    let unchanged = |kind: &str, v: &Verdict| {
        existing.iter().any(|c| {
            c.type_ == kind
                && c.status == v.status
                && c.reason == v.reason
                && c.message == v.message
        })
    };
    if verdicts.iter().all(|(kind, v)| unchanged(kind, v)) {
        return None;
    }
    Some(
        verdicts
            .iter()
            .filter(|(kind, v)| !unchanged(kind, v))
            .fold(existing.to_vec(), |conditions, (kind, v)| {
                set_condition(&conditions, kind, v, now)
            }),
    )
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
        let Some(updated) = merge_conditions(&conditions, verdicts, &now()) else {
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
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mr(applied: &str, healthy: &str, progressing: &str) -> Value {
        json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [
            {"type": "ResourcesApplied", "status": applied, "message": "a"},
            {"type": "ResourcesHealthy", "status": healthy, "message": "h"},
            {"type": "ResourcesProgressing", "status": progressing, "message": "p"}
        ]}})
    }

    #[test]
    fn verdicts() {
        let ok = mr("True", "True", "False");
        assert_eq!(verdict(false, Some(&ok), Some(&ok)).status, "True");
        assert_eq!(verdict(true, None, None).message, "Shoot is hibernated");
        assert_eq!(verdict(false, None, Some(&ok)).status, "Progressing");
        let broken = mr("True", "False", "False");
        let v = verdict(false, Some(&broken), Some(&ok));
        assert_eq!((v.status, v.reason), ("False", "HealthCheckUnsuccessful"));
        assert!(v.message.contains("ResourcesHealthy is False"));
        assert_eq!(
            verdict(false, Some(&mr("True", "True", "True")), Some(&ok)).status,
            "Progressing"
        );
        let mut stale = ok.clone();
        stale["metadata"]["generation"] = json!(3);
        assert_eq!(
            verdict(false, Some(&stale), Some(&ok)).status,
            "Progressing"
        );
    }

    #[test]
    fn a_failing_sync_turns_the_health_false_only_when_given() {
        let ok = mr("True", "True", "False");
        let healthy = verdict(false, Some(&ok), Some(&ok));
        assert_eq!(with_sync_failure(healthy.clone(), None), healthy);
        let v = with_sync_failure(healthy, Some("Flux sync failing: boom".into()));
        assert_eq!(
            (v.status, v.message.as_str()),
            ("False", "Flux sync failing: boom")
        );
        let progressing = verdict(false, None, Some(&ok));
        let v = with_sync_failure(progressing, Some("Flux sync failing: boom".into()));
        assert_eq!(v.status, "False");
        assert!(
            v.message.ends_with("; Flux sync failing: boom"),
            "{}",
            v.message
        );
    }

    #[test]
    fn set_condition_keeps_other_types_and_transition_times() {
        let other = Condition {
            type_: "FluxBootstrapped".into(),
            status: "True".into(),
            last_transition_time: "t0".into(),
            last_update_time: "t0".into(),
            reason: "r".into(),
            message: "m".into(),
            codes: vec![],
        };
        let ok = Verdict {
            status: "True",
            reason: "HealthCheckSuccessful",
            message: "fine".into(),
        };
        let first = set_condition(std::slice::from_ref(&other), CONDITION_TYPE, &ok, "t1");
        assert_eq!(first.len(), 2);
        assert!(first.contains(&other));
        let second = set_condition(&first, CONDITION_TYPE, &ok, "t2");
        let mine = second.iter().find(|c| c.type_ == CONDITION_TYPE).unwrap();
        assert_eq!(
            (
                mine.last_transition_time.as_str(),
                mine.last_update_time.as_str()
            ),
            ("t1", "t2")
        );
        let bad = Verdict {
            status: "False",
            reason: "HealthCheckUnsuccessful",
            message: "x".into(),
        };
        let third = set_condition(&second, CONDITION_TYPE, &bad, "t3");
        assert_eq!(
            third
                .iter()
                .find(|c| c.type_ == CONDITION_TYPE)
                .unwrap()
                .last_transition_time,
            "t3"
        );
    }
}
