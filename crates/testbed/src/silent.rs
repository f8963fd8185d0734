//! A server that accepts TCP connections on loopback and never answers: it stands in for a hung
//! server or a broken proxy in front of one (e.g. a manifest host), where a client's only way
//! out is its own timeout.
//!
//! What it reproduces: the connection is accepted (as the kernel's listen queue would accept it
//! for a hung process), the request bytes are taken and nothing ever comes back, and the
//! connection stays open until the server is dropped. What not: no TLS handshake, no HTTP at
//! all, no resets or partial answers.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct SilentServer {
    addr: SocketAddr,
    accepting: JoinHandle<()>,
}

impl SilentServer {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let accepting = tokio::spawn(async move {
            // Held, never read from or written to, so each client waits for an answer.
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        Ok(Self { addr, accepting })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for SilentServer {
    /// Closes the listener and every held connection.
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    #[tokio::test]
    async fn accepts_and_never_answers_until_dropped() {
        let server = SilentServer::start().await.unwrap();
        let addr = server.url().trim_start_matches("http://").to_string();
        let mut client = TcpStream::connect(&addr).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 1];
        let answer = tokio::time::timeout(Duration::from_millis(300), client.read(&mut buf)).await;
        assert!(answer.is_err(), "the silent server answered");
        drop(server);
        // Dropped: the held connection is closed (end of stream or reset).
        let closed = tokio::time::timeout(Duration::from_secs(60), client.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    }
}
