//! Health verdicts: what the shoot's ManagedResources say about the `SystemComponentsHealthy`
//! condition, and how verdicts merge into an Extension's conditions. Pure; the health check
//! (`healthcheck`) reads the inputs and writes the result.

use crate::gardener::conditions::Verdict;
use crate::managedresource::{CONFIG_NAME, INSTALL_NAME, ManagedResource};

pub const CONDITION_TYPE: &str = "SystemComponentsHealthy";

/// Gardener's rule for a ManagedResource: applied and healthy for its current generation, and
/// not progressing. Returns None when healthy, else (progressing?, message).
pub fn managed_resource_problem(
    name: &str,
    mr: Option<&ManagedResource>,
) -> Option<(bool, String)> {
    let Some(mr) = mr else {
        return Some((true, format!("ManagedResource {name} does not exist yet")));
    };
    let observed = mr.status.as_ref().and_then(|s| s.observed_generation);
    if observed != mr.metadata.generation {
        return Some((
            true,
            format!("ManagedResource {name} is not yet observed in its latest generation"),
        ));
    }
    for kind in ["ResourcesApplied", "ResourcesHealthy"] {
        match mr.condition(kind) {
            Some(c) if c.status == "True" => {}
            Some(c) => {
                return Some((
                    c.status == "Unknown" || c.status == "Progressing",
                    format!(
                        "ManagedResource {name}: {kind} is {}: {}",
                        if c.status.is_empty() { "?" } else { &c.status },
                        c.message
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
    if let Some(c) = mr.condition("ResourcesProgressing")
        && c.status == "True"
    {
        return Some((
            true,
            format!("ManagedResource {name} is progressing: {}", c.message),
        ));
    }
    None
}

/// The verdict over both ManagedResources (None = missing).
pub fn verdict(
    hibernated: bool,
    install: Option<&ManagedResource>,
    config: Option<&ManagedResource>,
) -> Verdict {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A ManagedResource as GRM reports it, decoded from the API's JSON.
    fn mr(applied: &str, healthy: &str, progressing: &str) -> ManagedResource {
        serde_json::from_value(json!({"metadata": {"generation": 2}, "status": {"observedGeneration": 2, "conditions": [
            {"type": "ResourcesApplied", "status": applied, "message": "a",
             "lastTransitionTime": "2026-12-05T00:00:00Z", "lastUpdateTime": "2026-12-05T00:00:00Z", "reason": "r"},
            {"type": "ResourcesHealthy", "status": healthy, "message": "h"},
            {"type": "ResourcesProgressing", "status": progressing, "message": "p"}
        ]}}))
        .unwrap()
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
        stale.metadata.generation = Some(3);
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
}
