//! Free loopback ports. Each port is handed out once per process, so two components started
//! at the same moment never race for the same one.

use std::collections::HashSet;
use std::net::TcpListener;
use std::sync::Mutex;

use anyhow::{Context, Result, bail};

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

pub fn free_port() -> Result<u16> {
    for _ in 0..100 {
        let port = TcpListener::bind("127.0.0.1:0")
            .context("binding 127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut guard = HANDED_OUT
            .lock()
            .map_err(|_| anyhow::anyhow!("port registry poisoned"))?;
        if guard.get_or_insert_with(HashSet::new).insert(port) {
            return Ok(port);
        }
    }
    bail!("no free loopback port found after 100 attempts")
}
