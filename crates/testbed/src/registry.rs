//! An OCI registry on loopback: the real distribution registry (Debian's `docker-registry`
//! package, distribution 2.8, installed by `hack/testbed/install debian`), started on demand by
//! the tests that need one ([`crate::Bed::start_registry`]; with token authentication,
//! [`Registry::start_token_auth`]).
//!
//! What it reproduces: everything of the registry itself, because it is the registry — the
//! distribution HTTP API v2 (blob uploads, manifests by tag and digest, OCI image manifests and
//! artifacts with any config media type, `Docker-Content-Digest`, error bodies), its filesystem
//! storage, TLS, and htpasswd basic auth (401 with `WWW-Authenticate: Basic realm=...` without
//! or with wrong credentials).
//!
//! What differs from a production registry: it listens on 127.0.0.1 only, on a free port, with
//! the bed's serving certificate (signed by the bed's CA, so clients must trust that CA
//! explicitly); auth is basic auth against a local htpasswd file, or Bearer tokens of the bed's
//! token service (`registrytoken`, plain http), with no per-repository permissions (a user that
//! logs in may push and pull everything); storage is a
//! directory in the bed's run directory; the htpasswd entry uses a low bcrypt cost so that each
//! authenticated request stays cheap on a loaded CI machine.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

pub use crate::basicauth::BasicAuth;
use crate::paths;
use crate::pki::Pki;
use crate::plainhttp::Response;
use crate::ports::free_port;
use crate::process::Process;

/// Debian's build of the distribution registry.
pub const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// bcrypt cost of the htpasswd entry: the registry checks the hash on every request, and the
/// cost does not matter for a throwaway loopback registry (4 is bcrypt's minimum).
const HTPASSWD_BCRYPT_COST: u32 = 5;

/// How a registry is started.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// With `Some`, every request needs these credentials (htpasswd basic auth).
    pub basic_auth: Option<BasicAuth>,
}

/// A running registry; dropping it stops the process (by PID).
#[derive(Debug)]
pub struct Registry {
    name: String,
    host: String,
    storage: PathBuf,
    config: PathBuf,
    ca_pem: String,
    basic_auth: Option<BasicAuth>,
    started_in: Duration,
    process: Process,
}

impl Registry {
    /// Starts a registry called `name` with its config, storage and log under `dir`, serving
    /// TLS with the bed's certificate; returns once `GET /v2/` answers (200, or 401 with auth).
    pub async fn start(
        name: &str,
        dir: &Path,
        pki: &Pki,
        options: RegistryOptions,
    ) -> Result<Self> {
        Self::start_with(name, dir, pki, options.basic_auth, None).await
    }

    /// Starts a registry that wants Bearer tokens from `tokens` (Docker's token authentication,
    /// as ghcr.io and Docker Hub use it); `basic_auth()` is then `None`.
    pub async fn start_token_auth(
        name: &str,
        dir: &Path,
        pki: &Pki,
        tokens: &crate::registrytoken::TokenService,
    ) -> Result<Self> {
        Self::start_with(name, dir, pki, None, Some(tokens)).await
    }

    async fn start_with(
        name: &str,
        dir: &Path,
        pki: &Pki,
        basic_auth: Option<BasicAuth>,
        tokens: Option<&crate::registrytoken::TokenService>,
    ) -> Result<Self> {
        let binary = paths::system_program(REGISTRY_BINARY)?;
        let port = free_port()?;
        let host = format!("127.0.0.1:{port}");
        let storage = dir.join(format!("{name}-storage"));
        std::fs::create_dir_all(&storage)
            .with_context(|| format!("creating {}", storage.display()))?;
        let htpasswd = match &basic_auth {
            Some(auth) => {
                let file = dir.join(format!("{name}.htpasswd"));
                std::fs::write(&file, htpasswd_line(auth)?)
                    .with_context(|| format!("writing {}", file.display()))?;
                Some(file)
            }
            None => None,
        };
        let config = dir.join(format!("{name}.yaml"));
        std::fs::write(
            &config,
            config_yaml(
                &host,
                &storage,
                &pki.serving_cert_file,
                &pki.serving_key_file,
                htpasswd.as_deref(),
                tokens.map(|t| (t.realm(), t.root_cert_file().to_path_buf())),
            ),
        )
        .with_context(|| format!("writing {}", config.display()))?;

        let mut command = Command::new(binary);
        command.arg("serve").arg(&config);
        // REGISTRY_* variables override the config file; the bed's config is the whole truth.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("REGISTRY_") {
                command.env_remove(key);
            }
        }
        let started = Instant::now();
        let mut process = Process::spawn(name, command, &dir.join(format!("{name}.log")))?;
        let client = RegistryHttp::new(&pki.ca_pem)?;
        let url = format!("https://{host}/v2/");
        let deadline = started + Duration::from_secs(120);
        loop {
            process.ensure_running()?;
            if let Ok(response) = client.send(http::Method::GET, &url, &[], Vec::new()).await
                && (response.status == 200 || response.status == 401)
            {
                break;
            }
            if Instant::now() > deadline {
                bail!(
                    "registry {name} did not answer GET /v2/ within 120s (log: {})",
                    process.log_path().display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self {
            name: name.to_string(),
            host,
            storage,
            config,
            ca_pem: pki.ca_pem.clone(),
            basic_auth,
            started_in: started.elapsed(),
            process,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `127.0.0.1:<port>`, the registry part of an image or artifact reference.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.host)
    }

    /// The PEM of the CA that signed the registry's certificate (the bed's CA).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn basic_auth(&self) -> Option<&BasicAuth> {
        self.basic_auth.as_ref()
    }

    pub fn storage_dir(&self) -> &Path {
        &self.storage
    }

    pub fn config_file(&self) -> &Path {
        &self.config
    }

    pub fn log_path(&self) -> &Path {
        self.process.log_path()
    }

    pub fn pid(&self) -> i32 {
        self.process.pid()
    }

    /// From spawning the process to the first answer of `GET /v2/`.
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// An HTTPS client that trusts the bed's CA (and nothing else).
    pub fn http(&self) -> Result<RegistryHttp> {
        RegistryHttp::new(&self.ca_pem)
    }

    /// Stops the registry (SIGTERM, then SIGKILL after `grace`).
    pub fn stop(&mut self, grace: Duration) {
        self.process.stop(grace);
    }
}

/// One htpasswd line `user:bcrypt-hash`; the registry accepts only bcrypt hashes.
fn htpasswd_line(auth: &BasicAuth) -> Result<String> {
    if auth.user.is_empty() || auth.user.contains(':') || auth.user.contains('\n') {
        bail!("registry basic auth: the user must be non-empty without ':' or newlines");
    }
    let hash = bcrypt::hash(&auth.password, HTPASSWD_BCRYPT_COST)
        .context("hashing the registry password with bcrypt")?;
    Ok(format!("{}:{hash}\n", auth.user))
}

/// The registry's configuration (distribution's config format, version 0.1).
fn config_yaml(
    host: &str,
    storage: &Path,
    cert: &Path,
    key: &Path,
    htpasswd: Option<&Path>,
    token: Option<(String, PathBuf)>,
) -> String {
    let mut auth = htpasswd.map_or_else(String::new, |file| {
        format!(
            "auth:\n  htpasswd:\n    realm: shoot-flux-testbed\n    path: {}\n",
            file.display()
        )
    });
    if let Some((realm, root)) = token {
        auth = format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {}\n    issuer: {}\n    rootcertbundle: {}\n",
            crate::registrytoken::SERVICE,
            crate::registrytoken::ISSUER,
            root.display()
        );
    }
    format!(
        "version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: {host}
  # Signs upload state; fixed per registry, it never leaves the loopback bed.
  secret: shoot-flux-testbed-registry
  tls:
    certificate: {cert}
    key: {key}
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: false
{auth}",
        storage = storage.display(),
        cert = cert.display(),
        key = key.display(),
    )
}

/// A plain HTTPS/1.1 client (hyper with rustls) that trusts only the given CA: enough to talk
/// the distribution API to the bed's registry in tests.
#[derive(Clone)]
pub struct RegistryHttp {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for RegistryHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryHttp").finish_non_exhaustive()
    }
}

impl RegistryHttp {
    pub fn new(ca_pem: &str) -> Result<Self> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(cert.context("parsing the CA PEM")?)
                .context("adding the CA")?;
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_only()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Sends one request (no redirects followed) with a 60 s deadline.
    pub async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Response> {
        let mut request = http::Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .with_context(|| format!("building {method} {url}"))?;
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_ascii_lowercase(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let body = response.into_body().collect().await?.to_bytes().to_vec();
            anyhow::Ok(Response {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout(Duration::from_secs(60), exchange)
            .await
            .with_context(|| format!("{method} {url} timed out"))?
            .with_context(|| format!("{method} {url}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn htpasswd_holds_a_bcrypt_hash_that_verifies_and_never_the_password() {
        let line = htpasswd_line(&BasicAuth::new("flux", "s3cret-pw")).unwrap();
        let (user, hash) = line.trim_end().split_once(':').unwrap();
        assert_eq!(user, "flux");
        assert!(hash.starts_with("$2"), "{hash}");
        assert!(!line.contains("s3cret-pw"));
        assert!(bcrypt::verify("s3cret-pw", hash).unwrap());
        assert!(!bcrypt::verify("wrong", hash).unwrap());
    }

    #[test]
    fn a_user_with_a_colon_is_rejected() {
        let err = htpasswd_line(&BasicAuth::new("a:b", "pw")).unwrap_err();
        assert!(err.to_string().contains("user"), "{err}");
    }

    #[test]
    fn auth_appears_in_the_config_only_when_asked_for() {
        let plain = config_yaml(
            "127.0.0.1:1",
            Path::new("/s"),
            Path::new("/c"),
            Path::new("/k"),
            None,
            None,
        );
        assert!(!plain.contains("htpasswd"));
        assert!(plain.contains("addr: 127.0.0.1:1"));
        let with_auth = config_yaml(
            "127.0.0.1:1",
            Path::new("/s"),
            Path::new("/c"),
            Path::new("/k"),
            Some(Path::new("/h")),
            None,
        );
        assert!(with_auth.contains("htpasswd:\n    realm: shoot-flux-testbed\n    path: /h"));
    }

    #[test]
    fn the_authorization_header_is_basic_base64() {
        assert_eq!(
            BasicAuth::new("user", "pass").header_value(),
            "Basic dXNlcjpwYXNz"
        );
    }
}
