//! A token service for the bed's registry: Docker's token authentication as registries such as
//! ghcr.io, Docker Hub and Harbor use it. The registry (the real distribution registry, started
//! with [`Registry::start_token_auth`](crate::registry::Registry::start_token_auth)) answers
//! requests without a token with 401 and `WWW-Authenticate: Bearer realm=...,service=...,
//! scope=repository:<name>:<actions>`; the client asks this service for a token and sends it as
//! `Authorization: Bearer`; the registry checks the token's signature, issuer, audience, expiry
//! and access claims itself.
//!
//! What it reproduces: `GET <realm>?service=<service>&scope=repository:<name>:<actions>` with
//! or without Basic credentials; wrong credentials -> 401 (with a JSON error); no credentials ->
//! an anonymous token that grants nothing (as Docker Hub does for a private repository, so the
//! registry answers 401 again); right credentials -> a token granting the asked actions. The
//! answer has `token` and `access_token`, `expires_in` and `issued_at`; tokens are JWTs signed
//! with ES256 whose key travels in the `x5c` header, its certificate being the registry's
//! `rootcertbundle`.
//!
//! Served over TLS with the bed's serving certificate (clients refuse an http realm for an https
//! registry, as go-containerregistry does).
//!
//! What differs: it listens on 127.0.0.1 only, one user, every
//! repository granted to it, a service that counts its requests for tests, no refresh tokens, no
//! OAuth2 POST form.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use base64::Engine;
use rcgen::{CertificateParams, KeyPair, SigningKey};
use serde_json::json;

use crate::basicauth::BasicAuth;
use crate::httpserve::{Body, HttpServer, response};

/// The registry's `service` (the tokens' audience).
pub const SERVICE: &str = "shoot-flux-testbed-registry";
/// The tokens' issuer.
pub const ISSUER: &str = "shoot-flux-testbed-token-service";

/// One token request, as the service judged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub scope: String,
    /// Whether Basic credentials came along (right or wrong).
    pub with_credentials: bool,
    pub status: u16,
}

#[derive(Debug)]
struct State {
    user: BasicAuth,
    key: KeyPair,
    cert_der: Vec<u8>,
    requests: Mutex<Vec<TokenRequest>>,
}

/// A running token service; dropping it stops it.
#[derive(Debug)]
pub struct TokenService {
    server: HttpServer,
    state: Arc<State>,
    root_cert_file: PathBuf,
}

impl TokenService {
    /// Starts a token service for `user`; the certificate of its signing key is written to
    /// `dir/<name>-root.crt` (the registry's `rootcertbundle`).
    pub fn start(name: &str, dir: &Path, pki: &crate::pki::Pki, user: BasicAuth) -> Result<Self> {
        let key = KeyPair::generate().context("the token signing key")?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, ISSUER);
        let cert = params.self_signed(&key)?;
        let root_cert_file = dir.join(format!("{name}-root.crt"));
        std::fs::write(&root_cert_file, cert.pem())
            .with_context(|| format!("writing {}", root_cert_file.display()))?;
        let state = Arc::new(State {
            user,
            key,
            cert_der: cert.der().to_vec(),
            requests: Mutex::new(Vec::new()),
        });
        let server = {
            let state = state.clone();
            HttpServer::start_tls(tls_config(pki)?, move |req| {
                let state = state.clone();
                async move { serve(&state, &req) }
            })?
        };
        Ok(Self {
            server,
            state,
            root_cert_file,
        })
    }

    /// The realm the registry names in its challenges.
    pub fn realm(&self) -> String {
        format!("https://{}/token", self.server.addr)
    }

    pub fn root_cert_file(&self) -> &Path {
        &self.root_cert_file
    }

    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

/// The bed's serving certificate (valid for 127.0.0.1) as a TLS server configuration.
fn tls_config(pki: &crate::pki::Pki) -> Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&pki.serving_cert_file)
        .context("the serving certificate")?
        .collect::<Result<Vec<_>, _>>()
        .context("the serving certificate")?;
    let key = PrivateKeyDer::from_pem_file(&pki.serving_key_file).context("the serving key")?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

fn serve(state: &State, req: &hyper::Request<hyper::body::Incoming>) -> hyper::Response<Body> {
    if req.uri().path() != "/token" {
        return response(404, "not found");
    }
    let query = req.uri().query().unwrap_or_default();
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| percent_decode(v))
    };
    let scope = param("scope").unwrap_or_default();
    let service = param("service").unwrap_or_default();
    let credentials = req
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let authorized = credentials.as_deref() == Some(state.user.header_value().as_str());
    let status = if credentials.is_some() && !authorized {
        401
    } else if service != SERVICE {
        400
    } else {
        200
    };
    if let Ok(mut requests) = state.requests.lock() {
        requests.push(TokenRequest {
            scope: scope.clone(),
            with_credentials: credentials.is_some(),
            status,
        });
    }
    match status {
        200 => {}
        401 => {
            let mut r = response(
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            return r;
        }
        _ => return response(status, "unknown service"),
    }
    let access = if authorized {
        access_claims(&scope)
    } else {
        serde_json::Value::Array(Vec::new())
    };
    let subject = if authorized {
        state.user.user.clone()
    } else {
        String::new()
    };
    match sign_token(state, &subject, access) {
        Ok(token) => {
            let body = json!({
                "token": token, "access_token": token, "expires_in": 300,
                "issued_at": iso_now(),
            });
            let mut r = response(200, body.to_string());
            r.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => response(500, format!("signing the token: {e}")),
    }
}

/// `repository:a/b:pull,push repository:c:pull` -> the JWT's access claims.
fn access_claims(scope: &str) -> serde_json::Value {
    let mut out = Vec::new();
    for item in scope.split(' ').filter(|s| !s.is_empty()) {
        let mut parts = item.splitn(3, ':');
        if let (Some(kind), Some(name), Some(actions)) = (parts.next(), parts.next(), parts.next())
        {
            let actions: Vec<&str> = actions.split(',').collect();
            out.push(json!({"type": kind, "name": name, "actions": actions}));
        }
    }
    serde_json::Value::Array(out)
}

fn sign_token(state: &State, subject: &str, access: serde_json::Value) -> Result<String> {
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = json!({
        "typ": "JWT", "alg": "ES256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(&state.cert_der)],
    });
    let claims = json!({
        "iss": ISSUER, "sub": subject, "aud": SERVICE,
        "exp": now + 300, "nbf": now.saturating_sub(10), "iat": now,
        "jti": format!("{now}-{}", rand_core::RngCore::next_u64(&mut rand_core::OsRng)),
        "access": access,
    });
    let signing_input = format!(
        "{}.{}",
        url.encode(header.to_string()),
        url.encode(claims.to_string())
    );
    let der = state
        .key
        .sign(signing_input.as_bytes())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let raw = ecdsa_der_to_raw(&der).context("the ECDSA signature")?;
    Ok(format!("{signing_input}.{}", url.encode(raw)))
}

/// An ASN.1 `SEQUENCE { r INTEGER, s INTEGER }` -> `r || s`, 32 bytes each (JWS ES256).
fn ecdsa_der_to_raw(der: &[u8]) -> Result<Vec<u8>> {
    fn integer(input: &[u8]) -> Result<(&[u8], &[u8])> {
        anyhow::ensure!(input.len() >= 2 && input[0] == 0x02, "not an INTEGER");
        let len = usize::from(input[1]);
        anyhow::ensure!(input.len() >= 2 + len, "short INTEGER");
        Ok((&input[2..2 + len], &input[2 + len..]))
    }
    anyhow::ensure!(der.len() >= 2 && der[0] == 0x30, "not a SEQUENCE");
    let body = &der[2..];
    let (r, rest) = integer(body)?;
    let (s, _) = integer(rest)?;
    let mut out = Vec::with_capacity(64);
    for n in [r, s] {
        let n = if n.len() > 32 { &n[n.len() - 32..] } else { n };
        out.extend(std::iter::repeat_n(0u8, 32 - n.len()));
        out.extend_from_slice(n);
    }
    Ok(out)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn iso_now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn scopes_become_access_claims() {
        assert_eq!(
            access_claims("repository:fluxcd/flux-manifests:pull,push"),
            json!([{"type": "repository", "name": "fluxcd/flux-manifests", "actions": ["pull", "push"]}])
        );
        assert_eq!(
            percent_decode("repository%3Aa%2Fb%3Apull"),
            "repository:a/b:pull"
        );
    }

    #[test]
    fn der_signatures_become_64_bytes() {
        // r with a leading zero (33 bytes), s short (31 bytes).
        let mut der = vec![0x30, 0x44, 0x02, 0x21, 0x00];
        der.extend([0xAA; 32]);
        der.extend([0x02, 0x1F]);
        der.extend([0xBB; 31]);
        der[1] = u8::try_from(der.len() - 2).unwrap();
        let raw = ecdsa_der_to_raw(&der).unwrap();
        assert_eq!(raw.len(), 64);
        assert_eq!(&raw[..32], &[0xAA; 32]);
        assert_eq!(raw[32], 0);
        assert_eq!(&raw[33..], &[0xBB; 31]);
    }
}
