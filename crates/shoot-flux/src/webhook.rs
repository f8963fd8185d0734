//! The `admission` command: serves the validating webhook over HTTPS (`POST /validate`, one
//! AdmissionReview per request, answered by [`crate::admission`]) and `/healthz`, `/readyz` on the
//! health address. The certificate and key are read from files and read again when they change
//! (a rotated Secret is seen without a restart).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::{Context, Result};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::admission;
use crate::server::{Readiness, serve_health};

/// The path both webhooks (Shoots, flux-config ConfigMaps) call.
pub const PATH: &str = "/validate";
/// Larger than any object etcd stores (1.5 MiB), twice (object and oldObject), plus the review.
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Where the webhook listens and what it serves with.
#[derive(Debug, Clone)]
pub struct Options {
    pub bind_address: SocketAddr,
    pub health_bind_address: SocketAddr,
    pub tls_cert_file: PathBuf,
    pub tls_private_key_file: PathBuf,
}

/// Serves until the process ends; fails at start when the certificate cannot be read.
pub async fn run(options: &Options) -> Result<()> {
    let certificates = Arc::new(ReloadingCertificate::load(
        &options.tls_cert_file,
        &options.tls_private_key_file,
    )?);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_cert_resolver(certificates);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind(options.bind_address)
        .await
        .with_context(|| format!("binding the webhook to {}", options.bind_address))?;
    let ready = Arc::new(Readiness::default());
    ready.set();
    let health = tokio::spawn(serve_health(options.health_bind_address, ready));
    tracing::info!(address = %listener.local_addr()?, path = PATH, "serving the admission webhook");
    let serving = async {
        loop {
            let (stream, peer) = listener.accept().await?;
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let stream = match acceptor.accept(stream).await {
                    Ok(stream) => stream,
                    Err(error) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                };
                let service = hyper::service::service_fn(handle);
                if let Err(error) = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(%peer, %error, "connection ended");
                }
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    };
    tokio::select! {
        result = serving => result.context("accepting webhook connections"),
        result = health => result.context("health server")?.context("serving health"),
    }
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

async fn handle(
    request: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    const TEXT: &str = "text/plain; charset=utf-8";
    match (request.method(), request.uri().path()) {
        (&hyper::Method::GET, "/healthz" | "/readyz") => {
            return Ok(reply(200, TEXT, b"ok\n".to_vec()));
        }
        (&hyper::Method::POST, PATH) => {}
        (_, PATH) => return Ok(reply(405, TEXT, b"POST an AdmissionReview\n".to_vec())),
        _ => return Ok(reply(404, TEXT, b"not found\n".to_vec())),
    }
    let body = match Limited::new(request.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return Ok(reply(
                413,
                TEXT,
                format!("reading the request: {error}\n").into_bytes(),
            ));
        }
    };
    match admission::answer(&body) {
        Err(error) => {
            tracing::warn!(%error, "bad admission request");
            Ok(reply(400, TEXT, format!("{error}\n").into_bytes()))
        }
        Ok((response, outcome)) => {
            tracing::info!(
                uid = outcome.uid,
                kind = outcome.kind,
                object = outcome.object,
                operation = outcome.operation,
                allowed = outcome.allowed,
                problems = outcome.problems,
                warnings = outcome.warnings,
                "admission review"
            );
            let body = serde_json::to_vec(&response).unwrap_or_default();
            Ok(reply(200, "application/json", body))
        }
    }
}

/// The serving certificate, read again at the next handshake after either file changed. A file
/// that cannot be read (e.g. halfway through a Secret update) keeps the previous certificate.
#[derive(Debug)]
struct ReloadingCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: Mutex<(Stamps, Arc<CertifiedKey>)>,
}

type Stamps = (Option<SystemTime>, Option<SystemTime>);

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl ReloadingCertificate {
    fn load(cert_file: &Path, key_file: &Path) -> Result<Self> {
        let stamps = (modified(cert_file), modified(key_file));
        let key = read_certified_key(cert_file, key_file)?;
        Ok(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current: Mutex::new((stamps, Arc::new(key))),
        })
    }
}

fn read_certified_key(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey> {
    let chain = CertificateDer::pem_file_iter(cert_file)
        .with_context(|| format!("reading {}", cert_file.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert_file.display()))?;
    if chain.is_empty() {
        anyhow::bail!("{} holds no certificate", cert_file.display());
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .with_context(|| format!("reading the private key {}", key_file.display()))?;
    let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
        .with_context(|| format!("unsupported private key in {}", key_file.display()))?;
    Ok(CertifiedKey::new(chain, signing_key))
}

impl ReloadingCertificate {
    /// The certificate to serve: read again when a file changed since the last read.
    fn current(&self) -> Option<Arc<CertifiedKey>> {
        let stamps = (modified(&self.cert_file), modified(&self.key_file));
        let mut current = self.current.lock().ok()?;
        if stamps != current.0 {
            match read_certified_key(&self.cert_file, &self.key_file) {
                Ok(key) => {
                    tracing::info!(file = %self.cert_file.display(), "serving certificate reloaded");
                    *current = (stamps, Arc::new(key));
                }
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "keeping the previous serving certificate"
                    )
                }
            }
        }
        Some(current.1.clone())
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(key: &CertifiedKey) -> Vec<u8> {
        key.cert[0].as_ref().to_vec()
    }

    /// Sets the file's modification time apart from the previous write's (coarse clocks).
    fn write_later(path: &Path, from: &Path, seconds: u64) {
        std::fs::copy(from, path).unwrap();
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() + std::time::Duration::from_secs(seconds))
            .unwrap();
    }

    #[test]
    fn a_rotated_certificate_is_served_and_a_broken_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let first = testbed::pki::Pki::generate(&dir.path().join("first")).unwrap();
        let second = testbed::pki::Pki::generate(&dir.path().join("second")).unwrap();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        write_later(&cert, &first.serving_cert_file, 0);
        write_later(&key, &first.serving_key_file, 0);
        let certificates = ReloadingCertificate::load(&cert, &key).unwrap();
        let served = leaf(&certificates.current().unwrap());
        assert_eq!(served, leaf(&read_certified_key(&cert, &key).unwrap()));

        // A new Secret version: both files replaced.
        write_later(&cert, &second.serving_cert_file, 10);
        write_later(&key, &second.serving_key_file, 10);
        let rotated = leaf(&certificates.current().unwrap());
        assert_ne!(rotated, served);
        assert_eq!(
            rotated,
            leaf(&read_certified_key(&second.serving_cert_file, &second.serving_key_file).unwrap())
        );

        // Halfway through an update (a certificate without its key): the last good one stays.
        std::fs::write(&cert, "not a certificate").unwrap();
        write_later(&key, &first.serving_key_file, 20);
        assert_eq!(leaf(&certificates.current().unwrap()), rotated);

        // Unreadable at start: the command fails instead of serving nothing.
        assert!(ReloadingCertificate::load(&cert, &key).is_err());
    }
}
