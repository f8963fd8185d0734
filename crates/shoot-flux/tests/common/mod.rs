//! Shared helpers of the end-to-end tests: the extension as a real process against the bed, and
//! what gardenlet and an operator would do around it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use testbed::kubeutil::{dynamic_api, wait_for};
use testbed::ports::free_port;
use testbed::process::Process;
use testbed::{Bed, ShootSpec};

/// End-to-end tests of one binary run one at a time.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Extension {
    pub process: Process,
    pub metrics_port: u16,
    pub health_port: u16,
    /// Where this process's output starts in its (appended) log file.
    log_start: u64,
}

/// Starts gardener-extension-shoot-flux against the bed's seed and garden.
pub async fn start_extension(bed: &'static Bed, extra_args: &[&str]) -> Extension {
    start_extension_with(bed, extra_args, Some(bed.garden().kubeconfig_path())).await
}

/// Starts the extension with a given garden kubeconfig (None: no garden access).
pub async fn start_extension_with(
    bed: &'static Bed,
    extra_args: &[&str],
    garden_kubeconfig: Option<&std::path::Path>,
) -> Extension {
    start_extension_as(bed, "shoot-flux", extra_args, garden_kubeconfig).await
}

/// Starts one extension process named `name` (its log is `<bed>/<name>.log`).
pub async fn start_extension_as(
    bed: &'static Bed,
    name: &str,
    extra_args: &[&str],
    garden_kubeconfig: Option<&std::path::Path>,
) -> Extension {
    start_extension_configured(bed, name, extra_args, garden_kubeconfig, "").await
}

/// Like `start_extension_as`, with `extra_config` appended to the operator configuration.
pub async fn start_extension_configured(
    bed: &'static Bed,
    name: &str,
    extra_args: &[&str],
    garden_kubeconfig: Option<&std::path::Path>,
    extra_config: &str,
) -> Extension {
    let releases = bed.releases().await.unwrap();
    let config = format!(
        "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  manifests:\n    baseURL: {}\n    timeout: 10s\n{extra_config}",
        releases.base_url()
    );
    start_extension_with_config(bed, name, extra_args, garden_kubeconfig, &config).await
}

/// Starts one extension process named `name` with exactly the operator configuration `config`.
pub async fn start_extension_with_config(
    bed: &'static Bed,
    name: &str,
    extra_args: &[&str],
    garden_kubeconfig: Option<&std::path::Path>,
    config_yaml: &str,
) -> Extension {
    let config = bed.dir().join(format!("{name}-operator-config.yaml"));
    std::fs::write(&config, config_yaml).unwrap();
    let (metrics_port, health_port) = (free_port().unwrap(), free_port().unwrap());
    let mut command = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"));
    command
        .env("KUBECONFIG", bed.seed().kubeconfig_path())
        .env_remove("GARDEN_KUBECONFIG");
    if let Some(garden) = garden_kubeconfig {
        command.env("GARDEN_KUBECONFIG", garden);
    }
    command
        .arg(format!("--config={}", config.display()))
        .arg(format!("--metrics-bind-address=127.0.0.1:{metrics_port}"))
        .arg(format!("--health-bind-address=127.0.0.1:{health_port}"))
        .arg("--log-format=text")
        .arg("--log-level=debug")
        .arg("--resync-period=10m")
        .args(extra_args);
    let log = bed.dir().join(format!("{name}.log"));
    let log_start = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let mut process = Process::spawn(name, command, &log).unwrap();
    wait_for("the extension to be ready", Duration::from_secs(90), || {
        let running = process.ensure_running();
        async move {
            running?;
            let r =
                testbed::plainhttp::get(&format!("http://127.0.0.1:{health_port}/readyz")).await?;
            Ok((r.status == 200).then_some(()))
        }
    })
    .await
    .unwrap();
    Extension {
        process,
        metrics_port,
        health_port,
        log_start,
    }
}

impl Extension {
    pub async fn metrics(&self) -> String {
        let response =
            testbed::plainhttp::get(&format!("http://127.0.0.1:{}/metrics", self.metrics_port))
                .await
                .unwrap();
        String::from_utf8(response.body).unwrap()
    }

    /// This process's log: the log file from where it started (earlier processes of the same
    /// name appended to the same file).
    pub fn log(&self) -> String {
        let bytes = std::fs::read(self.process.log_path()).unwrap_or_default();
        let start = usize::try_from(self.log_start)
            .unwrap_or(0)
            .min(bytes.len());
        String::from_utf8_lossy(&bytes[start..]).into_owned()
    }

    /// The lines of this process's log that contain every fragment.
    pub fn logged(&self, fragments: &[&str]) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| fragments.iter().all(|f| l.contains(f)))
            .map(str::to_string)
            .collect()
    }
}

/// The sum of every sample of metric `name` (all label sets) in an OpenMetrics text.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    metric_sum_where(text, name, |_| true)
}

/// The sum of the samples of metric `name` whose line passes `wanted` (e.g. a label's value).
pub fn metric_sum_where(text: &str, name: &str, wanted: impl Fn(&str) -> bool) -> f64 {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
                && wanted(l)
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Creates or replaces the project's `flux-config` in the garden (namespace `garden-<project>`).
pub async fn set_project_config(bed: &Bed, project: &str, data: &[(&str, &str)]) {
    set_namespace_config(bed, &format!("garden-{project}"), data).await;
}

/// Creates or replaces `flux-config` in the project namespace `namespace`.
pub async fn set_namespace_config(bed: &Bed, namespace: &str, data: &[(&str, &str)]) {
    let client = bed.garden().client().await.unwrap();
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": namespace}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .patch(
            namespace,
            &PatchParams::apply("operator"),
            &Patch::Apply(&ns),
        )
        .await
        .unwrap();
    let data: BTreeMap<String, String> = data
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cm: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "flux-config", "namespace": namespace},
        "data": data
    }))
    .unwrap();
    // Replaced in place (all keys at once): deleting it first would let the controller see a
    // project without flux-config in between, and reconcile its shoots to that.
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    match api.get_opt("flux-config").await.unwrap() {
        Some(current) => {
            let mut cm = cm;
            cm.metadata.resource_version = current.metadata.resource_version;
            api.replace("flux-config", &Default::default(), &cm)
                .await
                .unwrap();
        }
        None => {
            api.create(&Default::default(), &cm).await.unwrap();
        }
    }
}

pub async fn extension_api(bed: &Bed, namespace: &str) -> Api<DynamicObject> {
    dynamic_api(
        &bed.seed().client().await.unwrap(),
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        Some(namespace),
    )
    .await
    .unwrap()
}

pub async fn mr_api(bed: &Bed, namespace: &str) -> Api<DynamicObject> {
    dynamic_api(
        &bed.seed().client().await.unwrap(),
        "resources.gardener.cloud/v1alpha1",
        "ManagedResource",
        Some(namespace),
    )
    .await
    .unwrap()
}

/// gardenlet's readiness rule; Err says which part fails.
pub fn gardenlet_ready(ext: &Value) -> Result<(), String> {
    let status = &ext["status"];
    if !status["lastError"].is_null() {
        return Err(format!("lastError: {}", status["lastError"]));
    }
    if status["observedGeneration"] != ext["metadata"]["generation"] {
        return Err(format!(
            "observedGeneration {} != generation {}",
            status["observedGeneration"], ext["metadata"]["generation"]
        ));
    }
    if let Some(op) = ext["metadata"]["annotations"]["gardener.cloud/operation"].as_str() {
        return Err(format!("operation annotation {op} still set"));
    }
    if status["lastOperation"]["state"] != "Succeeded" {
        return Err(format!("lastOperation {}", status["lastOperation"]));
    }
    let updated = status["lastOperation"]["lastUpdateTime"]
        .as_str()
        .unwrap_or_default();
    if let Some(ts) = ext["metadata"]["annotations"]["gardener.cloud/timestamp"].as_str() {
        let updated: k8s_openapi::jiff::Timestamp = updated
            .parse()
            .map_err(|e| format!("lastUpdateTime {updated:?}: {e}"))?;
        let ts: k8s_openapi::jiff::Timestamp =
            ts.parse().map_err(|e| format!("timestamp {ts:?}: {e}"))?;
        if updated.as_second() < ts.as_second() {
            return Err(format!(
                "lastUpdateTime {updated} older than timestamp {ts}"
            ));
        }
    }
    Ok(())
}

/// Waits until the Extension passes gardenlet's readiness rule.
pub async fn wait_ready(bed: &Bed, namespace: &str, timeout: Duration) -> Value {
    wait_extension(
        bed,
        namespace,
        "the Extension to be ready for gardenlet",
        timeout,
        |ext| match gardenlet_ready(ext) {
            Ok(()) => Ok(Some(ext.clone())),
            Err(why) => anyhow::bail!(why),
        },
    )
    .await
}

/// Waits until `check` accepts the Extension `shoot-flux` in `namespace` (Some); its error says
/// why not yet.
pub async fn wait_extension<T>(
    bed: &Bed,
    namespace: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Value) -> anyhow::Result<Option<T>>,
) -> T {
    let api = extension_api(bed, namespace).await;
    wait_for(what, timeout, || async {
        check(&serde_json::to_value(api.get("shoot-flux").await?)?)
    })
    .await
    .unwrap()
}

pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// Waits until the Extension's condition `kind` satisfies `wanted`; returns the condition.
pub async fn wait_condition(
    bed: &Bed,
    namespace: &str,
    kind: &str,
    what: &str,
    timeout: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    wait_extension(
        bed,
        namespace,
        &format!("{kind}: {what}"),
        timeout,
        |ext| match condition(ext, kind) {
            Some(c) if wanted(c) => Ok(Some(c.clone())),
            other => anyhow::bail!("{kind} is {other:?}"),
        },
    )
    .await
}

/// A condition's status is `status` and its message contains `fragment`.
pub fn is(status: &str, fragment: &str) -> impl Fn(&Value) -> bool {
    let (status, fragment) = (status.to_string(), fragment.to_string());
    move |c: &Value| {
        c["status"] == status.as_str()
            && c["message"]
                .as_str()
                .unwrap_or_default()
                .contains(&fragment)
    }
}

pub fn spec(project: &str, name: &str) -> ShootSpec {
    ShootSpec::new(project, name)
}

/// A shoot of `project` whose Project's `spec.namespace` is `project_namespace`.
pub fn spec_in(project: &str, project_namespace: &str, name: &str) -> ShootSpec {
    ShootSpec {
        project_namespace: Some(project_namespace.into()),
        ..ShootSpec::new(project, name)
    }
}

/// Asks for a reconcile as gardenlet does: operation annotation plus a fresh timestamp. Returns
/// the timestamp.
pub async fn annotate(bed: &Bed, namespace: &str, operation: &str) -> String {
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    let api = extension_api(bed, namespace).await;
    api.patch(
        "shoot-flux",
        &PatchParams::default(),
        &Patch::Merge(&json!({"metadata": {"annotations": {
            "gardener.cloud/operation": operation, "gardener.cloud/timestamp": now
        }}})),
    )
    .await
    .unwrap();
    now
}

/// The Extension's `status.lastOperation.lastUpdateTime` (the epoch when it has none).
pub fn last_update(ext: &Value) -> anyhow::Result<k8s_openapi::jiff::Timestamp> {
    Ok(ext["status"]["lastOperation"]["lastUpdateTime"]
        .as_str()
        .unwrap_or("1970-01-01T00:00:00Z")
        .parse()?)
}

/// The Kustomizations in the shoot's `flux-system`.
pub async fn flux_kustomizations(shoot: &kube::Client) -> Api<DynamicObject> {
    dynamic_api(
        shoot,
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        Some("flux-system"),
    )
    .await
    .unwrap()
}

/// Waits for an Error status written at or after `since` whose description contains every
/// fragment; returns the Extension.
pub async fn wait_error(bed: &Bed, namespace: &str, since: &str, fragments: &[&str]) -> Value {
    let since: k8s_openapi::jiff::Timestamp = since.parse().unwrap();
    // Generous for a loaded 2-core CI machine; it returns as soon as the status is there.
    wait_extension(
        bed,
        namespace,
        &format!("an Error status with {fragments:?}"),
        Duration::from_secs(90),
        |ext| {
            let op = &ext["status"]["lastOperation"];
            let at = last_update(ext)?;
            let description = ext["status"]["lastError"]["description"]
                .as_str()
                .unwrap_or_default();
            if op["state"] == "Error"
                && at.as_second() >= since.as_second()
                && fragments.iter().all(|f| description.contains(f))
            {
                Ok(Some(ext.clone()))
            } else {
                anyhow::bail!(
                    "state {} at {} with lastError {description:?}",
                    op["state"],
                    op["lastUpdateTime"],
                )
            }
        },
    )
    .await
}

/// The secret names the two MRs of a shoot reference.
pub async fn mr_secrets(bed: &Bed, namespace: &str) -> Vec<String> {
    let api = mr_api(bed, namespace).await;
    let mut out = Vec::new();
    for name in [
        "extension-shoot-flux-flux-install",
        "extension-shoot-flux-flux-config",
    ] {
        let mr = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
        out.push(
            mr["spec"]["secretRefs"][0]["name"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    out
}

/// Creates the repository once per bed.
pub async fn repository(bed: &'static Bed, name: &str) -> String {
    let git = bed.git().await.unwrap();
    let _ = git.create_repository_from(name, &testbed::sample::podinfo_files(name));
    git.http_url(name)
}

/// Project `project` with a `flux-config` that names the repository `<project>-fleet` (created
/// once per bed); returns its URL.
pub async fn project_with_fleet(bed: &'static Bed, project: &str) -> String {
    let url = repository(bed, &format!("{project}-fleet")).await;
    set_project_config(bed, project, &[("repositoryUrl", &url)]).await;
    url
}

/// True when the Extension carries shoot-flux's finalizer.
pub fn has_our_finalizer(ext: &Value) -> bool {
    ext["metadata"]["finalizers"].as_array().is_some_and(|f| {
        f.iter()
            .any(|f| f == "extensions.gardener.cloud/shoot-flux")
    })
}

/// Starts the shoot's Flux controllers once GRM has applied the install ManagedResource and the
/// shoot's API server serves every Flux CRD, as kubelet would start them once their Deployments
/// exist.
pub async fn start_flux_when_installed(shoot: &mut testbed::Shoot) {
    let bed = testbed::bed().await.unwrap();
    let mrs = mr_api(bed, &shoot.namespace()).await;
    wait_for(
        "the install ManagedResource applied",
        Duration::from_secs(120),
        || async {
            let mr = serde_json::to_value(mrs.get("extension-shoot-flux-flux-install").await?)?;
            let applied = condition(&mr, "ResourcesApplied").is_some_and(|c| c["status"] == "True");
            Ok(applied.then_some(()))
        },
    )
    .await
    .unwrap();
    start_flux_when_crds_established(shoot).await;
}

/// Starts the shoot's Flux controllers once the shoot serves every Flux CRD (installed by
/// whoever installed Flux).
pub async fn start_flux_when_crds_established(shoot: &mut testbed::Shoot) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(shoot.client().await.unwrap());
    wait_for(
        "Flux's CRDs established in the shoot",
        Duration::from_secs(60),
        || async {
            let list = crds.list(&Default::default()).await?;
            let flux: Vec<_> = list
                .items
                .iter()
                .filter(|c| c.spec.group.ends_with("toolkit.fluxcd.io"))
                .collect();
            let established = flux.iter().all(|c| {
                c.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c.type_ == "Established" && c.status == "True")
                    })
            });
            Ok((flux.len() >= 2 && established).then_some(()))
        },
    )
    .await
    .unwrap();
    shoot.start_flux().await.unwrap();
}

/// A ConfigMap a fleet repository carries, to see that Flux applied the repository.
pub const MARKER: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fleet-marker\n  namespace: flux-system\ndata:\n  owner: fleet\n";

/// A kustomize `kustomization.yaml` listing `resources`.
pub fn kustomization(resources: &[&str]) -> String {
    let mut out = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
        .to_string();
    for r in resources {
        out.push_str(&format!("- {r}\n"));
    }
    out
}

/// Waits until the clock is a whole second past the Extension's lastUpdateTime: Gardener's
/// timestamps have whole seconds, so a timestamp taken after this tells a later status from the
/// current one.
pub async fn wait_past_last_update(bed: &Bed, namespace: &str) {
    let api = extension_api(bed, namespace).await;
    let ext = serde_json::to_value(api.get("shoot-flux").await.unwrap()).unwrap();
    let updated = last_update(&ext).unwrap();
    wait_for(
        "the clock a second past the last status update",
        Duration::from_secs(10),
        || async {
            Ok(
                (k8s_openapi::jiff::Timestamp::now().as_second() > updated.as_second())
                    .then_some(()),
            )
        },
    )
    .await
    .unwrap();
}

/// Waits until the controller has taken up the operation annotation (it removes it once it has
/// handled the request, also when it skips the reconcile).
pub async fn wait_annotation_taken(bed: &Bed, namespace: &str) {
    wait_extension(
        bed,
        namespace,
        "the operation annotation taken up",
        Duration::from_secs(90),
        |ext| {
            Ok(ext["metadata"]["annotations"]["gardener.cloud/operation"]
                .is_null()
                .then_some(()))
        },
    )
    .await;
}

/// Waits until this extension process has logged a line containing every fragment.
pub async fn wait_logged(extension: &Extension, fragments: &[&str]) {
    wait_for(
        &format!("the extension to log {fragments:?}"),
        Duration::from_secs(90),
        || async { Ok((!extension.logged(fragments).is_empty()).then_some(())) },
    )
    .await
    .unwrap();
}

/// A shoot with its gardenlet objects in the seed, its GRM and node simulator running.
pub async fn shoot_with_grm(bed: &'static Bed, spec: ShootSpec) -> testbed::Shoot {
    let mut shoot = bed.new_shoot(spec).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    shoot.start_grm().await.unwrap();
    shoot.start_node_simulator().unwrap();
    shoot
}

/// A shoot of `project` whose providerConfig syncs `repository` of the bed's Git server over
/// HTTP every 10s at the pinned Flux version (Bootstrap mode: the default with a source).
pub fn synced_spec(git: &testbed::git::GitServer, project: &str, repository: &str) -> ShootSpec {
    let versions = testbed::paths::versions().unwrap();
    let mut spec = spec(project, "app");
    spec.provider_config = Some(json!({
        "apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig",
        "flux": {"version": versions.flux},
        "source": {"template": {"kind": "GitRepository",
            "spec": {"url": git.http_url(repository), "ref": {"branch": "main"}, "interval": "10s"}}},
        "kustomization": {"template": {"spec": {"path": "./", "prune": true, "interval": "10s"}}}
    }));
    spec
}

/// `synced_spec` in Managed mode.
pub fn managed_synced_spec(
    git: &testbed::git::GitServer,
    project: &str,
    repository: &str,
) -> ShootSpec {
    let mut spec = synced_spec(git, project, repository);
    if let Some(config) = spec.provider_config.as_mut() {
        config["managementMode"] = json!("Managed");
    }
    spec
}

/// A repository `name` of MARKER alone, as Flux applies it.
pub fn marker_repository(git: &testbed::git::GitServer, name: &str) -> String {
    git.create_repository(
        name,
        &[
            ("marker.yaml", MARKER),
            ("kustomization.yaml", &kustomization(&["marker.yaml"])),
        ],
    )
    .unwrap()
}

/// Waits until GRM applied the ManagedResource `name` as it is now (`ResourcesApplied` True at
/// its current generation: a condition from before a change says nothing); returns the name of
/// the Secret it references first.
pub async fn wait_mr_applied(bed: &Bed, namespace: &str, name: &str) -> String {
    let mrs = mr_api(bed, namespace).await;
    wait_for(
        &format!("{name} applied"),
        Duration::from_secs(180),
        || async {
            let mr = serde_json::to_value(mrs.get(name).await?)?;
            let current = mr["status"]["observedGeneration"] == mr["metadata"]["generation"];
            Ok((current
                && condition(&mr, "ResourcesApplied").is_some_and(|c| c["status"] == "True"))
            .then(|| {
                mr["spec"]["secretRefs"][0]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            }))
        },
    )
    .await
    .unwrap()
}

/// The shoot's Extension status as a predecessor's generic reconciler left it: Succeeded long ago,
/// with no record of shoot-flux.
pub async fn succeeded_long_ago(bed: &Bed, namespace: &str) {
    extension_api(bed, namespace)
        .await
        .patch_status(
            "shoot-flux",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {
                "lastOperation": {"type": "Reconcile", "state": "Succeeded", "progress": 100,
                    "description": "Successfully reconciled Extension",
                    "lastUpdateTime": "2025-01-01T00:00:00Z"},
                "observedGeneration": 1
            }})),
        )
        .await
        .unwrap();
}

/// Waits for a Succeeded status written at or after `since` (a reconcile that took a change made
/// at that time).
pub async fn wait_succeeded_since(
    bed: &Bed,
    namespace: &str,
    since: k8s_openapi::jiff::Timestamp,
    what: &str,
) {
    let api = extension_api(bed, namespace).await;
    wait_for(what, Duration::from_secs(120), || async {
        let ext = serde_json::to_value(api.get("shoot-flux").await?)?;
        let at = last_update(&ext)?;
        Ok((ext["status"]["lastOperation"]["state"] == "Succeeded"
            && at.as_second() >= since.as_second())
        .then_some(()))
    })
    .await
    .unwrap();
}

/// The Secret `managedresource-<name>` of a predecessor's ManagedResource as gardener's
/// `managedresources.CreateForShoot` wrote it: mutable, unlabelled, plain keys.
pub fn predecessor_secret(
    namespace: &str,
    name: &str,
    data: Value,
) -> k8s_openapi::api::core::v1::Secret {
    serde_json::from_value(json!({
        "metadata": {"name": format!("managedresource-{name}"), "namespace": namespace},
        "type": "Opaque", "stringData": data
    }))
    .unwrap()
}

/// A predecessor's ManagedResource `name` (label origin=gardener) over its
/// [`predecessor_secret`], created in the seed and waited for until GRM applied it.
pub async fn create_predecessor_mr(bed: &Bed, namespace: &str, name: &str, data: Value) {
    use kube::api::PostParams;
    let seed = bed.seed().client().await.unwrap();
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(seed, namespace)
        .create(
            &PostParams::default(),
            &predecessor_secret(namespace, name, data),
        )
        .await
        .unwrap();
    let mr: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "resources.gardener.cloud/v1alpha1", "kind": "ManagedResource",
        "metadata": {"name": name, "namespace": namespace, "labels": {"origin": "gardener"}},
        "spec": {
            "secretRefs": [{"name": format!("managedresource-{name}")}],
            "injectLabels": {"shoot.gardener.cloud/no-cleanup": "true"},
            "keepObjects": true
        }
    }))
    .unwrap();
    mr_api(bed, namespace)
        .await
        .create(&PostParams::default(), &mr)
        .await
        .unwrap();
    wait_mr_applied(bed, namespace, name).await;
}

/// Marks the ManagedResource `name` `resources.gardener.cloud/ignore`, as the 23technologies
/// extension marked its install once healthy: GRM leaves its objects alone from then on.
pub async fn mark_ignored(bed: &Bed, namespace: &str, name: &str) {
    mr_api(bed, namespace)
        .await
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"metadata": {"annotations": {"resources.gardener.cloud/ignore": "true"}}}),
            ),
        )
        .await
        .unwrap();
}
