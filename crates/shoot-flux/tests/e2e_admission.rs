//! The admission webhook against a real Gardener API: gardener-apiserver behind the bed's garden
//! kube-apiserver, the webhook process (`gardener-extension-shoot-flux admission`, TLS from the
//! bed's CA) and its ValidatingWebhookConfiguration rendered by helm from
//! charts/gardener-extension-admission-shoot-flux/charts/application. Everything is applied with
//! kubectl, as a user would:
//! - invalid cases of the core's validation table (crates/core/tests/cases/validation: every
//!   fifth, 31 across all files; all 152 with SHOOT_FLUX_ADMISSION_ALL_CASES=1), each as the
//!   providerConfig of a Shoot, are refused naming every field at its path in the Shoot; every
//!   case of tests/admission-cases/flux-config.yaml (15), as the project's flux-config, likewise;
//! - the Shoots and the flux-config in example/ are accepted, without warnings;
//! - a Shoot stored with a broken shoot-flux part (before the webhook existed) can still be
//!   changed elsewhere, but not in its shoot-flux part;
//! - a Flux release outside the shoot's Kubernetes range is accepted with a warning kubectl prints;
//! - with the webhook down, failurePolicy Fail refuses what the webhook would judge, and only that.
//!
//! `admission_latency` (ignored; run it by name, see docs/operations/admission.md) measures what
//! a Shoot create pays for the webhook.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject, PostParams};
use kube::{Client, Error};
use serde::Deserialize;
use serde_json::{Value, json};
use testbed::Bed;
// The bed's Kubernetes version is inside the range of the Flux release the examples pin (v2.9.5:
// 1.34 to 1.36): they get no warning.
use testbed::admission::{self, KUBERNETES_VERSION, Webhook, merge};
use testbed::kubeutil::{apply_documents, dynamic_api, parse_documents, wait_for};

const MANAGER: &str = "e2e-admission";
const NS: &str = "garden-dev";
const SHOOT_FLUX_LABEL: &str = "extensions.extensions.gardener.cloud/shoot-flux";

fn root() -> PathBuf {
    testbed::paths::repo_root()
}

/// What the Shoots of the test need in the garden (the project, a CloudProfile, credentials,
/// registrations of the extensions a Shoot with workers names), and the objects the core's
/// validation cases list in `spec.resources` (Gardener refuses a Shoot whose resources do not
/// exist).
fn garden_basics(resources: &[CaseResource]) -> Vec<Value> {
    let mut docs = admission::project_objects("dev", NS).unwrap();
    // The examples' Secrets, and the objects of the case table's resources.
    let mut objects: Vec<(String, String)> = ["fleet-credentials", "sops-age"]
        .iter()
        .map(|n| ("Secret".to_string(), n.to_string()))
        .collect();
    objects.extend(
        resources
            .iter()
            .map(|r| (r.kind.clone(), r.resource_name.clone())),
    );
    for (kind, name) in objects {
        let data = if kind == "Secret" {
            json!({"token": "c2VjcmV0"})
        } else {
            json!({"key": "value"})
        };
        docs.push(json!({
            "apiVersion": "v1", "kind": kind,
            "metadata": {"name": name, "namespace": NS}, "data": data,
        }));
    }
    docs
}

fn shoot(name: &str, spec: Value) -> Value {
    admission::shoot(NS, name, spec)
}

fn with_flux(provider_config: Value, resources: Value) -> Value {
    json!({
        "resources": resources,
        "extensions": [{"type": "shoot-flux", "providerConfig": provider_config}],
    })
}

/// What kubectl said.
#[derive(Debug)]
struct Kubectl {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Kubectl {
    fn warned(&self) -> bool {
        self.stderr.contains("Warning:")
    }
}

/// `kubectl <args>` against the garden with `stdin` (YAML or JSON) as its input.
fn kubectl(bed: &Bed, args: &[&str], stdin: &str) -> Kubectl {
    let mut child = Command::new("kubectl")
        .arg(format!(
            "--kubeconfig={}",
            bed.garden().kubeconfig_path().display()
        ))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubectl (the bed needs it) runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Kubectl {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn apply(bed: &Bed, object: &Value) -> Kubectl {
    kubectl(bed, &["apply", "-f", "-"], &object.to_string())
}

async fn shoots(garden: &Client) -> Api<DynamicObject> {
    dynamic_api(garden, "core.gardener.cloud/v1beta1", "Shoot", Some(NS))
        .await
        .unwrap()
}

fn dry_run() -> PostParams {
    PostParams {
        dry_run: true,
        ..PostParams::default()
    }
}

/// A Shoot with shoot-flux whose providerConfig has one unknown field: the webhook's test
/// object.
fn probe_shoot() -> Value {
    shoot(
        "probe",
        with_flux(
            json!({"apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig", "probe": true}),
            json!([]),
        ),
    )
}

/// Waits until a dry-run create of `object` gets `expected` (a fragment of the refusal, or None
/// for acceptance), retrying while Gardener's admission plugins or the webhook configuration
/// are still settling.
async fn wait_dry_run(garden: &Client, object: &Value, expected: Option<&str>, what: &str) {
    let shoots = shoots(garden).await;
    let object: DynamicObject = serde_json::from_value(object.clone()).unwrap();
    wait_for(what, Duration::from_secs(120), || async {
        let result = shoots.create(&dry_run(), &object).await;
        match (result, expected) {
            (Ok(_), None) => Ok(Some(())),
            (Err(Error::Api(status)), Some(fragment)) if status.message.contains(fragment) => {
                Ok(Some(()))
            }
            (Ok(_), Some(_)) => Ok(None),
            (Err(e), _) => anyhow::bail!("{e}"),
        }
    })
    .await
    .unwrap();
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CaseResource {
    name: String,
    #[serde(default = "core_v1")]
    api_version: String,
    kind: String,
    resource_name: String,
}

fn core_v1() -> String {
    "v1".into()
}

#[derive(Debug, Deserialize)]
struct CaseBases {
    resources: Vec<CaseResource>,
    bases: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    base: Option<String>,
    patch: Option<Value>,
    input: Option<Value>,
    #[serde(default)]
    errors: Vec<Expected>,
    /// flux-config cases only.
    data: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
struct Expected {
    path: String,
    message_contains: Option<String>,
}

fn read_yaml<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn core_cases_dir() -> PathBuf {
    root().join("crates/core/tests/cases/validation")
}

fn core_bases() -> CaseBases {
    read_yaml(&core_cases_dir().join("bases.yaml"))
}

/// The refused providerConfigs of the core's case table, with the file they come from; cases
/// whose input is not an object (a Shoot's providerConfig is always one) are left out.
fn shoot_cases(bases: &CaseBases) -> Vec<(String, Value, Vec<Expected>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(core_cases_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap() != "bases.yaml")
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let cases: Vec<Case> = read_yaml(&file);
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        for case in cases {
            if case.errors.is_empty() {
                continue;
            }
            let input = match (&case.input, &case.base) {
                (Some(input), _) => input.clone(),
                (None, Some(base)) => {
                    let base = bases.bases[base].clone();
                    match &case.patch {
                        Some(patch) => merge(base, patch.clone()),
                        None => base,
                    }
                }
                (None, None) => panic!("{stem}: {}: no input", case.name),
            };
            if input.is_object() {
                out.push((format!("{stem}: {}", case.name), input, case.errors));
            }
        }
    }
    out
}

fn shoot_resources(bases: &CaseBases) -> Value {
    bases
        .resources
        .iter()
        .map(|r| {
            json!({"name": r.name, "resourceRef": {
                "apiVersion": r.api_version, "kind": r.kind, "name": r.resource_name}})
        })
        .collect()
}

/// Where the fields of a Shoot's shoot-flux entry and of a ConfigMap are.
const SHOOT_FIELDS: &str = "spec.extensions[0].";
const CONFIGMAP_FIELDS: &str = "";

/// What is wrong with the answer to a refused case: None when shoot-flux's webhook refused it
/// naming every expected field (`prefix` + path) with its message.
fn refusal_problem(out: &Kubectl, prefix: &str, expected: &[Expected]) -> Option<String> {
    if out.success {
        return Some(format!("accepted: {}", out.stdout));
    }
    let said = &out.stderr;
    if !said.contains("admission webhook") || !said.contains("denied the request: shoot-flux: ") {
        return Some(format!("not refused by shoot-flux's webhook: {said}"));
    }
    for wanted in expected {
        let field = format!("{prefix}{}: ", wanted.path);
        let Some(at) = said.find(&field) else {
            return Some(format!("{field} not named in: {said}"));
        };
        if let Some(fragment) = &wanted.message_contains {
            // This problem's text: up to the next problem ("; <path>: ") or the end.
            let rest = &said[at + field.len()..];
            let end = rest
                .match_indices("; ")
                .map(|(i, _)| i)
                .find(|&i| {
                    let next = &rest[i + 2..];
                    next.starts_with(prefix)
                        && next.split_once(": ").is_some_and(|(p, _)| !p.contains(' '))
                })
                .unwrap_or(rest.len());
            if !rest[..end].contains(fragment.as_str()) {
                return Some(format!("{field} lacks {fragment:?}: {said}"));
            }
        }
    }
    None
}

/// A blocking piece of work (a kubectl call).
type Job<T> = Box<dyn FnOnce() -> T + Send + 'static>;

/// Runs `jobs` four at a time.
async fn run_parallel<T: Send + 'static>(jobs: Vec<Job<T>>) -> Vec<T> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(4));
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|job| {
            let semaphore = semaphore.clone();
            tokio::spawn(async move {
                let _permit = semaphore.acquire_owned().await.unwrap();
                tokio::task::spawn_blocking(job).await.unwrap()
            })
        })
        .collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

/// The garden with gardener-apiserver, the objects the Shoots need, shoot-flux registered as
/// example/controller-registration.yaml says, and the webhook running and registered.
/// `stored_before` is created before the webhook is registered.
async fn garden_with_webhook(bed: &'static Bed, stored_before: &[Value]) -> Webhook {
    bed.gardener_apiserver().await.unwrap();
    let garden = bed.garden().client().await.unwrap();
    apply_documents(&garden, &garden_basics(&core_bases().resources), MANAGER)
        .await
        .unwrap();
    // The registration objects, as an operator applies them: accepted by gardener-apiserver.
    let registration =
        std::fs::read_to_string(root().join("example/controller-registration.yaml")).unwrap();
    let out = kubectl(bed, &["apply", "-f", "-"], &registration);
    assert!(
        out.success && !out.warned(),
        "example/controller-registration.yaml: {out:?}"
    );
    // Gardener's ExtensionValidator knows shoot-flux once its informer saw the registration.
    wait_dry_run(
        &garden,
        &shoot("probe", with_flux(json!(null), json!([]))),
        None,
        "a Shoot with shoot-flux to pass Gardener's admission",
    )
    .await;
    for object in stored_before {
        let out = apply(bed, object);
        assert!(out.success, "stored before the webhook: {out:?}");
    }
    let webhook = Webhook::start(
        bed,
        Path::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux")),
    )
    .await
    .unwrap();
    let out = kubectl(
        bed,
        &["apply", "-f", "-"],
        &webhook.configuration(bed).unwrap(),
    );
    assert!(out.success, "the chart's webhook configuration: {out:?}");
    wait_dry_run(
        &garden,
        &probe_shoot(),
        Some("spec.extensions[0].providerConfig.probe"),
        "the webhook to refuse the probe Shoot",
    )
    .await;
    webhook
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_refuses_bad_configurations_at_apply_and_lets_the_rest_through() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let garden = bed.garden().client().await.unwrap();
    let bases = core_bases();
    let resources = shoot_resources(&bases);

    // Stored before the webhook exists: a Shoot whose shoot-flux part is broken.
    let mut legacy_config = bases.bases["git"].clone();
    legacy_config["kind"] = json!("FluxConfiguration");
    let legacy = shoot("legacy", with_flux(legacy_config, resources.clone()));
    let mut webhook = garden_with_webhook(bed, std::slice::from_ref(&legacy)).await;
    let shoots = shoots(&garden).await;

    // The examples: accepted, no warnings.
    for (file, name) in [
        ("shoot.yaml", "app"),
        ("shoot-gitrepository.yaml", "app-git"),
        ("shoot-ocirepository.yaml", "app-oci"),
    ] {
        let example =
            &parse_documents(&std::fs::read_to_string(root().join("example").join(file)).unwrap())
                .unwrap()[0];
        let object = merge(
            shoot(name, example["spec"].clone()),
            json!({"metadata": {"name": name}}),
        );
        let out = apply(bed, &object);
        assert!(out.success && !out.warned(), "example/{file}: {out:?}");
        let stored = shoots.get(name).await.unwrap();
        assert_eq!(stored.metadata.labels.unwrap()[SHOOT_FLUX_LABEL], "true");
    }
    let out = kubectl(
        bed,
        &["apply", "-f", "-"],
        &std::fs::read_to_string(root().join("example/project-configmap.yaml")).unwrap(),
    );
    assert!(
        out.success && !out.warned(),
        "example/project-configmap.yaml: {out:?}"
    );

    // The refused cases of the core's table, as Shoots: refused naming each field. Every fifth
    // (a sample across all case files) with kubectl, what a user sees; with
    // SHOOT_FLUX_ADMISSION_ALL_CASES=1 all the others too, with a client (a Shoot create costs
    // gardener-apiserver most of a second on a loaded machine: all of them take minutes).
    let cases = shoot_cases(&bases);
    let all_cases = std::env::var_os("SHOOT_FLUX_ADMISSION_ALL_CASES").is_some();
    let started = Instant::now();
    let mut with_kubectl = 0;
    let mut jobs: Vec<Job<(String, Option<String>)>> = Vec::new();
    let mut with_client = Vec::new();
    for (i, (name, config, errors)) in cases.into_iter().enumerate() {
        let object = shoot(&format!("bad-{i}"), with_flux(config, resources.clone()));
        if i % 5 == 0 {
            with_kubectl += 1;
            jobs.push(Box::new(move || {
                let out = apply(bed, &object);
                (name, refusal_problem(&out, SHOOT_FIELDS, &errors))
            }));
        } else if all_cases {
            with_client.push((name, object, errors));
        }
    }
    let mut results = run_parallel(jobs).await;
    let total = results.len() + with_client.len();
    let by_client = futures::stream::iter(with_client)
        .map(|(name, object, errors)| {
            let shoots = shoots.clone();
            async move {
                let object: DynamicObject = serde_json::from_value(object).unwrap();
                let out = match shoots.create(&PostParams::default(), &object).await {
                    Ok(_) => Kubectl {
                        success: true,
                        stdout: "created".into(),
                        stderr: String::new(),
                    },
                    Err(e) => Kubectl {
                        success: false,
                        stdout: String::new(),
                        stderr: e.to_string(),
                    },
                };
                (name, refusal_problem(&out, SHOOT_FIELDS, &errors))
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    results.extend(by_client);
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(name, problem)| problem.as_ref().map(|p| format!("{name}: {p}")))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        with_kubectl >= 30,
        "{with_kubectl} Shoot cases with kubectl"
    );
    println!(
        "{total} bad Shoots refused ({with_kubectl} with kubectl) in {:?}",
        started.elapsed()
    );

    // A workerless Shoot cannot have shoot-flux: Gardener refuses it before the webhook, since
    // the registration says workerlessSupported: false (the webhook refuses it too, see the
    // core's admission tests, for a registration that would not).
    let workerless = shoot(
        "workerless",
        json!({"provider": {"workers": null}, "networking": null, "credentialsBindingName": null,
               "extensions": [{"type": "shoot-flux"}]}),
    );
    let out = apply(bed, &workerless);
    assert!(
        !out.success
            && out.stderr.contains(
                "workerless and uses non-supported extension type: spec.extensions[0].type"
            ),
        "{out:?}"
    );

    // Every flux-config case: refused naming each key; the good one stays.
    let cases: Vec<Case> =
        read_yaml(&root().join("crates/shoot-flux/tests/admission-cases/flux-config.yaml"));
    assert!(cases.len() >= 10);
    for case in &cases {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "flux-config", "namespace": NS}, "data": case.data});
        let out = apply(bed, &object);
        if let Some(problem) = refusal_problem(&out, CONFIGMAP_FIELDS, &case.errors) {
            panic!("flux-config case {}: {problem}", case.name);
        }
    }
    // Not shoot-flux's: another ConfigMap, and flux-config outside a project namespace.
    let bad_data = &cases[0].data;
    let out = apply(
        bed,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "other", "namespace": NS}, "data": bad_data}),
    );
    assert!(out.success, "{out:?}");
    let out = apply(
        bed,
        &json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "flux-config", "namespace": "default"}, "data": bad_data}),
    );
    assert!(out.success, "{out:?}");

    // An update that does not touch shoot-flux passes, although the stored shoot-flux part is
    // broken; one that touches it is checked.
    let mut changed = merge(
        legacy.clone(),
        json!({"metadata": {"labels": {"team": "a"}}}),
    );
    changed["spec"]["provider"]["workers"][0]["maximum"] = json!(5);
    changed["spec"]["provider"]["workers"][0]["minimum"] = json!(0);
    let out = apply(bed, &changed);
    assert!(out.success && out.stdout.contains("configured"), "{out:?}");
    changed["spec"]["extensions"][0]["providerConfig"]["flux"] = json!({"namespace": "flux"});
    let out = apply(bed, &changed);
    assert_eq!(
        refusal_problem(
            &out,
            SHOOT_FIELDS,
            &[Expected {
                path: "providerConfig.kind".into(),
                message_contains: Some("\"FluxConfiguration\" is not supported".into())
            }]
        ),
        None
    );

    // A Flux release outside the shoot's Kubernetes range: accepted, and kubectl prints why.
    let mut old_flux = bases.bases["git"].clone();
    old_flux["flux"] = json!({"version": "v2.3.0"});
    let out = apply(
        bed,
        &shoot("old-flux", with_flux(old_flux, resources.clone())),
    );
    assert!(out.success, "{out:?}");
    assert!(
        out.stderr.contains(&format!("Warning: spec.extensions[0].providerConfig.flux.version: Flux v2.3.0 supports Kubernetes 1.28 to 1.30, and this shoot runs Kubernetes {KUBERNETES_VERSION}")),
        "{out:?}"
    );

    // The webhook down: failurePolicy Fail refuses what it would judge, and only that.
    webhook.stop();
    let good = shoot(
        "while-down",
        with_flux(bases.bases["git"].clone(), resources.clone()),
    );
    let out = apply(bed, &good);
    assert!(
        !out.success
            && out.stderr.contains(
                "failed calling webhook \"shoots.validation.shoot-flux.extensions.gardener.cloud\""
            ),
        "{out:?}"
    );
    let out = kubectl(
        bed,
        &["apply", "-f", "-"],
        &std::fs::read_to_string(root().join("example/project-configmap.yaml"))
            .unwrap()
            .replace("main", "release"),
    );
    assert!(
        !out.success && out.stderr.contains("failed calling webhook \"flux-config.validation.shoot-flux.extensions.gardener.cloud\""),
        "{out:?}"
    );
    // Not shoot-flux's Shoots, and Gardener's metadata-only updates of shoot-flux Shoots.
    let out = apply(bed, &shoot("plain", json!({})));
    assert!(out.success, "a Shoot without shoot-flux: {out:?}");
    let out = kubectl(bed, &["-n", NS, "label", "shoot", "app", "team=b"], "");
    assert!(out.success, "a label on a shoot-flux Shoot: {out:?}");
    let out = kubectl(
        bed,
        &[
            "-n",
            NS,
            "annotate",
            "shoot",
            "app",
            "gardener.cloud/operation=reconcile",
        ],
        "",
    );
    assert!(out.success, "Gardener's operation annotation: {out:?}");
    webhook.restart(bed).await.unwrap();
    let out = apply(bed, &good);
    assert!(out.success, "with the webhook back: {out:?}");
    webhook.stop();
}

/// What a Shoot create pays for the webhook: `ADMISSION_LATENCY_CREATES` (default 200) valid
/// Shoots with shoot-flux created one after the other through the garden, without and with the
/// webhook registered; prints p50 and p99 of each. A measurement, not an assertion: run it by
/// name (docs/operations/admission.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run: cargo test -p shoot-flux --test e2e_admission -- --ignored --nocapture admission_latency"]
async fn admission_latency() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let garden = bed.garden().client().await.unwrap();
    let bases = core_bases();
    let resources = shoot_resources(&bases);
    let creates: usize = std::env::var("ADMISSION_LATENCY_CREATES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let mut webhook = garden_with_webhook(bed, &[]).await;
    let shoots = shoots(&garden).await;
    let config = bases.bases["git"].clone();
    let measure = |label: &'static str| {
        let shoots = shoots.clone();
        let config = config.clone();
        let resources = resources.clone();
        async move {
            let mut took = Vec::with_capacity(creates);
            for i in 0..creates {
                let object: DynamicObject = serde_json::from_value(shoot(
                    &format!("{label}-{i}"),
                    with_flux(config.clone(), resources.clone()),
                ))
                .unwrap();
                let started = Instant::now();
                shoots
                    .create(&PostParams::default(), &object)
                    .await
                    .unwrap();
                took.push(started.elapsed());
            }
            took.sort();
            let at =
                |q: f64| took[((took.len() as f64 * q).ceil() as usize).clamp(1, took.len()) - 1];
            println!(
                "{label}: {creates} Shoot creates, p50 {:?}, p99 {:?}, max {:?}",
                at(0.50),
                at(0.99),
                took[took.len() - 1]
            );
        }
    };
    // With the webhook first (it is registered), then without.
    measure("with").await;
    let out = kubectl(
        bed,
        &[
            "delete",
            "validatingwebhookconfiguration",
            "gardener-extension-admission-shoot-flux",
        ],
        "",
    );
    assert!(out.success, "{out:?}");
    // The deletion reaches gardener-apiserver's webhook informer: a bad Shoot passes a dry run.
    wait_dry_run(
        &garden,
        &probe_shoot(),
        None,
        "the webhook to be unregistered",
    )
    .await;
    measure("without").await;
    webhook.stop();
}
