//! The convergence benchmark (issue 8), shared by `examples/bench/main.rs` and the CI smoke test
//! `tests/bench_smoke.rs`. For each shoot count N, on the bed's garden and seed API servers:
//!
//! 1. creates N shoot namespaces with Clusters of a landscape's size (a CloudProfile of a real
//!    provider's size) and shoot-flux Extensions, in projects of 10 shoots, half of the projects
//!    with a public (https) and half with a private (ssh, deploy key) repository;
//! 2. starts the controller (a separate process) and times it until every Extension is
//!    Succeeded with its ManagedResources and secrets written;
//! 3. stops it and times the floor: one bare client writing the same objects (same count and
//!    sizes) to the same API servers, best of concurrency 1, 4, 16 and 64; then the contract
//!    floor: the same with, per shoot, the whole Cluster read and the two Extension writes that
//!    Gardener's contract asks of any controller. The bare client is the controller's own
//!    (`kubeclient`), sends bodies encoded beforehand and decodes no answer; its CPU, on this
//!    process's one thread, is what the requests alone cost;
//! 4. starts the controller again with nothing changed (its start reconciles every shoot, as
//!    after a seed restart) and counts the write requests it makes, from the API servers'
//!    `apiserver_request_total`;
//! 5. changes the Flux version in every project and times the convergence again;
//! 6. samples the controller's RSS and CPU time throughout;
//! 7. steady state: starts the controller as the chart runs it (default health check and sync
//!    poll period of 30 s, resync 1h, leader election and heartbeat), waits until every
//!    Extension is ready and the health check and sync poll finished a round, lets one period
//!    pass, and then measures over the window (`Options::steady`) the controller's own requests
//!    to the seed and the garden by verb and resource (its `shoot_flux_api_requests_total`), its
//!    new connections, CPU and RSS, with nothing changing.
//!
//! Everything of one N is removed before the next.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use shoot_flux::kubeclient::{create_unread, merge_patch_status_metadata, merge_patch_unread};
use testbed::apiserver::ApiServer;
use testbed::gardenlet::{self, ShootSpec};
use testbed::kubeutil::dynamic_api;
use testbed::ports::free_port;
use testbed::process::{self, Process};

/// Shoots per project, as issue 8 asks.
pub const PROJECT_SIZE: usize = 10;
/// Concurrency of the benchmark's own setup and cleanup requests (not measured).
const SETUP_CONCURRENCY: usize = 16;
pub const OWNER_LABEL: &str = "shoot-flux.extensions.gardener.cloud/managed-resource";
pub const ACCESS_SECRET: &str = "shoot-access-extension-shoot-flux";
pub const DEPLOY_KEY_SECRET: &str = "flux-source";
/// Resources whose writes count in the resync (leases of the API servers themselves are not ours).
const COUNTED_RESOURCES: &[&str] = &[
    "extensions",
    "managedresources",
    "secrets",
    "configmaps",
    "clusters",
    "namespaces",
];

#[derive(Debug, Clone)]
pub struct Options {
    pub shoots: Vec<usize>,
    /// gardener-extension-shoot-flux to run.
    pub binary: PathBuf,
    /// Floor concurrencies.
    pub concurrencies: Vec<usize>,
    /// How long to wait for one convergence before giving up.
    pub timeout: Duration,
    /// Extra flags for the controller.
    pub extra_args: Vec<String>,
    /// How long the steady state is measured; `None` skips it.
    pub steady: Option<Duration>,
    /// How often the controller converges the landscape from scratch per N (at least 1): the
    /// table has the median, since one convergence's time and CPU move with the machine's load
    /// from run to run.
    pub convergence_rounds: usize,
}

/// The command line of the benchmark, the soak and the fault injector: `--flag value` or
/// `--flag=value`, and after `--` the controller's own arguments.
pub struct Flags {
    args: std::vec::IntoIter<String>,
}

/// One flag of a [`Flags`] command line.
pub struct Flag {
    pub name: String,
    inline: Option<String>,
}

impl Flags {
    pub fn from_env() -> Self {
        Self {
            args: std::env::args().skip(1).collect::<Vec<_>>().into_iter(),
        }
    }

    pub fn next_flag(&mut self) -> Option<Flag> {
        let arg = self.args.next()?;
        Some(match arg.split_once('=') {
            Some((name, value)) => Flag {
                name: name.to_string(),
                inline: Some(value.to_string()),
            },
            None => Flag {
                name: arg,
                inline: None,
            },
        })
    }

    /// The value of `flag`: what followed `=`, else the next argument.
    pub fn value(&mut self, flag: &Flag) -> Result<String> {
        flag.inline
            .clone()
            .or_else(|| self.args.next())
            .with_context(|| format!("{} needs a value", flag.name))
    }

    /// Everything left (after `--`).
    pub fn rest(&mut self) -> Vec<String> {
        self.args.by_ref().collect()
    }
}

/// A fleet repository `name` on the bed's Git host (only its SSH address matters: nothing
/// clones it; a second run in the same bed finds it), and the operator configuration the
/// benchmark, the soak and the fault injector run the controller with: the bed's Flux
/// releases, the Git host's key trusted. Returns the configuration's path and the SSH URL.
pub async fn fleet_and_config(bed: &testbed::Bed, name: &str) -> Result<(PathBuf, String)> {
    let releases = bed.releases().await?;
    let git = bed.git().await?;
    let _ = git.create_repository(&format!("{name}-fleet"), &[("README.md", "fleet\n")]);
    let config = bed.dir().join(format!("{name}-operator-config.yaml"));
    std::fs::write(
        &config,
        format!(
            "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  manifests:\n    baseURL: {}\n    timeout: 30s\ndeployKeys:\n  knownHosts:\n  - {:?}\n",
            releases.base_url(),
            git.known_hosts().trim()
        ),
    )?;
    Ok((config, git.ssh_url(&format!("{name}-fleet"))))
}

/// The extension binary to run: `given`, else `gardener-extension-shoot-flux` beside the
/// running example (target/<profile>/examples/X -> target/<profile>/...); an error naming
/// `hack/<script>` (which builds it) when it is not there.
pub fn extension_binary(given: Option<PathBuf>, script: &str) -> Result<PathBuf> {
    let binary = match given {
        Some(binary) => binary,
        None => std::env::current_exe()?
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("gardener-extension-shoot-flux"))
            .context("locating the extension binary")?,
    };
    if !binary.is_file() {
        bail!(
            "{} is missing: run `cargo build --release -p shoot-flux --bins` first (hack/{script} does)",
            binary.display()
        );
    }
    Ok(binary)
}

/// The period of the health check and the sync status poll the controller has by default (and
/// the chart passes): the steady state is measured with it.
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(30);
/// How often the request counters are sampled in the steady window (for the picture).
const STEADY_SAMPLE: Duration = Duration::from_secs(5);
/// The seed namespace of the steady controller's leader and heartbeat Leases.
const LEASE_NAMESPACE: &str = "garden";

/// The steady state of one N: the controller with default periods and nothing changing.
#[derive(Debug, Clone, Default)]
pub struct Steady {
    /// Length of the measured window.
    pub seconds: f64,
    pub seed_rps: f64,
    pub garden_rps: f64,
    /// CPU time over wall time, in percent of one core.
    pub cpu_pct: f64,
    /// Mean and maximum of the RSS samples (every 100 ms) in the window.
    pub rss_mean_mib: f64,
    pub rss_max_mib: f64,
    /// Requests per second by "cluster verb resource", most first.
    pub requests: Vec<(String, f64)>,
    /// New connections per period ([`DEFAULT_PERIOD`]) by cluster.
    pub connections_per_period: Vec<(String, f64)>,
    /// (seconds into the window, seed req/s, garden req/s) over each sample interval.
    pub rates: Vec<(f64, f64, f64)>,
}

/// One line of the table.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub shoots: usize,
    /// The median convergence round's seconds (its servers' CPU, requests and ready times too).
    pub convergence_s: f64,
    pub floor_s: f64,
    pub floor_concurrency: usize,
    pub floor_objects: usize,
    pub floor_mib: f64,
    pub resync_writes: u64,
    pub resync_write_kinds: String,
    pub resync_s: f64,
    pub upgrade_s: f64,
    pub peak_rss_mib: f64,
    /// RSS 3 s after the first convergence.
    pub settled_rss_mib: f64,
    /// The median of the convergence rounds' CPU per shoot.
    pub cpu_ms_per_shoot: f64,
    /// Each convergence round's seconds and CPU milliseconds per shoot, in order.
    pub convergence_rounds: Vec<(f64, f64)>,
    pub upgrade_cpu_ms_per_shoot: f64,
    pub cluster_kib: f64,
    pub floors: Vec<(usize, f64)>,
    /// CPU seconds of the API servers and etcd while the controller converged.
    pub servers_cpu_s: f64,
    /// The same during the best floor round.
    pub floor_servers_cpu_s: f64,
    /// A bare client reading every Cluster once (as the controller must), best concurrency.
    pub cluster_reads_s: f64,
    /// The contract floor (`write_contract_floor`) by concurrency, in seconds.
    pub contract_floors: Vec<(usize, f64)>,
    /// The best of them, and the API servers' and etcd's CPU seconds during that round.
    pub contract_floor_s: f64,
    pub contract_floor_servers_cpu_s: f64,
    /// The floors' client's CPU milliseconds per shoot in the best round of each (this
    /// process's CPU: the requests on the controller's transport, bodies encoded beforehand,
    /// answers not decoded): what the same requests cost any client on this machine.
    pub floor_client_cpu_ms: f64,
    pub contract_floor_client_cpu_ms: f64,
    /// Requests the API servers answered while the controller converged, by kind.
    pub convergence_requests: String,
    /// Seconds after the controller's start at which each Extension became ready, ascending.
    pub ready_times: Vec<f64>,
    /// Seconds after its start at which the best floor round had written each object, ascending.
    pub floor_times: Vec<f64>,
    pub steady: Option<Steady>,
}

impl Row {
    pub fn ratio(&self) -> f64 {
        if self.floor_s > 0.0 {
            self.convergence_s / self.floor_s
        } else {
            f64::NAN
        }
    }

    /// Convergence against the contract floor: what is left to gain without leaving the contract.
    pub fn contract_ratio(&self) -> f64 {
        if self.contract_floor_s > 0.0 {
            self.convergence_s / self.contract_floor_s
        } else {
            f64::NAN
        }
    }
}

/// The table issue 8 asks for, as Markdown.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| N | convergence s | floor s | ratio | resync writes | upgrade s | peak RSS MiB | CPU ms/shoot | steady seed req/s | steady CPU % | steady RSS MiB |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let steady = match &r.steady {
            Some(s) => format!(
                "{:.2} | {:.2} | {:.1}",
                s.seed_rps, s.cpu_pct, s.rss_mean_mib
            ),
            None => "– | – | –".into(),
        };
        out.push_str(&format!(
            "| {} | {:.1} | {:.1} | {:.2} | {} | {:.1} | {:.1} | {:.1} | {steady} |\n",
            r.shoots,
            r.convergence_s,
            r.floor_s,
            r.ratio(),
            r.resync_writes,
            r.upgrade_s,
            r.peak_rss_mib,
            r.cpu_ms_per_shoot
        ));
    }
    out
}

/// Timed rounds as "1.2 (c=4), 0.8 (c=16)".
fn seconds_by_concurrency(rounds: &[(usize, f64)]) -> String {
    let rounds: Vec<String> = rounds
        .iter()
        .map(|(c, s)| format!("{s:.1} (c={c})"))
        .collect();
    rounds.join(", ")
}

/// The details behind the table: floor per concurrency, sizes, steady RSS, resync duration.
pub fn details(rows: &[Row]) -> String {
    let mut out = String::from(
        "| N | Cluster KiB | floor objects | floor MiB | floor s by concurrency | best c | Cluster reads s | contract floor s by concurrency | convergence / contract floor | servers CPU s (controller / floor / contract floor) | client CPU ms/shoot (controller / floor / contract floor) | resync s | RSS after convergence MiB | upgrade CPU ms/shoot | convergence rounds (s / CPU ms per shoot) |\n|---:|---:|---:|---:|---|---:|---:|---|---:|---|---|---:|---:|---:|---|\n",
    );
    for r in rows {
        let floors = seconds_by_concurrency(&r.floors);
        let contract_floors = seconds_by_concurrency(&r.contract_floors);
        let rounds: Vec<String> = r
            .convergence_rounds
            .iter()
            .map(|(s, ms)| format!("{s:.1} / {ms:.2}"))
            .collect();
        out.push_str(&format!(
            "| {} | {:.0} | {} | {:.1} | {} | {} | {:.1} | {} | {:.2} | {:.1} / {:.1} / {:.1} | {:.2} / {:.2} / {:.2} | {:.1} | {:.1} | {:.1} | {} |\n",
            r.shoots,
            r.cluster_kib,
            r.floor_objects,
            r.floor_mib,
            floors,
            r.floor_concurrency,
            r.cluster_reads_s,
            contract_floors,
            r.contract_ratio(),
            r.servers_cpu_s,
            r.floor_servers_cpu_s,
            r.contract_floor_servers_cpu_s,
            r.cpu_ms_per_shoot,
            r.floor_client_cpu_ms,
            r.contract_floor_client_cpu_ms,
            r.resync_s,
            r.settled_rss_mib,
            r.upgrade_cpu_ms_per_shoot,
            rounds.join("; ")
        ));
    }
    out.push_str("\nWrites of the resync by request:\n\n");
    for r in rows {
        out.push_str(&format!("- N = {}: {}\n", r.shoots, r.resync_write_kinds));
    }
    out.push_str(
        "\nRequests while converging (all verbs, the benchmark's own watch included):\n\n",
    );
    for r in rows {
        out.push_str(&format!("- N = {}: {}\n", r.shoots, r.convergence_requests));
    }
    let steady: Vec<(usize, &Steady)> = rows
        .iter()
        .filter_map(|r| Some((r.shoots, r.steady.as_ref()?)))
        .collect();
    if steady.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "\nSteady state (default periods of {}s, nothing changing; the controller's own requests):\n\n\
         | N | window s | seed req/s | garden req/s | CPU % of one core | RSS MiB mean / max | new connections per period |\n\
         |---:|---:|---:|---:|---:|---|---|\n",
        DEFAULT_PERIOD.as_secs()
    ));
    for (n, s) in &steady {
        let connections: Vec<String> = s
            .connections_per_period
            .iter()
            .map(|(cluster, c)| format!("{c:.2} {cluster}"))
            .collect();
        out.push_str(&format!(
            "| {n} | {:.0} | {:.3} | {:.3} | {:.2} | {:.1} / {:.1} | {} |\n",
            s.seconds,
            s.seed_rps,
            s.garden_rps,
            s.cpu_pct,
            s.rss_mean_mib,
            s.rss_max_mib,
            if connections.is_empty() {
                "none".into()
            } else {
                connections.join(", ")
            }
        ));
    }
    out.push_str("\nSteady-state requests per second by cluster, verb and resource:\n\n");
    for (n, s) in &steady {
        let parts: Vec<String> = s
            .requests
            .iter()
            .map(|(kind, rate)| format!("{rate:.3} {kind}"))
            .collect();
        out.push_str(&format!(
            "- N = {n}: {}\n",
            if parts.is_empty() {
                "none".into()
            } else {
                parts.join(", ")
            }
        ));
    }
    out
}

/// The controller process with its sampler of RSS and CPU time.
pub struct Controller {
    pub process: Process,
    metrics_port: u16,
    health_port: u16,
    peak_rss_kib: Arc<AtomicU64>,
    /// Every RSS sample (KiB) with its time, for the steady window's mean.
    rss_samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    cpu_us: Arc<AtomicU64>,
    stop_sampler: Arc<AtomicBool>,
}

impl Controller {
    pub async fn start(
        bed: &'static testbed::Bed,
        options: &Options,
        config: &Path,
        label: &str,
        resync_all_at_start: bool,
    ) -> Result<Self> {
        // The shoots of the benchmark have no API servers: the sync status poll would only
        // report WaitingForShootAccess. It is kept out of the convergence measurement (see
        // docs/benchmarks.md); the steady state measures it with its default period.
        let mut flags = vec![
            "--healthcheck-sync-period=1h".to_string(),
            "--resync-period=1h".to_string(),
        ];
        if resync_all_at_start {
            // Every Extension counts as seen for the first time: all are reconciled at once,
            // through the same path as the --resync-period tick.
            flags.push("--ignore-operation-annotation=true".into());
        }
        Self::start_with(bed, options, config, label, &flags).await
    }

    /// The controller with `flags` (then the options' extra flags) besides the bed's.
    pub async fn start_with(
        bed: &'static testbed::Bed,
        options: &Options,
        config: &Path,
        label: &str,
        flags: &[String],
    ) -> Result<Self> {
        let (metrics_port, health_port) = (free_port()?, free_port()?);
        let mut command = Command::new(&options.binary);
        command
            .env("KUBECONFIG", bed.seed().kubeconfig_path())
            .env("GARDEN_KUBECONFIG", bed.garden().kubeconfig_path())
            .arg(format!("--config={}", config.display()))
            .arg(format!("--metrics-bind-address=127.0.0.1:{metrics_port}"))
            .arg(format!("--health-bind-address=127.0.0.1:{health_port}"))
            .arg("--log-format=json")
            .arg("--log-level=info")
            .args(flags)
            .args(&options.extra_args);
        let log = bed.dir().join(format!("bench-{label}.log"));
        let process = Process::spawn(&format!("bench-{label}"), command, &log)?;
        let peak_rss_kib = Arc::new(AtomicU64::new(0));
        let cpu_us = Arc::new(AtomicU64::new(0));
        let rss_samples = Arc::new(Mutex::new(Vec::new()));
        let stop_sampler = Arc::new(AtomicBool::new(false));
        let pid = process.pid();
        {
            let (peak, cpu, stop) = (peak_rss_kib.clone(), cpu_us.clone(), stop_sampler.clone());
            let samples = rss_samples.clone();
            tokio::spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    if let Some(rss) = process::rss_kib(pid) {
                        peak.fetch_max(rss, Ordering::SeqCst);
                        if let Ok(mut samples) = samples.lock() {
                            samples.push((Instant::now(), rss));
                        }
                    }
                    if let Some(t) = process::cpu_time(pid) {
                        cpu.store(
                            u64::try_from(t.as_micros()).unwrap_or(u64::MAX),
                            Ordering::SeqCst,
                        );
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
        Ok(Self {
            process,
            metrics_port,
            health_port,
            peak_rss_kib,
            rss_samples,
            cpu_us,
            stop_sampler,
        })
    }

    /// Mean and maximum RSS in MiB of the samples taken since `since`.
    fn rss_since(&self, since: Instant) -> (f64, f64) {
        let samples: Vec<u64> = self
            .rss_samples
            .lock()
            .map(|s| {
                s.iter()
                    .filter(|(t, _)| *t >= since)
                    .map(|(_, kib)| *kib)
                    .collect()
            })
            .unwrap_or_default();
        let mib = |kib: f64| kib / 1024.0;
        match samples.iter().max() {
            Some(max) => (
                mib(samples.iter().sum::<u64>() as f64 / samples.len() as f64),
                mib(*max as f64),
            ),
            None => (f64::NAN, f64::NAN),
        }
    }

    fn cpu(&self) -> Duration {
        match self.process.cpu_time() {
            Some(t) => t,
            None => Duration::from_micros(self.cpu_us.load(Ordering::SeqCst)),
        }
    }

    fn peak_rss_mib(&self) -> f64 {
        self.peak_rss_kib.load(Ordering::SeqCst) as f64 / 1024.0
    }

    /// Waits for /readyz (the Extension cache is synced), then a moment for the other watches.
    pub async fn wait_ready(&mut self) -> Result<()> {
        let started = Instant::now();
        loop {
            self.process.ensure_running()?;
            let url = format!("http://127.0.0.1:{}/readyz", self.health_port);
            if testbed::plainhttp::get(&url)
                .await
                .is_ok_and(|r| r.status == 200)
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("the controller is not ready after 60s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(())
    }

    pub async fn reconciles(&self) -> Result<f64> {
        self.metric("shoot_flux_reconciles_total").await
    }

    /// The controller's metrics in the text exposition format.
    async fn metrics_text(&self) -> Result<String> {
        let r = testbed::plainhttp::get(&format!("http://127.0.0.1:{}/metrics", self.metrics_port))
            .await?;
        Ok(String::from_utf8_lossy(&r.body).to_string())
    }

    /// The sum of the samples of the controller's metric `name`.
    async fn metric(&self, name: &str) -> Result<f64> {
        let text = self.metrics_text().await?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// Kills the controller with SIGKILL, as `kill -9` does (fault injection, examples/faults).
    #[allow(dead_code)]
    pub fn kill(mut self) {
        self.stop_sampler.store(true, Ordering::SeqCst);
        self.process.kill();
    }

    pub fn stop(mut self) {
        self.stop_sampler.store(true, Ordering::SeqCst);
        self.process.stop(Duration::from_secs(10));
    }
}

/// Names of one N's objects: distinct per N, so that runs never share anything.
pub struct Landscape {
    pub shoots: Vec<ShootSpec>,
    pub projects: Vec<String>,
}

impl Landscape {
    pub fn new(n: usize, run: &str) -> Self {
        let projects: Vec<String> = (0..n.div_ceil(PROJECT_SIZE))
            .map(|p| format!("{run}p{p:03}"))
            .collect();
        let shoots = (0..n)
            .map(|i| ShootSpec::new(&projects[i / PROJECT_SIZE], &format!("s{i:04}")))
            .collect();
        Self { shoots, projects }
    }

    pub fn namespaces(&self) -> Vec<String> {
        self.shoots.iter().map(ShootSpec::technical_id).collect()
    }
}

/// Write requests (POST, PUT, PATCH, DELETE) to the counted resources by "verb resource",
/// from an API server's `/metrics` (read with the admin token).
async fn write_requests(
    client: &Client,
    into: &mut BTreeMap<String, u64>,
    all_verbs: bool,
) -> Result<()> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let (verb, resource, subresource) =
            (label("verb"), label("resource"), label("subresource"));
        if !all_verbs && !matches!(verb.as_str(), "POST" | "PUT" | "PATCH" | "DELETE") {
            continue;
        }
        if !COUNTED_RESOURCES.contains(&resource.as_str()) {
            continue;
        }
        let key = if subresource.is_empty() {
            format!("{verb} {resource}")
        } else {
            format!("{verb} {resource}/{subresource}")
        };
        *into.entry(key).or_default() += value.trim().parse::<f64>().unwrap_or(0.0) as u64;
    }
    Ok(())
}

async fn writes_now(seed: &Client, garden: &Client) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    write_requests(seed, &mut counts, false).await?;
    write_requests(garden, &mut counts, false).await?;
    Ok(counts)
}

/// Requests of every verb so far, by verb and resource, the garden's prefixed with `garden`.
async fn requests_now(seed: &Client, garden: &Client) -> Result<BTreeMap<String, u64>> {
    let mut counts = BTreeMap::new();
    write_requests(seed, &mut counts, true).await?;
    let mut in_garden = BTreeMap::new();
    write_requests(garden, &mut in_garden, true).await?;
    counts.extend(
        in_garden
            .into_iter()
            .map(|(k, v)| (format!("garden {k}"), v)),
    );
    Ok(counts)
}

/// The writes between two snapshots, by kind, and their sum.
fn writes_between(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> (u64, String) {
    let mut total = 0;
    let mut parts = Vec::new();
    for (key, value) in after {
        let diff = value.saturating_sub(before.get(key).copied().unwrap_or(0));
        if diff > 0 {
            total += diff;
            parts.push(format!("{diff} {key}"));
        }
    }
    (
        total,
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        },
    )
}

/// Whether gardenlet would take this Extension as ready with `version` installed.
fn is_converged(e: &DynamicObject, version: &str) -> bool {
    let status = &e.data["status"];
    e.metadata
        .annotations
        .as_ref()
        .is_none_or(|a| !a.contains_key("gardener.cloud/operation"))
        && status["lastOperation"]["state"] == "Succeeded"
        && status["lastError"].is_null()
        && status["observedGeneration"].as_i64() == e.metadata.generation
        && status["providerStatus"]["flux"]["version"] == version
}

/// What every Extension of the landscape looks like now: ready for gardenlet with `version`
/// installed. Returns how many are. (Used by examples/faults, which includes this file.)
#[allow(dead_code)]
pub async fn count_converged(
    extensions: &Api<DynamicObject>,
    namespaces: &std::collections::HashSet<String>,
    version: &str,
) -> Result<usize> {
    let list = extensions.list(&ListParams::default()).await?;
    Ok(list
        .items
        .iter()
        .filter(|e| {
            e.metadata
                .namespace
                .as_ref()
                .is_some_and(|n| namespaces.contains(n))
        })
        .filter(|e| is_converged(e, version))
        .count())
}

/// One convergence of the landscape by a freshly started controller.
struct Convergence {
    took: Duration,
    /// Seconds after the start at which each Extension became ready, ascending.
    ready_times: Vec<f64>,
    /// The controller's CPU time from its start to the last Extension ready.
    cpu: Duration,
    /// The API servers' and etcd's CPU seconds meanwhile.
    servers_cpu_s: f64,
    /// Requests the API servers answered meanwhile, by kind.
    requests: String,
    peak_rss_mib: f64,
    /// RSS 3 s after the convergence.
    settled_rss_mib: f64,
}

impl Convergence {
    fn cpu_ms_per_shoot(&self, shoots: usize) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / shoots as f64
    }
}

/// Starts the controller (`label` names its log) on a landscape that is new to it and waits
/// until every Extension is ready with `version`, then stops it.
async fn converge(
    bed: &'static testbed::Bed,
    options: &Options,
    config: &Path,
    label: &str,
    ready: (&Api<DynamicObject>, &Landscape, &str),
) -> Result<Convergence> {
    let (extensions, landscape, version) = ready;
    let (seed, garden) = (bed.seed().client().await?, bed.garden().client().await?);
    wait_quiet(bed).await;
    let requests_before = requests_now(&seed, &garden).await?;
    let servers_before = servers_cpu(bed);
    let mut controller = Controller::start(bed, options, config, label, false).await?;
    let (took, ready_times) = wait_converged(
        extensions,
        landscape,
        version,
        &mut controller,
        options.timeout,
    )
    .await?;
    let cpu = controller.cpu();
    let servers_cpu_s = servers_cpu(bed)
        .saturating_sub(servers_before)
        .as_secs_f64();
    let (_, requests) = writes_between(&requests_before, &requests_now(&seed, &garden).await?);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let settled_rss_mib = controller.process.rss_kib().unwrap_or(0) as f64 / 1024.0;
    let peak_rss_mib = controller.peak_rss_mib();
    controller.stop();
    Ok(Convergence {
        took,
        ready_times,
        cpu,
        servers_cpu_s,
        requests,
        peak_rss_mib,
        settled_rss_mib,
    })
}

/// The median of `values` (the mean of the middle two for an even count); NaN for none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The round whose convergence took the median time (the faster middle one for an even count).
fn median_round(mut rounds: Vec<Convergence>) -> Option<Convergence> {
    rounds.sort_by_key(|r| r.took);
    let middle = rounds.len().checked_sub(1)? / 2;
    Some(rounds.swap_remove(middle))
}

/// The resource of `kind` (plural `plural`) in `api_version`, without a discovery request.
fn api_resource(api_version: &str, kind: &str, plural: &str) -> kube::api::ApiResource {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn managed_resource_resource() -> kube::api::ApiResource {
    api_resource(
        "resources.gardener.cloud/v1alpha1",
        "ManagedResource",
        "managedresources",
    )
}

/// Takes the landscape back to what `create_landscape` made, for another convergence round:
/// removes what the controller wrote (the ManagedResources and their secrets, the shoot access
/// secrets, the projects' deploy keys) and makes each Extension new again (no finalizer, no
/// status, the operation annotation gardenlet puts on a new one). The bed runs no resource
/// manager, so nothing holds the ManagedResources back.
async fn reset_landscape(seed: &Client, garden: &Client, landscape: &Landscape) -> Result<()> {
    let namespaces: std::collections::HashSet<String> =
        landscape.namespaces().into_iter().collect();
    let secret_resource = kube::api::ApiResource::erase::<Secret>(&());
    let mr_resource = managed_resource_resource();
    let mut doomed: Vec<(Api<DynamicObject>, String)> = Vec::new();
    let listings = [
        (&mr_resource, ListParams::default()),
        (&secret_resource, ListParams::default().labels(OWNER_LABEL)),
        (
            &secret_resource,
            ListParams::default().fields(&format!("metadata.name={ACCESS_SECRET}")),
        ),
    ];
    for (resource, params) in listings {
        let all = Api::<DynamicObject>::all_with(seed.clone(), resource);
        for object in all.list_metadata(&params).await?.items {
            let (Some(ns), Some(name)) = (object.metadata.namespace, object.metadata.name) else {
                continue;
            };
            if namespaces.contains(&ns) {
                doomed.push((Api::namespaced_with(seed.clone(), &ns, resource), name));
            }
        }
    }
    for (i, project) in landscape.projects.iter().enumerate() {
        if is_private(i) {
            let keys = Api::<DynamicObject>::namespaced_with(
                garden.clone(),
                &format!("garden-{project}"),
                &secret_resource,
            );
            doomed.push((keys, DEPLOY_KEY_SECRET.to_string()));
        }
    }
    stream::iter(&doomed)
        .map(|(api, name)| delete_if_present(api, name))
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let extension_resource = api_resource(
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        "extensions",
    );
    stream::iter(&namespaces)
        .map(|ns| async {
            let api = Api::<DynamicObject>::namespaced_with(seed.clone(), ns, &extension_resource);
            let name = gardenlet::EXTENSION_TYPE;
            api.patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": null})),
            )
            .await?;
            api.patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {
                    "finalizers": null,
                    "annotations": {"gardener.cloud/operation": "reconcile"}
                }})),
            )
            .await?;
            anyhow::Ok(())
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Waits until every Extension of the landscape is converged, following a watch: polling with
/// a LIST of all Extensions every 250 ms made the API server encode megabytes per second at
/// N = 1000, CPU taken from the controller being measured on the same cores.
async fn wait_converged(
    extensions: &Api<DynamicObject>,
    landscape: &Landscape,
    version: &str,
    controller: &mut Controller,
    timeout: Duration,
) -> Result<(Duration, Vec<f64>)> {
    use kube::runtime::{WatchStreamExt, watcher};
    let namespaces: std::collections::HashSet<String> =
        landscape.namespaces().into_iter().collect();
    let started = Instant::now();
    // Namespace -> seconds after the start at which its Extension became ready (last time).
    let mut converged = std::collections::HashMap::new();
    let mut events =
        std::pin::pin!(watcher(extensions.clone(), watcher::Config::default()).default_backoff());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_report = Instant::now();
    loop {
        tokio::select! {
            event = events.next() => {
                match event {
                    Some(Ok(watcher::Event::Apply(e) | watcher::Event::InitApply(e))) => {
                        let ns = e.metadata.namespace.clone().unwrap_or_default();
                        if namespaces.contains(&ns) {
                            if is_converged(&e, version) {
                                converged
                                    .entry(ns)
                                    .or_insert_with(|| started.elapsed().as_secs_f64());
                            } else {
                                converged.remove(&ns);
                            }
                        }
                    }
                    Some(Ok(watcher::Event::Delete(e))) => {
                        converged.remove(&e.metadata.namespace.clone().unwrap_or_default());
                    }
                    Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
                    Some(Err(e)) => eprintln!("    watching Extensions: {e}"),
                    None => bail!("the watch of Extensions ended"),
                }
                if converged.len() == namespaces.len() {
                    let mut times: Vec<f64> = converged.into_values().collect();
                    times.sort_by(f64::total_cmp);
                    return Ok((started.elapsed(), times));
                }
            }
            _ = tick.tick() => {
                controller.process.ensure_running()?;
                if started.elapsed() > timeout {
                    bail!(
                        "only {} of {} Extensions converged after {timeout:?}",
                        converged.len(),
                        namespaces.len()
                    );
                }
                if last_report.elapsed() > Duration::from_secs(10) {
                    last_report = Instant::now();
                    eprintln!(
                        "    {}/{} converged after {:.0}s",
                        converged.len(),
                        namespaces.len(),
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
    }
}

/// Checks that each shoot has the three ManagedResources, their secrets and the shoot access
/// secret, and that every private project has its deploy key.
async fn check_written(seed: &Client, garden: &Client, landscape: &Landscape) -> Result<()> {
    let mrs = dynamic_api(
        seed,
        "resources.gardener.cloud/v1alpha1",
        "ManagedResource",
        None,
    )
    .await?;
    let secrets: Api<Secret> = Api::all(seed.clone());
    let all_mrs = mrs.list_metadata(&ListParams::default()).await?;
    let all_secrets = secrets
        .list_metadata(&ListParams::default().labels(OWNER_LABEL))
        .await?;
    for ns in landscape.namespaces() {
        let mr_count = all_mrs
            .items
            .iter()
            .filter(|m| m.metadata.namespace.as_deref() == Some(ns.as_str()))
            .count();
        let secret_count = all_secrets
            .items
            .iter()
            .filter(|m| m.metadata.namespace.as_deref() == Some(ns.as_str()))
            .count();
        ensure!(
            mr_count == 3 && secret_count >= 3,
            "{ns}: {mr_count} ManagedResources and {secret_count} of their secrets"
        );
        ensure!(
            Api::<Secret>::namespaced(seed.clone(), &ns)
                .get_metadata_opt(ACCESS_SECRET)
                .await?
                .is_some(),
            "{ns}: no {ACCESS_SECRET}"
        );
    }
    for (i, project) in landscape.projects.iter().enumerate() {
        if is_private(i) {
            let keys: Api<Secret> = Api::namespaced(garden.clone(), &format!("garden-{project}"));
            ensure!(
                keys.get_metadata_opt(DEPLOY_KEY_SECRET).await?.is_some(),
                "project {project}: no deploy key"
            );
        }
    }
    Ok(())
}

pub fn is_private(project_index: usize) -> bool {
    project_index % 2 == 1
}

/// Creates the projects (namespace and flux-config in the garden) and the shoots (what
/// gardenlet creates in the seed, with a landscape-sized CloudProfile, and the Extension).
/// Returns the size of one Cluster in KiB.
pub async fn create_landscape(
    bed: &'static testbed::Bed,
    landscape: &Landscape,
    version: &str,
    ssh_url: &str,
) -> Result<f64> {
    let garden = bed.garden().client().await?;
    let seed = bed.seed().client().await?;
    stream::iter(landscape.projects.iter().enumerate())
        .map(|(i, project)| {
            let garden = garden.clone();
            async move {
                let namespace = format!("garden-{project}");
                let ns: Namespace =
                    serde_json::from_value(json!({"metadata": {"name": namespace}}))?;
                Api::<Namespace>::all(garden.clone())
                    .patch(&namespace, &PatchParams::apply("bench"), &Patch::Apply(&ns))
                    .await?;
                let mut data = BTreeMap::from([
                    ("fluxVersion".to_string(), version.to_string()),
                    ("repositoryBranch".to_string(), "main".to_string()),
                ]);
                if is_private(i) {
                    data.insert("repositoryUrl".into(), ssh_url.to_string());
                    data.insert("repositoryType".into(), "private".into());
                } else {
                    data.insert(
                        "repositoryUrl".into(),
                        format!("https://github.com/example/{project}-fleet.git"),
                    );
                }
                let cm: ConfigMap = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "flux-config", "namespace": namespace},
                    "data": data
                }))?;
                Api::<ConfigMap>::namespaced(garden, &namespace)
                    .patch(
                        "flux-config",
                        &PatchParams::apply("bench"),
                        &Patch::Apply(&cm),
                    )
                    .await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let profile = gardenlet::landscape_cloud_profile_json(&landscape.shoots[0]);
    let cluster_bytes = serde_json::to_vec(&json!({
        "cloudProfile": profile,
        "seed": landscape.shoots[0].seed_json(),
        "shoot": landscape.shoots[0].shoot_json()
    }))?
    .len();
    stream::iter(landscape.shoots.iter())
        .map(|spec| {
            let (seed, profile) = (seed.clone(), &profile);
            async move {
                gardenlet::apply_shoot_objects_with_cloud_profile(&seed, spec, None, profile)
                    .await?;
                gardenlet::apply_extension(&seed, spec).await?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(cluster_bytes as f64 / 1024.0)
}

/// An object to write in the floor: its API, and the body with a fresh name.
#[derive(Clone)]
struct FloorObject {
    api: Api<DynamicObject>,
    body: DynamicObject,
    /// The body as sent, encoded once before the round: the floor's client does no work a
    /// controller could avoid.
    encoded: Box<serde_json::value::RawValue>,
}

/// Everything the controller wrote for the landscape, read back as bodies for the floor.
async fn controller_objects(
    seed: &Client,
    garden: &Client,
    landscape: &Landscape,
) -> Result<Vec<(Api<DynamicObject>, DynamicObject)>> {
    let secret_resource = kube::api::ApiResource::erase::<Secret>(&());
    let mr_resource = managed_resource_resource();
    let mut out = Vec::new();
    for ns in landscape.namespaces() {
        let secrets = Api::<DynamicObject>::namespaced_with(seed.clone(), &ns, &secret_resource);
        for s in secrets
            .list(&ListParams::default().labels(OWNER_LABEL))
            .await?
            .items
        {
            out.push((secrets.clone(), s));
        }
        if let Some(s) = secrets.get_opt(ACCESS_SECRET).await? {
            out.push((secrets.clone(), s));
        }
        let mrs = Api::<DynamicObject>::namespaced_with(seed.clone(), &ns, &mr_resource);
        for mr in mrs.list(&ListParams::default()).await?.items {
            out.push((mrs.clone(), mr));
        }
    }
    for project in &landscape.projects {
        let secrets = Api::<DynamicObject>::namespaced_with(
            garden.clone(),
            &format!("garden-{project}"),
            &secret_resource,
        );
        if let Some(s) = secrets.get_opt(DEPLOY_KEY_SECRET).await? {
            out.push((secrets.clone(), s));
        }
    }
    Ok(out)
}

fn floor_objects(
    objects: &[(Api<DynamicObject>, DynamicObject)],
    prefix: &str,
) -> Result<Vec<FloorObject>> {
    objects
        .iter()
        .map(|(api, object)| {
            let mut body = object.clone();
            let name = body.metadata.name.clone().unwrap_or_default();
            body.metadata = kube::api::ObjectMeta {
                name: Some(format!("{prefix}-{name}")),
                namespace: body.metadata.namespace.clone(),
                labels: body.metadata.labels.clone().map(|mut l| {
                    // The floor's secrets must not look like ours to anyone.
                    l.remove(OWNER_LABEL);
                    l.insert("bench.shoot-flux/floor".into(), prefix.into());
                    l
                }),
                annotations: body.metadata.annotations.clone(),
                ..Default::default()
            };
            if let Some(status) = body.data.as_object_mut() {
                status.remove("status");
            }
            let encoded = serde_json::value::to_raw_value(&body)?;
            Ok(FloorObject {
                api: api.clone(),
                body,
                encoded,
            })
        })
        .collect()
}

/// A client on the controller's own transport (`kubeclient`: HTTP/2, one shared connection),
/// for the floors: what their client spends on the same requests then compares with the
/// controller's CPU.
async fn floor_client(server: &ApiServer) -> Result<Client> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(server.kubeconfig_yaml())?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    Ok(shoot_flux::kubeclient::client(
        config,
        shoot_flux::kubeclient::Pool::SHARED,
        Duration::from_secs(60),
    )?)
}

/// CPU time used so far by this process (the floors' client).
fn own_cpu() -> Duration {
    process::cpu_time(std::process::id() as i32).unwrap_or_default()
}

/// Runs one floor round (`work`) and measures, besides its result, the CPU seconds the API
/// servers and etcd spent meanwhile and this process's CPU in milliseconds per shoot of `n`.
async fn with_cpu<T>(
    bed: &testbed::Bed,
    n: usize,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<(T, f64, f64)> {
    let (servers_before, client_before) = (servers_cpu(bed), own_cpu());
    let result = work.await?;
    let servers_s = servers_cpu(bed)
        .saturating_sub(servers_before)
        .as_secs_f64();
    let client_ms = own_cpu().saturating_sub(client_before).as_secs_f64() * 1000.0;
    Ok((result, servers_s, client_ms / n as f64))
}

/// CPU time used so far by the bed's API servers and etcd (the other side of every request).
fn servers_cpu(bed: &testbed::Bed) -> Duration {
    [bed.seed().pid(), bed.garden().pid(), bed.etcd().pid()]
        .into_iter()
        .flatten()
        .filter_map(process::cpu_time)
        .sum()
}

/// Waits (at most 30 s) until the API servers and etcd are idle, below 10 % of one core over
/// half a second, so that work left over from the setup (etcd compacting after megabytes of
/// Clusters, the watch cache catching up) is not measured.
async fn wait_quiet(bed: &testbed::Bed) {
    let started = Instant::now();
    let mut last = servers_cpu(bed);
    while started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = servers_cpu(bed);
        if now.saturating_sub(last) < Duration::from_millis(50) {
            return;
        }
        last = now;
    }
}

/// Reads every Cluster of the landscape once, as the controller must (from the API server's
/// watch cache), with `concurrency` requests in flight; returns the time taken.
async fn read_clusters(
    seed: &Client,
    landscape: &Landscape,
    concurrency: usize,
) -> Result<Duration> {
    let started = Instant::now();
    stream::iter(landscape.namespaces())
        .map(|name| async move {
            let request = http::Request::get(format!(
                "/apis/extensions.gardener.cloud/v1alpha1/clusters/{name}?resourceVersion=0"
            ))
            .body(Vec::new())?;
            let text = seed.request_text(request).await?;
            ensure!(text.len() > 1024, "Cluster {name}: {} bytes", text.len());
            anyhow::Ok(())
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(started.elapsed())
}

/// Creates all objects with `concurrency` requests in flight; returns the time taken and the
/// time after the start at which each object was written, ascending.
async fn write_floor(objects: &[FloorObject], concurrency: usize) -> Result<(Duration, Vec<f64>)> {
    let started = Instant::now();
    let mut times = stream::iter(objects)
        .map(|o| async move {
            create_unread(&o.api, &o.encoded)
                .await
                .with_context(|| format!("floor: creating {:?}", o.body.metadata.name))?;
            anyhow::Ok(started.elapsed().as_secs_f64())
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    times.sort_by(f64::total_cmp);
    Ok((started.elapsed(), times))
}

/// Deletes `name`; one that is gone already is fine.
async fn delete_if_present(api: &Api<DynamicObject>, name: &str) -> Result<()> {
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn delete_floor(objects: &[FloorObject]) -> Result<()> {
    stream::iter(objects)
        .map(|o| async move {
            let name = o.body.metadata.name.clone().unwrap_or_default();
            delete_if_present(&o.api, &name).await
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// One shoot of the contract floor: what any controller that keeps Gardener's extension contract
/// must send for it at the least. Its Extension is a copy of the shoot's (another name and type,
/// so that no controller acts on it) that the round patches as a reconcile must: the finalizer
/// on and the operation annotation off in one metadata patch, the outcome in one status patch.
/// The deploy keys of the garden come without a shoot (`shoot: None`).
struct ContractShoot {
    shoot: Option<ContractExtension>,
    objects: Vec<FloorObject>,
}

/// A shoot's Cluster, and the copy of its Extension with the status to write.
struct ContractExtension {
    cluster_path: String,
    api: Api<DynamicObject>,
    name: String,
    /// `{"status": ...}` with the status the controller wrote.
    status_patch: serde_json::Value,
}

/// The Extension type of the contract floor's copies: no controller reconciles it.
const CONTRACT_FLOOR_TYPE: &str = "bench-contract-floor";

/// Prepares the contract floor (not timed): per shoot the floor's objects of its namespace, the
/// path of its Cluster and a fresh copy of its Extension as gardenlet creates one (operation
/// annotation, no finalizer, no status), carrying the status the controller wrote to write again.
async fn prepare_contract_floor(
    seed: &Client,
    landscape: &Landscape,
    written: &[(Api<DynamicObject>, DynamicObject)],
    prefix: &str,
) -> Result<Vec<ContractShoot>> {
    let objects = floor_objects(written, prefix)?;
    let shoots = stream::iter(landscape.namespaces())
        .map(|ns| {
            let seed = seed.clone();
            let objects: Vec<FloorObject> = objects
                .iter()
                .filter(|o| o.body.metadata.namespace.as_deref() == Some(ns.as_str()))
                .cloned()
                .collect();
            async move {
                let api = dynamic_api(
                    &seed,
                    "extensions.gardener.cloud/v1alpha1",
                    "Extension",
                    Some(&ns),
                )
                .await?;
                let original = api.get(gardenlet::EXTENSION_TYPE).await?;
                let status = original.data["status"].clone();
                let name = format!("{prefix}-{}", gardenlet::EXTENSION_TYPE);
                let mut annotations = original.metadata.annotations.clone().unwrap_or_default();
                annotations.insert("gardener.cloud/operation".into(), "reconcile".into());
                let mut copy = json!({
                    "apiVersion": "extensions.gardener.cloud/v1alpha1",
                    "kind": "Extension",
                    "metadata": {"name": name, "namespace": ns, "annotations": annotations},
                    "spec": {"type": CONTRACT_FLOOR_TYPE}
                });
                if let Some(config) = original.data["spec"].get("providerConfig") {
                    copy["spec"]["providerConfig"] = config.clone();
                }
                let copy: DynamicObject = serde_json::from_value(copy)?;
                api.create(&PostParams::default(), &copy).await?;
                anyhow::Ok(ContractShoot {
                    shoot: Some(ContractExtension {
                        cluster_path: format!(
                            "/apis/extensions.gardener.cloud/v1alpha1/clusters/{ns}?resourceVersion=0"
                        ),
                        api,
                        name,
                        status_patch: json!({ "status": status }),
                    }),
                    objects,
                })
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    let seed_namespaces = landscape.namespaces();
    let garden_objects: Vec<FloorObject> = objects
        .into_iter()
        .filter(|o| {
            !seed_namespaces
                .iter()
                .any(|ns| o.body.metadata.namespace.as_deref() == Some(ns.as_str()))
        })
        .collect();
    let mut all = shoots;
    all.extend(garden_objects.into_iter().map(|o| ContractShoot {
        shoot: None,
        objects: vec![o],
    }));
    Ok(all)
}

/// The contract floor: per shoot, in this order, one whole Cluster read (from the watch cache),
/// the Extension's metadata patch, the floor's objects and the Extension's status patch, with
/// `concurrency` shoots in flight. The floor without the contract leaves out the Cluster read
/// and the two Extension writes; a controller that keeps the contract cannot be faster than
/// this on the same servers. Returns the time taken.
async fn write_contract_floor(
    seed: &Client,
    shoots: &[ContractShoot],
    concurrency: usize,
) -> Result<Duration> {
    let started = Instant::now();
    stream::iter(shoots)
        .map(|contract| async move {
            if let Some(shoot) = &contract.shoot {
                let request = http::Request::get(&shoot.cluster_path).body(Vec::new())?;
                let text = seed.request_text(request).await?;
                ensure!(
                    text.len() > 1024,
                    "{}: {} bytes",
                    shoot.cluster_path,
                    text.len()
                );
                merge_patch_unread(
                    &shoot.api,
                    &shoot.name,
                    &json!({"metadata": {
                        "finalizers": [shoot_flux_core::gardener::types::FINALIZER],
                        "annotations": {"gardener.cloud/operation": null}
                    }}),
                )
                .await?;
            }
            for o in &contract.objects {
                create_unread(&o.api, &o.encoded).await.with_context(|| {
                    format!("contract floor: creating {:?}", o.body.metadata.name)
                })?;
            }
            if let Some(shoot) = &contract.shoot {
                merge_patch_status_metadata(&shoot.api, &shoot.name, &shoot.status_patch).await?;
            }
            anyhow::Ok(())
        })
        .buffer_unordered(concurrency)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(started.elapsed())
}

/// Removes the contract floor's objects and Extension copies (their finalizer first).
async fn delete_contract_floor(shoots: &[ContractShoot]) -> Result<()> {
    let objects: Vec<FloorObject> = shoots.iter().flat_map(|s| s.objects.clone()).collect();
    delete_floor(&objects).await?;
    stream::iter(shoots.iter().filter_map(|s| s.shoot.as_ref()))
        .map(|shoot| async move {
            shoot
                .api
                .patch(
                    &shoot.name,
                    &PatchParams::default(),
                    &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
                )
                .await?;
            delete_if_present(&shoot.api, &shoot.name).await
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// Removes everything of one N (the controller is stopped): finalizers, Extensions,
/// ManagedResources, secrets, Clusters, project ConfigMaps and deploy keys. The namespaces stay
/// (the bed's seed has no namespace controller to finish their deletion); they are empty.
async fn remove_landscape(bed: &'static testbed::Bed, landscape: &Landscape) -> Result<()> {
    let seed = bed.seed().client().await?;
    let garden = bed.garden().client().await?;
    let clusters =
        dynamic_api(&seed, "extensions.gardener.cloud/v1alpha1", "Cluster", None).await?;
    stream::iter(landscape.namespaces())
        .map(|ns| {
            let (seed, clusters) = (seed.clone(), clusters.clone());
            async move {
                let extensions = dynamic_api(
                    &seed,
                    "extensions.gardener.cloud/v1alpha1",
                    "Extension",
                    Some(&ns),
                )
                .await?;
                let mrs = dynamic_api(
                    &seed,
                    "resources.gardener.cloud/v1alpha1",
                    "ManagedResource",
                    Some(&ns),
                )
                .await?;
                if extensions.get_opt("shoot-flux").await?.is_some() {
                    extensions
                        .patch(
                            "shoot-flux",
                            &PatchParams::default(),
                            &Patch::Merge(&json!({"metadata": {"finalizers": null}})),
                        )
                        .await?;
                }
                let all = ListParams::default();
                extensions
                    .delete_collection(&DeleteParams::default(), &all)
                    .await?;
                mrs.delete_collection(&DeleteParams::default(), &all)
                    .await?;
                Api::<Secret>::namespaced(seed.clone(), &ns)
                    .delete_collection(&DeleteParams::default(), &all)
                    .await?;
                match clusters.delete(&ns, &DeleteParams::default()).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
                anyhow::Ok(())
            }
        })
        .buffer_unordered(SETUP_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    for project in &landscape.projects {
        let namespace = format!("garden-{project}");
        Api::<ConfigMap>::namespaced(garden.clone(), &namespace)
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await?;
        Api::<Secret>::namespaced(garden.clone(), &namespace)
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await?;
    }
    Ok(())
}

/// Waits until the controller has reconciled at least `count` times and then made no
/// further reconcile for two seconds.
async fn wait_reconciled(
    controller: &mut Controller,
    count: usize,
    timeout: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    loop {
        controller.process.ensure_running()?;
        // Until the metrics endpoint listens, nothing has been reconciled.
        if controller.reconciles().await.unwrap_or(0.0) >= count as f64 {
            break;
        }
        if started.elapsed() > timeout {
            bail!("the resync did not reconcile {count} shoots within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let done = started.elapsed();
    // The health check and sync status poll run once at start; their writes belong to this run.
    while controller
        .metric("shoot_flux_health_check_rounds_total")
        .await?
        < 1.0
    {
        if started.elapsed() > timeout {
            bail!("the health check did not finish a round within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut last = controller.reconciles().await?;
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = controller.reconciles().await?;
        if now == last {
            return Ok(done);
        }
        last = now;
    }
}

/// The controller's request counters by "cluster verb resource" (status codes summed) and its
/// connection counters by cluster, from its metrics text.
pub fn api_counters(text: &str) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let (mut requests, mut connections) = (BTreeMap::new(), BTreeMap::new());
    for line in text.lines() {
        let (into, rest) = if let Some(r) = line.strip_prefix("shoot_flux_api_requests_total{") {
            (&mut requests, r)
        } else if let Some(r) = line.strip_prefix("shoot_flux_api_connections_total{") {
            (&mut connections, r)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=\"")))
                .map(|v| v.trim_end_matches('"').to_string())
                .unwrap_or_default()
        };
        let key = if label("verb").is_empty() {
            label("cluster")
        } else {
            format!(
                "{} {} {}",
                label("cluster"),
                label("verb"),
                label("resource")
            )
        };
        *into.entry(key).or_insert(0.0) += value.trim().parse::<f64>().unwrap_or(0.0);
    }
    (requests, connections)
}

/// `after - before` per key over `seconds`, without zeros, most first.
fn rates(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    seconds: f64,
) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = after
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                (v - before.get(k).copied().unwrap_or(0.0)) / seconds,
            )
        })
        .filter(|(_, r)| *r > 0.0)
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

/// The sum of the rates whose key starts with `cluster `.
fn cluster_rate(rates: &[(String, f64)], cluster: &str) -> f64 {
    let prefix = format!("{cluster} ");
    // Folded from +0.0: an empty f64 sum is -0.0, which would print as "-0.000".
    rates
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, r)| r)
        .fold(0.0, |sum, r| sum + r)
}

/// Waits until the controller's metric `name` (summed) is above `above`.
async fn wait_metric_above(
    controller: &mut Controller,
    name: &str,
    above: f64,
    timeout: Duration,
) -> Result<()> {
    let started = Instant::now();
    loop {
        controller.process.ensure_running()?;
        if controller.metric(name).await.unwrap_or(0.0) > above {
            return Ok(());
        }
        if started.elapsed() > timeout {
            bail!("{name} is not above {above} after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Sleeps `duration` while checking that the controller keeps running.
async fn watch_running(controller: &mut Controller, duration: Duration) -> Result<()> {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        controller.process.ensure_running()?;
        tokio::time::sleep(Duration::from_secs(1).min(until - Instant::now())).await;
    }
    Ok(())
}

/// The steady state: the controller as the chart runs it, on a converged landscape
/// (`ready`: the Extensions, the landscape and its Flux version) with nothing changing, over
/// `window` after every Extension is ready, the first health check and sync poll rounds, and one
/// more period.
async fn measure_steady(
    bed: &'static testbed::Bed,
    options: &Options,
    config: &Path,
    label: &str,
    ready: (&Api<DynamicObject>, &Landscape, &str),
    window: Duration,
) -> Result<Steady> {
    let (extensions, landscape, version) = ready;
    let seed = bed.seed().client().await?;
    let namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": LEASE_NAMESPACE}}))?;
    Api::<Namespace>::all(seed)
        .patch(
            LEASE_NAMESPACE,
            &PatchParams::apply("bench"),
            &Patch::Apply(&namespace),
        )
        .await?;
    // The chart's flags (charts/gardener-extension-shoot-flux/templates/deployment.yaml) with
    // their default values; the health check and sync poll period is the binary's default.
    let flags = [
        "--leader-election=true".to_string(),
        format!("--leader-election-namespace={LEASE_NAMESPACE}"),
        "--resync-period=1h".into(),
        "--reconcile-timeout=2m30s".into(),
        "--heartbeat-renew-interval-seconds=30".into(),
    ];
    let mut controller = Controller::start_with(bed, options, config, label, &flags).await?;
    let result = async {
        wait_converged(
            extensions,
            landscape,
            version,
            &mut controller,
            options.timeout,
        )
        .await?;
        // Their first rounds run at start (and read every shoot); the steady state is after.
        wait_metric_above(
            &mut controller,
            "shoot_flux_health_check_rounds_total",
            0.0,
            options.timeout,
        )
        .await?;
        wait_metric_above(
            &mut controller,
            "shoot_flux_sync_poll_round_duration_seconds",
            0.0,
            options.timeout,
        )
        .await?;
        watch_running(&mut controller, DEFAULT_PERIOD).await?;

        let first = controller.metrics_text().await?;
        let cpu_before = controller.cpu();
        let started = Instant::now();
        let mut last = (0.0, api_counters(&first).0);
        let mut samples = Vec::new();
        while started.elapsed() < window {
            watch_running(
                &mut controller,
                STEADY_SAMPLE.min(window.saturating_sub(started.elapsed())),
            )
            .await?;
            let now = started.elapsed().as_secs_f64();
            let (requests, _) = api_counters(&controller.metrics_text().await?);
            let interval = rates(&last.1, &requests, (now - last.0).max(1e-3));
            samples.push((
                now,
                cluster_rate(&interval, "seed"),
                cluster_rate(&interval, "garden"),
            ));
            last = (now, requests);
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = controller.cpu().saturating_sub(cpu_before).as_secs_f64();
        let end = controller.metrics_text().await?;
        let (requests_before, connections_before) = api_counters(&first);
        let (requests_after, connections_after) = api_counters(&end);
        let requests = rates(&requests_before, &requests_after, seconds);
        let periods = seconds / DEFAULT_PERIOD.as_secs_f64();
        let connections_per_period = connections_after
            .iter()
            .map(|(cluster, after)| {
                let before = connections_before.get(cluster).copied().unwrap_or(0.0);
                (cluster.clone(), (after - before) / periods)
            })
            .collect();
        let (rss_mean_mib, rss_max_mib) = controller.rss_since(started);
        anyhow::Ok(Steady {
            seconds,
            seed_rps: cluster_rate(&requests, "seed"),
            garden_rps: cluster_rate(&requests, "garden"),
            cpu_pct: cpu * 100.0 / seconds,
            rss_mean_mib,
            rss_max_mib,
            requests,
            connections_per_period,
            rates: samples,
        })
    }
    .await;
    controller.stop();
    result
}

/// Runs the benchmark for every N; prints progress to stderr.
pub async fn run(options: &Options) -> Result<Vec<Row>> {
    let bed = testbed::bed().await?;
    let versions = testbed::paths::versions()?;
    let (config, ssh_url) = fleet_and_config(bed, "bench").await?;
    let seed = bed.seed().client().await?;
    let garden = bed.garden().client().await?;
    let extensions = dynamic_api(
        &seed,
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        None,
    )
    .await?;
    let (old, new) = (versions.flux_previous.clone(), versions.flux.clone());

    let mut rows = Vec::new();
    for (run_index, &n) in options.shoots.iter().enumerate() {
        let run = format!("b{run_index}n{n}");
        let landscape = Landscape::new(n, &run);
        eprintln!(
            "[N={n}] creating {n} shoots in {} projects",
            landscape.projects.len()
        );
        let cluster_kib = create_landscape(bed, &landscape, &old, &ssh_url).await?;

        let mut rounds = Vec::new();
        for round in 0..options.convergence_rounds.max(1) {
            if round > 0 {
                eprintln!("[N={n}]   removing what the controller wrote, for another round");
                reset_landscape(&seed, &garden, &landscape).await?;
            }
            eprintln!(
                "[N={n}] 1/6 round {}: starting the controller; waiting for every Extension (Flux {old})",
                round + 1
            );
            let converged = converge(
                bed,
                options,
                &config,
                &format!("{run}-a{round}"),
                (&extensions, &landscape, &old),
            )
            .await?;
            check_written(&seed, &garden, &landscape).await?;
            eprintln!(
                "[N={n}]   converged in {:.1}s, {:.2} ms CPU per shoot (peak RSS {:.1} MiB)",
                converged.took.as_secs_f64(),
                converged.cpu_ms_per_shoot(n),
                converged.peak_rss_mib
            );
            rounds.push(converged);
        }
        let convergence_rounds: Vec<(f64, f64)> = rounds
            .iter()
            .map(|r| (r.took.as_secs_f64(), r.cpu_ms_per_shoot(n)))
            .collect();
        let cpu_ms_per_shoot = median(convergence_rounds.iter().map(|r| r.1).collect());
        let peak_rss_mib = rounds.iter().map(|r| r.peak_rss_mib).fold(0.0, f64::max);
        let Convergence {
            took: converged,
            ready_times,
            servers_cpu_s,
            requests: convergence_requests,
            settled_rss_mib,
            ..
        } = median_round(rounds).context("no convergence round")?;

        eprintln!("[N={n}] 2/6 floor: a bare client writes the same objects");
        let (floor_seed, floor_garden) = (
            floor_client(bed.seed()).await?,
            floor_client(bed.garden()).await?,
        );
        let written = controller_objects(&floor_seed, &floor_garden, &landscape).await?;
        let mut floors = Vec::new();
        let mut floor_objects_count = 0;
        let mut floor_bytes = 0;
        for &c in &options.concurrencies {
            let objects = floor_objects(&written, &format!("floor{c}"))?;
            floor_objects_count = objects.len();
            floor_bytes = objects.iter().map(|o| o.encoded.get().len()).sum::<usize>();
            wait_quiet(bed).await;
            let ((took, times), servers_s, client_ms) =
                with_cpu(bed, n, write_floor(&objects, c)).await?;
            eprintln!(
                "[N={n}]   c={c}: {} objects in {:.2}s ({servers_s:.1} s servers' CPU, client {client_ms:.2} ms per shoot)",
                objects.len(),
                took.as_secs_f64(),
            );
            floors.push((c, took.as_secs_f64(), servers_s, client_ms, times));
            delete_floor(&objects).await?;
        }
        let (floor_concurrency, floor_s, floor_servers_cpu_s, floor_client_cpu_ms, floor_times) =
            floors
                .iter()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .cloned()
                .context("no floor concurrency")?;
        let mut cluster_reads = Vec::new();
        for &c in &options.concurrencies {
            cluster_reads.push(read_clusters(&seed, &landscape, c).await?.as_secs_f64());
        }
        let cluster_reads_s = cluster_reads.iter().copied().fold(f64::INFINITY, f64::min);
        let by_concurrency: Vec<String> = options
            .concurrencies
            .iter()
            .zip(&cluster_reads)
            .map(|(c, s)| format!("{s:.2}s (c={c})"))
            .collect();
        eprintln!(
            "[N={n}]   reading every Cluster once: {cluster_reads_s:.2}s at best; {}",
            by_concurrency.join(", ")
        );
        let mut contract_floors = Vec::new();
        for &c in &options.concurrencies {
            let shoots =
                prepare_contract_floor(&floor_seed, &landscape, &written, &format!("contract{c}"))
                    .await?;
            wait_quiet(bed).await;
            let (took, servers_s, client_ms) =
                with_cpu(bed, n, write_contract_floor(&floor_seed, &shoots, c)).await?;
            eprintln!(
                "[N={n}]   contract floor c={c}: {:.2}s ({servers_s:.1} s servers' CPU, client {client_ms:.2} ms per shoot)",
                took.as_secs_f64(),
            );
            contract_floors.push((c, took.as_secs_f64(), servers_s, client_ms));
            delete_contract_floor(&shoots).await?;
        }
        let (_, contract_floor_s, contract_floor_servers_cpu_s, contract_floor_client_cpu_ms) =
            contract_floors
                .iter()
                .copied()
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .context("no contract floor concurrency")?;

        eprintln!("[N={n}] 3/6 resync: the controller starts again with nothing changed");
        // First one resync that is not counted: the health check and the sync status poll (run
        // at start, then hourly here) write their first conditions for the shoots that did not
        // have their ManagedResources yet when they last ran.
        let mut settle =
            Controller::start(bed, options, &config, &format!("{run}-settle"), true).await?;
        wait_reconciled(&mut settle, n, options.timeout).await?;
        let peak_rss_mib = peak_rss_mib.max(settle.peak_rss_mib());
        settle.stop();
        let before = writes_now(&seed, &garden).await?;
        let mut controller =
            Controller::start(bed, options, &config, &format!("{run}-b"), true).await?;
        let resync = wait_reconciled(&mut controller, n, options.timeout).await?;
        let (resync_writes, resync_write_kinds) =
            writes_between(&before, &writes_now(&seed, &garden).await?);
        let mut peak_rss_mib = peak_rss_mib.max(controller.peak_rss_mib());
        controller.stop();
        let mut controller =
            Controller::start(bed, options, &config, &format!("{run}-c"), false).await?;
        controller.wait_ready().await?;
        eprintln!(
            "[N={n}]   {resync_writes} writes in {:.1}s: {resync_write_kinds} (peak RSS so far {peak_rss_mib:.1} MiB)",
            resync.as_secs_f64()
        );

        eprintln!("[N={n}] 4/6 upgrade: fluxVersion {old} -> {new} in every project");
        wait_quiet(bed).await;
        let cpu_before = controller.cpu();
        let started = Instant::now();
        stream::iter(landscape.projects.iter())
            .map(|project| {
                let garden = garden.clone();
                let new = new.clone();
                async move {
                    Api::<ConfigMap>::namespaced(garden, &format!("garden-{project}"))
                        .patch(
                            "flux-config",
                            &PatchParams::default(),
                            &Patch::Merge(&json!({"data": {"fluxVersion": new}})),
                        )
                        .await?;
                    anyhow::Ok(())
                }
            })
            .buffer_unordered(SETUP_CONCURRENCY)
            .try_collect::<Vec<_>>()
            .await?;
        wait_converged(
            &extensions,
            &landscape,
            &new,
            &mut controller,
            options.timeout,
        )
        .await?;
        let upgrade = started.elapsed();
        let upgrade_cpu = controller.cpu().saturating_sub(cpu_before);
        let upgrade_peak_rss_mib = controller.peak_rss_mib();
        peak_rss_mib = peak_rss_mib.max(upgrade_peak_rss_mib);
        controller.stop();
        eprintln!(
            "[N={n}]   upgraded in {:.1}s (upgrade's peak RSS {upgrade_peak_rss_mib:.1} MiB)",
            upgrade.as_secs_f64(),
        );

        let steady = match options.steady {
            Some(window) => {
                eprintln!(
                    "[N={n}] 5/6 steady state: default periods, {}s measured after the first rounds and one period",
                    window.as_secs()
                );
                let steady = measure_steady(
                    bed,
                    options,
                    &config,
                    &format!("{run}-steady"),
                    (&extensions, &landscape, &new),
                    window,
                )
                .await?;
                eprintln!(
                    "[N={n}]   {:.3} seed req/s, {:.3} garden req/s, {:.2} % CPU, {:.1} MiB RSS",
                    steady.seed_rps, steady.garden_rps, steady.cpu_pct, steady.rss_mean_mib
                );
                Some(steady)
            }
            None => None,
        };

        eprintln!("[N={n}] 6/6 removing this N's objects");
        remove_landscape(bed, &landscape).await?;

        let row = Row {
            shoots: n,
            convergence_s: converged.as_secs_f64(),
            floor_s,
            floor_concurrency,
            floor_objects: floor_objects_count,
            floor_mib: floor_bytes as f64 / 1024.0 / 1024.0,
            resync_writes,
            resync_write_kinds,
            resync_s: resync.as_secs_f64(),
            upgrade_s: upgrade.as_secs_f64(),
            peak_rss_mib,
            settled_rss_mib,
            cpu_ms_per_shoot,
            convergence_rounds,
            upgrade_cpu_ms_per_shoot: upgrade_cpu.as_secs_f64() * 1000.0 / n as f64,
            cluster_kib,
            floors: floors.iter().map(|(c, s, ..)| (*c, *s)).collect(),
            servers_cpu_s,
            floor_servers_cpu_s,
            cluster_reads_s,
            contract_floors: contract_floors.iter().map(|(c, s, ..)| (*c, *s)).collect(),
            contract_floor_s,
            contract_floor_servers_cpu_s,
            floor_client_cpu_ms,
            contract_floor_client_cpu_ms,
            convergence_requests,
            ready_times,
            floor_times,
            steady,
        };
        println!("{}", table(std::slice::from_ref(&row)));
        rows.push(row);
    }
    Ok(rows)
}

/// Replaces the part of the Markdown file `path` between the markers `begin` and `end` with
/// `section` (which carries the markers), or appends it; everything else is kept. A missing file
/// starts with `title`.
pub fn write_marked(path: &Path, begin: &str, end: &str, title: &str, section: &str) -> Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_else(|_| title.to_string());
    let text = match (existing.find(begin), existing.find(end)) {
        (Some(b), Some(e)) if e > b => format!(
            "{}{}{}",
            &existing[..b],
            section.trim_end(),
            &existing[e + end.len()..]
        ),
        _ => format!("{}\n\n{section}", existing.trim_end()),
    };
    std::fs::write(path, text)?;
    Ok(())
}
