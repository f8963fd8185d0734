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
//!
//! The path of the connections relayed so far can also die (`go_dark`): from then on they
//! carry no byte either way and are never closed, while new connections are relayed as before.
//! That is what a client sees when a load balancer or NAT on the way forgets a connection or a
//! node is cut off: no reset, no end of stream, only silence, until the client's own TCP gives
//! up many minutes later. The relay keeps reading what the client sends (its kernel would
//! acknowledge it too) and drops it; it does not reproduce TCP retransmission timeouts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct TcpGate {
    port: u16,
    open: watch::Sender<bool>,
    /// How often the path went dark: a connection relayed before the latest time is silent.
    darkness: watch::Sender<u64>,
    held: Arc<AtomicUsize>,
    relay: JoinHandle<()>,
}

impl TcpGate {
    /// Listens on a free loopback port, relaying to `upstream` once opened (closed at first).
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (open, _) = watch::channel(false);
        let (darkness, _) = watch::channel(0);
        let held = Arc::new(AtomicUsize::new(0));
        let relay = tokio::spawn({
            let (open, darkness) = (open.clone(), darkness.clone());
            let held = held.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let mut opened = open.subscribe();
                    let dark = darkness.subscribe();
                    let held = held.clone();
                    tokio::spawn(async move {
                        held.fetch_add(1, Ordering::SeqCst);
                        let waited = opened.wait_for(|is_open| *is_open).await.is_ok();
                        held.fetch_sub(1, Ordering::SeqCst);
                        if waited {
                            relay(client, upstream, dark).await;
                        }
                    });
                }
            }
        });
        Ok(Self {
            port,
            open,
            darkness,
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

    /// Silences every connection relayed so far, for good; later ones are relayed as before.
    pub fn go_dark(&self) {
        self.darkness.send_modify(|times| *times += 1);
    }
}

impl Drop for TcpGate {
    fn drop(&mut self) {
        self.relay.abort();
    }
}

async fn relay(mut client: TcpStream, upstream: SocketAddr, mut dark: watch::Receiver<u64>) {
    // A refused upstream closes the client's connection, as a dead server behind a path would.
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    let relayed_in = *dark.borrow_and_update();
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => return,
        went_dark = dark.wait_for(|times| *times > relayed_in) => {
            if went_dark.is_err() {
                return; // The gate is gone.
            }
        }
    }
    // Dark: what the client sends is taken and dropped, nothing comes back, and both sockets
    // stay open until the gate is dropped.
    let mut sink = [0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = tokio::io::AsyncReadExt::read(&mut client, &mut sink) => {
                if matches!(read, Ok(0) | Err(_)) {
                    break;
                }
            }
            changed = dark.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
    drop(server);
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

    #[tokio::test]
    async fn a_dark_path_passes_nothing_and_closes_nothing_while_new_connections_pass() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let gate = TcpGate::start(upstream).await.unwrap();
        gate.open();
        let mut before = TcpStream::connect(("127.0.0.1", gate.port()))
            .await
            .unwrap();
        let mut buf = [0u8; 2];
        before.write_all(b"hi").await.unwrap();
        before.read_exact(&mut buf).await.unwrap();
        gate.go_dark();
        before.write_all(b"hi").await.unwrap();
        let silent =
            tokio::time::timeout(std::time::Duration::from_millis(300), before.read(&mut buf))
                .await;
        assert!(
            silent.is_err(),
            "a dark connection answered or closed: {silent:?}"
        );
        let mut after = TcpStream::connect(("127.0.0.1", gate.port()))
            .await
            .unwrap();
        after.write_all(b"ok").await.unwrap();
        after.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ok");
        drop(gate);
        // The gate gone, the dark connection ends (end of stream or reset).
        let closed =
            tokio::time::timeout(std::time::Duration::from_secs(60), before.read(&mut buf))
                .await
                .unwrap();
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    }
}
