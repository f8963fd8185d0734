//! A stand-in for github.com's Flux release downloads, on two loopback servers, as strict as
//! GitHub where shoot-flux depends on it.
//!
//! The release host (`base_url()`, GitHub's `https://github.com/fluxcd/flux2/releases`):
//! - `GET /fluxcd/flux2/releases/latest` -> 302 to `<host>/fluxcd/flux2/releases/tag/<latest>`
//!   (absolute, as GitHub writes it); the tag page answers 200.
//! - `GET .../download/<tag>/<file>` -> 302 to the asset host with a signed, expiring URL, for
//!   every prepared tag and the assets `install.yaml` and `manifests.tar.gz`; an unknown tag or
//!   file -> 404 from the release host itself, no redirect.
//! - `GET .../latest/download/<file>` -> 302 to `.../download/<latest>/<file>` (a second hop
//!   follows).
//!
//! The asset host (`asset_host_url()`, GitHub's release-assets.githubusercontent.com) serves a
//! file only through the URL the release host handed out: an opaque path plus a query whose
//! signature covers path and expiry (`se`), valid for five minutes like GitHub's. A wrong or
//! missing signature or an expired URL -> 403 with an XML `AuthenticationFailed` error (Azure
//! Blob storage's form); an unknown path -> 404 `BlobNotFound`. Files are answered with
//! `Content-Type: application/octet-stream` and `Content-Disposition: attachment`.
//!
//! Not reproduced: TLS (both are plain http on 127.0.0.1, so the https -> http rule of the
//! client is shown by its unit tests only), distinct host names (the two hosts differ by port),
//! HTTP/2, rate limits, the HTML release pages, the API (api.github.com, which shoot-flux never
//! calls), other assets of a release (CLI archives, checksums), HEAD and range requests, and
//! GitHub's other redirect headers and bodies.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use sha2::{Digest, Sha256};

use crate::httpserve::{Body, HttpServer, response};
use crate::paths;

const PREFIX: &str = "/fluxcd/flux2/releases";
const ASSET_PREFIX: &str = "/github-production-release-asset";
/// The files of a release the server hands out (the assets shoot-flux reads).
const ASSETS: [&str; 2] = ["install.yaml", "manifests.tar.gz"];
/// How long a signed asset URL is valid (GitHub's are valid for minutes).
const URL_LIFETIME: Duration = Duration::from_secs(300);

/// One request to the asset host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRequest {
    /// The path requested (the query with the signature left out).
    pub path: String,
    /// `<tag>/<file>` when the path names a handed-out asset.
    pub asset: Option<String>,
    pub status: u16,
}

#[derive(Debug)]
struct State {
    root: PathBuf,
    latest: Mutex<String>,
    key: [u8; 32],
    url_lifetime: Mutex<Duration>,
    /// Opaque asset ids handed out in redirects -> (tag, file).
    blobs: Mutex<HashMap<String, (String, String)>>,
    requests: Mutex<Vec<String>>,
    asset_requests: Mutex<Vec<AssetRequest>>,
}

impl State {
    fn sign(&self, path: &str, expires: u64) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(path.as_bytes());
        h.update(b"\n");
        h.update(expires.to_string().as_bytes());
        hex::encode(h.finalize())
    }

    fn asset_id(&self, tag: &str, file: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(format!("{tag}/{file}").as_bytes());
        hex::encode(&h.finalize()[..16])
    }
}

#[derive(Debug)]
pub struct ReleaseServer {
    github: HttpServer,
    assets: HttpServer,
    state: Arc<State>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn redirect(location: &str) -> hyper::Response<Body> {
    let mut r = response(302, "");
    if let Ok(value) = hyper::header::HeaderValue::from_str(location) {
        r.headers_mut().insert(hyper::header::LOCATION, value);
    }
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

fn xml_error(status: u16, code: &str, detail: &str) -> hyper::Response<Body> {
    let mut r = response(
        status,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>{code}</Code><Message>{detail}</Message></Error>"
        ),
    );
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/xml"),
    );
    r
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl ReleaseServer {
    /// Serves every tag prepared in the cache; `latest` redirects to `latest_tag`.
    pub fn start(latest_tag: &str) -> Result<Self> {
        let root: PathBuf = paths::cached_file("flux-releases", "flux-assets")?;
        paths::flux_release_dir(latest_tag)?;
        let mut key = [0u8; 32];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut key);
        let state = Arc::new(State {
            root,
            latest: Mutex::new(latest_tag.to_string()),
            key,
            url_lifetime: Mutex::new(URL_LIFETIME),
            blobs: Mutex::new(HashMap::new()),
            requests: Mutex::new(Vec::new()),
            asset_requests: Mutex::new(Vec::new()),
        });
        let assets = {
            let state = state.clone();
            HttpServer::start(move |req| {
                let state = state.clone();
                let path = req.uri().path().to_string();
                let query = req.uri().query().unwrap_or_default().to_string();
                async move { serve_asset(&state, &path, &query).await }
            })?
        };
        let asset_host = assets.url();
        let github = {
            let state = state.clone();
            let asset_host = asset_host.clone();
            let host = Arc::new(Mutex::new(String::new()));
            let github = HttpServer::start({
                let host = host.clone();
                move |req| {
                    let state = state.clone();
                    let path = req.uri().path().to_string();
                    let host = host.lock().map(|h| h.clone()).unwrap_or_default();
                    let asset_host = asset_host.clone();
                    async move { serve_release(&state, &host, &asset_host, &path).await }
                }
            })?;
            if let Ok(mut h) = host.lock() {
                *h = github.url();
            }
            github
        };
        Ok(Self {
            github,
            assets,
            state,
        })
    }

    /// The base URL as an operator would configure it (`.../fluxcd/flux2/releases`).
    pub fn base_url(&self) -> String {
        format!("{}{PREFIX}", self.github.url())
    }

    /// The asset host's URL (`http://127.0.0.1:<port>`), where downloads are redirected.
    pub fn asset_host_url(&self) -> String {
        self.assets.url()
    }

    /// The tag `latest` redirects to now.
    pub fn latest(&self) -> String {
        self.state
            .latest
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// Switches the tag `latest` redirects to, as a new Flux release does on GitHub.
    pub fn set_latest(&self, tag: &str) -> Result<()> {
        paths::flux_release_dir(tag)?;
        if let Ok(mut l) = self.state.latest.lock() {
            *l = tag.to_string();
        }
        Ok(())
    }

    /// How long the signed asset URLs handed out from now on are valid (zero: expired on
    /// arrival, to see how a client handles the asset host's 403).
    pub fn set_url_lifetime(&self, lifetime: Duration) {
        if let Ok(mut l) = self.state.url_lifetime.lock() {
            *l = lifetime;
        }
    }

    /// Every path requested from the release host so far (to prove "fetched once" in tests).
    pub fn requests(&self) -> Vec<String> {
        self.state
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }

    /// Every request to the asset host so far.
    pub fn asset_requests(&self) -> Vec<AssetRequest> {
        self.state
            .asset_requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

async fn serve_release(
    state: &State,
    host: &str,
    asset_host: &str,
    path: &str,
) -> hyper::Response<Body> {
    if let Ok(mut l) = state.requests.lock() {
        l.push(path.to_string());
    }
    let latest = state.latest.lock().map(|l| l.clone()).unwrap_or_default();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return response(404, "Not Found");
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let exists = |tag: &str, file: &str| {
        !tag.contains("..") && !tag.is_empty() && state.root.join(tag).join(file).is_file()
    };
    match parts.as_slice() {
        ["latest"] => redirect(&format!("{host}{PREFIX}/tag/{latest}")),
        ["latest", "download", file] => {
            redirect(&format!("{host}{PREFIX}/download/{latest}/{file}"))
        }
        ["tag", tag] if exists(tag, "install.yaml") => response(200, format!("release {tag}")),
        ["download", tag, file] if ASSETS.contains(file) && exists(tag, file) => {
            let id = state.asset_id(tag, file);
            if let Ok(mut blobs) = state.blobs.lock() {
                blobs.insert(id.clone(), (tag.to_string(), file.to_string()));
            }
            let lifetime = state
                .url_lifetime
                .lock()
                .map(|l| *l)
                .unwrap_or(URL_LIFETIME);
            let expires = unix_now() + lifetime.as_secs();
            let asset_path = format!("{ASSET_PREFIX}/{id}");
            let sig = state.sign(&asset_path, expires);
            redirect(&format!(
                "{asset_host}{asset_path}?se={expires}&sig={sig}&rscd=attachment%3B+filename%3D{file}&rsct=application%2Foctet-stream"
            ))
        }
        _ => response(404, "Not Found"),
    }
}

async fn serve_asset(state: &State, path: &str, query: &str) -> hyper::Response<Body> {
    let blob = path
        .strip_prefix(ASSET_PREFIX)
        .map(|id| id.trim_start_matches('/'))
        .and_then(|id| state.blobs.lock().ok()?.get(id).cloned());
    let answer = match &blob {
        None => xml_error(404, "BlobNotFound", "The specified blob does not exist."),
        Some((tag, file)) => {
            let expires = query_param(query, "se").and_then(|s| s.parse::<u64>().ok());
            let signed = expires.is_some_and(|e| {
                query_param(query, "sig").is_some_and(|sig| sig == state.sign(path, e))
            });
            match expires {
                _ if !signed => xml_error(
                    403,
                    "AuthenticationFailed",
                    "Server failed to authenticate the request: signature did not match.",
                ),
                Some(e) if e <= unix_now() => xml_error(
                    403,
                    "AuthenticationFailed",
                    "Signature not valid in the specified time frame.",
                ),
                _ => match tokio::fs::read(state.root.join(tag).join(file)).await {
                    Ok(bytes) => {
                        let mut r = response(200, bytes);
                        let headers = r.headers_mut();
                        headers.insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("application/octet-stream"),
                        );
                        if let Ok(v) = hyper::header::HeaderValue::from_str(&format!(
                            "attachment; filename={file}"
                        )) {
                            headers.insert(hyper::header::CONTENT_DISPOSITION, v);
                        }
                        r
                    }
                    Err(_) => xml_error(404, "BlobNotFound", "The specified blob does not exist."),
                },
            }
        }
    };
    if let Ok(mut l) = state.asset_requests.lock() {
        l.push(AssetRequest {
            path: path.to_string(),
            asset: blob.map(|(tag, file)| format!("{tag}/{file}")),
            status: answer.status().as_u16(),
        });
    }
    answer
}
