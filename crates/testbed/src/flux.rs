//! Flux's source-controller and kustomize-controller as local processes against one shoot API
//! server. Start them only after the Flux CRDs exist in that shoot.
//!
//! Like the real Pods, which each get their own `/tmp`, every controller here gets its own
//! temporary directory (`TMPDIR`) under the bed's run directory. Sharing the machine's `/tmp`
//! is not what the real controllers expect: kustomize-controller (v1.9.5 here) removes every
//! `kustomization-*` directory in its temporary directory when it starts, as leftovers of its
//! own earlier life, and so deleted the build directory of another bed's controller mid-build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::apiserver::ApiServer;
use crate::paths;
use crate::plainhttp;
use crate::ports::free_port;
use crate::process::Process;

#[derive(Debug)]
pub struct FluxControllers {
    pub source_controller: Process,
    pub kustomize_controller: Process,
}

async fn wait_healthy(process: &mut Process, port: u16) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        process.ensure_running()?;
        if let Ok(r) = plainhttp::get(&format!("http://127.0.0.1:{port}/readyz")).await
            && r.status == 200
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} not ready within 120s (log: {})",
                process.name(),
                process.log_path().display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The temporary directory of one controller of one shoot, inside the bed's run directory
/// (made if missing, kept when the same shoot's controllers start again).
fn own_temp_dir(dir: &Path, controller: &str, shoot: &ApiServer) -> Result<PathBuf> {
    let tmp = dir.join(format!("{controller}-{}-tmp", shoot.name()));
    std::fs::create_dir_all(&tmp)?;
    Ok(tmp)
}

impl FluxControllers {
    pub async fn start(shoot: &ApiServer, dir: &Path) -> Result<Self> {
        let storage = dir.join(format!("flux-{}-storage", shoot.name()));
        std::fs::create_dir_all(&storage)?;
        let (storage_port, sc_health, sc_metrics) = (free_port()?, free_port()?, free_port()?);
        let mut source = Command::new(paths::binary("source-controller")?);
        source
            .env("TMPDIR", own_temp_dir(dir, "source-controller", shoot)?)
            .env("KUBECONFIG", shoot.kubeconfig_path())
            .env("RUNTIME_NAMESPACE", "flux-system")
            .arg("--watch-all-namespaces=true")
            .arg(format!("--metrics-addr=127.0.0.1:{sc_metrics}"))
            .arg(format!("--health-addr=127.0.0.1:{sc_health}"))
            .arg(format!("--storage-path={}", storage.display()))
            .arg(format!("--storage-addr=127.0.0.1:{storage_port}"))
            .arg(format!("--storage-adv-addr=127.0.0.1:{storage_port}"))
            .arg("--log-level=debug");
        let mut source_controller = Process::spawn(
            &format!("source-controller-{}", shoot.name()),
            source,
            &dir.join(format!("source-controller-{}.log", shoot.name())),
        )?;
        let (kc_health, kc_metrics) = (free_port()?, free_port()?);
        let mut kustomize = Command::new(paths::binary("kustomize-controller")?);
        kustomize
            .env("TMPDIR", own_temp_dir(dir, "kustomize-controller", shoot)?)
            .env("KUBECONFIG", shoot.kubeconfig_path())
            .env("RUNTIME_NAMESPACE", "flux-system")
            .arg("--watch-all-namespaces=true")
            .arg(format!("--metrics-addr=127.0.0.1:{kc_metrics}"))
            .arg(format!("--health-addr=127.0.0.1:{kc_health}"))
            .arg("--log-level=debug");
        let mut kustomize_controller = Process::spawn(
            &format!("kustomize-controller-{}", shoot.name()),
            kustomize,
            &dir.join(format!("kustomize-controller-{}.log", shoot.name())),
        )?;
        wait_healthy(&mut source_controller, sc_health).await?;
        wait_healthy(&mut kustomize_controller, kc_health).await?;
        Ok(Self {
            source_controller,
            kustomize_controller,
        })
    }
}
