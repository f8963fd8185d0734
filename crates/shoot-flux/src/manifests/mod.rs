//! Flux install manifests by version, from a release base URL (GitHub's layout), a local
//! directory or an OCI repository of Flux's release artifacts (`oci`). Each version is fetched and parsed once; each (version, namespace, registry) is
//! transformed, serialised and compressed once, and shared by every shoot.

pub mod fetch;
pub mod oci;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

use crate::metrics::Metrics;
use fetch::{FetchError, Fetcher, HopContext, MAX_REDIRECTS, NextHop};
use oci::OciClient;
use shoot_flux_core::config::operator::ManifestSource;
use shoot_flux_core::flux::bundle::{
    InstallBundle, ManifestError, Release, ReleaseComponents, components_from_tarball,
};
use shoot_flux_core::flux::ociartifact::ArtifactRelease;
use shoot_flux_core::flux::storedversions;
use shoot_flux_core::flux::transform::{self, InstallOptions};
use shoot_flux_core::fluxversion::{self, FluxVersion, VersionRequest};
use shoot_flux_core::managedresource::{SecretContent, brotli_compress};
use shoot_flux_core::render;

/// How long a resolved `latest` is reused before asking again, unless configured.
pub const DEFAULT_LATEST_REFRESH: Duration = Duration::from_secs(3600);

impl From<FetchError> for ManifestError {
    fn from(e: FetchError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

type Slot<T> = Arc<OnceCell<Arc<T>>>;

/// One version's release artifact, read once.
#[derive(Debug)]
struct Artifact {
    /// The manifest's digest, hex only (as the other sources' sha256).
    sha256: String,
    release: ArtifactRelease,
}

pub struct ManifestStore {
    source: ManifestSource,
    fetcher: Fetcher,
    /// The registry client of an `oci` source.
    oci: Option<OciClient>,
    artifacts: Mutex<HashMap<FluxVersion, Slot<Artifact>>>,
    releases: Mutex<HashMap<FluxVersion, Slot<Release>>>,
    tarballs: Mutex<HashMap<FluxVersion, Slot<ReleaseComponents>>>,
    bundles: Mutex<HashMap<(FluxVersion, InstallOptions), Slot<InstallBundle>>>,
    latest: Mutex<Option<(FluxVersion, Instant)>>,
    latest_refresh: Duration,
    metrics: Option<Arc<Metrics>>,
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
        let oci = match &source {
            ManifestSource::Oci(oci) => Some(OciClient::for_source(oci, timeout)?),
            _ => None,
        };
        Ok(Self {
            source,
            fetcher: Fetcher::new(timeout)?,
            oci,
            artifacts: Mutex::new(HashMap::new()),
            releases: Mutex::new(HashMap::new()),
            tarballs: Mutex::new(HashMap::new()),
            bundles: Mutex::new(HashMap::new()),
            latest: Mutex::new(None),
            latest_refresh: DEFAULT_LATEST_REFRESH,
            metrics: None,
        })
    }

    /// How long a resolved `latest` is reused (`flux.manifests.latestRefreshInterval`).
    #[must_use]
    pub fn with_latest_refresh(mut self, refresh: Duration) -> Self {
        self.latest_refresh = refresh;
        self
    }

    /// Where a change of the release `latest` resolves to is counted.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Resolves `latest` through the release redirect (never an API), reused for the refresh
    /// interval, with the last known version as fallback when the source cannot be reached.
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
            && at.elapsed() < self.latest_refresh
        {
            return Ok(v.clone());
        }
        let fresh = match &self.source {
            ManifestSource::BaseUrl(base) => self.latest_from_redirect(base).await,
            ManifestSource::Directory(dir) => newest_in_directory(dir),
            ManifestSource::Oci(source) => match &self.oci {
                Some(client) => client.newest_release(&source.repository).await,
                None => Err(no_client()),
            },
        };
        match fresh {
            Ok(v) => {
                let previous = self
                    .latest
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .replace((v.clone(), Instant::now()))
                    .map(|(previous, _)| previous);
                self.note_latest(previous.as_ref(), &v);
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

    /// Logs the first resolution of `latest` and counts every change after it: shoots that
    /// ask for `latest` move to the new release at their next reconcile.
    fn note_latest(&self, previous: Option<&FluxVersion>, fresh: &FluxVersion) {
        match latest_change(previous, fresh) {
            LatestChange::First => {
                tracing::info!(version = %fresh, "the latest Flux release is {fresh}");
            }
            LatestChange::Same => {}
            LatestChange::Changed { from } => {
                tracing::warn!(
                    from = %from,
                    to = %fresh,
                    "the latest Flux release changed from {from} to {fresh}: shoots that ask for \"latest\" get {fresh} at their next reconcile"
                );
                if let Some(metrics) = &self.metrics {
                    metrics.flux_latest_changed(&from.tag(), &fresh.tag());
                }
            }
        }
    }

    /// Reads the tag from the `Location` of `<base>/latest` (GitHub: 302 to
    /// `/releases/tag/<tag>`), following only redirects that do not name a tag yet (a moved
    /// repository), all under one deadline.
    async fn latest_from_redirect(&self, base: &str) -> Result<FluxVersion, ManifestError> {
        let mut url = format!("{base}/latest");
        let mut hop: Option<HopContext> = None;
        let deadline = self.fetcher.deadline();
        for followed in 0..=MAX_REDIRECTS {
            let r = self.fetcher.get_hop(&url, hop.clone(), deadline).await?;
            let error = |message: String| {
                ManifestError::Unavailable(format!(
                    "resolving latest: GET {}{}: {message}",
                    fetch::without_query(&url),
                    hop.as_ref().map(ToString::to_string).unwrap_or_default()
                ))
            };
            match latest_step(&url, r.status, r.location.as_deref(), followed) {
                LatestStep::Tag(tag) => {
                    return fluxversion::parse_exact(&tag)
                        .map_err(|e| error(format!("redirects to release tag {tag:?}: {e}")));
                }
                LatestStep::Follow(next) => {
                    hop = Some(HopContext {
                        number: followed + 1,
                        max: MAX_REDIRECTS,
                        from: fetch::without_query(&url),
                    });
                    url = next;
                }
                LatestStep::Error(message) => return Err(error(message)),
            }
        }
        Err(ManifestError::Unavailable(format!(
            "resolving latest: more than {MAX_REDIRECTS} redirects from {base}/latest"
        )))
    }

    /// The parsed release of `version`, fetched once.
    pub async fn release(&self, version: &FluxVersion) -> Result<Arc<Release>, ManifestError> {
        let cell = slot(&self.releases, version);
        cell.get_or_try_init(|| async {
            if let ManifestSource::Oci(source) = &self.source {
                let artifact = self.artifact(version).await?;
                tracing::info!(version = %version, repository = %source, sha256 = %artifact.sha256, documents = artifact.release.install.len(), "loaded Flux install manifests from the OCI artifact");
                return Ok(Arc::new(Release {
                    version: version.clone(),
                    sha256: artifact.sha256.clone(),
                    docs: artifact.release.install.clone(),
                }));
            }
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
                        location: match &self.source {
                            ManifestSource::Oci(source) => {
                                format!("component {name} in the OCI artifact of {source}")
                            }
                            _ => format!("{name}.yaml in manifests.tar.gz"),
                        },
                    })?;
                input.extend(docs.iter().cloned());
            }
            let mut docs = transform::transform(&input, options);
            transform::label_as_flux_install(&mut docs, &version.tag(), &options.namespace);
            let malformed = |message| ManifestError::Malformed {
                version: version.tag(),
                message,
            };
            let yaml = transform::to_yaml(&docs).map_err(malformed)?;
            let content =
                SecretContent::new(&brotli_compress(yaml.as_bytes())).map_err(malformed)?;
            let crds = storedversions::bundle_crds(&docs);
            let access = render::access_objects(&options.namespace, &crds).map_err(malformed)?;
            Ok(Arc::new(InstallBundle {
                version: version.clone(),
                images: transform::images(&docs),
                controllers: transform::controllers(&docs),
                crds,
                yaml,
                content,
                namespace: options.namespace.clone(),
                access: Some(access),
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
            if let ManifestSource::Oci(_) = &self.source {
                let artifact = self.artifact(version).await?;
                return Ok(Arc::new(ReleaseComponents {
                    sha256: artifact.sha256.clone(),
                    components: artifact.release.components.clone(),
                }));
            }
            let bytes = self.asset(version, "manifests.tar.gz").await?;
            let sha256 = hex::encode(Sha256::digest(&bytes));
            let components = components_from_tarball(version, &bytes)?;
            tracing::info!(version = %version, sha256 = %sha256, components = components.len(), "loaded Flux manifests.tar.gz");
            Ok(Arc::new(ReleaseComponents { sha256, components }))
        })
        .await
        .cloned()
    }

    /// `version`'s release artifact of an `oci` source, read once (install documents and
    /// components come from the same layer).
    async fn artifact(&self, version: &FluxVersion) -> Result<Arc<Artifact>, ManifestError> {
        let (ManifestSource::Oci(source), Some(client)) = (&self.source, &self.oci) else {
            return Err(no_client());
        };
        let cell = slot(&self.artifacts, version);
        cell.get_or_try_init(|| async {
            let (digest, release) = client.pull_release(source, version).await?;
            Ok(Arc::new(Artifact {
                sha256: digest.trim_start_matches("sha256:").to_string(),
                release,
            }))
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

    /// A release file (`install.yaml`, `manifests.tar.gz`) as the source has it, unparsed and
    /// not cached: the `mirror` command copies it.
    pub async fn release_file(
        &self,
        version: &FluxVersion,
        file: &str,
    ) -> Result<Vec<u8>, ManifestError> {
        self.asset(version, file).await
    }

    /// A release asset's bytes from the configured source.
    async fn asset(&self, version: &FluxVersion, file: &str) -> Result<Vec<u8>, ManifestError> {
        match &self.source {
            ManifestSource::BaseUrl(base) => {
                let url = format!("{base}/download/{}/{file}", version.tag());
                let response = self.fetcher.get_following(&url).await?;
                asset_status(version, &url, &response)?;
                Ok(response.body.to_vec())
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
            // Read whole by `artifact`, never file by file.
            ManifestSource::Oci(source) => Err(ManifestError::Unavailable(format!(
                "{file} is not read from {source}: the artifact carries the release"
            ))),
        }
    }
}

/// The store of an `oci` source always has its client (built by `new`).
fn no_client() -> ManifestError {
    ManifestError::Unavailable("the OCI source has no registry client".into())
}

/// Judges the final answer of an asset download: 404 from the release host itself means the
/// version (or file) does not exist; anything else but 200, before or after redirects, is an
/// outage of the host that answered, named with its place in the chain.
fn asset_status(
    version: &FluxVersion,
    url: &str,
    response: &fetch::Response,
) -> Result<(), ManifestError> {
    match (response.status, &response.hop) {
        (200, _) => Ok(()),
        (404, None) => Err(ManifestError::NotFound {
            version: version.tag(),
            location: url.to_string(),
        }),
        (status, hop) => Err(ManifestError::Unavailable(format!(
            "GET {}{}: answered {status}",
            fetch::without_query(&response.url),
            hop.as_ref().map(ToString::to_string).unwrap_or_default()
        ))),
    }
}

/// How the process's view of `latest` moved with one resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LatestChange {
    First,
    Same,
    Changed { from: FluxVersion },
}

fn latest_change(previous: Option<&FluxVersion>, fresh: &FluxVersion) -> LatestChange {
    match previous {
        None => LatestChange::First,
        Some(p) if p == fresh => LatestChange::Same,
        Some(p) => LatestChange::Changed { from: p.clone() },
    }
}

/// One step of resolving `latest`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LatestStep {
    /// The redirect names this release tag.
    Tag(String),
    /// A redirect elsewhere (not yet to a tag page): ask there.
    Follow(String),
    Error(String),
}

/// Reads one answer to a `latest` request: a redirect to `.../tag/<tag>` names the release;
/// another redirect is followed (within the limits of `fetch::next_hop`); anything else is an
/// error.
fn latest_step(current: &str, status: u16, location: Option<&str>, followed: usize) -> LatestStep {
    match fetch::next_hop(current, status, location, followed, MAX_REDIRECTS) {
        NextHop::Done => LatestStep::Error(format!("answered {status} instead of a redirect")),
        NextHop::Error(message) => LatestStep::Error(message),
        NextHop::Follow(next) => {
            let path = next.split(['?', '#']).next().unwrap_or_default();
            let mut segments = path.trim_end_matches('/').rsplit('/');
            match (segments.next(), segments.next()) {
                (Some(tag), Some("tag")) if !tag.is_empty() => LatestStep::Tag(tag.to_string()),
                _ => LatestStep::Follow(next),
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
        .filter_map(|e| fluxversion::parse_exact(&e.file_name().to_string_lossy()).ok())
        .max()
        .ok_or_else(|| ManifestError::Unavailable(format!("no <tag>/install.yaml under {dir}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(tag: &str) -> FluxVersion {
        fluxversion::parse_exact(tag).unwrap()
    }

    fn response(status: u16, url: &str, hop: Option<HopContext>) -> fetch::Response {
        fetch::Response {
            status,
            location: None,
            body: Default::default(),
            url: url.into(),
            hop,
        }
    }

    #[test]
    fn a_404_is_a_missing_version_only_from_the_release_host_itself() {
        let first = "https://github.com/fluxcd/flux2/releases/download/v2.9.5/install.yaml";
        assert!(asset_status(&v("v2.9.5"), first, &response(200, first, None)).is_ok());
        assert!(matches!(
            asset_status(&v("v2.9.5"), first, &response(404, first, None)),
            Err(ManifestError::NotFound { location, .. }) if location == first
        ));
        let hop = HopContext {
            number: 1,
            max: 5,
            from: first.into(),
        };
        let asset = "https://release-assets.githubusercontent.com/a/1?sig=secret";
        for status in [403, 404, 500] {
            let err = asset_status(
                &v("v2.9.5"),
                first,
                &response(status, asset, Some(hop.clone())),
            )
            .unwrap_err();
            let ManifestError::Unavailable(message) = &err else {
                panic!("{err}")
            };
            assert_eq!(
                message,
                &format!(
                    "GET https://release-assets.githubusercontent.com/a/1?… (redirect 1 of ≤5, from {first}): answered {status}"
                )
            );
        }
        assert!(matches!(
            asset_status(&v("v2.9.5"), first, &response(503, first, None)),
            Err(ManifestError::Unavailable(m)) if m.ends_with("answered 503")
        ));
    }

    #[test]
    fn latest_is_read_from_the_tag_redirect_and_other_redirects_are_followed() {
        let base = "https://github.com/fluxcd/flux2/releases/latest";
        assert_eq!(
            latest_step(
                base,
                302,
                Some("https://github.com/fluxcd/flux2/releases/tag/v2.9.5"),
                0
            ),
            LatestStep::Tag("v2.9.5".into())
        );
        assert_eq!(
            latest_step(base, 302, Some("/fluxcd/flux2/releases/tag/v2.9.5/"), 0),
            LatestStep::Tag("v2.9.5".into())
        );
        // A moved repository: GitHub redirects the old name's URLs first.
        assert_eq!(
            latest_step(
                base,
                301,
                Some("https://github.com/flux/flux2/releases/latest"),
                0
            ),
            LatestStep::Follow("https://github.com/flux/flux2/releases/latest".into())
        );
        assert!(matches!(
            latest_step(base, 200, None, 0),
            LatestStep::Error(m) if m.contains("200 instead of a redirect")
        ));
        assert!(matches!(
            latest_step(base, 302, Some("http://github.com/fluxcd/flux2/releases/tag/v2.9.5"), 0),
            LatestStep::Error(m) if m.contains("https down to http")
        ));
        assert!(matches!(
            latest_step(base, 302, Some("/elsewhere"), MAX_REDIRECTS),
            LatestStep::Error(m) if m.contains("beyond the limit")
        ));
    }

    #[test]
    fn changes_of_latest_are_told_apart_from_the_first_resolution() {
        assert_eq!(latest_change(None, &v("v2.9.5")), LatestChange::First);
        assert_eq!(
            latest_change(Some(&v("v2.9.5")), &v("v2.9.5")),
            LatestChange::Same
        );
        assert_eq!(
            latest_change(Some(&v("v2.6.4")), &v("v2.9.5")),
            LatestChange::Changed { from: v("v2.6.4") }
        );
    }
}
