//! Health verdicts: what the shoot's ManagedResources say about the `SystemComponentsHealthy`
//! condition, and how verdicts merge into an Extension's conditions. Pure; the health check
//! (`healthcheck`) reads the inputs and writes the result.

use serde_json::Value;

use crate::gardener::types::Condition;
use crate::managedresource::{CONFIG_NAME, INSTALL_NAME};

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
