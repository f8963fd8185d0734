//! One etcd for the whole bed; every API server uses its own key prefix in it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

use crate::paths;
use crate::plainhttp;
use crate::ports::free_port;
use crate::process::Process;

#[derive(Debug)]
pub struct Etcd {
    pub url: String,
    pub process: Process,
}

impl Etcd {
    pub async fn start(dir: &Path) -> Result<Self> {
        let binary = paths::binary("etcd")?;
        let client_port = free_port()?;
        let peer_port = free_port()?;
        let url = format!("http://127.0.0.1:{client_port}");
        let peer = format!("http://127.0.0.1:{peer_port}");
        let data = dir.join("etcd-data");
        std::fs::create_dir_all(&data)?;
        let mut command = Command::new(binary);
        command
            .arg(format!("--data-dir={}", data.display()))
            .arg(format!("--listen-client-urls={url}"))
            .arg(format!("--advertise-client-urls={url}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=default={peer}"))
            .arg("--unsafe-no-fsync=true")
            .arg("--quota-backend-bytes=8589934592")
            .arg("--log-level=warn");
        let mut process = Process::spawn("etcd", command, &dir.join("etcd.log"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            process.ensure_running()?;
            if let Ok(response) = plainhttp::get(&format!("{url}/health")).await
                && response.status == 200
            {
                return Ok(Self { url, process });
            }
            if Instant::now() > deadline {
                bail!(
                    "etcd did not become healthy within 30s (log: {})",
                    process.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
