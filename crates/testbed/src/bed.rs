//! The bed: one etcd with "garden" and "seed" API servers shared by all tests of a test binary
//! (started lazily, on first use), plus per-test shoots, each with its own API server, and on
//! request its GRM, node simulator and Flux controllers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, Result};
use tokio::sync::OnceCell;

use crate::apiserver::ApiServer;
use crate::etcd::Etcd;
use crate::flux::FluxControllers;
use crate::gardener::GardenerApiServer;
use crate::gardenlet::{self, ShootSpec};
use crate::git::GitServer;
use crate::grm::{self, ResourceManager};
use crate::kcm::ControllerManager;
use crate::kubeutil;
use crate::nodesim::NodeSimulator;
use crate::paths;
use crate::pki::Pki;
use crate::process::tail;
use crate::registry::{Registry, RegistryOptions};
use crate::releases::ReleaseServer;

#[derive(Debug)]
pub struct Bed {
    dir: PathBuf,
    pki: Pki,
    etcd: Etcd,
    garden: ApiServer,
    seed: ApiServer,
    shoots: AtomicUsize,
    registries: AtomicUsize,
    git: OnceCell<GitServer>,
    releases: OnceCell<ReleaseServer>,
    seed_grm: OnceCell<ResourceManager>,
    gardener_apiserver: OnceCell<GardenerApiServer>,
}

static BED: OnceCell<Bed> = OnceCell::const_new();

/// The bed of this test binary, started on first use.
pub async fn bed() -> Result<&'static Bed> {
    BED.get_or_try_init(Bed::start).await
}

impl Bed {
    async fn start() -> Result<Self> {
        let dir = paths::new_run_dir("bed")?;
        let pki = Pki::generate(&dir.join("pki"))?;
        let etcd = Etcd::start(&dir).await?;
        let (garden, seed) = tokio::try_join!(
            ApiServer::start_garden("garden", &etcd.url, &pki, &dir),
            ApiServer::start("seed", &etcd.url, &pki, &dir)
        )?;
        let crds = paths::cached_file("crds/gardener", "crds")?;
        kubeutil::install_crds(&seed.client().await?, &crds)
            .await
            .context("installing Gardener CRDs into the seed")?;
        Ok(Self {
            dir,
            pki,
            etcd,
            garden,
            seed,
            shoots: AtomicUsize::new(0),
            registries: AtomicUsize::new(0),
            git: OnceCell::new(),
            releases: OnceCell::new(),
            seed_grm: OnceCell::new(),
            gardener_apiserver: OnceCell::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn garden(&self) -> &ApiServer {
        &self.garden
    }

    pub fn seed(&self) -> &ApiServer {
        &self.seed
    }

    pub fn etcd_url(&self) -> &str {
        &self.etcd.url
    }

    /// The bed's etcd (fault injection: pause, stop and start it again).
    pub fn etcd(&self) -> &Etcd {
        &self.etcd
    }

    pub fn pki(&self) -> &Pki {
        &self.pki
    }

    /// Starts an extra API server `name` on the bed's etcd (its own prefix) with `options`, e.g.
    /// an audited garden or seed for one test; with `gardener_crds` Gardener's CRDs are installed.
    pub async fn new_api_server(
        &self,
        name: &str,
        options: crate::apiserver::Options,
        gardener_crds: bool,
    ) -> Result<ApiServer> {
        let api =
            ApiServer::start_with(name, &self.etcd.url, &self.pki, &self.dir, options).await?;
        if gardener_crds {
            let crds = paths::cached_file("crds/gardener", "crds")?;
            kubeutil::install_crds(&api.client().await?, &crds)
                .await
                .with_context(|| format!("installing Gardener CRDs into {name}"))?;
        }
        Ok(api)
    }

    /// The git servers (SSH and smart HTTP), started on first use.
    pub async fn git(&self) -> Result<&GitServer> {
        self.git
            .get_or_try_init(|| GitServer::start(&self.dir))
            .await
    }

    /// Starts an OCI registry of its own (the real distribution registry, see
    /// [`crate::registry`]) with TLS from the bed's CA, its config, storage and log in the bed's
    /// directory. Only tests that call this run one; dropping it stops the process.
    pub async fn start_registry(&self, options: RegistryOptions) -> Result<Registry> {
        let n = self.registries.fetch_add(1, Ordering::SeqCst);
        Registry::start(&format!("registry{n}"), &self.dir, &self.pki, options).await
    }

    /// The Flux release asset server, started on first use; `latest` is the newer prepared tag.
    pub async fn releases(&self) -> Result<&ReleaseServer> {
        self.releases
            .get_or_try_init(|| async { ReleaseServer::start(&paths::versions()?.flux) })
            .await
    }

    /// The seed's own GRM (class seed; its garbage collector removes old ManagedResource
    /// secrets in shoot namespaces), started on first use.
    pub async fn seed_grm(&self) -> Result<&ResourceManager> {
        self.seed_grm
            .get_or_try_init(|| {
                ResourceManager::start(grm::Role::Seed, &self.seed, None, &self.pki, &self.dir)
            })
            .await
    }

    /// gardener-apiserver, serving Gardener's API groups through the garden (see
    /// [`crate::gardener`]), started on first use; it runs until the test binary exits. Its
    /// objects (ControllerRegistrations, Projects, ...) are shared by the tests of the binary.
    pub async fn gardener_apiserver(&self) -> Result<&GardenerApiServer> {
        self.gardener_apiserver
            .get_or_try_init(|| {
                GardenerApiServer::start(&self.garden, &self.etcd.url, &self.pki, &self.dir)
            })
            .await
    }

    /// Starts a shoot API server of its own (a fresh etcd prefix) for `spec`.
    pub async fn new_shoot(&'static self, spec: ShootSpec) -> Result<Shoot> {
        let n = self.shoots.fetch_add(1, Ordering::SeqCst);
        let name = format!("shoot{n}-{}-{}", spec.project, spec.name);
        let api = ApiServer::start(&name, &self.etcd.url, &self.pki, &self.dir).await?;
        Ok(Shoot {
            bed: self,
            spec,
            api,
            grm: None,
            kcm: None,
            flux: None,
            node_simulator: None,
        })
    }

    /// Resident memory of the bed's shared processes in KiB (etcd, garden, seed, and the seed's
    /// GRM and gardener-apiserver when running).
    pub fn shared_rss_kib(&self) -> u64 {
        [
            self.etcd.rss_kib(),
            self.garden.rss_kib(),
            self.seed.rss_kib(),
            self.seed_grm.get().and_then(|g| g.process.rss_kib()),
            self.gardener_apiserver.get().and_then(|g| g.rss_kib()),
        ]
        .into_iter()
        .flatten()
        .sum()
    }

    /// Prints the last lines of every log of this bed (called when a test fails).
    pub fn print_logs(&self) {
        print_logs_under(&self.dir);
    }

    /// A guard that prints the bed's logs if the test panics while it is alive.
    pub fn logs_on_failure(&'static self) -> LogsOnFailure {
        LogsOnFailure(self)
    }
}

fn print_logs_under(dir: &Path) {
    let mut logs = Vec::new();
    collect_logs(dir, &mut logs);
    logs.sort();
    for log in logs {
        eprintln!(
            "===== {} (last 40 lines) =====\n{}",
            log.display(),
            tail(&log, 40)
        );
    }
}

fn collect_logs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if !path.ends_with("etcd-data") && !path.to_string_lossy().contains("storage") {
                collect_logs(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "log") {
            out.push(path);
        }
    }
}

#[derive(Debug)]
pub struct LogsOnFailure(&'static Bed);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.print_logs();
        }
    }
}

/// One shoot of a test: its own API server, and on request GRM, node simulator and Flux.
/// Dropping it stops all of them; if the test is failing, the bed's logs are printed first.
#[derive(Debug)]
pub struct Shoot {
    bed: &'static Bed,
    pub spec: ShootSpec,
    api: ApiServer,
    grm: Option<ResourceManager>,
    kcm: Option<ControllerManager>,
    flux: Option<FluxControllers>,
    node_simulator: Option<NodeSimulator>,
}

impl Shoot {
    pub fn api(&self) -> &ApiServer {
        &self.api
    }

    pub fn api_mut(&mut self) -> &mut ApiServer {
        &mut self.api
    }

    pub fn namespace(&self) -> String {
        self.spec.technical_id()
    }

    pub async fn client(&self) -> Result<kube::Client> {
        self.api.client().await
    }

    /// Creates what gardenlet creates in the seed for this shoot (namespace, Cluster, secrets).
    pub async fn create_gardenlet_objects(&self) -> Result<()> {
        let seed = self.bed.seed.client().await?;
        gardenlet::apply_shoot_objects(&seed, &self.spec, Some(&self.api)).await
    }

    /// Starts a GRM for this shoot's namespace in the seed (and the seed's own GRM, whose
    /// garbage collector removes old ManagedResource secrets, if it is not running yet), plus the
    /// shoot's kube-controller-manager so that GRM's deletions complete.
    pub async fn start_grm(&mut self) -> Result<()> {
        self.bed.seed_grm().await?;
        if self.kcm.is_none() {
            self.kcm = Some(ControllerManager::start(&self.api, &self.bed.dir).await?);
        }
        let namespace = self.spec.technical_id();
        let grm = ResourceManager::start(
            grm::Role::Shoot {
                namespace: &namespace,
            },
            &self.bed.seed,
            Some(&self.api),
            &self.bed.pki,
            &self.bed.dir,
        )
        .await?;
        self.grm = Some(grm);
        Ok(())
    }

    /// Starts one GRM serving `namespaces`, whose Clusters all point at this shoot's API server
    /// (created with `gardenlet::apply_shoot_objects(.., Some(shoot.api()))`), plus the seed's
    /// GRM and this shoot's kube-controller-manager.
    pub async fn start_shared_grm(&mut self, namespaces: &[String]) -> Result<()> {
        self.bed.seed_grm().await?;
        if self.kcm.is_none() {
            self.kcm = Some(ControllerManager::start(&self.api, &self.bed.dir).await?);
        }
        self.grm = Some(
            ResourceManager::start(
                grm::Role::SharedShoot { namespaces },
                &self.bed.seed,
                Some(&self.api),
                &self.bed.pki,
                &self.bed.dir,
            )
            .await?,
        );
        Ok(())
    }

    pub fn grm(&self) -> Option<&ResourceManager> {
        self.grm.as_ref()
    }

    /// Switches the node simulator on for this shoot.
    pub fn start_node_simulator(&mut self) -> Result<()> {
        let log = self
            .bed
            .dir
            .join(format!("nodesim-{}.log", self.api.name()));
        self.node_simulator = Some(NodeSimulator::start(
            self.api.kubeconfig_yaml().to_string(),
            &log,
        )?);
        Ok(())
    }

    pub fn stop_node_simulator(&mut self) {
        self.node_simulator = None;
    }

    /// Starts source-controller and kustomize-controller against this shoot. The Flux CRDs must
    /// exist in the shoot first.
    pub async fn start_flux(&mut self) -> Result<()> {
        self.flux = Some(FluxControllers::start(&self.api, &self.bed.dir).await?);
        Ok(())
    }

    pub fn flux(&self) -> Option<&FluxControllers> {
        self.flux.as_ref()
    }

    /// Resident memory of this shoot's processes in KiB.
    pub fn rss_kib(&self) -> u64 {
        let mut processes = Vec::new();
        processes.push(self.grm.as_ref().map(|g| &g.process));
        processes.push(self.kcm.as_ref().map(|k| &k.process));
        if let Some(f) = &self.flux {
            processes.push(Some(&f.source_controller));
            processes.push(Some(&f.kustomize_controller));
        }
        processes
            .into_iter()
            .flatten()
            .filter_map(|p| p.rss_kib())
            .sum::<u64>()
            + self.api.rss_kib().unwrap_or(0)
    }
}

impl Drop for Shoot {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.bed.print_logs();
        }
    }
}
