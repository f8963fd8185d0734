//! The status patches of the extension contract: merge patches on the
//! status subresource that touch only lastOperation, lastError and observedGeneration, so they
//! never drop data other writers (the health check's conditions) keep there.

use serde_json::{Value, json};

use super::operation::OperationType;

/// Error codes of `lastError.codes` that shoot-flux reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ConfigurationProblem,
    RetryableConfigurationProblem,
    InfraDependencies,
    RetryableInfraDependencies,
    InfraUnauthorized,
    CleanupClusterResources,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConfigurationProblem => "ERR_CONFIGURATION_PROBLEM",
            Self::RetryableConfigurationProblem => "ERR_RETRYABLE_CONFIGURATION_PROBLEM",
            Self::InfraDependencies => "ERR_INFRA_DEPENDENCIES",
            Self::RetryableInfraDependencies => "ERR_RETRYABLE_INFRA_DEPENDENCIES",
            Self::InfraUnauthorized => "ERR_INFRA_UNAUTHORIZED",
            Self::CleanupClusterResources => "ERR_CLEANUP_CLUSTER_RESOURCES",
        }
    }
}

fn verb(operation: OperationType) -> &'static str {
    match operation {
        OperationType::Create | OperationType::Reconcile => "Reconciling",
        OperationType::Delete => "Deleting",
        OperationType::Migrate => "Migrating",
        OperationType::Restore => "Restoring",
    }
}

fn past(operation: OperationType) -> &'static str {
    match operation {
        OperationType::Create | OperationType::Reconcile => "reconciled",
        OperationType::Delete => "deleted",
        OperationType::Migrate => "migrated",
        OperationType::Restore => "restored",
    }
}

/// `Processing`, progress 1. Leaves lastError and observedGeneration alone.
pub fn processing(operation: OperationType, now: &str) -> Value {
    json!({"status": {"lastOperation": {
        "type": operation.as_str(), "state": "Processing", "progress": 1,
        "description": format!("{} the Extension", verb(operation)), "lastUpdateTime": now
    }}})
}

/// `Succeeded`, progress 100; clears lastError and records observedGeneration. `note` adds what
/// the owner should know about a success (e.g. a configuration layer that could not be read);
/// `provider_status`, when given, replaces `status.providerStatus`.
pub fn succeeded(
    operation: OperationType,
    generation: i64,
    note: Option<&str>,
    provider_status: Option<&Value>,
    now: &str,
) -> Value {
    let mut description = format!("Extension has been {}", past(operation));
    if let Some(note) = note {
        description.push_str(" (");
        description.push_str(note);
        description.push(')');
    }
    let mut patch = json!({"status": {
        "observedGeneration": generation,
        "lastError": null,
        "lastOperation": {
            "type": operation.as_str(), "state": "Succeeded", "progress": 100,
            "description": description, "lastUpdateTime": now
        }
    }});
    if let Some(provider_status) = provider_status {
        patch["status"]["providerStatus"] = provider_status.clone();
    }
    patch
}

/// `FormatLastErrDescription`: `"<what>: <error>"` with the first letter upper-cased.
pub fn error_description(what: &str, error: &str) -> String {
    let text = format!("{what}: {error}");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => text,
    }
}

/// `Error`, progress 50, with lastError and its codes; records observedGeneration.
pub fn error(
    operation: OperationType,
    generation: i64,
    description: &str,
    codes: &[ErrorCode],
    now: &str,
) -> Value {
    json!({"status": {
        "observedGeneration": generation,
        "lastError": {
            "description": description,
            "codes": codes.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "lastUpdateTime": now
        },
        "lastOperation": {
            "type": operation.as_str(), "state": "Error", "progress": 50,
            "description": description, "lastUpdateTime": now
        }
    }})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_touch_only_their_fields() {
        let p = processing(OperationType::Create, "t");
        assert_eq!(p["status"].as_object().unwrap().len(), 1);
        assert_eq!(p["status"]["lastOperation"]["progress"], 1);
        let s = succeeded(OperationType::Reconcile, 4, None, None, "t");
        assert!(s["status"].get("providerStatus").is_none());
        let recorded = succeeded(
            OperationType::Reconcile,
            4,
            None,
            Some(&json!({"kind": "FluxStatus"})),
            "t",
        );
        assert_eq!(recorded["status"]["providerStatus"]["kind"], "FluxStatus");
        assert_eq!(
            s["status"]["lastOperation"]["description"],
            "Extension has been reconciled"
        );
        let noted = succeeded(
            OperationType::Create,
            1,
            Some("no garden access"),
            None,
            "t",
        );
        assert_eq!(
            noted["status"]["lastOperation"]["description"],
            "Extension has been reconciled (no garden access)"
        );
        assert!(s["status"]["lastError"].is_null() && s["status"].get("lastError").is_some());
        assert_eq!(s["status"]["observedGeneration"], 4);
        assert!(
            s["status"].get("conditions").is_none(),
            "conditions belong to other writers"
        );
        let e = error(
            OperationType::Delete,
            2,
            "Boom",
            &[ErrorCode::ConfigurationProblem],
            "t",
        );
        assert_eq!(e["status"]["lastOperation"]["progress"], 50);
        assert_eq!(
            e["status"]["lastError"]["codes"][0],
            "ERR_CONFIGURATION_PROBLEM"
        );
    }

    #[test]
    fn error_descriptions_start_upper_case() {
        assert_eq!(
            error_description("failed to reconcile", "x"),
            "Failed to reconcile: x"
        );
    }
}
