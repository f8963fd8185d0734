//! Reads a Git host's SSH host keys once, for `known_hosts` (trust on first use), the way
//! `ssh-keyscan` does: the SSH transport up to the server's key exchange reply, which carries
//! the host key, and no further (no authentication, no encryption).
//!
//! One connection reads the server's KEXINIT to learn which host key types it has; then one
//! connection per supported type asks for that key. Key exchange is curve25519-sha256, which
//! every current OpenSSH, GitHub, GitLab and Bitbucket offers. Like ssh-keyscan, the server's
//! signature is not checked: nothing is trusted yet, the operator compares the fingerprint that
//! is logged and recorded.

use std::time::Duration;

use rand_core::RngCore;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use base64::Engine;

use shoot_flux_core::deploykey::{SshAddress, fingerprint_of_blob};

const CLIENT_VERSION: &str = "SSH-2.0-shoot_flux_keyscan";
const MSG_DISCONNECT: u8 = 1;
const MSG_KEXINIT: u8 = 20;
const MSG_KEX_ECDH_INIT: u8 = 30;
const MSG_KEX_ECDH_REPLY: u8 = 31;
/// Larger packets than this before key exchange are not an SSH server we want to talk to.
const MAX_PACKET: usize = 256 * 1024;
/// Host key algorithms asked for, in the order they are recorded.
const HOST_KEY_ALGORITHMS: [&str; 6] = [
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "rsa-sha2-512",
    "rsa-sha2-256",
];
const KEX_ALGORITHMS: &str = "curve25519-sha256,curve25519-sha256@libssh.org";
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes256-ctr";
const MACS: &str =
    "hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512";

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("connecting to {0} failed: {1}")]
    Connect(String, std::io::Error),
    #[error("reading the SSH host key of {0} took longer than {1:?}")]
    Timeout(String, Duration),
    #[error("{0} does not speak SSH as expected: {1}")]
    Protocol(String, String),
    #[error("{0} offers none of the host key types {types}", types = HOST_KEY_ALGORITHMS.join(", "))]
    NoSupportedKey(String),
}

/// One host key: its type as `known_hosts` writes it and its wire encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostKey {
    pub key_type: String,
    pub blob: Vec<u8>,
}

impl HostKey {
    pub fn known_hosts_line(&self, address: &SshAddress) -> String {
        format!(
            "{} {} {}",
            address.known_hosts_name(),
            self.key_type,
            base64::engine::general_purpose::STANDARD.encode(&self.blob)
        )
    }

    pub fn fingerprint(&self) -> String {
        fingerprint_of_blob(&self.blob)
    }
}

/// Every host key `address` offers among the supported types (RSA once, under `ssh-rsa`).
pub async fn scan(address: &SshAddress, timeout: Duration) -> Result<Vec<HostKey>, ScanError> {
    let name = address.known_hosts_name();
    tokio::time::timeout(timeout, scan_all(address))
        .await
        .map_err(|_| ScanError::Timeout(name, timeout))?
}

async fn scan_all(address: &SshAddress) -> Result<Vec<HostKey>, ScanError> {
    let name = address.known_hosts_name();
    let offered = server_host_key_algorithms(address).await?;
    let mut keys: Vec<HostKey> = Vec::new();
    for algorithm in HOST_KEY_ALGORITHMS {
        if !offered.iter().any(|o| o == algorithm) {
            continue;
        }
        let key = host_key(address, algorithm).await?;
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    if keys.is_empty() {
        return Err(ScanError::NoSupportedKey(name));
    }
    Ok(keys)
}

/// `known_hosts` text for `keys`.
pub fn known_hosts(address: &SshAddress, keys: &[HostKey]) -> String {
    keys.iter()
        .map(|k| format!("{}\n", k.known_hosts_line(address)))
        .collect()
}

struct Connection {
    stream: BufReader<TcpStream>,
    name: String,
    server_version: String,
}

impl Connection {
    async fn open(address: &SshAddress) -> Result<Self, ScanError> {
        let name = address.known_hosts_name();
        let tcp = TcpStream::connect((address.host.as_str(), address.port))
            .await
            .map_err(|e| ScanError::Connect(name.clone(), e))?;
        let mut stream = BufReader::new(tcp);
        stream
            .get_mut()
            .write_all(format!("{CLIENT_VERSION}\r\n").as_bytes())
            .await
            .map_err(|e| ScanError::Connect(name.clone(), e))?;
        // Servers may send other lines before their version (RFC 4253 §4.2).
        let mut server_version = String::new();
        for _ in 0..32 {
            let mut line = Vec::new();
            let n = (&mut stream)
                .take(1024)
                .read_until(b'\n', &mut line)
                .await
                .map_err(|e| {
                    ScanError::Protocol(name.clone(), format!("no SSH version line ({e})"))
                })?;
            if n == 0 {
                return Err(ScanError::Protocol(
                    name,
                    "closed before its version line".into(),
                ));
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if text.starts_with("SSH-2.0-") || text.starts_with("SSH-1.99-") {
                server_version = text;
                break;
            }
        }
        if server_version.is_empty() {
            return Err(ScanError::Protocol(name, "no SSH-2.0 version line".into()));
        }
        Ok(Self {
            stream,
            name,
            server_version,
        })
    }

    fn protocol(&self, message: impl Into<String>) -> ScanError {
        ScanError::Protocol(
            format!("{} ({})", self.name, self.server_version),
            message.into(),
        )
    }

    async fn send(&mut self, payload: &[u8]) -> Result<(), ScanError> {
        let packet = frame(payload);
        self.stream
            .get_mut()
            .write_all(&packet)
            .await
            .map_err(|e| ScanError::Connect(self.name.clone(), e))
    }

    /// The next packet's payload, skipping IGNORE, DEBUG and UNIMPLEMENTED.
    async fn receive(&mut self) -> Result<Vec<u8>, ScanError> {
        loop {
            let mut length = [0u8; 4];
            self.stream
                .read_exact(&mut length)
                .await
                .map_err(|e| self.protocol(format!("connection ended: {e}")))?;
            let length = u32::from_be_bytes(length) as usize;
            if !(5..=MAX_PACKET).contains(&length) {
                return Err(self.protocol(format!("packet length {length}")));
            }
            let mut packet = vec![0u8; length];
            self.stream
                .read_exact(&mut packet)
                .await
                .map_err(|e| self.protocol(format!("connection ended: {e}")))?;
            let padding = usize::from(packet[0]);
            if padding + 1 >= length {
                return Err(self.protocol("padding longer than its packet"));
            }
            let payload = packet[1..length - padding].to_vec();
            match payload.first() {
                Some(2..=4) => continue,
                Some(&MSG_DISCONNECT) => {
                    let mut r = Reader(&payload[1..]);
                    let _code = r.u32();
                    let reason = r.string().map(|s| String::from_utf8_lossy(s).to_string());
                    return Err(
                        self.protocol(format!("disconnected: {}", reason.unwrap_or_default()))
                    );
                }
                _ => return Ok(payload),
            }
        }
    }

    /// Exchanges KEXINIT messages; returns the server's.
    async fn kexinit(&mut self, host_key_algorithms: &str) -> Result<Vec<u8>, ScanError> {
        self.send(&client_kexinit(host_key_algorithms)).await?;
        let payload = self.receive().await?;
        if payload.first() != Some(&MSG_KEXINIT) {
            return Err(self.protocol(format!(
                "expected KEXINIT, got message {}",
                payload.first().copied().unwrap_or_default()
            )));
        }
        Ok(payload)
    }
}

/// The host key types the server names in its KEXINIT.
async fn server_host_key_algorithms(address: &SshAddress) -> Result<Vec<String>, ScanError> {
    let mut connection = Connection::open(address).await?;
    let server = connection.kexinit(&HOST_KEY_ALGORITHMS.join(",")).await?;
    let lists = parse_kexinit(&server).ok_or_else(|| connection.protocol("malformed KEXINIT"))?;
    if !lists
        .kex
        .iter()
        .any(|k| KEX_ALGORITHMS.split(',').any(|o| o == k))
    {
        return Err(connection.protocol(format!(
            "no common key exchange: the server offers {}, shoot-flux reads host keys with curve25519-sha256; configure the host key in the operator configuration (knownHosts)",
            lists.kex.join(",")
        )));
    }
    Ok(lists.host_key)
}

/// The server's host key of type `algorithm`, from its KEX_ECDH_REPLY.
async fn host_key(address: &SshAddress, algorithm: &str) -> Result<HostKey, ScanError> {
    let mut connection = Connection::open(address).await?;
    connection.kexinit(algorithm).await?;
    // Any 32 bytes are an X25519 public value; the exchange is never completed.
    let mut ephemeral = [0u8; 32];
    rand_core::OsRng.fill_bytes(&mut ephemeral);
    let mut init = vec![MSG_KEX_ECDH_INIT];
    put_string(&mut init, &ephemeral);
    connection.send(&init).await?;
    let reply = connection.receive().await?;
    if reply.first() != Some(&MSG_KEX_ECDH_REPLY) {
        return Err(connection.protocol(format!(
            "expected KEX_ECDH_REPLY, got message {}",
            reply.first().copied().unwrap_or_default()
        )));
    }
    let blob = Reader(&reply[1..])
        .string()
        .ok_or_else(|| connection.protocol("malformed KEX_ECDH_REPLY"))?
        .to_vec();
    let key_type = Reader(&blob)
        .string()
        .and_then(|t| std::str::from_utf8(t).ok())
        .ok_or_else(|| connection.protocol("malformed host key"))?
        .to_string();
    let expected = if algorithm.starts_with("rsa-sha2-") {
        "ssh-rsa"
    } else {
        algorithm
    };
    if key_type != expected {
        return Err(
            connection.protocol(format!("asked for a {algorithm} host key, got {key_type}"))
        );
    }
    Ok(HostKey { key_type, blob })
}

fn client_kexinit(host_key_algorithms: &str) -> Vec<u8> {
    let mut payload = vec![MSG_KEXINIT];
    let mut cookie = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut cookie);
    payload.extend_from_slice(&cookie);
    for list in [
        KEX_ALGORITHMS,
        host_key_algorithms,
        CIPHERS,
        CIPHERS,
        MACS,
        MACS,
        "none",
        "none",
        "",
        "",
    ] {
        put_string(&mut payload, list.as_bytes());
    }
    payload.push(0); // first_kex_packet_follows
    payload.extend_from_slice(&0u32.to_be_bytes());
    payload
}

/// An unencrypted binary packet (RFC 4253 §6): block size 8, at least 4 bytes of padding.
fn frame(payload: &[u8]) -> Vec<u8> {
    let unpadded = 4 + 1 + payload.len();
    let mut padding = 8 - unpadded % 8;
    if padding < 4 {
        padding += 8;
    }
    let length = 1 + payload.len() + padding;
    let mut packet = Vec::with_capacity(4 + length);
    packet.extend_from_slice(&u32::try_from(length).unwrap_or(u32::MAX).to_be_bytes());
    packet.push(u8::try_from(padding).unwrap_or(4));
    packet.extend_from_slice(payload);
    let mut pad = vec![0u8; padding];
    rand_core::OsRng.fill_bytes(&mut pad);
    packet.extend_from_slice(&pad);
    packet
}

fn put_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(u32::from_be_bytes(*head))
    }

    fn string(&mut self) -> Option<&'a [u8]> {
        let length = self.u32()? as usize;
        if length > self.0.len() {
            return None;
        }
        let (s, rest) = self.0.split_at(length);
        self.0 = rest;
        Some(s)
    }

    fn name_list(&mut self) -> Option<Vec<String>> {
        let text = std::str::from_utf8(self.string()?).ok()?;
        Some(
            text.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        )
    }
}

struct KexLists {
    kex: Vec<String>,
    host_key: Vec<String>,
}

fn parse_kexinit(payload: &[u8]) -> Option<KexLists> {
    let mut r = Reader(payload.get(17..)?);
    let kex = r.name_list()?;
    let host_key = r.name_list()?;
    Some(KexLists { kex, host_key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_are_padded_to_the_block_size() {
        for n in 0..40 {
            let payload = vec![7u8; n];
            let packet = frame(&payload);
            assert_eq!(packet.len() % 8, 0, "payload {n}");
            let length = u32::from_be_bytes(packet[..4].try_into().unwrap()) as usize;
            assert_eq!(length + 4, packet.len());
            let padding = usize::from(packet[4]);
            assert!(padding >= 4);
            assert_eq!(&packet[5..5 + n], payload.as_slice());
        }
    }

    #[test]
    fn our_kexinit_parses_back() {
        let payload = client_kexinit("ssh-ed25519,rsa-sha2-512");
        let lists = parse_kexinit(&payload).unwrap();
        assert_eq!(
            lists.kex,
            ["curve25519-sha256", "curve25519-sha256@libssh.org"]
        );
        assert_eq!(lists.host_key, ["ssh-ed25519", "rsa-sha2-512"]);
    }

    #[tokio::test]
    async fn a_server_that_is_not_ssh_is_a_protocol_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let _ = socket.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        });
        let address = SshAddress {
            host: "127.0.0.1".into(),
            port,
        };
        let err = scan(&address, Duration::from_secs(5)).await.unwrap_err();
        assert!(matches!(err, ScanError::Protocol(..)), "{err}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _keep = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(socket);
        });
        let address = SshAddress {
            host: "127.0.0.1".into(),
            port,
        };
        let err = scan(&address, Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, ScanError::Timeout(..)), "{err}");
        assert!(err.to_string().contains(&format!("[127.0.0.1]:{port}")));
    }

    #[test]
    fn truncated_input_is_rejected_not_panicked_on() {
        for cut in 0..30 {
            let payload = client_kexinit("ssh-ed25519");
            let _ = parse_kexinit(&payload[..cut.min(payload.len())]);
        }
        assert!(Reader(&[0, 0, 0, 9, 1]).string().is_none());
    }
}
