//! The churn soak (issue 19, goal 5), shared by `examples/soak/main.rs` and the CI smoke test
//! `tests/soak_smoke.rs`. On the bed's garden and seed API servers (no GRM, no shoot API servers,
//! as the benchmark):
//!
//! 1. creates the benchmark's landscape (`examples/bench/run.rs`): N shoots with landscape-sized
//!    Clusters in projects of 10, half with a public and half with a private repository;
//! 2. starts the controller (a separate process) with the default periods (health check and sync
//!    poll 30 s, resync 1h) and waits until every Extension is ready as gardenlet decides it;
//! 3. measures a baseline with nothing changing (after the second health check round);
//! 4. churns for the given minutes at a steady rate: random operations from a seeded RNG, each
//!    recorded (see [`OpKind`]), done as gardenlet does them;
//! 5. samples the controller's RSS and CPU every second and its own request counter
//!    (`shoot_flux_api_requests_total`) every 10 seconds throughout the churn;
//! 6. waits until the controller has converged on the final set of shoots and checks that
//!    nothing was lost or orphaned (see [`check`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use testbed::gardenlet::{self, ShootSpec};
use testbed::kubeutil::dynamic_api;

use crate::bench::{self, ACCESS_SECRET, Controller, DEPLOY_KEY_SECRET, Landscape, OWNER_LABEL};
use crate::faults::Rng;

/// The ManagedResources every live shoot has.
const EXPECTED_MRS: [&str; 3] = [
    "extension-shoot-flux-flux-install",
    "extension-shoot-flux-flux-config",
    "extension-shoot-flux-shoot-access",
];
const INSTALL_MR: &str = "extension-shoot-flux-flux-install";
const CONFIG_MR: &str = "extension-shoot-flux-flux-config";
/// The label GRM's garbage collector looks for on ManagedResource secrets.
const GC_LABEL: &str = "resources.gardener.cloud/garbage-collectable-reference";
/// The extra Flux controller the providerConfig reconfiguration switches on and off.
const EXTRA_COMPONENT: &str = "image-reflector-controller";
/// What only an install with [`EXTRA_COMPONENT`] has: its CRD (its name is elsewhere too, e.g. in
/// a ClusterRoleBinding of every install).
const EXTRA_COMPONENT_CRD: &str = "imagerepositories.image.toolkit.fluxcd.io";
/// How often the controller's request counter is read.
const COUNTER_PERIOD: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Options {
    /// Shoots at the start.
    pub shoots: usize,
    /// How long the churn lasts.
    pub duration: Duration,
    pub ops_per_minute: f64,
    /// How long the baseline (nothing changing) is measured before the churn.
    pub baseline: Duration,
    /// Seed of the random operations (printed, so that a run can be repeated).
    pub seed: u64,
    /// gardener-extension-shoot-flux to run.
    pub binary: PathBuf,
    /// How long to wait for one convergence (or one deletion) before giving up.
    pub timeout: Duration,
    /// Extra flags for the controller.
    pub extra_args: Vec<String>,
}

/// The operations of the churn, each as gardenlet does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OpKind {
    /// A new shoot in an existing project: namespace, Cluster, Extension.
    Create,
    /// The Cluster's Shoot gets `spec.hibernation.enabled: true` (and `status.hibernated`), the
    /// Extension `gardener.cloud/operation: reconcile` with a fresh timestamp.
    Hibernate,
    /// The reverse of `Hibernate`.
    Wake,
    /// The project's `flux-config` ConfigMap gets another `repositoryBranch` (all the project's
    /// shoots are affected).
    ReconfigureProject,
    /// The shoot's providerConfig (in the Cluster's Shoot and the Extension's spec) switches an
    /// extra Flux controller on or off; the Extension is annotated for reconcile.
    ReconfigureShoot,
    /// The shoot is deleted: the Cluster's Shoot gets a deletionTimestamp, the Extension the
    /// `confirmation.gardener.cloud/deletion` annotation and a DELETE; once its finalizer is
    /// gone the Cluster is deleted.
    Delete,
}

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Hibernate => "hibernate",
            Self::Wake => "wake",
            Self::ReconfigureProject => "reconfigure project",
            Self::ReconfigureShoot => "reconfigure shoot",
            Self::Delete => "delete",
        }
    }
}

/// Relative weights of the operations: creations and deletions balance, so the landscape keeps
/// its size.
const WEIGHTS: [(OpKind, u64); 6] = [
    (OpKind::Create, 20),
    (OpKind::Hibernate, 15),
    (OpKind::Wake, 15),
    (OpKind::ReconfigureProject, 10),
    (OpKind::ReconfigureShoot, 20),
    (OpKind::Delete, 20),
];

/// One operation done.
#[derive(Debug, Clone)]
pub struct Op {
    /// Seconds since the churn began.
    pub at_s: f64,
    pub kind: OpKind,
    /// The shoot's namespace or the project.
    pub target: String,
}

/// One minute of the churn.
#[derive(Debug, Clone, Default)]
pub struct Minute {
    pub minute: usize,
    pub ops: usize,
    pub seed_rps: f64,
    pub garden_rps: f64,
    pub rss_mean_mib: f64,
    pub rss_max_mib: f64,
    pub cpu_pct: f64,
}

/// What the soak found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub seed: u64,
    pub shoots_start: usize,
    pub projects: usize,
    /// Live shoots at the end, of which hibernated.
    pub shoots_end: usize,
    pub hibernated_end: usize,
    pub deleted: usize,
    pub initial_convergence_s: f64,
    pub churn_s: f64,
    pub ops: Vec<Op>,
    pub minutes: Vec<Minute>,
    /// Requests per second of the controller with nothing changing, by cluster.
    pub baseline_seed_rps: f64,
    pub baseline_garden_rps: f64,
    pub baseline_cpu_pct: f64,
    pub baseline_rss_mib: f64,
    /// Over the whole churn.
    pub churn_seed_rps: f64,
    pub churn_garden_rps: f64,
    pub churn_cpu_pct: f64,
    /// Requests of the churn by "cluster verb resource" (or by cluster when the counter has no
    /// verb and resource labels), total over the churn.
    pub requests: Vec<(String, f64)>,
    /// RSS trend after the warm-up: least-squares slope, and the means of the first and last
    /// windows, with the window bounds (minutes).
    pub rss_trend: Option<Trend>,
    /// From the end of the churn until the deletions were done, every live Extension was ready
    /// and the checks passed.
    pub final_convergence_s: f64,
    /// ManagedResources and their secrets found on live shoots.
    pub managed_resources: usize,
    pub mr_secrets: usize,
    /// Our secrets no ManagedResource references any more but labelled for GRM's garbage
    /// collector (which the bed does not run): left over by reconfigurations, as designed.
    pub superseded_secrets: usize,
    pub deploy_keys: usize,
    pub lost: Vec<String>,
    pub orphans: Vec<String>,
    /// Extensions not ready as gardenlet decides it, live shoots whose objects do not carry
    /// their latest configuration.
    pub stale: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct Trend {
    pub from_min: f64,
    pub to_min: f64,
    pub slope_mib_per_10min: f64,
    pub first_window: (f64, f64),
    pub first_mean_mib: f64,
    pub last_window: (f64, f64),
    pub last_mean_mib: f64,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.lost.is_empty() && self.orphans.is_empty() && self.stale.is_empty()
    }

    fn ops_by_kind(&self) -> BTreeMap<OpKind, usize> {
        let mut by = BTreeMap::new();
        for op in &self.ops {
            *by.entry(op.kind).or_insert(0) += 1;
        }
        by
    }

    /// Requests per operation, above the baseline.
    pub fn requests_per_op(&self) -> (f64, f64) {
        let ops = self.ops.len().max(1) as f64;
        (
            (self.churn_seed_rps - self.baseline_seed_rps) * self.churn_s / ops,
            (self.churn_garden_rps - self.baseline_garden_rps) * self.churn_s / ops,
        )
    }

    /// The Markdown report.
    pub fn summary(&self) -> String {
        let (seed_per_op, garden_per_op) = self.requests_per_op();
        let trend = match &self.rss_trend {
            Some(t) => format!(
                "{:+.2} | {:.1} → {:.1}",
                t.slope_mib_per_10min, t.first_mean_mib, t.last_mean_mib
            ),
            None => "– | –".into(),
        };
        let mut out = format!(
            "| shoots start → end (hibernated) | minutes | ops | seed req/s baseline → churn | garden req/s baseline → churn | seed req/op | garden req/op | CPU % baseline → churn | RSS slope MiB/10 min | RSS MiB first → last | lost | orphaned | not converged |\n\
             |---|---:|---:|---|---|---:|---:|---|---:|---|---:|---:|---:|\n\
             | {} → {} ({}) | {:.1} | {} | {:.2} → {:.2} | {:.3} → {:.3} | {:.1} | {:.2} | {:.2} → {:.2} | {trend} | {} | {} | {} |\n\n",
            self.shoots_start,
            self.shoots_end,
            self.hibernated_end,
            self.churn_s / 60.0,
            self.ops.len(),
            self.baseline_seed_rps,
            self.churn_seed_rps,
            self.baseline_garden_rps,
            self.churn_garden_rps,
            seed_per_op,
            garden_per_op,
            self.baseline_cpu_pct,
            self.churn_cpu_pct,
            self.lost.len(),
            self.orphans.len(),
            self.stale.len(),
        );
        let kinds: Vec<String> = self
            .ops_by_kind()
            .iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect();
        out.push_str(&format!(
            "Seed {}; {} projects; operations: {}; {} shoots deleted. Initial convergence {:.1} s, \
             final convergence {:.1} s after the churn. Baseline (nothing changing): RSS {:.1} MiB.\n\n",
            self.seed,
            self.projects,
            kinds.join(", "),
            self.deleted,
            self.initial_convergence_s,
            self.final_convergence_s,
            self.baseline_rss_mib,
        ));
        if let Some(t) = &self.rss_trend {
            out.push_str(&format!(
                "RSS trend from minute {:.1} to {:.1}: least-squares slope {:+.2} MiB per 10 min; mean \
                 {:.1} MiB in minutes {:.1}–{:.1}, {:.1} MiB in minutes {:.1}–{:.1}.\n\n",
                t.from_min,
                t.to_min,
                t.slope_mib_per_10min,
                t.first_mean_mib,
                t.first_window.0,
                t.first_window.1,
                t.last_mean_mib,
                t.last_window.0,
                t.last_window.1,
            ));
        }
        out.push_str(
            "| minute | ops | seed req/s | garden req/s | RSS MiB mean | RSS MiB max | CPU % |\n|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for m in &self.minutes {
            out.push_str(&format!(
                "| {} | {} | {:.2} | {:.3} | {:.1} | {:.1} | {:.2} |\n",
                m.minute + 1,
                m.ops,
                m.seed_rps,
                m.garden_rps,
                m.rss_mean_mib,
                m.rss_max_mib,
                m.cpu_pct
            ));
        }
        if !self.requests.is_empty() {
            let ops = self.ops.len().max(1) as f64;
            let parts: Vec<String> = self
                .requests
                .iter()
                .map(|(k, v)| format!("{:.2} {k}", v / ops))
                .collect();
            out.push_str(&format!(
                "\nThe controller's requests during the churn per operation (baseline included): {}.\n",
                parts.join(", ")
            ));
        }
        out.push_str(&format!(
            "\nObjects at the end: {} ManagedResources, {} ManagedResource secrets on live shoots, {} \
             superseded secrets left to GRM's garbage collector, {} deploy keys.\n",
            self.managed_resources, self.mr_secrets, self.superseded_secrets, self.deploy_keys
        ));
        for (title, list) in [
            ("Lost", &self.lost),
            ("Orphaned", &self.orphans),
            ("Not converged", &self.stale),
        ] {
            for line in list.iter().take(50) {
                out.push_str(&format!("- {title}: {line}\n"));
            }
            if list.len() > 50 {
                out.push_str(&format!("- {title}: … {} more\n", list.len() - 50));
            }
        }
        out
    }
}

/// The state of one shoot of the soak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Live,
    /// The Extension was deleted; waiting for its finalizer to go.
    Deleting,
    Deleted,
}

struct Shoot {
    spec: ShootSpec,
    project: usize,
    state: State,
}

/// One sample of the controller's process.
#[derive(Debug, Clone, Copy)]
struct ProcessSample {
    t: f64,
    rss_kib: u64,
    cpu_s: f64,
}

/// One reading of the controller's request counters.
#[derive(Debug, Clone)]
struct CounterSample {
    t: f64,
    /// "seed", "garden", and "cluster verb resource" when those labels exist.
    counts: BTreeMap<String, f64>,
}

#[derive(Default)]
struct Samples {
    process: Vec<ProcessSample>,
    counters: Vec<CounterSample>,
}

/// The metrics port the controller was started with (from its command line: the benchmark's
/// `Controller` keeps it private).
fn metrics_port(pid: i32) -> Result<u16> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))?;
    cmdline
        .split(|b| *b == 0)
        .filter_map(|a| std::str::from_utf8(a).ok())
        .find_map(|a| a.strip_prefix("--metrics-bind-address="))
        .and_then(|a| a.rsplit(':').next()?.parse().ok())
        .context("the controller's --metrics-bind-address")
}

/// The controller's `shoot_flux_api_requests_total` summed by cluster, and by
/// "cluster verb resource" when the counter has those labels; plus
/// `shoot_flux_health_check_rounds_total` under "health check rounds".
fn parse_counters(text: &str) -> BTreeMap<String, f64> {
    let mut counts = BTreeMap::new();
    for line in text.lines() {
        if let Some(value) = line
            .strip_prefix("shoot_flux_health_check_rounds_total")
            .and_then(|rest| rest.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
        {
            *counts
                .entry("health check rounds".to_string())
                .or_insert(0.0) += value;
            continue;
        }
        let Some(rest) = line.strip_prefix("shoot_flux_api_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let cluster = label("cluster");
        *counts.entry(cluster.clone()).or_insert(0.0) += value;
        let (verb, resource) = (label("verb"), label("resource"));
        if !verb.is_empty() {
            *counts
                .entry(format!("{cluster} {verb} {resource}"))
                .or_insert(0.0) += value;
        }
    }
    counts
}

async fn read_counters(port: u16) -> Result<BTreeMap<String, f64>> {
    let r = testbed::plainhttp::get(&format!("http://127.0.0.1:{port}/metrics")).await?;
    Ok(parse_counters(&String::from_utf8_lossy(&r.body)))
}

/// Samples the process every second and its counters every [`COUNTER_PERIOD`], from `zero`.
fn start_sampler(
    pid: i32,
    port: u16,
    zero: Instant,
    samples: Arc<Mutex<Samples>>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_counters: Option<Instant> = None;
        while !stop.load(Ordering::SeqCst) {
            tick.tick().await;
            let t = zero.elapsed().as_secs_f64();
            if let (Some(rss_kib), Some(cpu)) = (
                testbed::process::rss_kib(pid),
                testbed::process::cpu_time(pid),
            ) && let Ok(mut s) = samples.lock()
            {
                s.process.push(ProcessSample {
                    t,
                    rss_kib,
                    cpu_s: cpu.as_secs_f64(),
                });
            }
            if last_counters
                .is_none_or(|l| l.elapsed() >= COUNTER_PERIOD - Duration::from_millis(500))
            {
                last_counters = Some(Instant::now());
                let t = zero.elapsed().as_secs_f64();
                if let Ok(counts) = read_counters(port).await
                    && let Ok(mut s) = samples.lock()
                {
                    s.counters.push(CounterSample { t, counts });
                }
            }
        }
    })
}

/// Whether gardenlet would take this Extension as ready: no operation annotation, `Succeeded`
/// at the current generation without `lastError`, written after the last
/// `gardener.cloud/timestamp`, with `version` installed.
fn is_ready(e: &DynamicObject, version: &str) -> bool {
    let status = &e.data["status"];
    let annotations = e.metadata.annotations.clone().unwrap_or_default();
    let fresh = match (
        annotations
            .get("gardener.cloud/timestamp")
            .and_then(|t| t.parse::<Timestamp>().ok()),
        status["lastOperation"]["lastUpdateTime"]
            .as_str()
            .and_then(|t| t.parse::<Timestamp>().ok()),
    ) {
        (Some(deployed), Some(written)) => written.as_second() >= deployed.as_second(),
        (None, Some(_)) => true,
        _ => false,
    };
    !annotations.contains_key("gardener.cloud/operation")
        && status["lastOperation"]["state"] == "Succeeded"
        && status["lastError"].is_null()
        && status["observedGeneration"].as_i64() == e.metadata.generation
        && status["providerStatus"]["flux"]["version"] == version
        && fresh
}

/// Waits until the Extension of every namespace in `live` is ready; returns the time taken.
async fn wait_ready(
    extensions: &Api<DynamicObject>,
    live: &BTreeSet<String>,
    version: &str,
    controller: &mut Controller,
    timeout: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    let mut last_report = Instant::now();
    loop {
        controller.process.ensure_running()?;
        let list = extensions.list(&ListParams::default()).await?;
        let ready = list
            .items
            .iter()
            .filter(|e| {
                e.metadata
                    .namespace
                    .as_ref()
                    .is_some_and(|n| live.contains(n))
                    && is_ready(e, version)
            })
            .count();
        if ready == live.len() {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            bail!(
                "only {ready} of {} Extensions ready after {timeout:?}",
                live.len()
            );
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "    {ready}/{} ready after {:.0}s",
                live.len(),
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn provider_config(extra: bool) -> Option<Value> {
    extra.then(|| {
        json!({
            "apiVersion": "flux.extensions.gardener.cloud/v1alpha1",
            "kind": "FluxConfig",
            "flux": {"componentsExtra": [EXTRA_COMPONENT]}
        })
    })
}

/// Deletes the shoot's Extension as gardenlet does, waits until the controller released its
/// finalizer, then deletes the Cluster. The namespace stays (the bed's seed runs no namespace
/// controller to finish deleting it).
async fn delete_shoot(
    seed: Client,
    spec: ShootSpec,
    profile: Arc<Value>,
    timeout: Duration,
) -> Result<()> {
    let ns = spec.technical_id();
    let mut deleting = spec.clone();
    deleting.deleting = true;
    gardenlet::apply_shoot_objects_with_cloud_profile(&seed, &deleting, None, &profile).await?;
    let extensions = dynamic_api(
        &seed,
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        Some(&ns),
    )
    .await?;
    extensions
        .patch(
            gardenlet::EXTENSION_TYPE,
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {
                "confirmation.gardener.cloud/deletion": "true"
            }}})),
        )
        .await
        .with_context(|| format!("{ns}: annotating the Extension for deletion"))?;
    extensions
        .delete(gardenlet::EXTENSION_TYPE, &DeleteParams::default())
        .await
        .with_context(|| format!("{ns}: deleting the Extension"))?;
    let started = Instant::now();
    while extensions
        .get_metadata_opt(gardenlet::EXTENSION_TYPE)
        .await?
        .is_some()
    {
        if started.elapsed() > timeout {
            bail!("{ns}: the Extension is still there {timeout:?} after its deletion");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let clusters =
        dynamic_api(&seed, "extensions.gardener.cloud/v1alpha1", "Cluster", None).await?;
    match clusters.delete(&ns, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The soak's landscape and its changes.
struct World {
    seed: Client,
    garden: Client,
    profile: Arc<Value>,
    shoots: Vec<Shoot>,
    projects: Vec<String>,
    /// The current `repositoryBranch` of each project.
    branches: Vec<String>,
    /// Shoots being deleted, by index into `shoots`.
    deletions: Vec<(usize, tokio::task::JoinHandle<Result<()>>)>,
    /// Deletions that failed.
    failed_deletions: Vec<String>,
    next_name: usize,
    /// Deletions stop at this many live shoots.
    min_live: usize,
    timeout: Duration,
}

impl World {
    fn live(&self, hibernated: Option<bool>) -> Vec<usize> {
        self.shoots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == State::Live)
            .filter(|(_, s)| hibernated.is_none_or(|h| s.spec.hibernated == h))
            .map(|(i, _)| i)
            .collect()
    }

    /// Marks finished deletions.
    async fn reap(&mut self, wait: bool) {
        let mut pending = Vec::new();
        for (i, handle) in std::mem::take(&mut self.deletions) {
            if !wait && !handle.is_finished() {
                pending.push((i, handle));
                continue;
            }
            let ns = self.shoots[i].spec.technical_id();
            match handle.await {
                Ok(Ok(())) => self.shoots[i].state = State::Deleted,
                Ok(Err(e)) => {
                    self.failed_deletions.push(format!("{e:#}"));
                    self.shoots[i].state = State::Deleted;
                }
                Err(e) => {
                    self.failed_deletions.push(format!("{ns}: {e}"));
                    self.shoots[i].state = State::Deleted;
                }
            }
        }
        self.deletions = pending;
    }

    /// Does one operation of `kind` on a random target; None when it has none (e.g. no
    /// hibernated shoot to wake).
    async fn apply(&mut self, kind: OpKind, rng: &mut Rng) -> Result<Option<String>> {
        let pick = |rng: &mut Rng, candidates: &[usize]| -> Option<usize> {
            (!candidates.is_empty())
                .then(|| candidates[(rng.next_u64() % candidates.len() as u64) as usize])
        };
        match kind {
            OpKind::Create => {
                let project = (rng.next_u64() % self.projects.len() as u64) as usize;
                let spec =
                    ShootSpec::new(&self.projects[project], &format!("c{:05}", self.next_name));
                self.next_name += 1;
                gardenlet::apply_shoot_objects_with_cloud_profile(
                    &self.seed,
                    &spec,
                    None,
                    &self.profile,
                )
                .await?;
                gardenlet::apply_extension(&self.seed, &spec).await?;
                let ns = spec.technical_id();
                self.shoots.push(Shoot {
                    spec,
                    project,
                    state: State::Live,
                });
                Ok(Some(ns))
            }
            OpKind::Hibernate | OpKind::Wake | OpKind::ReconfigureShoot => {
                let candidates = match kind {
                    OpKind::Hibernate => self.live(Some(false)),
                    OpKind::Wake => self.live(Some(true)),
                    _ => self.live(None),
                };
                let Some(i) = pick(rng, &candidates) else {
                    return Ok(None);
                };
                let spec = &mut self.shoots[i].spec;
                match kind {
                    OpKind::Hibernate => spec.hibernated = true,
                    OpKind::Wake => spec.hibernated = false,
                    _ => spec.provider_config = provider_config(spec.provider_config.is_none()),
                }
                gardenlet::apply_shoot_objects_with_cloud_profile(
                    &self.seed,
                    spec,
                    None,
                    &self.profile,
                )
                .await?;
                gardenlet::apply_extension(&self.seed, spec).await?;
                Ok(Some(spec.technical_id()))
            }
            OpKind::ReconfigureProject => {
                let project = (rng.next_u64() % self.projects.len() as u64) as usize;
                let branch = format!("soak-{:016x}", rng.next_u64());
                let namespace = format!("garden-{}", self.projects[project]);
                Api::<ConfigMap>::namespaced(self.garden.clone(), &namespace)
                    .patch(
                        "flux-config",
                        &PatchParams::default(),
                        &Patch::Merge(&json!({"data": {"repositoryBranch": branch}})),
                    )
                    .await?;
                self.branches[project] = branch;
                Ok(Some(namespace))
            }
            OpKind::Delete => {
                let candidates = self.live(None);
                // The landscape keeps at least half its size.
                if candidates.len() <= self.min_live {
                    return Ok(None);
                }
                let Some(i) = pick(rng, &candidates) else {
                    return Ok(None);
                };
                self.shoots[i].state = State::Deleting;
                let handle = tokio::spawn(delete_shoot(
                    self.seed.clone(),
                    self.shoots[i].spec.clone(),
                    self.profile.clone(),
                    self.timeout,
                ));
                self.deletions.push((i, handle));
                Ok(Some(self.shoots[i].spec.technical_id()))
            }
        }
    }

    fn deleted(&self) -> usize {
        self.shoots
            .iter()
            .filter(|s| s.state == State::Deleted)
            .count()
    }
}

fn choose(rng: &mut Rng) -> OpKind {
    let total: u64 = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut r = rng.next_u64() % total;
    for (kind, weight) in WEIGHTS {
        if r < weight {
            return kind;
        }
        r -= weight;
    }
    OpKind::Create
}

/// The process sample nearest to `t`.
fn nearest_process(samples: &[ProcessSample], t: f64) -> Option<ProcessSample> {
    samples
        .iter()
        .min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs()))
        .copied()
}

fn nearest_counters(samples: &[CounterSample], t: f64) -> Option<&CounterSample> {
    samples
        .iter()
        .min_by(|a, b| (a.t - t).abs().total_cmp(&(b.t - t).abs()))
}

/// Requests per second of `key` between two counter samples.
fn rate(a: &CounterSample, b: &CounterSample, key: &str) -> f64 {
    let dt = b.t - a.t;
    if dt <= 0.0 {
        return 0.0;
    }
    (b.counts.get(key).copied().unwrap_or(0.0) - a.counts.get(key).copied().unwrap_or(0.0)) / dt
}

/// CPU in percent of one core between the samples nearest to `from` and `to`.
fn cpu_pct(samples: &[ProcessSample], from: f64, to: f64) -> f64 {
    match (nearest_process(samples, from), nearest_process(samples, to)) {
        (Some(a), Some(b)) if b.t > a.t => 100.0 * (b.cpu_s - a.cpu_s) / (b.t - a.t),
        _ => 0.0,
    }
}

fn rss_in(samples: &[ProcessSample], from: f64, to: f64) -> Vec<(f64, f64)> {
    samples
        .iter()
        .filter(|s| s.t >= from && s.t <= to)
        .map(|s| (s.t, s.rss_kib as f64 / 1024.0))
        .collect()
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Least-squares slope of (t seconds, MiB) in MiB per second.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return f64::NAN;
    }
    let mt = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mv = points.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|p| (p.0 - mt) * (p.1 - mv)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mt).powi(2)).sum();
    if var == 0.0 { 0.0 } else { cov / var }
}

/// The RSS trend after the warm-up (5 minutes, or a fifth of a shorter churn), with the first
/// and last windows of 5 minutes (or a quarter of what is left, when shorter).
fn rss_trend(samples: &[ProcessSample], churn_s: f64) -> Option<Trend> {
    let warm_up = (churn_s / 5.0).min(300.0);
    let window = ((churn_s - warm_up) / 4.0).min(300.0);
    let points = rss_in(samples, warm_up, churn_s);
    if points.len() < 10 || window <= 0.0 {
        return None;
    }
    let first = (warm_up, warm_up + window);
    let last = (churn_s - window, churn_s);
    Some(Trend {
        from_min: warm_up / 60.0,
        to_min: churn_s / 60.0,
        slope_mib_per_10min: slope(&points) * 600.0,
        first_window: (first.0 / 60.0, first.1 / 60.0),
        first_mean_mib: mean(rss_in(samples, first.0, first.1).into_iter().map(|p| p.1)),
        last_window: (last.0 / 60.0, last.1 / 60.0),
        last_mean_mib: mean(rss_in(samples, last.0, last.1).into_iter().map(|p| p.1)),
    })
}

/// Runs the soak: landscape, convergence, baseline, churn, final convergence and checks.
pub async fn run(options: &Options) -> Result<Report> {
    let bed = testbed::bed().await?;
    let versions = testbed::paths::versions()?;
    let (config, ssh_url) = bench::fleet_and_config(bed, "soak").await?;
    // The benchmark's controller has the health check, sync poll and resync at 1h; the flags
    // given later win, and these are the binary's (and the chart's) defaults.
    let mut extra_args = vec![
        "--healthcheck-sync-period=30s".to_string(),
        "--resync-period=1h".to_string(),
    ];
    extra_args.extend(options.extra_args.iter().cloned());
    let bench_options = bench::Options {
        shoots: vec![options.shoots],
        binary: options.binary.clone(),
        concurrencies: Vec::new(),
        timeout: options.timeout,
        extra_args,
        steady: None,
        convergence_rounds: 1,
    };
    let seed = bed.seed().client().await?;
    let garden = bed.garden().client().await?;
    let extensions = dynamic_api(
        &seed,
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        None,
    )
    .await?;
    let version = versions.flux.clone();
    let n = options.shoots;
    let landscape = Landscape::new(n, "k");
    eprintln!(
        "[soak] creating {n} shoots in {} projects",
        landscape.projects.len()
    );
    bench::create_landscape(bed, &landscape, &version, &ssh_url).await?;
    let profile = Arc::new(gardenlet::landscape_cloud_profile_json(
        &landscape.shoots[0],
    ));
    let mut world = World {
        seed: seed.clone(),
        garden: garden.clone(),
        profile,
        shoots: landscape
            .shoots
            .iter()
            .enumerate()
            .map(|(i, spec)| Shoot {
                spec: spec.clone(),
                project: i / bench::PROJECT_SIZE,
                state: State::Live,
            })
            .collect(),
        projects: landscape.projects.clone(),
        branches: vec!["main".to_string(); landscape.projects.len()],
        deletions: Vec::new(),
        failed_deletions: Vec::new(),
        next_name: 0,
        min_live: n / 2,
        timeout: options.timeout,
    };

    eprintln!("[soak] starting the controller (default periods); waiting for every Extension");
    let mut controller = Controller::start(bed, &bench_options, &config, "soak", false).await?;
    let live: BTreeSet<String> = landscape.namespaces().into_iter().collect();
    let initial = wait_ready(
        &extensions,
        &live,
        &version,
        &mut controller,
        options.timeout,
    )
    .await?;
    eprintln!("[soak] converged in {:.1}s", initial.as_secs_f64());
    let pid = controller.process.pid();
    let port = metrics_port(pid)?;
    // The first rounds of the health check and the sync poll write every shoot's first
    // conditions; the baseline starts after the second health check round, a period later,
    // when nothing is left to write.
    let started = Instant::now();
    while read_counters(port)
        .await?
        .get("health check rounds")
        .copied()
        .unwrap_or(0.0)
        < 2.0
    {
        controller.process.ensure_running()?;
        if started.elapsed() > options.timeout {
            bail!("no health check round after {:?}", options.timeout);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    let baseline_samples = Arc::new(Mutex::new(Samples::default()));
    let stop = Arc::new(AtomicBool::new(false));
    eprintln!(
        "[soak] baseline: {:.0}s with nothing changing",
        options.baseline.as_secs_f64()
    );
    let baseline_start = Instant::now();
    let sampler = start_sampler(
        pid,
        port,
        baseline_start,
        baseline_samples.clone(),
        stop.clone(),
    );
    let baseline_first = read_counters(port).await?;
    let baseline_cpu_first = controller.process.cpu_time().unwrap_or_default();
    while baseline_start.elapsed() < options.baseline {
        controller.process.ensure_running()?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let baseline_s = baseline_start.elapsed().as_secs_f64();
    let baseline_last = read_counters(port).await?;
    let baseline_cpu = controller.process.cpu_time().unwrap_or_default() - baseline_cpu_first;
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.await;
    let delta = |key: &str| {
        baseline_last.get(key).copied().unwrap_or(0.0)
            - baseline_first.get(key).copied().unwrap_or(0.0)
    };
    let baseline_rss_mib = {
        let s = baseline_samples
            .lock()
            .map_err(|_| anyhow::anyhow!("sampler poisoned"))?;
        mean(s.process.iter().map(|p| p.rss_kib as f64 / 1024.0))
    };

    let mut rng = Rng::new(options.seed);
    let interval = Duration::from_secs_f64(60.0 / options.ops_per_minute);
    let samples = Arc::new(Mutex::new(Samples::default()));
    let stop = Arc::new(AtomicBool::new(false));
    eprintln!(
        "[soak] churn: {:.1} minutes at {} operations per minute (seed {})",
        options.duration.as_secs_f64() / 60.0,
        options.ops_per_minute,
        options.seed
    );
    let ops_log = bed.dir().join("soak-ops.log");
    let mut log = String::new();
    let churn_start = Instant::now();
    let sampler = start_sampler(pid, port, churn_start, samples.clone(), stop.clone());
    let mut ops = Vec::new();
    let mut next = churn_start;
    let mut last_report = Instant::now();
    while churn_start.elapsed() < options.duration {
        controller.process.ensure_running()?;
        let now = Instant::now();
        if now < next {
            tokio::time::sleep(next - now).await;
            continue;
        }
        next += interval;
        world.reap(false).await;
        let mut kind = choose(&mut rng);
        let target = loop {
            match world.apply(kind, &mut rng).await? {
                Some(target) => break target,
                // Nothing to do for this kind now (e.g. no hibernated shoot): another one.
                None => kind = choose(&mut rng),
            }
        };
        let op = Op {
            at_s: churn_start.elapsed().as_secs_f64(),
            kind,
            target,
        };
        log.push_str(&format!(
            "{:.2} {} {}\n",
            op.at_s,
            op.kind.name(),
            op.target
        ));
        ops.push(op);
        if last_report.elapsed() > Duration::from_secs(30) {
            last_report = Instant::now();
            eprintln!(
                "    {:.0}s: {} operations, {} live shoots, RSS {:.1} MiB",
                churn_start.elapsed().as_secs_f64(),
                ops.len(),
                world.live(None).len(),
                controller.process.rss_kib().unwrap_or(0) as f64 / 1024.0
            );
        }
    }
    let churn_s = churn_start.elapsed().as_secs_f64();
    // One more reading of the counters at the very end of the churn.
    if let Ok(counts) = read_counters(port).await
        && let Ok(mut s) = samples.lock()
    {
        s.counters.push(CounterSample { t: churn_s, counts });
    }
    stop.store(true, Ordering::SeqCst);
    let _ = sampler.await;
    std::fs::write(&ops_log, &log)?;
    eprintln!(
        "[soak] {} operations in {churn_s:.0}s (log: {}); waiting for the deletions and the final convergence",
        ops.len(),
        ops_log.display()
    );

    let end = Instant::now();
    world.reap(true).await;
    let live: BTreeSet<String> = world
        .live(None)
        .iter()
        .map(|&i| world.shoots[i].spec.technical_id())
        .collect();
    let final_convergence = wait_ready(
        &extensions,
        &live,
        &version,
        &mut controller,
        options.timeout,
    )
    .await
    .unwrap_or_else(|e| {
        eprintln!("[soak] {e:#}");
        end.elapsed()
    });
    eprintln!(
        "[soak] {} live shoots ready {:.1}s after the churn; checking the objects",
        live.len(),
        final_convergence.as_secs_f64()
    );

    let samples = std::mem::take(
        &mut *samples
            .lock()
            .map_err(|_| anyhow::anyhow!("sampler poisoned"))?,
    );
    // The last op may end the churn a moment after its full minutes: that moment belongs to
    // the last minute.
    let minutes = ((churn_s / 60.0) - 0.1).ceil().max(1.0) as usize;
    let mut per_minute = Vec::new();
    for m in 0..minutes {
        let from = m as f64 * 60.0;
        let to = if m + 1 == minutes {
            churn_s
        } else {
            (m + 1) as f64 * 60.0
        };
        let rss = rss_in(&samples.process, from, to);
        let (a, b) = (
            nearest_counters(&samples.counters, from),
            nearest_counters(&samples.counters, to),
        );
        let (seed_rps, garden_rps) = match (a, b) {
            (Some(a), Some(b)) => (rate(a, b, "seed"), rate(a, b, "garden")),
            _ => (f64::NAN, f64::NAN),
        };
        per_minute.push(Minute {
            minute: m,
            ops: ops
                .iter()
                .filter(|o| o.at_s >= from && (o.at_s < to || m + 1 == minutes))
                .count(),
            seed_rps,
            garden_rps,
            rss_mean_mib: mean(rss.iter().map(|p| p.1)),
            rss_max_mib: rss.iter().map(|p| p.1).fold(f64::NAN, f64::max),
            cpu_pct: cpu_pct(&samples.process, from, to),
        });
    }
    let (first, last) = (samples.counters.first(), samples.counters.last());
    let (churn_seed_rps, churn_garden_rps, requests) = match (first, last) {
        (Some(a), Some(b)) => {
            let mut requests: Vec<(String, f64)> = b
                .counts
                .iter()
                .filter(|(k, _)| k.contains(' ') && k.as_str() != "health check rounds")
                .map(|(k, v)| (k.clone(), v - a.counts.get(k).copied().unwrap_or(0.0)))
                .filter(|(_, v)| *v > 0.0)
                .collect();
            requests.sort_by(|x, y| y.1.total_cmp(&x.1));
            (rate(a, b, "seed"), rate(a, b, "garden"), requests)
        }
        _ => (f64::NAN, f64::NAN, Vec::new()),
    };
    let mut report = Report {
        seed: options.seed,
        shoots_start: n,
        projects: landscape.projects.len(),
        shoots_end: live.len(),
        hibernated_end: world.live(Some(true)).len(),
        deleted: world.deleted(),
        initial_convergence_s: initial.as_secs_f64(),
        churn_s,
        ops,
        minutes: per_minute,
        baseline_seed_rps: delta("seed") / baseline_s,
        baseline_garden_rps: delta("garden") / baseline_s,
        baseline_cpu_pct: 100.0 * baseline_cpu.as_secs_f64() / baseline_s,
        baseline_rss_mib,
        churn_seed_rps,
        churn_garden_rps,
        churn_cpu_pct: cpu_pct(&samples.process, 0.0, churn_s),
        requests,
        rss_trend: rss_trend(&samples.process, churn_s),
        final_convergence_s: final_convergence.as_secs_f64(),
        ..Report::default()
    };
    // A project's reconfiguration changes no Extension: the objects may still be catching up
    // with the last ones when every Extension looks ready. The check is repeated until it
    // passes or the timeout is over; what then remains is reported.
    loop {
        let mut checked = report.clone();
        checked.lost.extend(
            world
                .failed_deletions
                .iter()
                .map(|e| format!("deletion failed: {e}")),
        );
        check(&world, &extensions, &version, &mut checked).await?;
        if checked.ok() || end.elapsed() > options.timeout {
            report = checked;
            break;
        }
        controller.process.ensure_running()?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    report.final_convergence_s = end.elapsed().as_secs_f64();
    controller.stop();
    Ok(report)
}

/// The end state. The fault injector's `check` (examples/faults) takes every secret of ours
/// that its ManagedResource does not reference as an orphan, which holds when the content never
/// changes; here reconfigurations replace the content-named secrets, and the superseded ones
/// are left to GRM's garbage collector (labelled for it; the bed does not run it). So:
///
/// - every live shoot: its Extension ready (gardenlet's rule, after the latest timestamp), its
///   Cluster, its three ManagedResources each referencing one existing secret, the access
///   secret; an awake shoot's config carries its project's current branch, and its install has
///   the extra controller exactly when its providerConfig asks for it;
/// - lost: any of these missing; orphaned: a secret of ours neither referenced nor labelled for
///   the garbage collector, any ManagedResource or secret of ours (or the access secret) left in
///   a deleted shoot's namespace, an Extension or Cluster of a deleted shoot;
/// - deploy keys: exactly one in each private project, none in public ones.
async fn check(
    world: &World,
    extensions: &Api<DynamicObject>,
    version: &str,
    report: &mut Report,
) -> Result<()> {
    let seed = &world.seed;
    let mrs = dynamic_api(
        seed,
        "resources.gardener.cloud/v1alpha1",
        "ManagedResource",
        None,
    )
    .await?
    .list(&ListParams::default())
    .await
    .context("listing ManagedResources")?
    .items;
    let secrets = Api::<Secret>::all(seed.clone())
        .list_metadata(&ListParams::default())
        .await
        .context("listing seed secrets")?
        .items;
    let all_extensions = extensions.list(&ListParams::default()).await?.items;
    let clusters = dynamic_api(seed, "extensions.gardener.cloud/v1alpha1", "Cluster", None)
        .await?
        .list_metadata(&ListParams::default())
        .await?
        .items;
    let ns_of = |m: &kube::api::ObjectMeta| m.namespace.clone().unwrap_or_default();
    let name_of = |m: &kube::api::ObjectMeta| m.name.clone().unwrap_or_default();

    // namespace -> MR name -> referenced secrets.
    let mut refs: HashMap<String, BTreeMap<String, Vec<String>>> = HashMap::new();
    for mr in &mrs {
        let names = mr.data["spec"]["secretRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect();
        refs.entry(ns_of(&mr.metadata))
            .or_default()
            .insert(name_of(&mr.metadata), names);
    }
    // namespace -> secret name -> (our MR label, GC label).
    let mut by_ns: HashMap<String, BTreeMap<String, (Option<String>, bool)>> = HashMap::new();
    for s in &secrets {
        let labels = s.metadata.labels.clone().unwrap_or_default();
        by_ns.entry(ns_of(&s.metadata)).or_default().insert(
            name_of(&s.metadata),
            (
                labels.get(OWNER_LABEL).cloned(),
                labels.get(GC_LABEL).is_some_and(|v| v == "true"),
            ),
        );
    }
    let empty_refs = BTreeMap::new();
    let empty_secrets = BTreeMap::new();
    let secrets_api = |ns: &str| Api::<Secret>::namespaced(seed.clone(), ns);
    for shoot in &world.shoots {
        let ns = shoot.spec.technical_id();
        let shoot_refs = refs.get(&ns).unwrap_or(&empty_refs);
        let shoot_secrets = by_ns.get(&ns).unwrap_or(&empty_secrets);
        let extension = all_extensions
            .iter()
            .find(|e| e.metadata.namespace.as_deref() == Some(ns.as_str()));
        let cluster = clusters.iter().any(|c| name_of(&c.metadata) == ns);
        if shoot.state != State::Live {
            if extension.is_some() {
                report
                    .orphans
                    .push(format!("Extension {ns}/shoot-flux of a deleted shoot"));
            }
            if cluster {
                report
                    .orphans
                    .push(format!("Cluster {ns} of a deleted shoot"));
            }
            for mr in shoot_refs.keys() {
                report
                    .orphans
                    .push(format!("ManagedResource {ns}/{mr} of a deleted shoot"));
            }
            for (name, (owner, _)) in shoot_secrets {
                if owner.is_some() || name == ACCESS_SECRET {
                    report
                        .orphans
                        .push(format!("secret {ns}/{name} of a deleted shoot"));
                }
            }
            continue;
        }
        match extension {
            None => report.lost.push(format!("Extension {ns}/shoot-flux")),
            Some(e) if !is_ready(e, version) => report.stale.push(format!(
                "Extension {ns}/shoot-flux: generation {:?}, status {}",
                e.metadata.generation,
                serde_json::to_string(&json!({
                    "lastOperation": e.data["status"]["lastOperation"],
                    "lastError": e.data["status"]["lastError"],
                    "observedGeneration": e.data["status"]["observedGeneration"],
                }))?
            )),
            Some(_) => {}
        }
        if !cluster {
            report.lost.push(format!("Cluster {ns}"));
        }
        if !shoot_secrets.contains_key(ACCESS_SECRET) {
            report.lost.push(format!("secret {ns}/{ACCESS_SECRET}"));
        }
        let mut referenced = BTreeSet::new();
        for mr in EXPECTED_MRS {
            let Some(names) = shoot_refs.get(mr) else {
                report.lost.push(format!("ManagedResource {ns}/{mr}"));
                continue;
            };
            report.managed_resources += 1;
            if names.len() != 1 {
                report
                    .orphans
                    .push(format!("ManagedResource {ns}/{mr} references {names:?}"));
            }
            for name in names {
                referenced.insert(name.clone());
                if shoot_secrets.contains_key(name) {
                    report.mr_secrets += 1;
                } else {
                    report
                        .lost
                        .push(format!("secret {ns}/{name} referenced by {mr}"));
                }
            }
        }
        for mr in shoot_refs
            .keys()
            .filter(|m| !EXPECTED_MRS.contains(&m.as_str()))
        {
            report
                .orphans
                .push(format!("unexpected ManagedResource {ns}/{mr}"));
        }
        for (name, (owner, gc)) in shoot_secrets {
            if owner.is_none() || referenced.contains(name) {
                continue;
            }
            if *gc {
                report.superseded_secrets += 1;
            } else {
                report.orphans.push(format!(
                    "secret {ns}/{name} (of {owner:?}) neither referenced nor collectable"
                ));
            }
        }
        // An awake shoot's objects carry its latest configuration.
        if shoot.spec.hibernated {
            continue;
        }
        let content = |mr: &str| {
            mr_content(
                secrets_api(&ns),
                shoot_refs.get(mr).and_then(|n| n.first()).cloned(),
            )
        };
        let branch = &world.branches[shoot.project];
        if let Some(config) = content(CONFIG_MR).await?
            && !config.contains(branch.as_str())
        {
            report.stale.push(format!(
                "{ns}: the config ManagedResource does not have the project's branch {branch}"
            ));
        }
        if let Some(install) = content(INSTALL_MR).await? {
            let wanted = shoot.spec.provider_config.is_some();
            if install.contains(EXTRA_COMPONENT_CRD) != wanted {
                report.stale.push(format!(
                    "{ns}: the install ManagedResource {} {EXTRA_COMPONENT}, the providerConfig {}",
                    if wanted { "lacks" } else { "has" },
                    if wanted { "asks for it" } else { "does not" }
                ));
            }
        }
    }
    for (i, project) in world.projects.iter().enumerate() {
        let ns = format!("garden-{project}");
        let keys: Vec<String> = Api::<Secret>::namespaced(world.garden.clone(), &ns)
            .list_metadata(&ListParams::default())
            .await?
            .items
            .iter()
            .filter(|s| {
                name_of(&s.metadata) == DEPLOY_KEY_SECRET
                    || s.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get("app.kubernetes.io/managed-by"))
                        .is_some_and(|v| v == "gardener-extension-shoot-flux")
            })
            .map(|s| name_of(&s.metadata))
            .collect();
        report.deploy_keys += keys.len();
        match (bench::is_private(i), keys.len()) {
            (true, 1) | (false, 0) => {}
            (true, 0) => report.lost.push(format!("deploy key of {ns}")),
            (true, _) => report
                .orphans
                .push(format!("deploy keys of {ns}: {keys:?}")),
            (false, _) => report
                .orphans
                .push(format!("deploy keys of public project {ns}: {keys:?}")),
        }
    }
    Ok(())
}

/// The objects of a ManagedResource's secret `name`, as text (None when it is not there).
async fn mr_content(api: Api<Secret>, name: Option<String>) -> Result<Option<String>> {
    let Some(name) = name else {
        return Ok(None);
    };
    let Some(secret) = api.get_opt(&name).await? else {
        return Ok(None);
    };
    let data = secret
        .data
        .as_ref()
        .and_then(|d| d.get("data.yaml.br"))
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let text = shoot_flux_core::managedresource::brotli_decompress(&data)
        .with_context(|| format!("secret {name}: data.yaml.br"))?;
    Ok(Some(String::from_utf8_lossy(&text).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line() {
        let points: Vec<(f64, f64)> = (0..10).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
        assert!((slope(&points) - 2.0).abs() < 1e-9);
    }

    #[test]
    fn counters_by_cluster_and_by_verb() {
        let text = "shoot_flux_api_requests_total{cluster=\"seed\",code=\"200\",verb=\"GET\",resource=\"clusters\"} 3\n\
                    shoot_flux_api_requests_total{cluster=\"seed\",code=\"404\",verb=\"GET\",resource=\"clusters\"} 1\n\
                    shoot_flux_api_requests_total{cluster=\"garden\",code=\"200\"} 2\n\
                    shoot_flux_health_check_rounds_total 4\n";
        let c = parse_counters(text);
        assert_eq!(c["seed"], 4.0);
        assert_eq!(c["seed GET clusters"], 4.0);
        assert_eq!(c["garden"], 2.0);
        assert_eq!(c["health check rounds"], 4.0);
    }
}
