//! Decoding and validation of `Extension.spec.providerConfig`. Every problem is collected (the
//! dashboard shows them all at once), each at its JSON path under `providerConfig`. The generic
//! checks (unknown fields, JSON types, required fields) come from the tables in `reference`; the
//! section files add what a type cannot say.
//!
//! One file per section of the FluxConfig, each adding its methods to the one `Checker`:
//! `flux` (the installation), `source` (GitRepository/OCIRepository template),
//! `kustomization` (the main Kustomization), `secrets` (`Shoot.spec.resources` references and
//! additionalSecretResources); `shape` holds the table-driven generic checks and `formats` the
//! name and duration formats. The table cases (input -> errors) are data files under
//! `crates/core/tests/cases/validation/`.

mod flux;
mod formats;
mod kustomization;
mod secrets;
mod shape;
mod source;

use serde_json::{Map, Value};

use super::reference::FLUX_CONFIG;
use super::{API_VERSION, DeletionPolicy, FluxConfig, KIND, ManagementMode, ShootResource};
use crate::fielderrors::{FieldError, FieldErrors};

pub use formats::{is_dns_subdomain, is_go_duration};
use source::SourceFacts;

const ROOT: &str = "providerConfig";
/// Longest JSON value quoted in a message; a whole object would drown the message.
const SHOWN_VALUE_CHARS: usize = 60;

/// Decodes and validates a providerConfig (`None` or JSON null: the empty config) against the
/// shoot's `spec.resources[]`. Templates are kept as written; `defaults` fills them.
pub fn decode(
    value: Option<&Value>,
    resources: &[ShootResource],
) -> Result<FluxConfig, FieldErrors> {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(FluxConfig::default());
    };
    let Value::Object(root) = value else {
        return Err(FieldErrors(vec![FieldError::new(
            ROOT,
            format!(
                "must be a {KIND} object with apiVersion {API_VERSION}, not {}",
                shown(value)
            ),
        )]));
    };
    let mut checker = Checker {
        errors: Vec::new(),
        resources,
    };
    let config = checker.root(root);
    FieldErrors::or_ok(checker.errors, config)
}

struct Checker<'r> {
    errors: Vec<FieldError>,
    resources: &'r [ShootResource],
}

impl<'r> Checker<'r> {
    fn fail(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }

    fn root(&mut self, root: &Map<String, Value>) -> FluxConfig {
        self.check_object(root, &FLUX_CONFIG, ROOT);
        if let Some(api_version) = text(root, "apiVersion")
            && api_version != API_VERSION
        {
            self.fail(
                child(ROOT, "apiVersion"),
                format!("{api_version:?} is not supported; use {API_VERSION}"),
            );
        }
        if let Some(kind) = text(root, "kind")
            && kind != KIND
        {
            self.fail(
                child(ROOT, "kind"),
                format!("{kind:?} is not supported; the kind is {KIND}"),
            );
        }
        let source_set = is_set(root, "source");
        let kustomization_set = is_set(root, "kustomization");
        let flux = object(root, "flux")
            .map(|flux| self.flux(flux, source_set || kustomization_set))
            .unwrap_or_default();
        if source_set && !kustomization_set {
            self.fail(
                child(ROOT, "kustomization"),
                "required when source is set: a Kustomization applies what the source fetches",
            );
        }
        if kustomization_set && !source_set {
            self.fail(
                child(ROOT, "source"),
                "required when kustomization is set: the Kustomization needs a source to read",
            );
        }
        let (source, facts) = match object(root, "source") {
            Some(source) => self.source(source, flux.namespace.as_deref()),
            None => (None, SourceFacts::default()),
        };
        let kustomization =
            object(root, "kustomization").and_then(|k| self.kustomization(k, &facts));
        let additional_secret_resources = list(root, "additionalSecretResources")
            .map(|items| self.additional_secret_resources(items, facts.secret_name.as_deref()))
            .unwrap_or_default();
        let mut flux = flux;
        if let Some(name) = object(root, "flux").and_then(|f| text(f, "imagePullSecret")) {
            match super::image_pull::check(name, &additional_secret_resources, self.resources) {
                Ok(()) => flux.image_pull_secret = Some(name.to_string()),
                Err(message) => self.fail(child(&child(ROOT, "flux"), "imagePullSecret"), message),
            }
        }
        let management_mode = text(root, "managementMode").and_then(|mode| match mode {
            "Managed" => Some(ManagementMode::Managed),
            "Bootstrap" => Some(ManagementMode::Bootstrap),
            _ => None,
        });
        let deletion_policy = text(root, "deletionPolicy").and_then(|policy| match policy {
            "Delete" => Some(DeletionPolicy::Delete),
            "Orphan" => Some(DeletionPolicy::Orphan),
            _ => None,
        });
        FluxConfig {
            flux,
            source,
            kustomization,
            additional_secret_resources,
            management_mode,
            deletion_policy,
        }
    }
}

/// A string field that passed its shape check (non-empty).
fn text<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn object<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Map<String, Value>> {
    map.get(key).and_then(Value::as_object)
}

fn list<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a [Value]> {
    map.get(key).and_then(Value::as_array).map(Vec::as_slice)
}

/// Present and not null: Kubernetes treats null as unset.
fn is_set(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).is_some_and(|v| !v.is_null())
}

/// `path.key`, or `path["key"]` for keys that would make the path ambiguous.
fn child(path: &str, key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{path}.{key}")
    } else {
        format!("{path}[{}]", Value::String(key.to_string()))
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A JSON value for a message, shortened.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= SHOWN_VALUE_CHARS {
        text
    } else {
        let head: String = text.chars().take(SHOWN_VALUE_CHARS).collect();
        format!("{head}…")
    }
}

/// "a", "a or b", "a, b or c".
fn either(values: &[&str]) -> String {
    match values {
        [] => String::new(),
        [only] => (*only).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests;
