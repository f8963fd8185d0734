//! A TCP relay in front of a bed server that holds every new connection until the test opens
//! the gate, then relays it unchanged. Tests use it to line up events that real timing only
//! lines up sometimes: e.g. two controller processes that both found no deploy key and both
//! wait for the Git host's SSH greeting, so that both go on to create one.
//!
//! It stands in for a slow network path to the server, nothing more: a held connection is
//! accepted at once (the kernel's listen queue would accept it too) and sees no bytes until
//! the gate opens; afterwards the bytes pass through in both directions, unchanged and
//! unbuffered beyond one read. It does not reproduce resets, partial writes or latency per
//! packet.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct TcpGate {
    port: u16,
    open: watch::Sender<bool>,
    held: Arc<AtomicUsize>,
    relay: JoinHandle<()>,
}

impl TcpGate {
    /// Listens on a free loopback port, relaying to `upstream` once opened (closed at first).
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (open, _) = watch::channel(false);
        let held = Arc::new(AtomicUsize::new(0));
        let relay = tokio::spawn({
            let open = open.clone();
            let held = held.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let mut opened = open.subscribe();
                    let held = held.clone();
                    tokio::spawn(async move {
                        held.fetch_add(1, Ordering::SeqCst);
                        let waited = opened.wait_for(|is_open| *is_open).await.is_ok();
                        held.fetch_sub(1, Ordering::SeqCst);
                        if waited {
                            relay(client, upstream).await;
                        }
                    });
                }
            }
        });
        Ok(Self {
            port,
            open,
            held,
            relay,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Connections accepted and waiting for the gate to open.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::SeqCst)
    }

    /// Lets held and future connections through.
    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

impl Drop for TcpGate {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr) {
    // A refused upstream closes the client's connection, as a dead server behind a path would.
    if let Ok(mut server) = TcpStream::connect(upstream).await {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn holds_connections_until_opened_then_relays_both_ways() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = echo.accept().await.unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let gate = TcpGate::start(upstream).await.unwrap();
        let mut client = TcpStream::connect(("127.0.0.1", gate.port()))
            .await
            .unwrap();
        client.write_all(b"hello").await.unwrap();
        while gate.held() == 0 {
            tokio::task::yield_now().await;
        }
        let mut buf = [0u8; 5];
        // Nothing comes back while the gate is closed.
        let early =
            tokio::time::timeout(std::time::Duration::from_millis(200), client.read(&mut buf))
                .await;
        assert!(early.is_err(), "bytes passed a closed gate");
        gate.open();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!(gate.held(), 0);
    }
}
