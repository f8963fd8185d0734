//! The shoot layer: `Extension.spec.providerConfig`, a `FluxConfig` of
//! `flux.extensions.gardener.cloud/v1alpha1` (the stackit extension's API).
//!
//! This version reads `flux.version`, `flux.registry`, `flux.namespace` and `flux.components`,
//! which override the project and operator layers field by field. The other FluxConfig fields
//! (`source`, `kustomization`, `additionalSecretResources`, `flux.componentsExtra`,
//! `managementMode`, `deletionPolicy`) are recognised and refused with a clear error until they
//! are supported, rather than silently ignored.

use serde_json::Value;

use super::errors::{FieldError, FieldErrors, check_components, is_dns_label};
use super::version::{self, VersionRequest};

pub const API_VERSION: &str = "flux.extensions.gardener.cloud/v1alpha1";
pub const KIND: &str = "FluxConfig";
const ROOT: &str = "providerConfig";
const LATER: [&str; 5] = [
    "source",
    "kustomization",
    "additionalSecretResources",
    "managementMode",
    "deletionPolicy",
];

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShootFluxConfig {
    pub version: Option<VersionRequest>,
    pub registry: Option<String>,
    pub namespace: Option<String>,
    pub components: Option<Vec<String>>,
}

fn string_at(
    object: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
    match object.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::String(_)) => {
            errors.push(FieldError::new(
                format!("{path}.{key}"),
                "must not be empty",
            ));
            None
        }
        Some(other) => {
            errors.push(FieldError::new(
                format!("{path}.{key}"),
                format!("must be a string, not {other}"),
            ));
            None
        }
    }
}

/// Decodes and validates a providerConfig; None (no providerConfig) is the empty config.
pub fn parse(provider_config: Option<&Value>) -> Result<ShootFluxConfig, FieldErrors> {
    let Some(value) = provider_config.filter(|v| !v.is_null()) else {
        return Ok(ShootFluxConfig::default());
    };
    let Value::Object(object) = value else {
        return Err(FieldErrors(vec![FieldError::new(
            ROOT,
            format!("must be a {KIND} object, not {value}"),
        )]));
    };
    let mut errors = Vec::new();
    match object.get("apiVersion") {
        Some(Value::String(v)) if v == API_VERSION => {}
        Some(Value::String(other)) => errors.push(FieldError::new(
            format!("{ROOT}.apiVersion"),
            format!("{other:?} is not supported; use {API_VERSION}"),
        )),
        Some(other) => errors.push(FieldError::new(
            format!("{ROOT}.apiVersion"),
            format!("must be the string {API_VERSION}, not {other}"),
        )),
        None => errors.push(FieldError::new(
            format!("{ROOT}.apiVersion"),
            format!("required: {API_VERSION}"),
        )),
    }
    match object.get("kind").and_then(Value::as_str) {
        Some(KIND) => {}
        Some(other) => errors.push(FieldError::new(
            format!("{ROOT}.kind"),
            format!("{other:?} is not {KIND}"),
        )),
        None => errors.push(FieldError::new(
            format!("{ROOT}.kind"),
            format!("required: {KIND}"),
        )),
    }
    for key in object.keys() {
        if LATER.contains(&key.as_str()) {
            errors.push(FieldError::new(
                format!("{ROOT}.{key}"),
                "is not supported by this version of shoot-flux yet; configure the repository in the project's flux-config ConfigMap",
            ));
        } else if !matches!(key.as_str(), "apiVersion" | "kind" | "flux") {
            errors.push(FieldError::new(format!("{ROOT}.{key}"), "unknown field"));
        }
    }
    let mut config = ShootFluxConfig::default();
    match object.get("flux") {
        None | Some(Value::Null) => {}
        Some(Value::Object(flux)) => {
            let path = format!("{ROOT}.flux");
            for key in flux.keys() {
                match key.as_str() {
                    "version" | "registry" | "namespace" | "components" => {}
                    "componentsExtra" => errors.push(FieldError::new(
                        format!("{path}.{key}"),
                        "is not supported by this version of shoot-flux yet",
                    )),
                    _ => errors.push(FieldError::new(format!("{path}.{key}"), "unknown field")),
                }
            }
            if let Some(v) = string_at(flux, "version", &path, &mut errors) {
                match version::parse(&v) {
                    Ok(v) => config.version = Some(v),
                    Err(m) => errors.push(FieldError::new(format!("{path}.version"), m)),
                }
            }
            if let Some(r) = string_at(flux, "registry", &path, &mut errors) {
                if r.contains("://") || r.contains(char::is_whitespace) {
                    errors.push(FieldError::new(
                        format!("{path}.registry"),
                        format!("{r:?} must be a registry host and path like registry.example.com/fluxcd, without a scheme"),
                    ));
                } else {
                    config.registry = Some(r.trim_end_matches('/').to_string());
                }
            }
            if let Some(value) = flux.get("components").filter(|v| !v.is_null()) {
                config.components =
                    check_components(value, &format!("{path}.components"), &mut errors);
            }
            if let Some(n) = string_at(flux, "namespace", &path, &mut errors) {
                if is_dns_label(&n) {
                    config.namespace = Some(n);
                } else {
                    errors.push(FieldError::new(
                        format!("{path}.namespace"),
                        format!("{n:?} is not a valid namespace name"),
                    ));
                }
            }
        }
        Some(other) => errors.push(FieldError::new(
            format!("{ROOT}.flux"),
            format!("must be an object, not {other}"),
        )),
    }
    FieldErrors::or_ok(errors, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flux_fields_are_read() {
        let c = parse(Some(&json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "flux": {"version": "v2.6.4", "registry": "mirror.local/flux/", "namespace": "gitops"}
        })))
        .unwrap();
        assert!(matches!(c.version, Some(VersionRequest::Exact(_))));
        assert_eq!(c.registry.as_deref(), Some("mirror.local/flux"));
        assert_eq!(c.namespace.as_deref(), Some("gitops"));
        assert_eq!(parse(None).unwrap(), ShootFluxConfig::default());
    }

    #[test]
    fn every_problem_names_its_path() {
        let err = parse(Some(&json!({
            "apiVersion": "flux.extensions.gardener.cloud/v1beta1", "kind": KIND,
            "flux": {"version": 2, "namespace": "Bad_NS"}, "extra": 1
        })))
        .unwrap_err();
        let paths: Vec<&str> = err.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "providerConfig.apiVersion",
                "providerConfig.extra",
                "providerConfig.flux.version",
                "providerConfig.flux.namespace"
            ]
        );
    }
}
