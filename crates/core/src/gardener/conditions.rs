//! Conditions, as Gardener and Flux objects carry them in `status.conditions`: finding one, and
//! setting verdicts into an Extension's list without touching other writers' types.

use serde_json::Value;

use super::types::Condition;

/// The verdict for one condition: status, reason, message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: &'static str,
    pub reason: &'static str,
    pub message: String,
}

/// The condition of type `kind` in any object's `status.conditions` (JSON as read).
pub fn in_object<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// The condition of type `kind` in an Extension's list.
pub fn find<'a>(conditions: &'a [Condition], kind: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == kind)
}

/// Sets condition `kind` in `conditions`, keeping every other type as it is and the transition
/// time when the status did not change.
pub fn set(conditions: &[Condition], kind: &str, verdict: &Verdict, now: &str) -> Vec<Condition> {
    let previous = find(conditions, kind);
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

/// `existing` with `verdicts` set, keeping other types and transition times; None when none of
/// them changed (status, reason and message), so a steady state causes no write.
pub fn merge(
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
                set(&conditions, kind, v, now)
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONDITION_TYPE: &str = "SystemComponentsHealthy";

    #[test]
    fn set_keeps_other_types_and_transition_times() {
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
        let first = set(std::slice::from_ref(&other), CONDITION_TYPE, &ok, "t1");
        assert_eq!(first.len(), 2);
        assert!(first.contains(&other));
        let second = set(&first, CONDITION_TYPE, &ok, "t2");
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
        let third = set(&second, CONDITION_TYPE, &bad, "t3");
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
