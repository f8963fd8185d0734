//! gardener-resource-manager, as Gardener runs it for one shoot: watching that shoot's namespace
//! in the seed and applying into the shoot's API server, with its garbage collector and token
//! requestor on and every other controller and webhook off.

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

#[derive(Debug)]
pub struct ResourceManager {
    pub process: Process,
    pub namespace: String,
}

fn config(namespace: &str, cert_dir: &Path, webhook: u16, health: u16, metrics: u16) -> String {
    let disabled_webhooks = [
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
    ]
    .iter()
    .map(|w| format!("  {w}:\n    enabled: false\n"))
    .collect::<String>();
    format!(
        "apiVersion: resourcemanager.config.gardener.cloud/v1alpha1
kind: ResourceManagerConfiguration
sourceClientConnection:
  qps: 100
  burst: 130
  namespaces:
  - {namespace}
targetClientConnection:
  qps: 100
  burst: 130
leaderElection:
  leaderElect: false
  resourceLock: leases
  resourceName: gardener-resource-manager
  resourceNamespace: {namespace}
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
  garbageCollector:
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
    enabled: true
    concurrentSyncs: 5
webhooks:
{disabled_webhooks}",
        cert_dir = cert_dir.display()
    )
}

impl ResourceManager {
    /// Starts a GRM for the shoot namespace `namespace` of `seed`, targeting `shoot`.
    pub async fn start(
        seed: &ApiServer,
        shoot: &ApiServer,
        namespace: &str,
        pki: &Pki,
        dir: &Path,
    ) -> Result<Self> {
        let binary = paths::binary("gardener-resource-manager")?;
        let own = dir.join(format!("grm-{}", shoot.name()));
        let cert_dir = own.join("tls");
        std::fs::create_dir_all(&cert_dir)?;
        std::fs::copy(&pki.serving_cert_file, cert_dir.join("tls.crt"))?;
        std::fs::copy(&pki.serving_key_file, cert_dir.join("tls.key"))?;
        let (webhook, health, metrics) = (free_port()?, free_port()?, free_port()?);
        let config_file = own.join("config.yaml");
        std::fs::write(
            &config_file,
            config(namespace, &cert_dir, webhook, health, metrics),
        )?;
        let mut command = Command::new(binary);
        command
            .arg(format!("--config={}", config_file.display()))
            .env("KUBECONFIG", seed.kubeconfig_path())
            .env("TARGET_KUBECONFIG", shoot.kubeconfig_path());
        let mut process = Process::spawn(
            &format!("gardener-resource-manager-{}", shoot.name()),
            command,
            &dir.join(format!("grm-{}.log", shoot.name())),
        )?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            process.ensure_running()?;
            if let Ok(r) = plainhttp::get(&format!("http://127.0.0.1:{health}/readyz")).await
                && r.status == 200
            {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "gardener-resource-manager not ready within 60s (log: {})",
                    process.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(Self {
            process,
            namespace: namespace.to_string(),
        })
    }
}
