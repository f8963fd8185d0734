//! Fault injection during a convergence (issue 9), shared by `examples/faults/main.rs` and the CI
//! test `tests/e2e_faults.rs`. On the bed's garden and seed API servers:
//!
//! 1. creates the benchmark's landscape (`examples/bench/run.rs`): N shoots with landscape-sized
//!    Clusters in projects of 10, half with a public and half with a private repository;
//! 2. starts a recorder of the garden's deploy key Secrets: the first fingerprint and UID of each
//!    project's key when it appears, and every later change;
//! 3. starts the controller and, while the Extensions converge, injects the faults at random
//!    moments: `kill -9` of the controller (started again at once), a restart of the seed API
//!    server, and an etcd outage (etcd killed and started again on its data directory after the
//!    outage, or frozen with SIGSTOP and thawed with SIGCONT). Each fault waits for a random share
//!    of the Extensions to have converged (so all of them fall inside the convergence) plus a
//!    random delay;
//! 4. waits until every Extension is ready in gardenlet's view (operation annotation gone,
//!    Succeeded, no lastError, observedGeneration current, Flux installed);
//! 5. checks the objects (see [`check`]) and the deploy keys, and reports.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams};
use testbed::kubeutil::dynamic_api;

use crate::bench::{self, ACCESS_SECRET, Controller, DEPLOY_KEY_SECRET, Landscape, OWNER_LABEL};

/// The ManagedResources every shoot gets.
const EXPECTED_MRS: [&str; 3] = [
    "extension-shoot-flux-flux-install",
    "extension-shoot-flux-flux-config",
    "extension-shoot-flux-shoot-access",
];

/// How etcd is taken away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtcdFault {
    /// Killed (SIGKILL) and started again on the same ports and data directory afterwards.
    Kill,
    /// Frozen (SIGSTOP) and thawed (SIGCONT) afterwards: connections stay open and hang.
    Pause,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub shoots: usize,
    /// `kill -9` of the controller, each followed by a restart.
    pub kills: usize,
    pub restart_seed: bool,
    /// How long etcd is away (none: no etcd fault).
    pub etcd_outage: Option<Duration>,
    pub etcd_fault: EtcdFault,
    /// gardener-extension-shoot-flux to run.
    pub binary: PathBuf,
    /// How long to wait for the convergence (after the last fault) before giving up.
    pub timeout: Duration,
    /// Seed of the random moments (printed, so that a run can be repeated).
    pub seed: u64,
    /// Extra flags for the controller.
    pub extra_args: Vec<String>,
}

/// One injected fault.
#[derive(Debug, Clone)]
pub struct Fault {
    /// What was done.
    pub what: String,
    /// Seconds since the controller first started, when the fault began.
    pub at_s: f64,
    /// How long it lasted (until the process was running or ready again).
    pub took_s: f64,
    /// How many Extensions had converged when it began.
    pub converged_before: usize,
}

/// What the run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub shoots: usize,
    pub projects: usize,
    pub private_projects: usize,
    pub faults: Vec<Fault>,
    /// From the first start of the controller until every Extension was ready.
    pub convergence_s: f64,
    /// From the end of the last fault until every Extension was ready.
    pub after_last_fault_s: f64,
    /// ManagedResources and secrets found, over all shoots.
    pub managed_resources: usize,
    pub mr_secrets: usize,
    /// Deploy keys present at the end, and how many were recorded when they first appeared.
    pub deploy_keys: usize,
    pub fingerprints_recorded: usize,
    /// Problems, each one line; empty when nothing was lost, duplicated or left over.
    pub lost: Vec<String>,
    pub duplicates: Vec<String>,
    pub orphans: Vec<String>,
    pub key_changes: Vec<String>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.lost.is_empty()
            && self.duplicates.is_empty()
            && self.orphans.is_empty()
            && self.key_changes.is_empty()
    }

    pub fn kills(&self) -> usize {
        self.faults
            .iter()
            .filter(|f| f.what.starts_with("kill -9"))
            .count()
    }

    /// A Markdown summary.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "| shoots | projects (private) | faults | kill -9 | objects lost | duplicates | orphans | deploy keys changed | convergence s | after last fault s |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n\
             | {} | {} ({}) | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |\n\n",
            self.shoots,
            self.projects,
            self.private_projects,
            self.faults.len(),
            self.kills(),
            self.lost.len(),
            self.duplicates.len(),
            self.orphans.len(),
            self.key_changes.len(),
            self.convergence_s,
            self.after_last_fault_s,
        );
        out.push_str(
            "| # | fault | at s | lasted s | converged before |\n|---:|---|---:|---:|---:|\n",
        );
        for (i, f) in self.faults.iter().enumerate() {
            out.push_str(&format!(
                "| {} | {} | {:.1} | {:.1} | {}/{} |\n",
                i + 1,
                f.what,
                f.at_s,
                f.took_s,
                f.converged_before,
                self.shoots
            ));
        }
        out.push_str(&format!(
            "\nObjects at the end: {} ManagedResources, {} ManagedResource secrets, {} deploy keys \
             ({} fingerprints recorded when the keys first appeared).\n",
            self.managed_resources, self.mr_secrets, self.deploy_keys, self.fingerprints_recorded
        ));
        for (title, list) in [
            ("Lost", &self.lost),
            ("Duplicated", &self.duplicates),
            ("Orphaned", &self.orphans),
            ("Deploy key changes", &self.key_changes),
        ] {
            for line in list {
                out.push_str(&format!("- {title}: {line}\n"));
            }
        }
        out
    }
}

/// splitmix64: reproducible random moments from `--seed` without another dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// A seed from the OS, for runs without `--seed`.
pub fn random_seed() -> u64 {
    rand_core::RngCore::next_u64(&mut rand_core::OsRng)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Kill,
    SeedRestart,
    Etcd,
}

/// Each project's deploy key as the recorder saw it.
#[derive(Debug, Default)]
struct Keys {
    /// project namespace -> (uid, fingerprint) when first seen.
    first: BTreeMap<String, (String, String)>,
    /// Every (uid, fingerprint) seen later that differs from the first, and disappearances.
    changes: Vec<String>,
    /// Keys seen the last time the garden could be read.
    present: BTreeSet<String>,
}

fn fingerprint(secret: &Secret) -> String {
    let data: BTreeMap<String, Vec<u8>> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    shoot_flux_core::deploykey::DeployKey::from_secret_data(&data, "recorder")
        .map(|k| k.fingerprint())
        .unwrap_or_else(|e| format!("unusable key: {e}"))
}

/// Polls the garden's deploy key Secrets every 200 ms until `stop`; errors (the garden is down
/// while etcd is) are skipped.
fn record_keys(
    garden: kube::Client,
    keys: Arc<Mutex<Keys>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let api: Api<Secret> = Api::all(garden);
        let params = ListParams::default().fields(&format!("metadata.name={DEPLOY_KEY_SECRET}"));
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(list) = api.list(&params).await
                && let Ok(mut guard) = keys.lock()
            {
                let keys = &mut *guard;
                let mut present = BTreeSet::new();
                for secret in &list.items {
                    let ns = secret.metadata.namespace.clone().unwrap_or_default();
                    let seen = (
                        secret.metadata.uid.clone().unwrap_or_default(),
                        fingerprint(secret),
                    );
                    present.insert(ns.clone());
                    match keys.first.get(&ns) {
                        None => {
                            keys.first.insert(ns, seen);
                        }
                        Some(first) if *first != seen => {
                            let change = format!(
                                "{ns}: key {} (uid {}) became {} (uid {})",
                                first.1, first.0, seen.1, seen.0
                            );
                            if !keys.changes.contains(&change) {
                                keys.changes.push(change);
                            }
                        }
                        Some(_) => {}
                    }
                }
                let gone: Vec<String> = keys.present.difference(&present).cloned().collect();
                for ns in gone {
                    keys.changes
                        .push(format!("{ns}: the deploy key disappeared"));
                }
                keys.present = present;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// How many Extensions are ready in gardenlet's view; errors count as none (an API server may be
/// down).
async fn converged(
    extensions: &Api<DynamicObject>,
    namespaces: &HashSet<String>,
    version: &str,
) -> usize {
    bench::count_converged(extensions, namespaces, version)
        .await
        .unwrap_or(0)
}

/// Starts the controller as the benchmark does (without resyncing every shoot at start).
async fn start_controller(
    bed: &'static testbed::Bed,
    options: &bench::Options,
    config: &std::path::Path,
    label: &str,
) -> Result<Controller> {
    Controller::start(bed, options, config, label, false).await
}

/// Runs the landscape, the faults and the checks.
pub async fn run(options: &Options) -> Result<Report> {
    let bed = testbed::bed().await?;
    let versions = testbed::paths::versions()?;
    let (config, ssh_url) = bench::fleet_and_config(bed, "faults").await?;
    let bench_options = bench::Options {
        shoots: vec![options.shoots],
        binary: options.binary.clone(),
        concurrencies: Vec::new(),
        timeout: options.timeout,
        extra_args: options.extra_args.clone(),
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
    let landscape = Landscape::new(n, "f");
    let namespaces: HashSet<String> = landscape.namespaces().into_iter().collect();
    eprintln!(
        "[faults] creating {n} shoots in {} projects",
        landscape.projects.len()
    );
    bench::create_landscape(bed, &landscape, &version, &ssh_url).await?;

    // The random plan: which fault at which share of converged Extensions, after which delay.
    let mut rng = Rng::new(options.seed);
    let mut kinds: Vec<Kind> = std::iter::repeat_n(Kind::Kill, options.kills).collect();
    if options.restart_seed {
        kinds.push(Kind::SeedRestart);
    }
    if options.etcd_outage.is_some() {
        kinds.push(Kind::Etcd);
    }
    rng.shuffle(&mut kinds);
    let mut shares: Vec<f64> = kinds.iter().map(|_| rng.range(0.0, 0.85)).collect();
    shares.sort_by(f64::total_cmp);
    let plan: Vec<(Kind, usize, Duration)> = kinds
        .iter()
        .zip(&shares)
        .map(|(kind, share)| {
            (
                *kind,
                (share * n as f64) as usize,
                Duration::from_secs_f64(rng.range(0.0, 1.5)),
            )
        })
        .collect();

    let keys = Arc::new(Mutex::new(Keys::default()));
    let stop_recorder = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let recorder = record_keys(garden.clone(), keys.clone(), stop_recorder.clone());

    eprintln!(
        "[faults] starting the controller; plan (seed {}):",
        options.seed
    );
    for (kind, at, delay) in &plan {
        eprintln!(
            "    {kind:?} once {at}/{n} have converged, {:.2}s later",
            delay.as_secs_f64()
        );
    }
    let started = Instant::now();
    let mut controller = start_controller(bed, &bench_options, &config, "faults-0").await?;
    let mut faults = Vec::new();
    let mut last_fault_end = started;
    for (i, (kind, at, delay)) in plan.iter().enumerate() {
        let mut done = converged(&extensions, &namespaces, &version).await;
        while done < *at {
            controller.process.ensure_running()?;
            if started.elapsed() > options.timeout {
                bail!(
                    "only {done} of {n} Extensions converged after {:?}",
                    options.timeout
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
            done = converged(&extensions, &namespaces, &version).await;
        }
        tokio::time::sleep(*delay).await;
        let done = converged(&extensions, &namespaces, &version).await;
        let begin = Instant::now();
        let what = match kind {
            Kind::Kill => {
                controller.process.ensure_running()?;
                let pid = controller.process.pid();
                controller.kill();
                controller =
                    start_controller(bed, &bench_options, &config, &format!("faults-{}", i + 1))
                        .await?;
                format!(
                    "kill -9 of the controller (pid {pid}), started again (pid {})",
                    controller.process.pid()
                )
            }
            Kind::SeedRestart => {
                bed.seed().restart().await?;
                "seed kube-apiserver stopped and started again".to_string()
            }
            Kind::Etcd => {
                let outage = options.etcd_outage.unwrap_or_default();
                match options.etcd_fault {
                    EtcdFault::Kill => {
                        bed.etcd().stop(Duration::ZERO);
                        tokio::time::sleep(outage).await;
                        bed.etcd().start_again().await?;
                        format!(
                            "etcd killed, started again after {:.0}s on its data directory",
                            outage.as_secs_f64()
                        )
                    }
                    EtcdFault::Pause => {
                        bed.etcd().pause()?;
                        tokio::time::sleep(outage).await;
                        bed.etcd().resume()?;
                        format!(
                            "etcd frozen (SIGSTOP) for {:.0}s, then SIGCONT",
                            outage.as_secs_f64()
                        )
                    }
                }
            }
        };
        let fault = Fault {
            what,
            at_s: (begin - started).as_secs_f64(),
            took_s: begin.elapsed().as_secs_f64(),
            converged_before: done,
        };
        eprintln!(
            "[faults] {:.1}s: {} ({done}/{n} converged before; {:.1}s)",
            fault.at_s, fault.what, fault.took_s
        );
        faults.push(fault);
        last_fault_end = Instant::now();
    }

    eprintln!("[faults] waiting for every Extension");
    let mut last_report = Instant::now();
    loop {
        controller.process.ensure_running()?;
        let done = converged(&extensions, &namespaces, &version).await;
        if done == n {
            break;
        }
        if last_fault_end.elapsed() > options.timeout {
            bail!(
                "only {done} of {n} Extensions converged {:?} after the last fault",
                options.timeout
            );
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            last_report = Instant::now();
            eprintln!(
                "    {done}/{n} converged after {:.0}s",
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let convergence = started.elapsed();
    let after_last_fault = last_fault_end.elapsed();
    eprintln!(
        "[faults] converged after {:.1}s ({:.1}s after the last fault); checking the objects",
        convergence.as_secs_f64(),
        after_last_fault.as_secs_f64()
    );
    // The recorder sees the final state once more.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_recorder.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = recorder.await;

    let mut report = Report {
        shoots: n,
        projects: landscape.projects.len(),
        private_projects: (0..landscape.projects.len())
            .filter(|i| bench::is_private(*i))
            .count(),
        faults,
        convergence_s: convergence.as_secs_f64(),
        after_last_fault_s: after_last_fault.as_secs_f64(),
        ..Report::default()
    };
    check(&seed, &garden, &landscape, &mut report).await?;
    let (first_keys, key_changes) = {
        let keys = keys
            .lock()
            .map_err(|_| anyhow::anyhow!("recorder poisoned"))?;
        (keys.first.clone(), keys.changes.clone())
    };
    report.fingerprints_recorded = first_keys.len();
    report.key_changes.extend(key_changes);
    for (i, project) in landscape.projects.iter().enumerate() {
        let ns = format!("garden-{project}");
        if !bench::is_private(i) {
            continue;
        }
        let secrets: Api<Secret> = Api::namespaced(garden.clone(), &ns);
        match (
            secrets.get_opt(DEPLOY_KEY_SECRET).await?,
            first_keys.get(&ns),
        ) {
            (Some(now), Some(first)) => {
                let now = (
                    now.metadata.uid.clone().unwrap_or_default(),
                    fingerprint(&now),
                );
                if now != *first {
                    report.key_changes.push(format!(
                        "{ns}: recorded {} (uid {}), now {} (uid {})",
                        first.1, first.0, now.1, now.0
                    ));
                }
            }
            (Some(_), None) => report
                .key_changes
                .push(format!("{ns}: the key was never seen by the recorder")),
            (None, _) => {}
        }
    }
    controller.stop();
    Ok(report)
}

/// The end state, shoot by shoot and project by project:
///
/// - lost: an expected object missing: a shoot's Extension, Cluster, one of its three
///   ManagedResources, the secret an MR references, the shoot access secret, a private project's
///   deploy key;
/// - duplicated: more than one ManagedResource secret for the same MR (our label names the MR),
///   an MR referencing more than one secret, or a second deploy key Secret in a project;
/// - orphaned: an MR or a secret of ours that no current MR references. ManagedResource secrets
///   are content-named and immutable, and old ones are left to GRM's garbage collector (not
///   running here); the content of this run never changes, so every secret of ours must be the
///   one its MR references, and any other would be an orphan. Also our MRs and secrets in
///   namespaces of no shoot, and deploy keys in public projects.
pub async fn check(
    seed: &kube::Client,
    garden: &kube::Client,
    landscape: &Landscape,
    report: &mut Report,
) -> Result<()> {
    let namespaces: HashSet<String> = landscape.namespaces().into_iter().collect();
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
    let extensions = dynamic_api(
        seed,
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        None,
    )
    .await?
    .list_metadata(&ListParams::default())
    .await?
    .items;
    let clusters = dynamic_api(seed, "extensions.gardener.cloud/v1alpha1", "Cluster", None)
        .await?
        .list_metadata(&ListParams::default())
        .await?
        .items;

    let ns_of = |m: &kube::api::ObjectMeta| m.namespace.clone().unwrap_or_default();
    let name_of = |m: &kube::api::ObjectMeta| m.name.clone().unwrap_or_default();
    // namespace -> MR name -> referenced secret names.
    let mut refs: HashMap<String, BTreeMap<String, Vec<String>>> = HashMap::new();
    for mr in &mrs {
        let ns = ns_of(&mr.metadata);
        let names: Vec<String> = mr.data["spec"]["secretRefs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(str::to_string))
            .collect();
        if !namespaces.contains(&ns) {
            if mr.metadata.labels.as_ref().and_then(|l| l.get("origin"))
                == Some(&"shoot-flux".to_string())
            {
                report.orphans.push(format!(
                    "ManagedResource {ns}/{} of no shoot",
                    name_of(&mr.metadata)
                ));
            }
            continue;
        }
        refs.entry(ns)
            .or_default()
            .insert(name_of(&mr.metadata), names);
    }
    // namespace -> secret names (all), and ours by MR label.
    let mut all_secrets: HashMap<String, HashSet<String>> = HashMap::new();
    let mut ours: HashMap<String, BTreeMap<String, Vec<String>>> = HashMap::new();
    for s in &secrets {
        let ns = ns_of(&s.metadata);
        all_secrets
            .entry(ns.clone())
            .or_default()
            .insert(name_of(&s.metadata));
        if let Some(mr) = s.metadata.labels.as_ref().and_then(|l| l.get(OWNER_LABEL)) {
            if !namespaces.contains(&ns) {
                report
                    .orphans
                    .push(format!("secret {ns}/{} of no shoot", name_of(&s.metadata)));
                continue;
            }
            ours.entry(ns)
                .or_default()
                .entry(mr.clone())
                .or_default()
                .push(name_of(&s.metadata));
        }
    }
    let has = |list: &[kube::api::PartialObjectMeta<DynamicObject>], ns: &str, name: &str| {
        list.iter().any(|o| {
            o.metadata.namespace.as_deref().unwrap_or(ns) == ns && name_of(&o.metadata) == name
        })
    };
    let empty = BTreeMap::new();
    for ns in landscape.namespaces() {
        if !has(&extensions, &ns, "shoot-flux") {
            report.lost.push(format!("Extension {ns}/shoot-flux"));
        }
        if !clusters.iter().any(|c| name_of(&c.metadata) == ns) {
            report.lost.push(format!("Cluster {ns}"));
        }
        if !all_secrets
            .get(&ns)
            .is_some_and(|s| s.contains(ACCESS_SECRET))
        {
            report.lost.push(format!("secret {ns}/{ACCESS_SECRET}"));
        }
        let shoot_refs = refs.get(&ns).unwrap_or(&empty);
        let shoot_ours = ours.get(&ns).unwrap_or(&empty);
        for mr in EXPECTED_MRS {
            let Some(referenced) = shoot_refs.get(mr) else {
                report.lost.push(format!("ManagedResource {ns}/{mr}"));
                continue;
            };
            report.managed_resources += 1;
            if referenced.len() != 1 {
                report.duplicates.push(format!(
                    "ManagedResource {ns}/{mr} references {referenced:?}"
                ));
            }
            for secret in referenced {
                if !all_secrets.get(&ns).is_some_and(|s| s.contains(secret)) {
                    report
                        .lost
                        .push(format!("secret {ns}/{secret} referenced by {mr}"));
                }
            }
            let labelled = shoot_ours.get(mr).cloned().unwrap_or_default();
            report.mr_secrets += labelled.len();
            if labelled.len() > 1 {
                report.duplicates.push(format!(
                    "{} secrets of ManagedResource {ns}/{mr}: {labelled:?}",
                    labelled.len()
                ));
            }
            for secret in labelled.iter().filter(|s| !referenced.contains(s)) {
                report.orphans.push(format!(
                    "secret {ns}/{secret} (of {mr}) is not referenced by it"
                ));
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
        for mr in shoot_ours
            .keys()
            .filter(|m| !EXPECTED_MRS.contains(&m.as_str()))
        {
            report.orphans.push(format!(
                "secrets {:?} of unknown ManagedResource {ns}/{mr}",
                shoot_ours[mr]
            ));
        }
    }
    for (i, project) in landscape.projects.iter().enumerate() {
        let ns = format!("garden-{project}");
        let secrets = Api::<Secret>::namespaced(garden.clone(), &ns)
            .list_metadata(&ListParams::default())
            .await?
            .items;
        let keys: Vec<String> = secrets
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
            (true, 0) => report.lost.push(format!("deploy key of {ns}")),
            (true, 1) | (false, 0) => {}
            (true, _) => report
                .duplicates
                .push(format!("deploy keys of {ns}: {keys:?}")),
            (false, _) => report
                .orphans
                .push(format!("deploy keys of public project {ns}: {keys:?}")),
        }
    }
    Ok(())
}
