//! The providerConfig validation cases as data: `tests/cases/validation/*.yaml`, one file per
//! section of the FluxConfig. Each case is a list entry with
//! - `name` (unique over all files) and `proves`: what the case shows;
//! - the input: `base` (a providerConfig from `bases.yaml`) with an optional `patch`, a JSON
//!   merge patch on it (objects merge, null removes a key), or `input`, decoded as written;
//! - the outcome: `accepted: true`, or `errors`: every error `decode` must return, in order,
//!   each with its exact `path` and optionally `message_contains`, a part of its message.
//!
//! Every case is decoded against the `resources` of `bases.yaml` (the shoot's
//! `spec.resources[]`). All failing cases are reported together, each with its file and name.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use shoot_flux_core::api::v1alpha1::{ShootResource, decode};
use shoot_flux_core::fielderrors::FieldErrors;

const BASES_FILE: &str = "bases.yaml";
/// Fewer cases than this means the directory was not read whole (today there are 166).
const AT_LEAST: usize = 150;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Bases {
    resources: Vec<Resource>,
    bases: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Resource {
    name: String,
    #[serde(default = "core_v1")]
    api_version: String,
    kind: String,
    resource_name: String,
}

fn core_v1() -> String {
    "v1".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    proves: String,
    base: Option<String>,
    patch: Option<Value>,
    input: Option<Value>,
    #[serde(default)]
    accepted: bool,
    #[serde(default)]
    errors: Vec<Expected>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    path: String,
    message_contains: Option<String>,
}

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases/validation")
}

fn read_yaml<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// JSON merge patch (RFC 7386): objects merge, null removes, anything else replaces.
fn merge(base: Value, patch: Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch;
    };
    let mut map = match base {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(&key);
        } else {
            let current = map.remove(&key).unwrap_or(Value::Null);
            map.insert(key, merge(current, value));
        }
    }
    Value::Object(map)
}

fn input_of(case: &Case, bases: &BTreeMap<String, Value>) -> Result<Value, String> {
    match (&case.input, &case.base) {
        (Some(input), None) if case.patch.is_none() => Ok(input.clone()),
        (None, Some(name)) => {
            let base = bases.get(name).ok_or_else(|| {
                let known: Vec<&str> = bases.keys().map(String::as_str).collect();
                format!("no base {name:?} in {BASES_FILE}; bases are {known:?}")
            })?;
            Ok(match &case.patch {
                Some(patch) => merge(base.clone(), patch.clone()),
                None => base.clone(),
            })
        }
        _ => Err("give either input, or base with an optional patch".to_string()),
    }
}

fn listed(errors: &FieldErrors) -> String {
    errors
        .0
        .iter()
        .map(|e| format!("\n      {}: {}", e.path, e.message))
        .collect()
}

/// What is wrong with one case; empty when it holds.
fn problems(
    case: &Case,
    bases: &BTreeMap<String, Value>,
    resources: &[ShootResource],
) -> Vec<String> {
    let mut out = Vec::new();
    if case.proves.trim().is_empty() {
        out.push("proves is empty: say what the case shows".to_string());
    }
    let expects_errors = !case.errors.is_empty();
    if case.accepted == expects_errors {
        out.push("give either accepted: true or a non-empty errors list".to_string());
        return out;
    }
    let input = match input_of(case, bases) {
        Ok(input) => input,
        Err(problem) => {
            out.push(problem);
            return out;
        }
    };
    match decode(Some(&input), resources) {
        Ok(_) if case.accepted => {}
        Ok(config) => out.push(format!("decoded without error: {config:?}")),
        Err(errors) if case.accepted => {
            out.push(format!("expected accepted, got:{}", listed(&errors)));
        }
        Err(errors) => {
            let paths: Vec<&str> = errors.0.iter().map(|e| e.path.as_str()).collect();
            let expected: Vec<&str> = case.errors.iter().map(|e| e.path.as_str()).collect();
            if paths != expected {
                out.push(format!(
                    "paths {paths:?}, expected {expected:?}; got:{}",
                    listed(&errors)
                ));
            } else {
                for (error, wanted) in errors.0.iter().zip(&case.errors) {
                    if let Some(fragment) = &wanted.message_contains
                        && !error.message.contains(fragment.as_str())
                    {
                        out.push(format!(
                            "message at {} is {:?}, which lacks {fragment:?}",
                            error.path, error.message
                        ));
                    }
                }
            }
            if errors.0.iter().any(|e| e.message.trim().is_empty()) {
                out.push(format!("an empty message:{}", listed(&errors)));
            }
        }
    }
    out
}

#[test]
fn validation_cases_hold() {
    let dir = cases_dir();
    let bases: Bases = read_yaml(&dir.join(BASES_FILE));
    let resources: Vec<ShootResource> = bases
        .resources
        .into_iter()
        .map(|r| ShootResource {
            name: r.name,
            api_version: r.api_version,
            kind: r.kind,
            resource_name: r.resource_name,
        })
        .collect();
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .filter(|path| !path.ends_with(BASES_FILE))
        .collect();
    files.sort();

    let mut first_file_of: BTreeMap<String, String> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut count = 0;
    for path in &files {
        let file = path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let cases: Vec<Case> = read_yaml(path);
        assert!(!cases.is_empty(), "{file}: no cases");
        for case in &cases {
            count += 1;
            if let Some(other) = first_file_of.insert(case.name.clone(), file.clone()) {
                failures.push(format!(
                    "{file}: {}: the name is taken in {other}",
                    case.name
                ));
            }
            for problem in problems(case, &bases.bases, &resources) {
                failures.push(format!("{file}: {}: {problem}", case.name));
            }
        }
    }
    assert!(
        count >= AT_LEAST,
        "only {count} cases in {} files under {}",
        files.len(),
        dir.display()
    );
    assert!(
        failures.is_empty(),
        "{} of {count} validation cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The harness itself: a case whose expected error differs from what `decode` says fails,
/// so a green run above is not a harness that cannot fail.
#[test]
fn a_wrong_expectation_is_reported() {
    let bases = BTreeMap::from([(
        "root".to_string(),
        serde_json::json!({"apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig"}),
    )]);
    let case = |patch: Value, errors: Vec<Expected>, accepted: bool| Case {
        name: "probe".into(),
        proves: "the harness fails".into(),
        base: Some("root".into()),
        patch: Some(patch),
        input: None,
        accepted,
        errors,
    };
    let expected = |path: &str, fragment: &str| Expected {
        path: path.into(),
        message_contains: Some(fragment.into()),
    };
    let kind_flux = serde_json::json!({"kind": "Flux"});
    let right = case(
        kind_flux.clone(),
        vec![expected("providerConfig.kind", "is not supported")],
        false,
    );
    assert!(problems(&right, &bases, &[]).is_empty());
    for wrong in [
        case(
            kind_flux.clone(),
            vec![expected("providerConfig.kind", "is fine")],
            false,
        ),
        case(
            kind_flux.clone(),
            vec![expected("providerConfig.apiVersion", "")],
            false,
        ),
        case(kind_flux, Vec::new(), true),
        case(
            serde_json::json!({}),
            vec![expected("providerConfig", "")],
            false,
        ),
    ] {
        assert!(!problems(&wrong, &bases, &[]).is_empty());
    }
}
