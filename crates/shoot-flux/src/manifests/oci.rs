//! A small client of the OCI distribution API, for Flux's release artifacts
//! (`flux.manifests.oci`) and the `mirror` command: manifests by tag or digest, blobs (their
//! redirects to storage followed as release downloads are), the tag list, and a monolithic
//! push. Authentication as the distribution spec has it: a request goes out anonymously, and a
//! 401 names how to log in (`WWW-Authenticate`): `Basic` (the credentials with every request)
//! or `Bearer` (a token from the realm, asked for with the credentials if there are any). The
//! registry is trusted by the system's CAs and, if configured, the operator's CA file.
//! Everything a reading takes (token, manifest, blob, redirects) shares one deadline.
//!
//! The deciding parts (references, challenges, manifests, layers) are in
//! `shoot_flux_core::flux::ociartifact`.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::fetch::{MAX_REDIRECTS, NextHop, describe, next_hop, resolve_location, without_query};
use shoot_flux_core::config::pullsecret::{DockerConfigJson, RegistryCredentials};
use shoot_flux_core::flux::bundle::ManifestError;
use shoot_flux_core::flux::ociartifact::{
    self as artifact, ArtifactOrigin, ArtifactRelease, ArtifactRepository, Challenge,
    ManifestReference, OciManifestSource,
};
use shoot_flux_core::fluxversion::FluxVersion;

/// The most a blob may be (Flux's release layer is about 50 kB).
const MAX_BLOB_BYTES: usize = 64 << 20;

/// An answer of the registry or the storage it redirected to.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What went wrong with one exchange, before it is judged (not found, unavailable).
#[derive(Debug)]
enum OciError {
    NotFound(String),
    Failed(String),
}

impl OciError {
    fn into_manifest_error(self, version: &FluxVersion) -> ManifestError {
        match self {
            Self::NotFound(location) => ManifestError::NotFound {
                version: version.tag(),
                location,
            },
            Self::Failed(message) => ManifestError::Unavailable(message),
        }
    }
}

impl std::fmt::Display for OciError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(location) => write!(f, "{location} not found"),
            Self::Failed(message) => f.write_str(message),
        }
    }
}

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

#[derive(Clone)]
pub struct OciClient {
    client: HttpsClient,
    credentials: Option<RegistryCredentials>,
    timeout: Duration,
    /// The options that set the timeout and the credentials, for messages.
    timeout_field: &'static str,
    credentials_field: &'static str,
}

impl std::fmt::Debug for OciClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OciClient")
            .field("credentials", &self.credentials)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// One reading or writing: the repository, its deadline, and the Authorization header once a
/// challenge was answered.
struct Session<'a> {
    repository: &'a ArtifactRepository,
    push: bool,
    deadline: tokio::time::Instant,
    authorization: Option<String>,
}

impl OciClient {
    /// The client of `flux.manifests.oci`: reads its CA file and pull secret file now, so that
    /// a missing or malformed one stops the start with the field's name (never the content).
    pub fn for_source(
        source: &OciManifestSource,
        timeout: Duration,
    ) -> Result<Self, ManifestError> {
        let ca = match &source.ca_file {
            Some(file) => Some(std::fs::read_to_string(file).map_err(|e| {
                ManifestError::Unavailable(format!(
                    "flux.manifests.oci.caFile: reading {file}: {e}"
                ))
            })?),
            None => None,
        };
        let credentials = match &source.pull_secret_file {
            Some(file) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    ManifestError::Unavailable(format!(
                        "flux.manifests.oci.pullSecretFile: reading {file}: {e}"
                    ))
                })?;
                let config = DockerConfigJson::parse(&text).map_err(|e| {
                    ManifestError::Unavailable(format!(
                        "flux.manifests.oci.pullSecretFile: {file} {e}"
                    ))
                })?;
                let credentials = config.credentials_for(&source.repository.registry);
                if credentials.is_none() {
                    return Err(ManifestError::Unavailable(format!(
                        "flux.manifests.oci.pullSecretFile: {file} has no credentials for {} (an \"auths\" entry with auth, or username and password)",
                        source.repository.registry
                    )));
                }
                credentials
            }
            None => None,
        };
        Self::new(ca.as_deref(), credentials, timeout)
            .map_err(|e| ManifestError::Unavailable(format!("flux.manifests.oci.caFile: {e}")))
    }

    /// A client trusting the system's CAs and `ca_pem`, logging in with `credentials`.
    pub fn new(
        ca_pem: Option<&str>,
        credentials: Option<RegistryCredentials>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            // A system certificate rustls cannot use is skipped, as hyper-rustls does.
            let _ = roots.add(cert);
        }
        if let Some(pem) = ca_pem {
            let mut added = 0;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| format!("not a PEM certificate: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("not a usable CA certificate: {e}"))?;
                added += 1;
            }
            if added == 0 {
                return Err("holds no PEM certificate".into());
            }
        }
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            credentials,
            timeout,
            timeout_field: "flux.manifests.timeout",
            credentials_field: "flux.manifests.oci.pullSecretFile",
        })
    }

    /// Names the options that set the timeout and the credentials in messages (the mirror's
    /// are flags).
    #[must_use]
    pub fn with_option_names(mut self, timeout: &'static str, credentials: &'static str) -> Self {
        self.timeout_field = timeout;
        self.credentials_field = credentials;
        self
    }

    fn session<'a>(&self, repository: &'a ArtifactRepository, push: bool) -> Session<'a> {
        Session {
            repository,
            push,
            deadline: tokio::time::Instant::now() + self.timeout,
            authorization: None,
        }
    }

    /// Flux `version`'s release from `source`: its manifest (by tag, or by the pinned digest,
    /// which it must hash to), then its content layer (which must hash to the manifest's
    /// digest). Returns the manifest's digest with the release.
    pub async fn pull_release(
        &self,
        source: &OciManifestSource,
        version: &FluxVersion,
    ) -> Result<(String, ArtifactRelease), ManifestError> {
        let reference = source.reference_for(version);
        let location = source.location(&reference);
        let mut session = self.session(&source.repository, false);
        let manifest = self
            .get_manifest(&mut session, reference.as_str(), &location)
            .await
            .map_err(|e| e.into_manifest_error(version))?;
        let digest = artifact::digest_of(&manifest);
        if let ManifestReference::Digest(pinned) = &reference {
            artifact::verify_digest(&manifest, pinned).map_err(|e| {
                ManifestError::Unavailable(format!(
                    "{location}: the manifest does not match the pinned digest (flux.manifests.oci.digests): {e}"
                ))
            })?;
        }
        let layer =
            artifact::content_layer(&manifest).map_err(|message| ManifestError::Malformed {
                version: version.tag(),
                message: format!("{location}: {message}"),
            })?;
        let blob = self
            .get_blob(&mut session, &layer.digest)
            .await
            .map_err(|e| e.into_manifest_error(version))?;
        artifact::verify_digest(&blob, &layer.digest).map_err(|e| {
            ManifestError::Unavailable(format!("{location}: layer {}: {e}", layer.digest))
        })?;
        let release = artifact::release_from_layer(version, &blob)?;
        Ok((digest, release))
    }

    /// The newest release tag of `repository` (for `latest`).
    pub async fn newest_release(
        &self,
        repository: &ArtifactRepository,
    ) -> Result<FluxVersion, ManifestError> {
        let mut session = self.session(repository, false);
        let url = repository.tags_url();
        let answer = self
            .exchange(&mut session, http::Method::GET, &url, &[], Bytes::new())
            .await
            .map_err(|e| ManifestError::Unavailable(format!("resolving latest: {e}")))?;
        if answer.status != 200 {
            return Err(ManifestError::Unavailable(format!(
                "resolving latest: GET {url}: answered {}{}",
                answer.status,
                error_detail(&answer.body)
            )));
        }
        artifact::newest_release(&answer.body)
            .map_err(|e| ManifestError::Unavailable(format!("resolving latest: {url}: {e}")))
    }

    /// Pushes `files` as a Flux artifact `repository:tag` (config, layer, manifest, as `flux
    /// push artifact` does); returns the manifest's digest.
    pub async fn push_artifact(
        &self,
        repository: &ArtifactRepository,
        tag: &str,
        files: &[(&str, &[u8])],
        origin: &ArtifactOrigin,
    ) -> Result<String, String> {
        let layer = artifact::pack_layer(files)?;
        let config = artifact::artifact_config();
        let manifest = artifact::artifact_manifest(&config, &layer, origin);
        let mut session = self.session(repository, true);
        for blob in [&config, &layer] {
            self.put_blob(&mut session, blob)
                .await
                .map_err(|e| e.to_string())?;
        }
        let url = repository.manifest_url(tag);
        let answer = self
            .exchange(
                &mut session,
                http::Method::PUT,
                &url,
                &[("content-type", artifact::OCI_MANIFEST_MEDIA_TYPE)],
                Bytes::from(manifest.clone()),
            )
            .await
            .map_err(|e| e.to_string())?;
        if answer.status != 201 {
            return Err(format!(
                "PUT {url}: answered {}{}",
                answer.status,
                error_detail(&answer.body)
            ));
        }
        let digest = artifact::digest_of(&manifest);
        if let Some(answered) = answer.header("docker-content-digest")
            && answered != digest
        {
            return Err(format!(
                "PUT {url}: the registry stored {answered}, not the manifest's {digest}"
            ));
        }
        Ok(digest)
    }

    async fn put_blob(&self, session: &mut Session<'_>, blob: &[u8]) -> Result<(), OciError> {
        let digest = artifact::digest_of(blob);
        let head = session.repository.blob_url(&digest);
        let exists = self
            .exchange(session, http::Method::HEAD, &head, &[], Bytes::new())
            .await?;
        if exists.status == 200 {
            return Ok(());
        }
        let start = session.repository.upload_url();
        let answer = self
            .exchange(session, http::Method::POST, &start, &[], Bytes::new())
            .await?;
        let location = match (answer.status, answer.header("location")) {
            (202, Some(location)) => {
                resolve_location(&start, location).map_err(OciError::Failed)?
            }
            (status, _) => {
                return Err(OciError::Failed(format!(
                    "POST {start}: answered {status}{}",
                    error_detail(&answer.body)
                )));
            }
        };
        let put = artifact::upload_put_url(&location, &digest);
        let answer = self
            .exchange(
                session,
                http::Method::PUT,
                &put,
                &[("content-type", "application/octet-stream")],
                Bytes::copy_from_slice(blob),
            )
            .await?;
        if answer.status != 201 {
            return Err(OciError::Failed(format!(
                "PUT {} (blob {digest}): answered {}{}",
                without_query(&put),
                answer.status,
                error_detail(&answer.body)
            )));
        }
        Ok(())
    }

    async fn get_manifest(
        &self,
        session: &mut Session<'_>,
        reference: &str,
        location: &str,
    ) -> Result<Bytes, OciError> {
        let url = session.repository.manifest_url(reference);
        let answer = self
            .exchange(
                session,
                http::Method::GET,
                &url,
                &[("accept", artifact::MANIFEST_ACCEPT)],
                Bytes::new(),
            )
            .await?;
        match answer.status {
            200 => Ok(answer.body),
            404 => Err(OciError::NotFound(location.to_string())),
            status => Err(OciError::Failed(format!(
                "GET {url}: answered {status}{}",
                error_detail(&answer.body)
            ))),
        }
    }

    /// A blob, following the registry's redirects to its storage. The Authorization header
    /// goes only to the registry itself: storage URLs carry their own signature.
    async fn get_blob(&self, session: &mut Session<'_>, digest: &str) -> Result<Bytes, OciError> {
        let first = session.repository.blob_url(digest);
        let answer = self
            .exchange(session, http::Method::GET, &first, &[], Bytes::new())
            .await?;
        let mut current = first.clone();
        let mut answer = answer;
        for followed in 0..=MAX_REDIRECTS {
            match next_hop(
                &current,
                answer.status,
                answer.header("location"),
                followed,
                MAX_REDIRECTS,
            ) {
                NextHop::Done => break,
                NextHop::Error(message) => {
                    return Err(OciError::Failed(format!(
                        "GET {}: {message}",
                        without_query(&current)
                    )));
                }
                NextHop::Follow(next) => {
                    let same_host = host_of(&next) == host_of(&first);
                    let authorization = if same_host {
                        session.authorization.clone()
                    } else {
                        None
                    };
                    answer = self
                        .send(
                            http::Method::GET,
                            &next,
                            &[],
                            authorization.as_deref(),
                            Bytes::new(),
                            session.deadline,
                        )
                        .await?;
                    current = next;
                }
            }
        }
        match answer.status {
            200 => Ok(answer.body),
            404 if current == first => Err(OciError::NotFound(format!(
                "{} blob {digest}",
                session.repository
            ))),
            status => Err(OciError::Failed(format!(
                "GET {}: answered {status}{}",
                without_query(&current),
                error_detail(&answer.body)
            ))),
        }
    }

    /// One request to the registry, logging in when it answers 401 and asking again.
    async fn exchange(
        &self,
        session: &mut Session<'_>,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<Answer, OciError> {
        let answer = self
            .send(
                method.clone(),
                url,
                headers,
                session.authorization.as_deref(),
                body.clone(),
                session.deadline,
            )
            .await?;
        if answer.status != 401 {
            return Ok(answer);
        }
        let challenge = answer
            .header("www-authenticate")
            .ok_or_else(|| {
                OciError::Failed(format!(
                    "{method} {url}: answered 401 without WWW-Authenticate"
                ))
            })
            .and_then(|h| {
                artifact::parse_challenge(h)
                    .map_err(|e| OciError::Failed(format!("{method} {url}: answered 401: {e}")))
            })?;
        let tried = session.authorization.is_some();
        let authorization = match challenge {
            Challenge::Basic => {
                let Some(credentials) = &self.credentials else {
                    return Err(self.refused(
                        &method,
                        url,
                        "needs credentials and none are configured",
                    ));
                };
                if tried {
                    return Err(self.refused(&method, url, "refused the credentials"));
                }
                credentials.basic_header()
            }
            Challenge::Bearer {
                realm,
                service,
                scope,
            } => {
                let scope = scope.unwrap_or_else(|| session.repository.scope(session.push));
                let token = self
                    .token(&realm, service.as_deref(), &scope, session.deadline)
                    .await?;
                format!("Bearer {token}")
            }
        };
        session.authorization = Some(authorization);
        let again = self
            .send(
                method.clone(),
                url,
                headers,
                session.authorization.as_deref(),
                body,
                session.deadline,
            )
            .await?;
        if again.status == 401 {
            let what = if self.credentials.is_some() {
                "refused the credentials"
            } else {
                "needs credentials and none are configured"
            };
            return Err(self.refused(&method, url, what));
        }
        Ok(again)
    }

    fn refused(&self, method: &http::Method, url: &str, what: &str) -> OciError {
        let hint = if self.credentials.is_some() {
            format!("check the credentials of {}", self.credentials_field)
        } else {
            format!("set {}", self.credentials_field)
        };
        OciError::Failed(format!(
            "{method} {url}: answered 401: the registry {what}; {hint}"
        ))
    }

    /// A token from a Bearer realm, asked for with the credentials if there are any
    /// (anonymous tokens serve public repositories).
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        deadline: tokio::time::Instant,
    ) -> Result<String, OciError> {
        let url = artifact::token_url(realm, service, scope);
        let basic = self
            .credentials
            .as_ref()
            .map(RegistryCredentials::basic_header);
        let answer = self
            .send(
                http::Method::GET,
                &url,
                &[],
                basic.as_deref(),
                Bytes::new(),
                deadline,
            )
            .await?;
        match answer.status {
            200 => artifact::token_from_answer(&answer.body)
                .map_err(|e| OciError::Failed(format!("GET {}: {e}", without_query(realm)))),
            401 | 403 => Err(self.refused(
                &http::Method::GET,
                realm,
                "token service refused the credentials",
            )),
            status => Err(OciError::Failed(format!(
                "GET {}: the token service answered {status}",
                without_query(realm)
            ))),
        }
    }

    /// One HTTP request under the deadline; the answer whatever its status.
    async fn send(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        authorization: Option<&str>,
        body: Bytes,
        deadline: tokio::time::Instant,
    ) -> Result<Answer, OciError> {
        let shown = without_query(url);
        let failed = |message: String| OciError::Failed(format!("{method} {shown}: {message}"));
        let mut request = http::Request::builder().method(method.clone()).uri(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(authorization) = authorization {
            request = request.header(http::header::AUTHORIZATION, authorization);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| failed(format!("invalid request: {e}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| failed(describe(&e)))?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = Limited::new(response.into_body(), MAX_BLOB_BYTES)
                .collect()
                .await
                .map_err(|e| failed(e.to_string()))?
                .to_bytes();
            Ok(Answer {
                status,
                headers,
                body,
            })
        };
        tokio::time::timeout_at(deadline, exchange)
            .await
            .map_err(|_| {
                OciError::Failed(format!(
                    "{method} {shown} timed out: {} is {:?}, one deadline for the artifact (token, manifest, layer and redirects)",
                    self.timeout_field, self.timeout
                ))
            })?
    }
}

/// `host[:port]` of an absolute URL, lowercased.
fn host_of(url: &str) -> String {
    url.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// `: <code>: <message>` of a distribution error body, when it has one.
fn error_detail(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    value["errors"]
        .as_array()
        .and_then(|errors| errors.first())
        .map(|e| {
            format!(
                " ({}: {})",
                e["code"].as_str().unwrap_or("?"),
                e["message"].as_str().unwrap_or_default()
            )
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_urls() {
        assert_eq!(host_of("https://127.0.0.1:5000/v2/x?y"), "127.0.0.1:5000");
        assert_eq!(host_of("https://S3.example.com?sig=1"), "s3.example.com");
    }

    #[test]
    fn distribution_errors_are_named() {
        assert_eq!(
            error_detail(
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#
            ),
            " (MANIFEST_UNKNOWN: manifest unknown)"
        );
        assert_eq!(error_detail(b"<html>"), "");
    }
}
