//! The fuzz targets (each a check of one input, as bytes, against its properties) and the runner.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod strategies;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::DynamicObject;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use serde_json::{Value, json};

use shoot_flux_core::api::v1alpha1::{self, FluxConfig, ShootResource};
use shoot_flux_core::config::operator::{OperatorConfig, parse_duration};
use shoot_flux_core::config::project::{self, ProjectConfig};
use shoot_flux_core::config::{EffectiveConfig, merge};
use shoot_flux_core::fielderrors::{FieldErrors, is_dns_label};
use shoot_flux_core::flux::bundle::{InstallBundle, components_from_tarball};
use shoot_flux_core::flux::objects;
use shoot_flux_core::flux::objects::SecretPayload;
use shoot_flux_core::flux::transform::{
    self, IGNORE_ANNOTATION, InstallOptions, UPSTREAM_NAMESPACE,
};
use shoot_flux_core::fluxversion::parse_exact;
use shoot_flux_core::gardener::operation;
use shoot_flux_core::gardener::shoot::{
    ShootFacts, decode_cluster, is_project_namespace, project_of, project_of_namespace,
    slim_cluster,
};
use shoot_flux_core::gardener::types::{Extension, is_ours_json};
use shoot_flux_core::giturl::url_scheme;
use shoot_flux_core::render::{self, Inputs};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Rejected,
}

pub struct Target {
    pub name: &'static str,
    /// The extension of its corpus files.
    pub ext: &'static str,
    pub check: fn(&[u8]) -> Result<Outcome, String>,
}

pub const PROVIDER_CONFIG: Target = Target {
    name: "provider-config",
    ext: "json",
    check: provider_config,
};
pub const EXTENSION: Target = Target {
    name: "extension",
    ext: "json",
    check: extension,
};
pub const CLUSTER: Target = Target {
    name: "cluster",
    ext: "json",
    check: cluster,
};
pub const PROJECT: Target = Target {
    name: "project-configmap",
    ext: "json",
    check: project_configmap,
};
pub const OPERATOR: Target = Target {
    name: "operator-config",
    ext: "yaml",
    check: operator_config,
};
pub const MANIFESTS: Target = Target {
    name: "manifests",
    ext: "yaml",
    check: manifests,
};
pub const TARBALL: Target = Target {
    name: "manifests-tarball",
    ext: "tar.gz",
    check: tarball,
};

pub const TARGETS: [&Target; 7] = [
    &PROVIDER_CONFIG,
    &EXTENSION,
    &CLUSTER,
    &PROJECT,
    &OPERATOR,
    &MANIFESTS,
    &TARBALL,
];

macro_rules! ensure {
    ($cond:expr, $($message:tt)+) => {
        if !$cond {
            return Err(format!($($message)+));
        }
    };
}

/// Runs a target's check; a panic is a failure with its message.
pub fn guarded(target: &Target, bytes: &[u8]) -> Result<Outcome, String> {
    match catch_unwind(AssertUnwindSafe(|| (target.check)(bytes))) {
        Ok(result) => result,
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("panic: {message}"))
        }
    }
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn findings_dir(target: &Target) -> PathBuf {
    std::env::var_os("SHOOT_FLUX_FUZZ_FINDINGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/fuzz-findings")
        })
        .join(target.name)
}

fn save_finding(target: &Target, bytes: &[u8]) -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    let dir = findings_dir(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("finding-{:016x}.{}", hasher.finish(), target.ext));
    let _ = std::fs::write(&path, bytes);
    path
}

/// Feeds `strategy`'s inputs to `target`: `SHOOT_FLUX_FUZZ_CASES` of them (default 48), or as
/// many as fit in `SHOOT_FLUX_FUZZ_SECONDS`. A failure is shrunk, saved and reported.
pub fn fuzz<S>(target: &Target, label: &str, strategy: S, bytes: fn(&S::Value) -> Vec<u8>)
where
    S: Strategy,
    S::Value: Debug,
{
    let seconds = env_number("SHOOT_FLUX_FUZZ_SECONDS").map(Duration::from_secs);
    let cases = env_number("SHOOT_FLUX_FUZZ_CASES").unwrap_or(48);
    let batch = if seconds.is_some() { 2000 } else { cases };
    let batch = u32::try_from(batch).unwrap_or(u32::MAX).max(1);
    let started = Instant::now();
    let mut executions = 0u64;
    loop {
        let mut runner = TestRunner::new(Config {
            cases: batch,
            failure_persistence: None,
            max_shrink_iters: 2048,
            ..Config::default()
        });
        let count = Cell::new(0u64);
        let result = runner.run(&strategy, |value| {
            count.set(count.get() + 1);
            guarded(target, &bytes(&value))
                .map(|_| ())
                .map_err(TestCaseError::fail)
        });
        executions += count.get();
        match result {
            Ok(()) => {}
            Err(TestError::Fail(reason, value)) => {
                let input = bytes(&value);
                let path = save_finding(target, &input);
                panic!(
                    "{}/{label}: {reason}\ninput saved as {}:\n{}",
                    target.name,
                    path.display(),
                    String::from_utf8_lossy(&input)
                        .chars()
                        .take(2000)
                        .collect::<String>()
                );
            }
            Err(TestError::Abort(reason)) => panic!("{}/{label}: aborted: {reason}", target.name),
        }
        match seconds {
            Some(limit) if started.elapsed() < limit => {}
            _ => break,
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "fuzz {}/{label}: {executions} executions in {elapsed:.1} s",
        target.name
    );
    if let Some(stats) = std::env::var_os("SHOOT_FLUX_FUZZ_STATS")
        && let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(stats)
    {
        let _ = writeln!(file, "{} {label} {executions} {elapsed:.1}", target.name);
    }
}

// ---------------------------------------------------------------------------------------------
// Shared fixtures.

fn resource(name: &str, kind: &str, resource_name: &str) -> ShootResource {
    ShootResource {
        name: name.into(),
        api_version: "v1".into(),
        kind: kind.into(),
        resource_name: resource_name.into(),
    }
}

pub fn resources() -> Vec<ShootResource> {
    vec![
        resource("git-credentials", "Secret", "team-git"),
        resource("vault", "Secret", "project-vault"),
        resource("settings", "ConfigMap", "team-settings"),
        resource("flux-creds", "Secret", "flux-system"),
        resource("sops-age", "Secret", "sops-age"),
    ]
}

pub fn facts() -> ShootFacts {
    ShootFacts {
        cluster_name: "shoot--dev--app".into(),
        name: "app".into(),
        project_namespace: "garden-dev".into(),
        project: "dev".into(),
        technical_id: "shoot--dev--app".into(),
        cluster_identity: Some("shoot--dev--app-garden".into()),
        worker_count: 1,
        region: Some("eu-de-1".into()),
        garden_cluster_identity: Some("garden".into()),
        resources: resources(),
        ..Default::default()
    }
}

fn project_config() -> ProjectConfig {
    project::parse(&BTreeMap::from([
        ("fluxVersion".to_string(), "v2.9.5".to_string()),
        (
            "repositoryUrl".to_string(),
            "https://git.example.com/org/fleet.git".to_string(),
        ),
    ]))
    .unwrap()
}

fn bundle() -> InstallBundle {
    InstallBundle {
        version: parse_exact("v2.9.5").unwrap(),
        yaml: String::new(),
        content: shoot_flux_core::managedresource::SecretContent::new(&[]).unwrap(),
        namespace: "flux-system".into(),
        access: None,
        images: Vec::new(),
        controllers: Vec::new(),
        crds: Vec::new(),
    }
}

fn check_field_errors(errors: &FieldErrors, root: &str) -> Result<(), String> {
    ensure!(!errors.0.is_empty(), "an error without problems");
    for error in &errors.0 {
        ensure!(error.path.starts_with(root), "{error} is not under {root}");
        ensure!(
            !error.message.trim().is_empty(),
            "{} has no message",
            error.path
        );
    }
    ensure!(!errors.to_string().is_empty(), "an empty error message");
    Ok(())
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The YAML the config ManagedResource carries reads back as the same objects. (Our YAML parser,
/// made for Flux's install.yaml, stops at 64 levels; GRM reads that YAML, not shoot-flux, so
/// deeper objects are only checked to serialise.)
fn yaml_round_trip(objects: &[Value]) -> Result<(), String> {
    let yaml = transform::to_yaml(objects)?;
    if objects.iter().map(depth).max().unwrap_or(0) > 60 {
        return Ok(());
    }
    let back = transform::parse_documents(&yaml).map_err(|e| format!("{e}\n{yaml}"))?;
    ensure!(
        back == objects,
        "YAML round trip changed the objects:\n{yaml}\nback: {back:?}"
    );
    Ok(())
}

/// The whole pure path from an effective configuration: the config objects and the rendered
/// ManagedResources, deterministic and well-formed, given every Secret they ask for.
fn render_end_to_end(facts: &ShootFacts, config: &EffectiveConfig) -> Result<(), String> {
    let _ = config.check_version(&parse_exact("v2.5.0").unwrap());
    let inputs = Inputs {
        deploy_key: None,
        secrets: config
            .secret_copies
            .iter()
            .map(|copy| {
                (
                    copy.seed_name.clone(),
                    SecretPayload {
                        // The source's Secret as a docker-registry Secret, which OCI and Git
                        // sources both accept.
                        type_: Some(
                            if copy.field.ends_with("source.secretResourceName") {
                                "kubernetes.io/dockerconfigjson"
                            } else {
                                "Opaque"
                            }
                            .into(),
                        ),
                        data: BTreeMap::from([("key".to_string(), "dmFsdWU=".to_string())]),
                        ..Default::default()
                    },
                )
            })
            .collect(),
    };
    let private = matches!(
        &config.sync,
        Some(shoot_flux_core::config::Sync::Project(s))
            if s.repository_type == project::RepositoryType::Private
    );
    let objects = match render::config_objects(facts, config, &inputs) {
        Ok(objects) => objects,
        Err(e) if private && e.contains("deploy key") => return Ok(()),
        Err(e) => return Err(format!("config objects failed with every input given: {e}")),
    };
    for object in &objects {
        ensure!(
            object["kind"].is_string(),
            "an object without kind: {object}"
        );
        ensure!(
            object["metadata"]["name"].is_string(),
            "an object without name: {object}"
        );
    }
    let info = objects
        .iter()
        .find(|o| o["metadata"]["name"] == objects::SHOOT_INFO_NAME && o["kind"] == "ConfigMap");
    ensure!(
        info.is_some_and(|i| i["metadata"]["namespace"] == config.namespace.as_str()),
        "shoot-info is not in the Flux namespace {}",
        config.namespace
    );
    yaml_round_trip(&objects)?;
    let bundle = bundle();
    let first = render::render(facts, config, Some(&bundle), &inputs)?;
    let second = render::render(facts, config, Some(&bundle), &inputs)?;
    ensure!(first == second, "render is not deterministic");
    ensure!(first.config_objects == objects, "render's objects differ");
    Ok(())
}

/// Bytes as JSON, or (not JSON) as one JSON string.
fn as_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

// ---------------------------------------------------------------------------------------------
// Targets.

/// providerConfig: decoding and validation (every problem under `providerConfig`), defaults,
/// merging with the project and operator layers, and rendering.
fn provider_config(bytes: &[u8]) -> Result<Outcome, String> {
    let value = as_json(bytes);
    let resources = resources();
    let first = v1alpha1::decode(Some(&value), &resources);
    ensure!(
        first == v1alpha1::decode(Some(&value), &resources),
        "not deterministic"
    );
    let config: FluxConfig = match first {
        Err(errors) => {
            check_field_errors(&errors, "providerConfig")?;
            return Ok(Outcome::Rejected);
        }
        Ok(config) => config,
    };
    let namespace = config.flux.namespace.as_deref().unwrap_or("flux-system");
    if let Some(source) = &config.source {
        let object = v1alpha1::defaults::source_object(source, namespace);
        ensure!(
            object["kind"] == source.kind.as_str(),
            "defaulted source: {object}"
        );
        if let Some(k) = &config.kustomization {
            let k = v1alpha1::defaults::kustomization_object(k, &object, namespace);
            ensure!(k["spec"]["sourceRef"]["name"].is_string(), "{k}");
        }
        let _ = v1alpha1::defaults::source_secret_name(source);
    }
    let facts = facts();
    let project = project_config();
    for layer in [None, Some(&project)] {
        for bootstrapped in [false, true] {
            match merge(
                &OperatorConfig::default(),
                layer,
                &config,
                &facts,
                bootstrapped,
            ) {
                Err(errors) => check_field_errors(&errors, "")?,
                Ok(effective) => render_end_to_end(&facts, &effective)?,
            }
        }
    }
    Ok(Outcome::Accepted)
}

/// What may name a field of a malformed Extension.
const EXTENSION_FIELDS: [&str; 10] = [
    "spec",
    "spec.type",
    "spec.class",
    "status",
    "status.lastOperation",
    "status.lastError",
    "status.observedGeneration",
    "status.conditions",
    "metadata.annotations",
    "metadata.finalizers",
];

/// An Extension as the watch delivers it: any object the API server can send decodes as the
/// watch's DynamicObject; the decoder accepts it or names the field; the predicates and the
/// operation logic take whatever it accepts.
fn extension(bytes: &[u8]) -> Result<Outcome, String> {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(Outcome::Rejected);
    };
    let from_api_server = value.is_object()
        && ["apiVersion", "kind"]
            .iter()
            .all(|k| value.get(*k).is_none_or(Value::is_string))
        && value
            .get("metadata")
            .is_none_or(|m| serde_json::from_value::<ObjectMeta>(m.clone()).is_ok());
    let json = match serde_json::from_value::<DynamicObject>(value.clone()) {
        Ok(object) => serde_json::to_value(&object).map_err(|e| e.to_string())?,
        Err(e) if from_api_server => {
            return Err(format!(
                "the watch cannot decode it as a DynamicObject: {e}"
            ));
        }
        Err(_) => value,
    };
    let ours = is_ours_json(&json);
    match Extension::from_json(&json) {
        Ok(ext) => {
            ensure!(
                ext.is_ours() == ours,
                "is_ours {} but the JSON says {ours}",
                ext.is_ours()
            );
            for ignore in [false, true] {
                let _ = operation::event_triggers(None, &ext, ignore);
                let _ = operation::event_triggers(Some(&ext), &ext, ignore);
            }
            let _ = operation::annotation_step(&ext);
            let op = operation::compute_operation_type(&ext);
            let _ = operation::should_skip(op, ext.status.last_operation.as_ref());
            Ok(Outcome::Accepted)
        }
        Err(e) => {
            ensure!(
                EXTENSION_FIELDS.contains(&e.path.as_str()),
                "the error names no field: {e}"
            );
            ensure!(!e.message.is_empty(), "an empty message at {}", e.path);
            Ok(Outcome::Rejected)
        }
    }
}

/// A Cluster: the slim path (what the reconciler reads) and the whole object decode alike; every
/// error names a field under `spec`; accepted facts are consistent and render.
fn cluster(bytes: &[u8]) -> Result<Outcome, String> {
    let text = String::from_utf8_lossy(bytes);
    let full: Option<Value> = serde_json::from_str(&text).ok();
    let slim = slim_cluster(&text);
    let (slim, full) = match (slim, full) {
        (Ok(slim), Some(full)) => (slim, full),
        // serde_json skips the values the slim path ignores without its nesting limit of 128,
        // so it reads a few texts the whole parse refuses; what it reads must still decode.
        (Ok(slim), None) => {
            return Ok(match decode_cluster(&slim) {
                Ok(_) => Outcome::Accepted,
                Err(_) => Outcome::Rejected,
            });
        }
        (Err(e), Some(Value::Object(_))) if !e.to_string().contains("duplicate field") => {
            return Err(format!("slim decoding rejects a JSON object: {e}"));
        }
        (Err(_), _) => return Ok(Outcome::Rejected),
    };
    let decoded = decode_cluster(&slim);
    ensure!(
        decoded == decode_cluster(&full),
        "slim and full decoding differ: {decoded:?} vs {:?}",
        decode_cluster(&full)
    );
    let facts = match decoded {
        Err(e) => {
            ensure!(
                e.path.starts_with("spec") || e.path == "metadata.name",
                "the error names no field: {e}"
            );
            ensure!(!e.message.is_empty(), "an empty message at {}", e.path);
            return Ok(Outcome::Rejected);
        }
        Ok(facts) => facts,
    };
    ensure!(!facts.project.is_empty(), "an empty project");
    ensure!(
        is_project_namespace(&facts.project_namespace),
        "project namespace {}",
        facts.project_namespace
    );
    let expected = project_of(&facts.technical_id)
        .map(str::to_string)
        .unwrap_or_else(|| project_of_namespace(&facts.project_namespace));
    ensure!(
        facts.project == expected,
        "project {} of technical ID {}",
        facts.project,
        facts.technical_id
    );
    let info = objects::shoot_info("flux-system", &facts);
    ensure!(
        info["data"]
            .as_object()
            .is_some_and(|d| d.values().all(Value::is_string)),
        "{info}"
    );
    let effective = merge(
        &OperatorConfig::default(),
        None,
        &FluxConfig::default(),
        &facts,
        false,
    )
    .map_err(|e| e.to_string())?;
    render_end_to_end(&facts, &effective)?;
    Ok(Outcome::Accepted)
}

/// The project's `flux-config` data (JSON, or `key=value` lines): problems under
/// `flux-config.data.`; an accepted repository is a usable Git URL, branch and namespace.
fn project_configmap(bytes: &[u8]) -> Result<Outcome, String> {
    let data: BTreeMap<String, String> = serde_json::from_slice(bytes).unwrap_or_else(|_| {
        String::from_utf8_lossy(bytes)
            .lines()
            .map(|line| match line.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (line.to_string(), String::new()),
            })
            .collect()
    });
    let first = project::parse(&data);
    ensure!(first == project::parse(&data), "not deterministic");
    let config = match first {
        Err(errors) => {
            check_field_errors(&errors, "flux-config.data.")?;
            return Ok(Outcome::Rejected);
        }
        Ok(config) => config,
    };
    if let Some(repo) = &config.repository {
        ensure!(
            !repo.url.chars().any(char::is_whitespace) && url_scheme(&repo.url).is_some(),
            "accepted URL {:?}",
            repo.url
        );
        ensure!(
            objects::flux_git_url(&repo.url).contains("://"),
            "no scheme for Flux: {:?}",
            repo.url
        );
        ensure!(!repo.branch.is_empty(), "an empty branch");
        ensure!(
            !repo.path.is_empty() && !repo.path.starts_with('/'),
            "path {:?}",
            repo.path
        );
        ensure!(
            is_dns_label(&repo.target_namespace),
            "namespace {:?}",
            repo.target_namespace
        );
    }
    let facts = facts();
    match merge(
        &OperatorConfig::default(),
        Some(&config),
        &FluxConfig::default(),
        &facts,
        false,
    ) {
        Err(errors) => check_field_errors(&errors, "")?,
        Ok(effective) => render_end_to_end(&facts, &effective)?,
    }
    Ok(Outcome::Accepted)
}

/// The operator configuration file: no panic, problems with a path, accepted values usable.
fn operator_config(bytes: &[u8]) -> Result<Outcome, String> {
    let text = String::from_utf8_lossy(bytes);
    for word in text.split_whitespace().take(64) {
        let _ = parse_duration(word);
    }
    match OperatorConfig::parse(&text) {
        Err(errors) => {
            check_field_errors(&errors, "")?;
            ensure!(
                errors.0.iter().all(|e| !e.path.is_empty()),
                "an error without a path: {errors}"
            );
            Ok(Outcome::Rejected)
        }
        Ok(config) => {
            ensure!(
                !config.flux.manifest_timeout.is_zero(),
                "a zero manifest timeout"
            );
            ensure!(!config.sync_status.timeout.is_zero(), "a zero sync timeout");
            ensure!(config.sync_status.concurrency >= 1, "concurrency 0");
            ensure!(
                config
                    .flux
                    .registry
                    .as_deref()
                    .is_none_or(|r| !r.ends_with('/')),
                "registry {:?}",
                config.flux.registry
            );
            Ok(Outcome::Accepted)
        }
    }
}

const MIRROR: &str = "registry.example.com/mirror";

fn option_sets() -> [InstallOptions; 4] {
    [
        InstallOptions {
            namespace: UPSTREAM_NAMESPACE.into(),
            registry: None,
            components: None,
            components_extra: Vec::new(),
            ignore_updates: false,
            image_pull_secret: None,
        },
        InstallOptions {
            namespace: "gitops".into(),
            registry: Some(MIRROR.into()),
            components: None,
            components_extra: Vec::new(),
            ignore_updates: false,
            image_pull_secret: None,
        },
        InstallOptions {
            namespace: "flux".into(),
            registry: Some(MIRROR.into()),
            components: Some(vec![
                "source-controller".into(),
                "kustomize-controller".into(),
            ]),
            components_extra: vec!["image-reflector-controller".into()],
            ignore_updates: true,
            image_pull_secret: Some("registry-pull".into()),
        },
        InstallOptions {
            namespace: UPSTREAM_NAMESPACE.into(),
            registry: None,
            components: Some(Vec::new()),
            components_extra: Vec::new(),
            ignore_updates: true,
            image_pull_secret: None,
        },
    ]
}

fn container_images(doc: &Value) -> Vec<&str> {
    ["containers", "initContainers"]
        .iter()
        .filter_map(|key| doc["spec"]["template"]["spec"][key].as_array())
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect()
}

const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// Flux's install manifests: parsed or rejected with a reason; transformed deterministically into
/// the Flux namespace and the registry mirror, with only the wanted components, serialising and
/// reading back unchanged.
fn manifests(bytes: &[u8]) -> Result<Outcome, String> {
    let text = String::from_utf8_lossy(bytes);
    let docs = match transform::parse_documents(&text) {
        Err(e) => {
            ensure!(!e.to_string().is_empty(), "an empty parse error");
            return Ok(Outcome::Rejected);
        }
        Ok(docs) => docs,
    };
    for doc in &docs {
        ensure!(
            doc["kind"].is_string() && doc["metadata"]["name"].is_string(),
            "accepted without kind or name: {doc}"
        );
    }
    for options in option_sets() {
        let out = transform::transform(&docs, &options);
        ensure!(
            out == transform::transform(&docs, &options),
            "not deterministic"
        );
        ensure!(out.len() <= docs.len(), "documents added");
        for doc in &out {
            if options.namespace != UPSTREAM_NAMESPACE {
                ensure!(
                    doc["metadata"]["namespace"] != UPSTREAM_NAMESPACE,
                    "left in {UPSTREAM_NAMESPACE}: {doc}"
                );
                ensure!(
                    !(doc["kind"] == "Namespace" && doc["metadata"]["name"] == UPSTREAM_NAMESPACE),
                    "the upstream namespace is still created"
                );
                if let Some(subjects) = doc["subjects"].as_array() {
                    ensure!(
                        subjects
                            .iter()
                            .all(|s| s["namespace"] != UPSTREAM_NAMESPACE),
                        "a subject left in {UPSTREAM_NAMESPACE}: {doc}"
                    );
                }
            }
            if options.registry.is_some() {
                for image in container_images(doc) {
                    ensure!(
                        !image.contains("ghcr.io/fluxcd/"),
                        "image {image:?} not rewritten"
                    );
                }
            }
            if let Some(secret) = &options.image_pull_secret
                && doc["kind"] == "Deployment"
                && doc["spec"]["template"]["spec"].is_object()
            {
                ensure!(
                    doc["spec"]["template"]["spec"]["imagePullSecrets"]
                        .as_array()
                        .is_some_and(|l| l.iter().any(|s| s["name"] == secret.as_str())),
                    "a Deployment without the image pull secret: {doc}"
                );
            }
            if options.ignore_updates {
                ensure!(
                    doc["metadata"]["annotations"][IGNORE_ANNOTATION] == "true",
                    "without {IGNORE_ANNOTATION}: {doc}"
                );
            }
            if let (Some(keep), Some(component)) = (
                &options.components,
                doc["metadata"]["labels"][COMPONENT_LABEL].as_str(),
            ) {
                ensure!(
                    keep.iter()
                        .chain(&options.components_extra)
                        .any(|c| c == component),
                    "component {component} not asked for"
                );
            }
        }
        let _ = transform::images(&out);
        let _ = transform::controllers(&out);
        yaml_round_trip(&out)?;
    }
    let mut component = docs;
    transform::namespace_component(&mut component);
    Ok(Outcome::Accepted)
}

/// A release's manifests.tar.gz: read or rejected; every namespaced object lands in Flux's
/// upstream namespace.
fn tarball(bytes: &[u8]) -> Result<Outcome, String> {
    let version = parse_exact("v2.9.5").unwrap();
    match components_from_tarball(&version, bytes) {
        Err(e) => {
            ensure!(!e.to_string().is_empty(), "an empty error");
            Ok(Outcome::Rejected)
        }
        Ok(components) => {
            for docs in components.values() {
                for doc in docs {
                    ensure!(
                        doc["kind"].is_string() && doc["metadata"]["name"].is_string(),
                        "{doc}"
                    );
                    ensure!(
                        !doc["metadata"]["namespace"].is_null()
                            || matches!(
                                doc["kind"].as_str(),
                                Some(
                                    "Namespace"
                                        | "CustomResourceDefinition"
                                        | "ClusterRole"
                                        | "ClusterRoleBinding"
                                        | "ValidatingAdmissionPolicy"
                                        | "ValidatingAdmissionPolicyBinding"
                                        | "PriorityClass"
                                )
                            ),
                        "a namespaced object without namespace: {doc}"
                    );
                }
            }
            Ok(Outcome::Accepted)
        }
    }
}

/// For the strategies: a JSON value as the bytes a target reads.
pub fn json_of(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| json!(null).to_string().into_bytes())
}
