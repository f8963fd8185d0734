//! Configuration errors that name the field (a JSON path) and say what is wrong, all at once.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in one configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldErrors(pub Vec<FieldError>);

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        write!(f, "{}", parts.join("; "))
    }
}

impl FieldErrors {
    /// `Ok(value)` when no problem was found, else every problem.
    pub fn or_ok<T>(errors: Vec<FieldError>, value: T) -> Result<T, FieldErrors> {
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(FieldErrors(errors))
        }
    }
}

/// A Kubernetes namespace name (an RFC 1123 label).
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// The controllers of Flux's `install.yaml` (the default components).
pub const DEFAULT_COMPONENTS: [&str; 4] = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
];

/// Validates a `components` list at `path`: known default components, source-controller
/// included (every other controller reads its artifacts). Returns them sorted and deduplicated.
pub fn check_components(
    value: &serde_json::Value,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<String>> {
    let Some(list) = value.as_array() else {
        errors.push(FieldError::new(
            path,
            format!("must be a list of component names, not {value}"),
        ));
        return None;
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        match item.as_str() {
            Some(name) if DEFAULT_COMPONENTS.contains(&name) => out.push(name.to_string()),
            Some(name) => errors.push(FieldError::new(
                format!("{path}[{i}]"),
                format!("{name:?} is not one of {}; the extra components (image automation) are not supported yet", DEFAULT_COMPONENTS.join(", ")),
            )),
            None => errors.push(FieldError::new(format!("{path}[{i}]"), format!("must be a string, not {item}"))),
        }
    }
    out.sort();
    out.dedup();
    if !list.is_empty() && !out.iter().any(|c| c == "source-controller") && out.len() == list.len()
    {
        errors.push(FieldError::new(
            path,
            "must include source-controller: the other controllers read its artifacts",
        ));
    }
    if list.is_empty() {
        errors.push(FieldError::new(
            path,
            "must not be empty (omit it for the default components)",
        ));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(value: serde_json::Value) -> (Option<Vec<String>>, Vec<String>) {
        let mut errors = Vec::new();
        let out = check_components(&value, "c", &mut errors);
        (out, errors.into_iter().map(|e| e.to_string()).collect())
    }

    #[test]
    fn components() {
        let (out, errors) = check(json!([
            "source-controller",
            "kustomize-controller",
            "source-controller"
        ]));
        assert!(errors.is_empty());
        assert_eq!(out.unwrap(), ["kustomize-controller", "source-controller"]);
        assert!(
            check(json!(["kustomize-controller"])).1[0].contains("must include source-controller")
        );
        assert!(
            check(json!(["source-controller", "image-reflector-controller"])).1[0]
                .starts_with("c[1]:")
        );
        assert!(check(json!("source-controller")).1[0].contains("must be a list"));
        assert!(check(json!([])).1[0].contains("must not be empty"));
        assert!(check(json!([1])).1[0].contains("must be a string"));
    }
}
