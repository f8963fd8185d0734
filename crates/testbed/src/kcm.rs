//! kube-controller-manager with only its garbage collector and namespace controllers, so that
//! deletions in a shoot complete as in a real cluster (foreground propagation, namespaces). No
//! workload controllers run: nothing here runs Pods (see `nodesim`).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::apiserver::ApiServer;
use crate::paths;
use crate::ports::free_port;
use crate::process::Process;

#[derive(Debug)]
pub struct ControllerManager {
    pub process: Process,
}

impl ControllerManager {
    pub async fn start(api: &ApiServer, dir: &Path) -> Result<Self> {
        let port = free_port()?;
        let own = dir.join(format!("kcm-{}", api.name()));
        std::fs::create_dir_all(&own)?;
        let mut command = Command::new(paths::binary("kube-controller-manager")?);
        command
            .arg(format!("--kubeconfig={}", api.kubeconfig_path().display()))
            .arg(format!(
                "--authentication-kubeconfig={}",
                api.kubeconfig_path().display()
            ))
            .arg(format!(
                "--authorization-kubeconfig={}",
                api.kubeconfig_path().display()
            ))
            .arg("--controllers=garbage-collector-controller,namespace-controller")
            .arg("--leader-elect=false")
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--cert-dir={}", own.display()))
            .arg("--concurrent-gc-syncs=5")
            .arg("--v=1");
        let mut process = Process::spawn(
            &format!("kube-controller-manager-{}", api.name()),
            command,
            &dir.join(format!("kcm-{}.log", api.name())),
        )?;
        // Ready once its secure port accepts connections.
        let deadline = Instant::now() + Duration::from_secs(120);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            process.ensure_running()?;
            if Instant::now() > deadline {
                bail!(
                    "kube-controller-manager did not listen within 120s (log: {})",
                    process.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(Self { process })
    }
}
