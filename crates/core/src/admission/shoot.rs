//! A Shoot that enables shoot-flux (`spec.extensions[]` with type `shoot-flux`).

use serde_json::Value;

use super::{Operation, Request, Verdict};
use crate::api::v1alpha1::{self, ShootResource};
use crate::fielderrors::{FieldError, FieldErrors};
use crate::flux::compat::{self, Compatibility};
use crate::fluxversion::VersionRequest;
use crate::gardener::shoot::decode_resources;

/// The extension type shoot-flux is registered for.
pub const EXTENSION_TYPE: &str = "shoot-flux";

/// The validator names fields from `providerConfig`; in the Shoot that is the entry's field.
const VALIDATOR_ROOT: &str = "providerConfig";
/// `decode_resources` names fields as the Cluster holds the Shoot.
const CLUSTER_SHOOT_PREFIX: &str = "spec.shoot.";

/// What of a Shoot shoot-flux reads, to tell whether an update touched it.
#[derive(Debug, PartialEq)]
struct Relevant<'a> {
    /// The index and the `spec.extensions[]` entry of type shoot-flux.
    entry: Option<(usize, &'a Value)>,
    /// `spec.resources`: the configuration names its entries.
    resources: Option<&'a Value>,
    workerless: bool,
}

impl<'a> Relevant<'a> {
    fn of(shoot: &'a Value) -> Self {
        let entry = shoot
            .pointer("/spec/extensions")
            .and_then(Value::as_array)
            .and_then(|extensions| {
                extensions
                    .iter()
                    .enumerate()
                    .find(|(_, e)| e.get("type").and_then(Value::as_str) == Some(EXTENSION_TYPE))
            });
        Self {
            entry,
            resources: shoot.pointer("/spec/resources").filter(|v| !v.is_null()),
            workerless: worker_count(shoot) == 0,
        }
    }
}

fn worker_count(shoot: &Value) -> usize {
    shoot
        .pointer("/spec/provider/workers")
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

fn kubernetes_version(shoot: &Value) -> Option<&str> {
    shoot
        .pointer("/spec/kubernetes/version")
        .and_then(Value::as_str)
}

/// The verdict for a Shoot create or update.
///
/// Checked when the shoot-flux entry, `spec.resources` or whether the shoot has workers changed
/// (or on create): the shoot must have workers, and the entry's `providerConfig` must pass the
/// controller's validation against the Shoot's `spec.resources`. A Flux version the shoot's
/// Kubernetes version is outside of is a warning (Flux often works there, and the controller
/// installs it anyway), also when only the Kubernetes version changed.
pub fn review_shoot(request: &Request<'_>) -> Verdict {
    if request.operation == Operation::Other || request.is_deleting() {
        return Verdict::allowed();
    }
    let new = Relevant::of(request.object);
    let Some((index, entry)) = new.entry else {
        return Verdict::allowed();
    };
    if entry.get("disabled").and_then(Value::as_bool) == Some(true) {
        return Verdict::allowed();
    }
    let old = request.old();
    let config_changed = old.is_none_or(|old| Relevant::of(old) != new);
    let version_changed =
        old.is_none_or(|old| kubernetes_version(old) != kubernetes_version(request.object));
    if !config_changed && !version_changed {
        return Verdict::allowed();
    }

    let entry_path = format!("spec.extensions[{index}]");
    let mut errors = Vec::new();
    if new.workerless {
        errors.push(FieldError::new(
            "spec.provider.workers",
            "the shoot has no workers, and Flux needs nodes to run; shoot-flux does not support workerless shoots: add a worker pool or remove the shoot-flux extension",
        ));
    }
    let resources = match decode_resources(request.object) {
        Ok(resources) => resources,
        Err(e) => {
            let path = e
                .path
                .strip_prefix(CLUSTER_SHOOT_PREFIX)
                .unwrap_or(&e.path)
                .to_string();
            errors.push(FieldError::new(path, e.message));
            Vec::<ShootResource>::new()
        }
    };
    let warnings = match v1alpha1::decode(entry.get(VALIDATOR_ROOT), &resources) {
        Ok(config) => version_warning(&config, request.object, &entry_path),
        Err(FieldErrors(found)) => {
            errors.extend(
                found
                    .into_iter()
                    .map(|e| FieldError::new(format!("{entry_path}.{}", e.path), e.message)),
            );
            Vec::new()
        }
    };
    if config_changed && !errors.is_empty() {
        return Verdict::Denied {
            errors: FieldErrors(errors),
        };
    }
    Verdict::Allowed { warnings }
}

/// A warning when the shoot pins a Flux release whose supported Kubernetes range does not hold
/// the shoot's version. Without a pinned release (`latest`, or the project's or operator's
/// choice, which the webhook does not read) there is nothing to compare.
fn version_warning(config: &v1alpha1::FluxConfig, shoot: &Value, entry_path: &str) -> Vec<String> {
    let Some(VersionRequest::Exact(flux)) = &config.flux.version else {
        return Vec::new();
    };
    let kubernetes = kubernetes_version(shoot);
    match compat::check(&flux.0, kubernetes) {
        Compatibility::Unsupported(range) => vec![format!(
            "{entry_path}.{VALIDATOR_ROOT}.flux.version: Flux {flux} supports Kubernetes {range}, and this shoot runs Kubernetes {}; shoot-flux installs it anyway, but Flux may not work as expected: choose a Flux release that supports it",
            kubernetes.unwrap_or_default()
        )],
        Compatibility::Supported(_)
        | Compatibility::NoStatement
        | Compatibility::KubernetesVersionUnknown => Vec::new(),
    }
}
