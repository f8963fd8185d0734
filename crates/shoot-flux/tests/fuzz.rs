//! Fuzzing on stable Rust, inside `cargo test`: every parser of outside input gets structure-aware
//! inputs (real objects with mutated fields: wrong types, huge, unicode and empty strings, deep
//! nesting, removed and added fields) and raw text, and must keep its properties (no panic,
//! errors that name a field, deterministic and invariant-keeping output).
//!
//! - `SHOOT_FLUX_FUZZ_CASES`: cases per target and generator (default 48, about 10 s in all in a
//!   debug build);
//! - `SHOOT_FLUX_FUZZ_SECONDS`: instead, run each target this long (`hack/fuzz` does, in release);
//! - `SHOOT_FLUX_FUZZ_STATS`: a file each target appends `target executions seconds` to.
//!
//! A failing input is written to `target/fuzz-findings/<target>/` (or `SHOOT_FLUX_FUZZ_FINDINGS`);
//! copied into `tests/fuzz-corpus/<target>/`, it is replayed by `corpus_replays` on every run.
//! Corpus files named `valid-*` must be accepted, `invalid-*` rejected; others only must hold
//! the properties.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fuzzing;

use fuzzing::{Outcome, TARGETS, fuzz, strategies as s};

#[test]
fn corpus_replays() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus");
    let mut failures = Vec::new();
    for target in TARGETS {
        let dir = root.join(target.name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{} has no corpus", target.name);
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            let name = file.file_name().unwrap().to_string_lossy().into_owned();
            match fuzzing::guarded(target, &bytes) {
                Err(e) => failures.push(format!("{}/{name}: {e}", target.name)),
                Ok(outcome) => {
                    if name.starts_with("valid-") && outcome != Outcome::Accepted {
                        failures.push(format!("{}/{name}: rejected", target.name));
                    }
                    if name.starts_with("invalid-") && outcome != Outcome::Rejected {
                        failures.push(format!("{}/{name}: accepted", target.name));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn fuzz_provider_config() {
    let t = &fuzzing::PROVIDER_CONFIG;
    fuzz(
        t,
        "structured",
        s::mutated(s::provider_configs()),
        s::json_bytes,
    );
    fuzz(t, "json-text", s::json_text(), s::text_bytes);
    fuzz(t, "raw", s::raw_text(), s::text_bytes);
}

#[test]
fn fuzz_extension() {
    let t = &fuzzing::EXTENSION;
    fuzz(t, "structured", s::mutated(s::extensions()), s::json_bytes);
    fuzz(t, "json-text", s::json_text(), s::text_bytes);
}

#[test]
fn fuzz_cluster() {
    let t = &fuzzing::CLUSTER;
    fuzz(t, "structured", s::mutated(s::clusters()), s::json_bytes);
    fuzz(t, "json-text", s::json_text(), s::text_bytes);
    fuzz(t, "raw", s::raw_text(), s::text_bytes);
}

#[test]
fn fuzz_project_configmap() {
    let t = &fuzzing::PROJECT;
    fuzz(
        t,
        "structured",
        s::mutated(s::project_configmaps()),
        s::json_bytes,
    );
    fuzz(t, "raw", s::raw_text(), s::text_bytes);
}

#[test]
fn fuzz_operator_config() {
    let t = &fuzzing::OPERATOR;
    fuzz(
        t,
        "structured-yaml",
        s::mutated(s::operator_configs()),
        s::yaml_bytes,
    );
    fuzz(
        t,
        "structured-json",
        s::mutated(s::operator_configs()),
        s::json_bytes,
    );
    fuzz(t, "yaml-text", s::yaml_text(), s::text_bytes);
}

#[test]
fn fuzz_manifests() {
    let t = &fuzzing::MANIFESTS;
    fuzz(t, "structured", s::mutated_stream(), s::yaml_stream_bytes);
    fuzz(t, "yaml-text", s::yaml_text(), s::text_bytes);
    fuzz(t, "raw", s::raw_text(), s::text_bytes);
}

#[test]
fn fuzz_manifests_tarball() {
    let t = &fuzzing::TARBALL;
    fuzz(t, "structured", s::mutated_stream(), s::tarball_bytes);
    fuzz(
        t,
        "raw",
        proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
        |b| b.clone(),
    );
}
