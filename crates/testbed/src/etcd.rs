//! One etcd for the whole bed; every API server uses its own key prefix in it. For fault
//! injection it can be frozen ([`Etcd::pause`], SIGSTOP) or stopped and started again on the same
//! ports and data directory ([`Etcd::stop`], [`Etcd::start_again`]). The data directory goes
//! when the `Etcd` is dropped or, for a bed shared until the binary exits, at exit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};

use crate::paths;
use crate::plainhttp;
use crate::ports::free_port;
use crate::process::Process;

#[derive(Debug)]
pub struct Etcd {
    pub url: String,
    peer: String,
    data: PathBuf,
    log: PathBuf,
    process: Mutex<Option<Process>>,
}

impl Etcd {
    pub async fn start(dir: &Path) -> Result<Self> {
        let client_port = free_port()?;
        let peer_port = free_port()?;
        let data = dir.join("etcd-data");
        std::fs::create_dir_all(&data)?;
        crate::process::remove_at_exit(&data);
        let etcd = Self {
            url: format!("http://127.0.0.1:{client_port}"),
            peer: format!("http://127.0.0.1:{peer_port}"),
            data,
            log: dir.join("etcd.log"),
            process: Mutex::new(None),
        };
        etcd.start_again().await?;
        Ok(etcd)
    }

    /// Starts etcd (again) on its ports and data directory; returns once it is healthy. A no-op
    /// while it runs.
    pub async fn start_again(&self) -> Result<()> {
        if self.is_running() {
            return Ok(());
        }
        let binary = paths::binary("etcd")?;
        let (url, peer) = (&self.url, &self.peer);
        let mut command = Command::new(binary);
        command
            .arg(format!("--data-dir={}", self.data.display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .arg("--unsafe-no-fsync=true")
            .arg("--quota-backend-bytes=8589934592")
            .arg("--log-level=warn");
        let mut process = Process::spawn("etcd", command, &self.log)?;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            process.ensure_running()?;
            if let Ok(response) = plainhttp::get(&format!("{url}/health")).await
                && response.status == 200
            {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "etcd did not become healthy within 120s (log: {})",
                    process.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        *self.process.lock().map_err(|_| anyhow!("etcd poisoned"))? = Some(process);
        Ok(())
    }

    /// Stops etcd (SIGTERM, then SIGKILL after `grace`); its data stays for
    /// [`Etcd::start_again`].
    pub fn stop(&self, grace: Duration) {
        let process = self.process.lock().ok().and_then(|mut p| p.take());
        if let Some(mut process) = process {
            process.stop(grace);
        }
    }

    pub fn is_running(&self) -> bool {
        self.process
            .lock()
            .ok()
            .is_some_and(|mut p| p.as_mut().is_some_and(Process::is_running))
    }

    /// Freezes etcd (SIGSTOP): connections stay open, requests hang until [`Etcd::resume`].
    pub fn pause(&self) -> Result<()> {
        match &*self.process.lock().map_err(|_| anyhow!("etcd poisoned"))? {
            Some(p) => p.pause(),
            None => bail!("etcd is not running"),
        }
    }

    /// Lets a paused etcd run again (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        match &*self.process.lock().map_err(|_| anyhow!("etcd poisoned"))? {
            Some(p) => p.resume(),
            None => bail!("etcd is not running"),
        }
    }

    pub fn pid(&self) -> Option<i32> {
        self.process
            .lock()
            .ok()
            .and_then(|p| p.as_ref().map(Process::pid))
    }

    /// Resident memory in KiB.
    pub fn rss_kib(&self) -> Option<u64> {
        crate::process::rss_kib(self.pid()?)
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
