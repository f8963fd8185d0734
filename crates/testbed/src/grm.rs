//! gardener-resource-manager, as Gardener runs it.
//!
//! - For a shoot: watching that shoot's namespace in the seed and applying into the shoot's API
//!   server, with its garbage collector and token requestor on.
//! - For the seed (one per bed): source and target are the seed, class `seed`. Its garbage
//!   collector is the one that deletes old ManagedResource secrets in shoot namespaces, as in a
//!   real seed. GRM never collects objects younger than 10 minutes; the bed's build has a knob
//!   (`TESTBED_GC_MINIMUM_OBJECT_LIFETIME`, see `hack/testbed/install`) that the seed instance
//!   sets to [`SEED_GC_MINIMUM_OBJECT_LIFETIME`].
//!
//! Every other controller and webhook is off.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::apiserver::ApiServer;
use crate::paths;
use crate::pki::Pki;
use crate::plainhttp;
use crate::ports::free_port;
use crate::process::Process;

/// How old an unreferenced secret must be before the bed's seed GRM deletes it (10 minutes in a
/// real seed).
pub const SEED_GC_MINIMUM_OBJECT_LIFETIME: &str = "5s";

/// Which GRM of a landscape an instance plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role<'a> {
    /// The GRM of one shoot, watching its namespace in the seed.
    Shoot { namespace: &'a str },
    /// The seed's own GRM, class `seed`, all namespaces.
    Seed,
    /// One GRM for many shoot namespaces whose Clusters all point at one shared shoot API
    /// server (measurements with many shoots).
    SharedShoot { namespaces: &'a [String] },
}

#[derive(Debug)]
pub struct ResourceManager {
    pub process: Process,
}

const DISABLED_WEBHOOKS: [&str; 12] = [
    "crdDeletionProtection",
    "extensionValidation",
    "highAvailabilityConfig",
    "kubernetesServiceHost",
    "podKubeAPIServerLoadBalancing",
    "podSchedulerName",
    "podTopologySpreadConstraints",
    "projectedTokenMount",
    "seccompProfile",
    "systemComponentsConfig",
    "nodeAgentAuthorizer",
    "vpaInPlaceUpdates",
];

fn config(role: Role<'_>, cert_dir: &Path, webhook: u16, health: u16, metrics: u16) -> String {
    let (source_namespaces, target, lease_namespace, resource_class) = match role {
        Role::Shoot { namespace } => (
            format!("  namespaces:\n  - {namespace}\n"),
            "targetClientConnection:\n  qps: 100\n  burst: 130\n",
            namespace,
            "",
        ),
        Role::SharedShoot { namespaces } => (
            namespaces
                .iter()
                .fold("  namespaces:\n".to_string(), |out, ns| {
                    out + &format!("  - {ns}\n")
                }),
            "targetClientConnection:\n  qps: 100\n  burst: 130\n",
            namespaces.first().map_or("default", String::as_str),
            "",
        ),
        // The seed GRM's target is the seed itself, given explicitly as GRM needs one.
        Role::Seed => (
            String::new(),
            "targetClientConnection:\n  qps: 100\n  burst: 130\n",
            "garden",
            "  resourceClass: seed\n",
        ),
    };
    let token_requestor = matches!(role, Role::Shoot { .. } | Role::SharedShoot { .. });
    let webhooks: String = DISABLED_WEBHOOKS
        .iter()
        .map(|w| format!("  {w}:\n    enabled: false\n"))
        .collect();
    format!(
        "apiVersion: resourcemanager.config.gardener.cloud/v1alpha1
kind: ResourceManagerConfiguration
sourceClientConnection:
  qps: 100
  burst: 130
{source_namespaces}{target}leaderElection:
  leaderElect: false
  resourceLock: leases
  resourceName: gardener-resource-manager
  resourceNamespace: {lease_namespace}
logLevel: info
logFormat: text
server:
  webhooks:
    bindAddress: 127.0.0.1
    port: {webhook}
    tls:
      serverCertDir: {cert_dir}
  healthProbes:
    bindAddress: 127.0.0.1
    port: {health}
  metrics:
    bindAddress: 127.0.0.1
    port: {metrics}
controllers:
  clusterID: \"\"
{resource_class}  garbageCollector:
    enabled: true
    syncPeriod: 15s
  health:
    concurrentSyncs: 5
    syncPeriod: 15s
  csrApprover:
    enabled: false
  managedResources:
    concurrentSyncs: 5
    syncPeriod: 1m
    alwaysUpdate: false
    managedByLabelValue: gardener
  networkPolicy:
    enabled: false
  nodeCriticalComponents:
    enabled: false
  nodeAgentReconciliationDelay:
    enabled: false
  tokenRequestor:
    enabled: {token_requestor}
    concurrentSyncs: 5
webhooks:
{webhooks}",
        cert_dir = cert_dir.display()
    )
}

impl ResourceManager {
    /// Starts a GRM in `role` with `seed` as its source; a shoot GRM targets `shoot`.
    pub async fn start(
        role: Role<'_>,
        seed: &ApiServer,
        shoot: Option<&ApiServer>,
        pki: &Pki,
        dir: &Path,
    ) -> Result<Self> {
        let binary = paths::binary("gardener-resource-manager")?;
        let label = shoot.map_or("seed", |s| s.name()).to_string();
        let own = dir.join(format!("grm-{label}"));
        let cert_dir = own.join("tls");
        std::fs::create_dir_all(&cert_dir)?;
        std::fs::copy(&pki.serving_cert_file, cert_dir.join("tls.crt"))?;
        std::fs::copy(&pki.serving_key_file, cert_dir.join("tls.key"))?;
        let (webhook, health, metrics) = (free_port()?, free_port()?, free_port()?);
        let config_file = own.join("config.yaml");
        std::fs::write(
            &config_file,
            config(role, &cert_dir, webhook, health, metrics),
        )?;
        let mut command = Command::new(binary);
        command
            .arg(format!("--config={}", config_file.display()))
            .env("KUBECONFIG", seed.kubeconfig_path());
        match (role, shoot) {
            (Role::Shoot { .. } | Role::SharedShoot { .. }, Some(shoot)) => {
                command.env("TARGET_KUBECONFIG", shoot.kubeconfig_path());
            }
            (Role::Seed, _) => {
                command.env("TARGET_KUBECONFIG", seed.kubeconfig_path());
                command.env(
                    "TESTBED_GC_MINIMUM_OBJECT_LIFETIME",
                    SEED_GC_MINIMUM_OBJECT_LIFETIME,
                );
            }
            (Role::Shoot { .. } | Role::SharedShoot { .. }, None) => {
                bail!("a shoot GRM needs the shoot's API server")
            }
        }
        let mut process = Process::spawn(
            &format!("gardener-resource-manager-{label}"),
            command,
            &dir.join(format!("grm-{label}.log")),
        )?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            process.ensure_running()?;
            if let Ok(r) = plainhttp::get(&format!("http://127.0.0.1:{health}/readyz")).await
                && r.status == 200
            {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "gardener-resource-manager not ready within 120s (log: {})",
                    process.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(Self { process })
    }
}
