//! The admission webhook's decisions: given a Shoot or a project's `flux-config` ConfigMap as a
//! create or update would store it (and the object before an update), is the request allowed,
//! refused with every problem at its JSON path, or allowed with warnings?
//!
//! The checks are the controller's own (`api::v1alpha1::decode` for a Shoot's `providerConfig`,
//! `config::project::parse` for `flux-config`), so that what the webhook lets through is what
//! the controller accepts, with the same messages. Nothing here reads another object: the
//! webhook calls no other system (the project's `flux-config` is not consulted for a Shoot).
//!
//! As Gardener asks of admission plugins, an update is checked only when the part this
//! extension reads changed: a Shoot update that does not touch shoot-flux passes, however
//! unusual the rest of the Shoot is (and even when its shoot-flux part was invalid before).

mod shoot;

use std::collections::BTreeMap;

use serde_json::Value;

use crate::config::project::{self, CONFIGMAP_NAME};
use crate::fielderrors::{FieldError, FieldErrors};
use crate::gardener::shoot::is_project_namespace;

pub use shoot::{EXTENSION_TYPE, review_shoot};

/// What a webhook answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed; `warnings` are shown to the user (kubectl prints them) without refusing.
    Allowed { warnings: Vec<String> },
    /// Refused: every problem, each at its JSON path in the object.
    Denied { errors: FieldErrors },
}

impl Verdict {
    fn allowed() -> Self {
        Self::Allowed {
            warnings: Vec::new(),
        }
    }

    /// The denial's text: what was refused and every problem with its path.
    pub fn message(&self, what: &str) -> Option<String> {
        match self {
            Self::Allowed { .. } => None,
            Self::Denied { errors } => {
                let n = errors.0.len();
                let problems = if n == 1 {
                    "1 problem".to_string()
                } else {
                    format!("{n} problems")
                };
                Some(format!(
                    "shoot-flux: {what} is invalid ({problems}): {errors}"
                ))
            }
        }
    }
}

/// The request's operation, as `AdmissionRequest.operation` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    /// DELETE and CONNECT: nothing to check.
    Other,
}

impl Operation {
    pub fn parse(text: &str) -> Self {
        match text {
            "CREATE" => Self::Create,
            "UPDATE" => Self::Update,
            _ => Self::Other,
        }
    }
}

/// One request: the object as it would be stored and, for an update, the stored one.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub operation: Operation,
    pub object: &'a Value,
    pub old_object: Option<&'a Value>,
}

impl Request<'_> {
    /// Objects being deleted only lose finalizers and get status writes: never refused.
    fn is_deleting(&self) -> bool {
        self.object
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null())
    }

    /// The stored object of an update (None for a create).
    fn old(&self) -> Option<&Value> {
        match self.operation {
            Operation::Update => self.old_object,
            _ => None,
        }
    }
}

/// A ConfigMap: only `flux-config` in a project namespace is shoot-flux's, and only its `data`
/// is read by the controller.
pub fn review_flux_config(request: &Request<'_>) -> Verdict {
    if request.operation == Operation::Other || request.is_deleting() {
        return Verdict::allowed();
    }
    let object = request.object;
    let name = object.pointer("/metadata/name").and_then(Value::as_str);
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str);
    if name != Some(CONFIGMAP_NAME) || !namespace.is_some_and(is_project_namespace) {
        return Verdict::allowed();
    }
    if let Some(old) = request.old()
        && old.get("data") == object.get("data")
    {
        return Verdict::allowed();
    }
    match configmap_data(object) {
        Err(error) => Verdict::Denied {
            errors: FieldErrors(vec![error]),
        },
        Ok(data) => match project::parse(&data) {
            Ok(_) => Verdict::allowed(),
            Err(errors) => Verdict::Denied {
                errors: FieldErrors(
                    errors
                        .0
                        .into_iter()
                        .map(|e| FieldError::new(configmap_path(&e.path), e.message))
                        .collect(),
                ),
            },
        },
    }
}

/// `data` of a ConfigMap; the API server has checked that the values are strings.
fn configmap_data(object: &Value) -> Result<BTreeMap<String, String>, FieldError> {
    match object.get("data") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(FieldError::new(
                    format!("data.{k}"),
                    format!("must be a string, not {other}"),
                )),
            })
            .collect(),
        Some(other) => Err(FieldError::new(
            "data",
            format!("must be a map of strings, not {other}"),
        )),
    }
}

/// The project parser names fields `flux-config.data.<key>` (for the Extension's status); in
/// the ConfigMap itself the path is `data.<key>`.
fn configmap_path(path: &str) -> String {
    path.strip_prefix(CONFIGMAP_NAME)
        .and_then(|rest| rest.strip_prefix('.'))
        .unwrap_or(path)
        .to_string()
}

#[cfg(test)]
mod tests;
