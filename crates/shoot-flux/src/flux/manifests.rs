//! Flux install manifests by version, from a release base URL (GitHub's layout) or a local
//! directory. Each version is fetched and parsed once; each (version, namespace, registry) is
//! transformed, serialised and compressed once, and shared by every shoot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use super::fetch::{FetchError, Fetcher};
use super::transform::{self, InstallOptions};
use crate::config::operator::ManifestSource;
use crate::config::version::{self, FluxVersion, VersionRequest};
use crate::managedresource::brotli_compress;

/// How long a resolved `latest` is reused before asking again.
const LATEST_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The version does not exist at the source: a configuration problem.
    #[error("Flux {version} has no install.yaml at {location}; check the version")]
    NotFound { version: String, location: String },
    /// The source could not be reached or answered nonsense: retry later.
    #[error("Flux install manifests unavailable: {0}")]
    Unavailable(String),
    #[error("Flux {version} install.yaml is malformed: {message}")]
    Malformed { version: String, message: String },
}

impl From<FetchError> for ManifestError {
    fn from(e: FetchError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

/// One parsed release.
#[derive(Debug)]
pub struct Release {
    pub version: FluxVersion,
    pub sha256: String,
    pub docs: Vec<serde_json::Value>,
}

/// The component files of a release's manifests.tar.gz, by component name.
#[derive(Debug)]
pub struct ReleaseComponents {
    pub sha256: String,
    pub components: HashMap<String, Vec<serde_json::Value>>,
}

/// Reads `<component>.yaml` files of a manifests.tar.gz.
pub fn components_from_tarball(
    version: &FluxVersion,
    gzipped: &[u8],
) -> Result<HashMap<String, Vec<serde_json::Value>>, ManifestError> {
    use std::io::Read;
    let malformed = |message: String| ManifestError::Malformed {
        version: format!("{} manifests.tar.gz", version.tag()),
        message,
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(gzipped));
    let mut out = HashMap::new();
    for entry in archive.entries().map_err(|e| malformed(e.to_string()))? {
        let mut entry = entry.map_err(|e| malformed(e.to_string()))?;
        let path = entry.path().map_err(|e| malformed(e.to_string()))?;
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".yaml"))
            .map(str::to_string)
        else {
            continue;
        };
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| malformed(format!("{name}.yaml: {e}")))?;
        let mut docs = transform::parse_documents(&text)
            .map_err(|e| malformed(format!("{name}.yaml: {e}")))?;
        transform::namespace_component(&mut docs);
        out.insert(name, docs);
    }
    Ok(out)
}

/// The transformed install manifests of one version, ready for a ManagedResource secret.
#[derive(Debug)]
pub struct InstallBundle {
    pub version: FluxVersion,
    pub yaml: String,
    pub compressed: Vec<u8>,
    pub images: Vec<String>,
    /// Controller Deployment names with their images, for the `FluxInstalled` condition.
    pub controllers: Vec<(String, String)>,
}

type Slot<T> = Arc<OnceCell<Arc<T>>>;

pub struct ManifestStore {
    source: ManifestSource,
    fetcher: Fetcher,
    releases: Mutex<HashMap<FluxVersion, Slot<Release>>>,
    tarballs: Mutex<HashMap<FluxVersion, Slot<ReleaseComponents>>>,
    bundles: Mutex<HashMap<(FluxVersion, InstallOptions), Slot<InstallBundle>>>,
    latest: Mutex<Option<(FluxVersion, Instant)>>,
}

impl std::fmt::Debug for ManifestStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManifestStore")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

fn slot<K: std::hash::Hash + Eq + Clone, T>(map: &Mutex<HashMap<K, Slot<T>>>, key: &K) -> Slot<T> {
    let mut guard = map
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    guard.entry(key.clone()).or_default().clone()
}

impl ManifestStore {
    pub fn new(source: ManifestSource, timeout: Duration) -> Result<Self, ManifestError> {
        Ok(Self {
            source,
            fetcher: Fetcher::new(timeout)?,
            releases: Mutex::new(HashMap::new()),
            tarballs: Mutex::new(HashMap::new()),
            bundles: Mutex::new(HashMap::new()),
            latest: Mutex::new(None),
        })
    }

    /// Resolves `latest` through the release redirect (never an API), cached for an hour, with
    /// the last known version as fallback when the source cannot be reached.
    pub async fn resolve(&self, request: &VersionRequest) -> Result<FluxVersion, ManifestError> {
        let VersionRequest::Exact(v) = request else {
            return self.resolve_latest().await;
        };
        Ok(v.clone())
    }

    async fn resolve_latest(&self) -> Result<FluxVersion, ManifestError> {
        let cached = self
            .latest
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some((v, at)) = &cached
            && at.elapsed() < LATEST_TTL
        {
            return Ok(v.clone());
        }
        let fresh = match &self.source {
            ManifestSource::BaseUrl(base) => {
                let url = format!("{base}/latest");
                match self.fetcher.get(&url).await {
                    Ok(r) if (300..400).contains(&r.status) => {
                        let location = r.location.unwrap_or_default();
                        let tag = location.rsplit('/').next().unwrap_or_default();
                        version::parse_exact(tag).map_err(|e| {
                            ManifestError::Unavailable(format!(
                                "{url} redirects to {location:?}: {e}"
                            ))
                        })
                    }
                    Ok(r) => Err(ManifestError::Unavailable(format!(
                        "{url} answered {} instead of a redirect",
                        r.status
                    ))),
                    Err(e) => Err(e.into()),
                }
            }
            ManifestSource::Directory(dir) => newest_in_directory(dir),
        };
        match fresh {
            Ok(v) => {
                *self
                    .latest
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((v.clone(), Instant::now()));
                Ok(v)
            }
            Err(e) => match cached {
                Some((v, _)) => {
                    tracing::warn!(error = %e, version = %v, "resolving latest Flux failed; using the last known version");
                    Ok(v)
                }
                None => Err(e),
            },
        }
    }

    /// The parsed release of `version`, fetched once.
    pub async fn release(&self, version: &FluxVersion) -> Result<Arc<Release>, ManifestError> {
        let cell = slot(&self.releases, version);
        cell.get_or_try_init(|| async {
            let text = self.install_yaml(version).await?;
            let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
            let docs = transform::parse_documents(&text).map_err(|e| ManifestError::Malformed {
                version: version.tag(),
                message: e.to_string(),
            })?;
            tracing::info!(version = %version, sha256 = %sha256, documents = docs.len(), "loaded Flux install manifests");
            Ok(Arc::new(Release {
                version: version.clone(),
                sha256,
                docs,
            }))
        })
        .await
        .cloned()
    }

    /// The install bundle of `version` with `options`, built once.
    pub async fn install_bundle(
        &self,
        version: &FluxVersion,
        options: &InstallOptions,
    ) -> Result<Arc<InstallBundle>, ManifestError> {
        let release = self.release(version).await?;
        let extras = if options.components_extra.is_empty() {
            None
        } else {
            Some(self.components(version).await?)
        };
        let cell = slot(&self.bundles, &(version.clone(), options.clone()));
        cell.get_or_try_init(|| async {
            let mut input = release.docs.clone();
            for name in &options.components_extra {
                let docs = extras
                    .as_ref()
                    .and_then(|e| e.components.get(name))
                    .ok_or_else(|| ManifestError::NotFound {
                        version: version.tag(),
                        location: format!("{name}.yaml in manifests.tar.gz"),
                    })?;
                input.extend(docs.iter().cloned());
            }
            let mut docs = transform::transform(&input, options);
            transform::label_as_flux_install(&mut docs, &version.tag(), &options.namespace);
            let yaml = transform::to_yaml(&docs).map_err(|message| ManifestError::Malformed {
                version: version.tag(),
                message,
            })?;
            let compressed = brotli_compress(yaml.as_bytes());
            Ok(Arc::new(InstallBundle {
                version: version.clone(),
                images: transform::images(&docs),
                controllers: transform::controllers(&docs),
                yaml,
                compressed,
            }))
        })
        .await
        .cloned()
    }

    /// The component files of `version`'s manifests.tar.gz, fetched once (only for extras).
    pub async fn components(
        &self,
        version: &FluxVersion,
    ) -> Result<Arc<ReleaseComponents>, ManifestError> {
        let cell = slot(&self.tarballs, version);
        cell.get_or_try_init(|| async {
            let bytes = self.asset(version, "manifests.tar.gz").await?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let components = components_from_tarball(version, &bytes)?;
            tracing::info!(version = %version, sha256 = %sha256, components = components.len(), "loaded Flux manifests.tar.gz");
            Ok(Arc::new(ReleaseComponents { sha256, components }))
        })
        .await
        .cloned()
    }

    async fn install_yaml(&self, version: &FluxVersion) -> Result<String, ManifestError> {
        let bytes = self.asset(version, "install.yaml").await?;
        String::from_utf8(bytes).map_err(|e| ManifestError::Malformed {
            version: version.tag(),
            message: e.to_string(),
        })
    }

    /// A release asset's bytes from the configured source.
    async fn asset(&self, version: &FluxVersion, file: &str) -> Result<Vec<u8>, ManifestError> {
        match &self.source {
            ManifestSource::BaseUrl(base) => {
                let url = format!("{base}/download/{}/{file}", version.tag());
                let response = self.fetcher.get(&url).await?;
                match response.status {
                    200 => Ok(response.body.to_vec()),
                    404 => Err(ManifestError::NotFound {
                        version: version.tag(),
                        location: url,
                    }),
                    other => Err(ManifestError::Unavailable(format!(
                        "GET {url} answered {other}"
                    ))),
                }
            }
            ManifestSource::Directory(dir) => {
                let path = std::path::Path::new(dir).join(version.tag()).join(file);
                match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(bytes),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(ManifestError::NotFound {
                            version: version.tag(),
                            location: path.display().to_string(),
                        })
                    }
                    Err(e) => Err(ManifestError::Unavailable(format!(
                        "{}: {e}",
                        path.display()
                    ))),
                }
            }
        }
    }
}

fn newest_in_directory(dir: &str) -> Result<FluxVersion, ManifestError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| ManifestError::Unavailable(format!("{dir}: {e}")))?;
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("install.yaml").is_file())
        .filter_map(|e| version::parse_exact(&e.file_name().to_string_lossy()).ok())
        .max()
        .ok_or_else(|| ManifestError::Unavailable(format!("no <tag>/install.yaml under {dir}")))
}
