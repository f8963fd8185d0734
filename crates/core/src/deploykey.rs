//! Deploy keys for private repositories: one ed25519 key per project, kept in the garden Secret
//! `flux-source` (`identity`, `identity.pub`, `known_hosts`), the way Flux's GitRepository reads
//! an SSH secret. This module is pure: key material, its Secret form, SSH addresses and
//! `known_hosts` lines. Creating the Secret is `garden`'s business, reading a host key
//! `hostkey`'s.

use std::collections::BTreeMap;

use base64::Engine;
use sha2::{Digest, Sha256};
use ssh_key::{Algorithm, LineEnding, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::fielderrors::{FieldError, FieldErrors};

/// The garden Secret (in the project namespace) and the shoot Secret (in the Flux namespace).
pub const SECRET_NAME: &str = "flux-source";
pub const IDENTITY: &str = "identity";
pub const IDENTITY_PUB: &str = "identity.pub";
pub const KNOWN_HOSTS: &str = "known_hosts";
/// What `render` shows instead of a private key.
pub const REDACTED: &str = "<redacted: the project's deploy key from garden Secret flux-source>";

/// Where an SSH Git URL points: `ssh://[user@]host[:port]/path` or scp-like `[user@]host:path`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshAddress {
    pub host: String,
    pub port: u16,
}

impl SshAddress {
    pub fn from_url(url: &str) -> Option<Self> {
        if let Some(rest) = url.strip_prefix("ssh://") {
            let authority = rest.split('/').next()?;
            let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
                let (host, after) = v6.split_once(']')?;
                let port = match after.strip_prefix(':') {
                    Some(p) => p.parse().ok()?,
                    None if after.is_empty() => 22,
                    None => return None,
                };
                (host, port)
            } else {
                match host_port.split_once(':') {
                    Some((host, port)) => (host, port.parse().ok()?),
                    None => (host_port, 22),
                }
            };
            return (!host.is_empty() && port != 0).then(|| Self {
                host: host.to_string(),
                port,
            });
        }
        if url.contains("://") {
            return None;
        }
        // scp-like syntax has no port: `git@host:org/repo.git`.
        let (user_host, path) = url.split_once(':')?;
        let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
        (!host.is_empty() && !host.contains('/') && !path.is_empty()).then(|| Self {
            host: host.to_string(),
            port: 22,
        })
    }

    /// The host as `known_hosts` names it: `host`, or `[host]:port` off port 22.
    pub fn known_hosts_name(&self) -> String {
        if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// The lines of `known_hosts` (operator-configured, possibly for many hosts) that name this
/// address exactly. Hashed and wildcard entries are not matched: configure plain names.
pub fn known_hosts_for(lines: &[String], address: &SshAddress) -> Option<String> {
    let name = address.known_hosts_name();
    let matching: Vec<&str> = lines
        .iter()
        .map(|l| l.trim())
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|hosts| hosts.split(',').any(|h| h == name))
        })
        .collect();
    (!matching.is_empty()).then(|| {
        let mut out = matching.join("\n");
        out.push('\n');
        out
    })
}

/// Checks one `known_hosts` line (`hosts keytype base64 [comment]`); the error says why not.
pub fn check_known_hosts_line(line: &str) -> Result<(), String> {
    let mut fields = line.split_whitespace();
    let (Some(hosts), Some(key_type), Some(key)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(format!(
            "{line:?} is not a known_hosts line like \"github.com ssh-ed25519 AAAA...\""
        ));
    };
    if hosts.starts_with('@') || hosts.starts_with('|') {
        return Err(format!(
            "{hosts:?}: markers and hashed host names are not supported; name the host plainly"
        ));
    }
    PublicKey::from_openssh(&format!("{key_type} {key}"))
        .map(|_| ())
        .map_err(|e| format!("the key for {hosts} is not a valid SSH public key ({e})"))
}

/// `SHA256:<base64>` of a public key's wire encoding, as `ssh-keygen -l` prints it.
pub fn fingerprint_of_blob(blob: &[u8]) -> String {
    let digest = Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// The fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`).
pub fn fingerprint(public_openssh: &str) -> Option<String> {
    let blob = public_openssh.split_whitespace().nth(1)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .ok()?;
    Some(fingerprint_of_blob(&bytes))
}

/// A deploy key with the host keys it may talk to. The private half never leaves this type
/// except as Secret data; `Debug` shows the fingerprint only.
#[derive(Clone, PartialEq, Eq)]
pub struct DeployKey {
    identity: Zeroizing<String>,
    public: String,
    known_hosts: String,
}

impl std::fmt::Debug for DeployKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("generating an ed25519 key failed: {0}")]
pub struct GenerateError(#[from] ssh_key::Error);

impl DeployKey {
    /// A new ed25519 key; `comment` ends up on the Git host's deploy key list.
    pub fn generate(comment: &str, known_hosts: String) -> Result<Self, GenerateError> {
        let mut key = PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519)?;
        key.set_comment(comment);
        Ok(Self {
            identity: key.to_openssh(LineEnding::LF)?,
            public: key.public_key().to_openssh()?,
            known_hosts,
        })
    }

    /// What `render` shows: the real public half and host keys, a placeholder for the private key.
    pub fn redacted(&self) -> Self {
        Self {
            identity: Zeroizing::new(REDACTED.to_string()),
            ..self.clone()
        }
    }

    /// What `render` shows without access to the garden: placeholders for both halves.
    pub fn placeholder(known_hosts: String) -> Self {
        Self {
            identity: Zeroizing::new(REDACTED.to_string()),
            public: "<the public key of the project's garden Secret flux-source>".into(),
            known_hosts,
        }
    }

    /// Reads the Secret's data; an operator-made Secret is accepted as long as Flux can use it.
    /// Problems name `<secret_path>.data.<key>`.
    pub fn from_secret_data(
        data: &BTreeMap<String, Vec<u8>>,
        secret_path: &str,
    ) -> Result<Self, FieldErrors> {
        let mut errors = Vec::new();
        let mut text = |key: &str| -> String {
            // Borrowed until it is known to be text: a failed conversion would drop a copy of
            // the key that nobody zeroizes.
            match data.get(key).map(|v| std::str::from_utf8(v)) {
                Some(Ok(s)) if !s.trim().is_empty() => s.to_string(),
                Some(Ok(_)) | None => {
                    errors.push(FieldError::new(
                        format!("{secret_path}.data.{key}"),
                        "missing or empty",
                    ));
                    String::new()
                }
                Some(Err(_)) => {
                    errors.push(FieldError::new(
                        format!("{secret_path}.data.{key}"),
                        "is not UTF-8 text",
                    ));
                    String::new()
                }
            }
        };
        let identity = Zeroizing::new(text(IDENTITY));
        let public = text(IDENTITY_PUB).trim().to_string();
        let known_hosts = text(KNOWN_HOSTS);
        if !identity.is_empty() && !identity.contains("PRIVATE KEY-----") {
            errors.push(FieldError::new(
                format!("{secret_path}.data.{IDENTITY}"),
                "is not a PEM/OpenSSH private key",
            ));
        }
        if !public.is_empty() && PublicKey::from_openssh(&public).is_err() {
            errors.push(FieldError::new(
                format!("{secret_path}.data.{IDENTITY_PUB}"),
                "is not an OpenSSH public key line like \"ssh-ed25519 AAAA... comment\"",
            ));
        }
        for line in known_hosts
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            // Hashed entries are fine in a Secret Flux reads; only syntax is checked here.
            if line.starts_with('|') {
                continue;
            }
            if let Err(message) = check_known_hosts_line(line) {
                errors.push(FieldError::new(
                    format!("{secret_path}.data.{KNOWN_HOSTS}"),
                    message,
                ));
            }
        }
        FieldErrors::or_ok(
            errors,
            Self {
                identity,
                public,
                known_hosts,
            },
        )
    }

    /// The Secret's data, as Flux's GitRepository reads it.
    pub fn secret_data(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (IDENTITY.to_string(), self.identity.to_string()),
            (IDENTITY_PUB.to_string(), format!("{}\n", self.public)),
            (KNOWN_HOSTS.to_string(), self.known_hosts.clone()),
        ])
    }

    /// The Secret's data base64-encoded, as a Secret's `data` carries it. The private key is
    /// encoded from where it is held, so no plain copy of it is left behind un-zeroized.
    pub fn secret_data_base64(&self) -> BTreeMap<String, String> {
        let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        BTreeMap::from([
            (IDENTITY.to_string(), encode(self.identity.as_bytes())),
            (
                IDENTITY_PUB.to_string(),
                encode(format!("{}\n", self.public).as_bytes()),
            ),
            (KNOWN_HOSTS.to_string(), encode(self.known_hosts.as_bytes())),
        ])
    }

    pub fn public_key(&self) -> &str {
        &self.public
    }

    pub fn known_hosts(&self) -> &str {
        &self.known_hosts
    }

    pub fn fingerprint(&self) -> String {
        fingerprint(&self.public).unwrap_or_else(|| "(unreadable public key)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(url: &str) -> Option<(String, u16)> {
        SshAddress::from_url(url).map(|a| (a.host, a.port))
    }

    #[test]
    fn ssh_addresses() {
        let cases = [
            (
                "ssh://git@github.com/org/repo.git",
                Some(("github.com", 22)),
            ),
            (
                "ssh://git@git.example.com:2222/org/repo.git",
                Some(("git.example.com", 2222)),
            ),
            ("ssh://git.example.com/repo", Some(("git.example.com", 22))),
            ("ssh://git@[::1]:2222/repo", Some(("::1", 2222))),
            ("git@github.com:org/repo.git", Some(("github.com", 22))),
            ("github.com:org/repo.git", Some(("github.com", 22))),
            ("ssh://git@host:notaport/repo", None),
            ("ssh://git@host:0/repo", None),
            ("https://github.com/org/repo", None),
            ("git@github.com:", None),
        ];
        for (url, want) in cases {
            assert_eq!(address(url), want.map(|(h, p)| (h.to_string(), p)), "{url}");
        }
    }

    #[test]
    fn known_hosts_names_carry_the_port_when_not_22() {
        let a = SshAddress::from_url("ssh://git@127.0.0.1:2222/x").unwrap();
        assert_eq!(a.known_hosts_name(), "[127.0.0.1]:2222");
        let b = SshAddress::from_url("git@github.com:org/x").unwrap();
        assert_eq!(b.known_hosts_name(), "github.com");
    }

    #[test]
    fn configured_host_keys_are_selected_by_exact_name() {
        let key = DeployKey::generate("t", String::new()).unwrap();
        let body = key
            .public_key()
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        let lines = vec![
            format!("github.com {body}"),
            format!("gitlab.com,[gitlab.com]:2222 {body}"),
            format!("[github.com]:2222 {body}"),
        ];
        let github = SshAddress::from_url("git@github.com:o/r").unwrap();
        assert_eq!(
            known_hosts_for(&lines, &github),
            Some(format!("{}\n", lines[0]))
        );
        let gitlab = SshAddress::from_url("ssh://git@gitlab.com:2222/o/r").unwrap();
        assert_eq!(
            known_hosts_for(&lines, &gitlab),
            Some(format!("{}\n", lines[1]))
        );
        let other = SshAddress::from_url("git@example.com:o/r").unwrap();
        assert_eq!(known_hosts_for(&lines, &other), None);
    }

    #[test]
    fn a_generated_key_round_trips_through_its_secret() {
        let key = DeployKey::generate("shoot-flux dev", "[h]:2 ssh-ed25519 AAAA\n".into()).unwrap();
        assert!(key.public_key().starts_with("ssh-ed25519 "));
        assert!(key.public_key().ends_with(" shoot-flux dev"));
        let data: BTreeMap<String, Vec<u8>> = key
            .secret_data()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        assert!(
            String::from_utf8_lossy(&data[IDENTITY])
                .starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        );
        // The host key line here is not a valid key, so it is reported.
        let err = DeployKey::from_secret_data(&data, "garden-dev/flux-source").unwrap_err();
        assert_eq!(err.0[0].path, "garden-dev/flux-source.data.known_hosts");
        let host = DeployKey::generate("host", String::new()).unwrap();
        let good = DeployKey::generate("k", format!("[h]:2 {}\n", host.public_key())).unwrap();
        let data: BTreeMap<String, Vec<u8>> = good
            .secret_data()
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        let back = DeployKey::from_secret_data(&data, "s").unwrap();
        assert_eq!(back, good);
        assert_eq!(back.fingerprint(), good.fingerprint());
        assert!(back.fingerprint().starts_with("SHA256:"));
    }

    #[test]
    fn the_base64_data_is_the_data_encoded() {
        let key = DeployKey::generate("k", "[h]:2 ssh-ed25519 AAAA\n".into()).unwrap();
        let encoded: BTreeMap<String, String> = key
            .secret_data()
            .into_iter()
            .map(|(k, v)| (k, base64::engine::general_purpose::STANDARD.encode(v)))
            .collect();
        assert_eq!(key.secret_data_base64(), encoded);
    }

    #[test]
    fn debug_and_redacted_forms_hide_the_private_key() {
        let key = DeployKey::generate("k", String::new()).unwrap();
        let private = key.secret_data()[IDENTITY].clone();
        let secret_line = private.lines().nth(1).unwrap().to_string();
        assert!(!format!("{key:?}").contains(&secret_line));
        let redacted = key.redacted();
        assert_eq!(redacted.secret_data()[IDENTITY], REDACTED);
        assert_eq!(redacted.public_key(), key.public_key());
    }

    #[test]
    fn incomplete_secrets_name_every_missing_key() {
        let data = BTreeMap::from([("identity.pub".to_string(), b"nonsense".to_vec())]);
        let err = DeployKey::from_secret_data(&data, "flux-source").unwrap_err();
        let paths: Vec<&str> = err.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "flux-source.data.identity",
                "flux-source.data.known_hosts",
                "flux-source.data.identity.pub"
            ]
        );
    }

    #[test]
    fn fingerprints_match_ssh_keygen() {
        // ssh-keygen -lf of this public key prints this fingerprint.
        let line =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
        assert_eq!(
            fingerprint(line).unwrap(),
            "SHA256:+DiY3wvvV6TuJJhbpZisF/zLDA0zPMSvHdkr4UvCOqU"
        );
    }
}
