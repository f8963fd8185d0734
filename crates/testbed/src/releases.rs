//! Serves the prepared Flux release assets in GitHub's release layout on loopback:
//! `/fluxcd/flux2/releases/download/<tag>/{install.yaml,manifests.tar.gz}`, and the `latest`
//! redirects GitHub answers (`/releases/latest` -> `/releases/tag/<tag>`,
//! `/releases/latest/download/<file>` -> `/releases/download/<tag>/<file>`).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::httpserve::{HttpServer, response};
use crate::paths;

#[derive(Debug)]
pub struct ReleaseServer {
    server: HttpServer,
    requests: Arc<Mutex<Vec<String>>>,
    pub latest: String,
}

const PREFIX: &str = "/fluxcd/flux2/releases";

fn redirect(location: String) -> hyper::Response<crate::httpserve::Body> {
    let mut r = response(302, "");
    if let Ok(value) = hyper::header::HeaderValue::from_str(&location) {
        r.headers_mut().insert(hyper::header::LOCATION, value);
    }
    r
}

impl ReleaseServer {
    /// Serves every tag prepared in the cache; `latest` redirects to `latest_tag`.
    pub fn start(latest_tag: &str) -> Result<Self> {
        let root: PathBuf = paths::cached_file("flux-releases", "flux-assets")?;
        paths::flux_release_dir(latest_tag)?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let latest = latest_tag.to_string();
        let (log, tag) = (requests.clone(), latest.clone());
        let server = HttpServer::start(move |req| {
            let path = req.uri().path().to_string();
            if let Ok(mut l) = log.lock() {
                l.push(path.clone());
            }
            let root = root.clone();
            let latest = tag.clone();
            async move {
                let Some(rest) = path.strip_prefix(PREFIX) else {
                    return response(404, "not found");
                };
                let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
                match parts.as_slice() {
                    ["latest"] => redirect(format!("{PREFIX}/tag/{latest}")),
                    ["latest", "download", file] => {
                        redirect(format!("{PREFIX}/download/{latest}/{file}"))
                    }
                    ["tag", tag] => response(200, format!("release {tag}")),
                    ["download", tag, file] if !tag.contains("..") && !file.contains("..") => {
                        match tokio::fs::read(root.join(tag).join(file)).await {
                            Ok(bytes) => response(200, bytes),
                            Err(_) => response(404, "Not Found"),
                        }
                    }
                    _ => response(404, "Not Found"),
                }
            }
        })?;
        Ok(Self {
            server,
            requests,
            latest,
        })
    }

    /// The base URL as an operator would configure it (`.../fluxcd/flux2/releases`).
    pub fn base_url(&self) -> String {
        format!("{}{PREFIX}", self.server.url())
    }

    /// Every path requested so far (to prove "fetched once" in tests).
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}
