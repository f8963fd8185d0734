//! The Gardener objects shoot-flux reads and writes, as plain serde types. Extensions and Clusters
//! are watched as untyped objects and decoded here, so one malformed object becomes an error on
//! that object instead of a broken watch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const EXTENSION_TYPE: &str = "shoot-flux";
pub const FINALIZER: &str = "extensions.gardener.cloud/shoot-flux";
pub const OPERATION_ANNOTATION: &str = "gardener.cloud/operation";
pub const TIMESTAMP_ANNOTATION: &str = "gardener.cloud/timestamp";

/// `Extension.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionSpec {
    #[serde(rename = "type")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_config: Option<serde_json::Value>,
}

/// `lastOperation` of a Gardener status; every field is required in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastOperation {
    pub description: String,
    pub last_update_time: String,
    pub progress: i32,
    pub state: String,
    #[serde(rename = "type")]
    pub type_: String,
}

/// `lastError` of a Gardener status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LastError {
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<String>,
}

/// A Gardener condition (`type`, `status`, times, reason, message, codes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub last_transition_time: String,
    pub last_update_time: String,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codes: Vec<String>,
}

/// The parts of `Extension.status` the reconciler reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExtensionStatus {
    #[serde(default)]
    pub last_operation: Option<LastOperation>,
    #[serde(default)]
    pub last_error: Option<LastError>,
    #[serde(default)]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Option<Vec<Condition>>,
    /// `providerStatus.kind`: whose record the status holds (shoot-flux writes `FluxStatus`).
    #[serde(skip)]
    pub provider_status_kind: Option<String>,
}

/// A decoded Extension: identity, the fields of the contract, and its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Extension {
    pub name: String,
    pub namespace: String,
    pub generation: i64,
    pub annotations: BTreeMap<String, String>,
    pub finalizers: Vec<String>,
    pub deletion_timestamp: Option<String>,
    /// As read; the first attempt of an optimistically locked metadata patch uses it.
    pub resource_version: Option<String>,
    pub spec: ExtensionSpec,
    pub status: ExtensionStatus,
}

/// Why an object could not be decoded, naming the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DecodeError {
    pub path: String,
    pub message: String,
}

fn decode_at<T: serde::de::DeserializeOwned>(
    value: &serde_json::Value,
    path: &str,
) -> Result<T, DecodeError> {
    serde_json::from_value(value.clone()).map_err(|e| DecodeError {
        path: path.to_string(),
        message: e.to_string(),
    })
}

/// The object at `path` (absent and null: `None`); anything else is an error naming the field.
fn object_at<'a>(
    value: Option<&'a serde_json::Value>,
    path: &str,
) -> Result<Option<&'a serde_json::Map<String, serde_json::Value>>, DecodeError> {
    match value {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Object(map)) => Ok(Some(map)),
        Some(other) => Err(DecodeError {
            path: path.to_string(),
            message: format!("expected an object, found {}", json_kind(other)),
        }),
    }
}

/// Decodes the optional field `key` of `map` (absent and null: `None`), naming `parent.key` in
/// the error.
fn field<T: serde::de::DeserializeOwned>(
    map: Option<&serde_json::Map<String, serde_json::Value>>,
    parent: &str,
    key: &str,
) -> Result<Option<T>, DecodeError> {
    match map.and_then(|m| m.get(key)) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => decode_at(value, &format!("{parent}.{key}")).map(Some),
    }
}

/// `a string`, `a list`, … for messages about a JSON value of the wrong type.
pub fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Whether the object (as JSON, possibly malformed) is an Extension this controller serves:
/// `spec.type` is shoot-flux and `spec.class` is unset, empty or `shoot`. An object that does not
/// say so is another controller's (or nobody's), and is never written to.
pub fn is_ours_json(object: &serde_json::Value) -> bool {
    is_ours_spec(&object["spec"])
}

/// `is_ours_json` of an Extension's spec.
pub fn is_ours_spec(spec: &serde_json::Value) -> bool {
    spec["type"].as_str() == Some(EXTENSION_TYPE)
        && match &spec["class"] {
            serde_json::Value::Null => true,
            serde_json::Value::String(class) => class.is_empty() || class == "shoot",
            _ => false,
        }
}

impl Extension {
    /// Decodes an Extension from its JSON (metadata, spec and status as the API server stores
    /// them). Every field is decoded on its own, so an error names it (`spec.type`,
    /// `status.lastOperation`, …); fields shoot-flux does not read are never looked at.
    pub fn from_json(object: &serde_json::Value) -> Result<Self, DecodeError> {
        let meta = &object["metadata"];
        let spec = object_at(object.get("spec"), "spec")?;
        let type_ = field::<String>(spec, "spec", "type")?.ok_or_else(|| DecodeError {
            path: "spec.type".into(),
            message: "missing".into(),
        })?;
        let spec = ExtensionSpec {
            type_,
            class: field(spec, "spec", "class")?,
            provider_config: spec
                .and_then(|s| s.get("providerConfig"))
                .filter(|v| !v.is_null())
                .cloned(),
        };
        let status = object_at(object.get("status"), "status")?;
        let status = ExtensionStatus {
            last_operation: field(status, "status", "lastOperation")?,
            last_error: field(status, "status", "lastError")?,
            observed_generation: field(status, "status", "observedGeneration")?,
            conditions: field(status, "status", "conditions")?,
            provider_status_kind: status
                .and_then(|s| s.get("providerStatus"))
                .and_then(|p| p.get("kind"))
                .and_then(|k| k.as_str())
                .map(str::to_string),
        };
        Ok(Self {
            name: meta["name"].as_str().unwrap_or_default().to_string(),
            namespace: meta["namespace"].as_str().unwrap_or_default().to_string(),
            generation: meta["generation"].as_i64().unwrap_or(0),
            annotations: decode_at::<Option<BTreeMap<String, String>>>(
                &meta["annotations"],
                "metadata.annotations",
            )?
            .unwrap_or_default(),
            finalizers: decode_at::<Option<Vec<String>>>(
                &meta["finalizers"],
                "metadata.finalizers",
            )?
            .unwrap_or_default(),
            deletion_timestamp: meta["deletionTimestamp"].as_str().map(str::to_string),
            resource_version: meta["resourceVersion"].as_str().map(str::to_string),
            spec,
            status,
        })
    }

    pub fn operation_annotation(&self) -> Option<&str> {
        self.annotations
            .get(OPERATION_ANNOTATION)
            .map(String::as_str)
    }

    /// The class, with unset meaning `shoot` as in Gardener.
    pub fn class(&self) -> &str {
        match self.spec.class.as_deref() {
            None | Some("") => "shoot",
            Some(c) => c,
        }
    }

    /// True for the Extensions this controller serves: type shoot-flux, class shoot.
    pub fn is_ours(&self) -> bool {
        self.spec.type_ == EXTENSION_TYPE && self.class() == "shoot"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_an_extension_and_defaults_the_class() {
        let ext = Extension::from_json(&json!({
            "metadata": {"name": "shoot-flux", "namespace": "shoot--p--s", "generation": 2,
                          "annotations": {"gardener.cloud/operation": "reconcile"}},
            "spec": {"type": "shoot-flux"},
            "status": {"lastOperation": {"description": "d", "lastUpdateTime": "2026-01-01T00:00:00Z",
                                          "progress": 100, "state": "Succeeded", "type": "Create"}}
        }))
        .unwrap();
        assert!(ext.is_ours());
        assert_eq!(ext.operation_annotation(), Some("reconcile"));
        assert_eq!(ext.status.last_operation.unwrap().state, "Succeeded");
        assert_eq!(ext.status.provider_status_kind, None);
        let ours = Extension::from_json(&json!({
            "metadata": {"name": "shoot-flux", "namespace": "shoot--p--s"},
            "spec": {"type": "shoot-flux"},
            "status": {"providerStatus": {"kind": "FluxStatus", "flux": {}}}
        }))
        .unwrap();
        assert_eq!(
            ours.status.provider_status_kind.as_deref(),
            Some("FluxStatus")
        );
    }

    #[test]
    fn a_malformed_extension_is_an_error_naming_the_field() {
        let err = Extension::from_json(&json!({
            "metadata": {"name": "x", "namespace": "y"},
            "spec": {"type": 7}
        }))
        .unwrap_err();
        assert_eq!(err.path, "spec.type");
        let err = Extension::from_json(&json!({
            "metadata": {"name": "x", "namespace": "y"},
            "spec": {"type": "shoot-flux"},
            "status": {"lastOperation": {"state": "Succeeded"}}
        }))
        .unwrap_err();
        assert_eq!(err.path, "status.lastOperation");
        assert!(err.message.contains("description"), "{err}");
        for (object, path) in [
            (json!({"spec": "shoot-flux"}), "spec"),
            (json!({"spec": {}}), "spec.type"),
            (
                json!({"spec": {"type": "shoot-flux", "class": 1}}),
                "spec.class",
            ),
            (
                json!({"spec": {"type": "shoot-flux"}, "status": []}),
                "status",
            ),
            (
                json!({"spec": {"type": "shoot-flux"}, "status": {"lastOperation": "Succeeded"}}),
                "status.lastOperation",
            ),
            (
                json!({"spec": {"type": "shoot-flux"}, "status": {"observedGeneration": "1"}}),
                "status.observedGeneration",
            ),
            (
                json!({"spec": {"type": "shoot-flux"}, "status": {"conditions": {}}}),
                "status.conditions",
            ),
            (
                json!({"metadata": {"annotations": {"a": 1}}, "spec": {"type": "shoot-flux"}}),
                "metadata.annotations",
            ),
        ] {
            assert_eq!(
                Extension::from_json(&object).unwrap_err().path,
                path,
                "{object}"
            );
        }
        // A providerConfig of any JSON type is the validator's to judge, not the decoder's.
        let ext =
            Extension::from_json(&json!({"spec": {"type": "shoot-flux", "providerConfig": "x"}}))
                .unwrap();
        assert_eq!(ext.spec.provider_config, Some(json!("x")));
    }

    #[test]
    fn only_objects_that_say_they_are_ours_are_ours() {
        assert!(is_ours_json(
            &json!({"spec": {"type": "shoot-flux", "status": 7}})
        ));
        assert!(is_ours_json(
            &json!({"spec": {"type": "shoot-flux", "class": "shoot"}})
        ));
        assert!(is_ours_json(
            &json!({"spec": {"type": "shoot-flux", "class": ""}})
        ));
        assert!(!is_ours_json(
            &json!({"spec": {"type": "shoot-flux", "class": "seed"}})
        ));
        assert!(!is_ours_json(
            &json!({"spec": {"type": "shoot-flux", "class": 1}})
        ));
        assert!(!is_ours_json(&json!({"spec": {}})));
        assert!(!is_ours_json(&json!({"spec": "shoot-flux"})));
        assert!(!is_ours_json(&json!({})));
    }

    #[test]
    fn other_types_and_classes_are_not_ours() {
        let mut ext =
            Extension::from_json(&json!({"metadata": {}, "spec": {"type": "shoot-dns-service"}}))
                .unwrap();
        assert!(!ext.is_ours());
        ext.spec.type_ = EXTENSION_TYPE.into();
        ext.spec.class = Some("seed".into());
        assert!(!ext.is_ours());
    }
}
