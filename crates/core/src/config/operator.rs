//! Operator defaults: a YAML file given by the Helm chart (`--config`).
//!
//! ```yaml
//! apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1
//! kind: OperatorConfiguration
//! flux:
//!   defaultVersion: v2.9.5          # when neither project nor shoot name one (default: the
//!                                   # pinned release of this build; "latest" only if written)
//!   namespace: flux-system
//!   registry: registry.example.com/fluxcd   # image registry mirror (optional)
//!   imagePullSecretFile: /etc/shoot-flux/flux-image-pull/.dockerconfigjson  # its credentials
//!                                   # (read at start; shoots without a registry of their own)
//!   components: [source-controller, kustomize-controller]   # default: all of install.yaml
//!   manifests:
//!     baseURL: https://github.com/fluxcd/flux2/releases   # or:
//!     # directory: /var/lib/shoot-flux/releases            # <dir>/<tag>/install.yaml, or:
//!     # oci:                        # Flux's release artifacts (flux-manifests:<tag>)
//!     #   repository: oci://registry.example.com/fluxcd/flux-manifests
//!     #   digests: {v2.9.5: "sha256:..."}   # pins: read these versions by digest
//!     #   pullSecretFile: /etc/shoot-flux/manifests-pull/.dockerconfigjson
//!     #   caFile: /etc/shoot-flux/manifests-ca/ca.crt   # trusted besides the system's CAs
//!     timeout: 30s                  # one download, redirects included
//!     latestRefreshInterval: 1h     # how long a resolved "latest" is reused
//! gardenClusterIdentity: garden     # SHOOT_INFO_GARDEN_CLUSTER_IDENTITY (stackit's default)
//! deployKeys:                       # private repositories (repositoryType: private)
//!   knownHosts:                     # host keys per Git host; unlisted hosts are read once
//!   - github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl
//!   - "[git.example.com]:2222 ssh-ed25519 AAAA..."
//!   hostKeyScanTimeout: 10s
//! syncStatus:                       # reading each shoot's Flux objects (every health period)
//!   concurrency: 16                 # shoots read at once
//!   timeout: 10s                    # per shoot; beyond it the shoot counts as unreachable
//!   failHealthCheck: false          # a failing sync also turns SystemComponentsHealthy False
//! requestTimeout: 60s               # answer deadline of each seed and garden request (not watches)
//! ```

use std::time::Duration;

use serde::Deserialize;

use crate::fielderrors::{FieldError, FieldErrors, check_components};
use crate::fluxversion::{self, VersionRequest};

pub const DEFAULT_RELEASES_URL: &str = "https://github.com/fluxcd/flux2/releases";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestSource {
    /// `<base>/download/<tag>/install.yaml`, `<base>/latest` redirecting to the newest tag.
    BaseUrl(String),
    /// `<dir>/<tag>/install.yaml`.
    Directory(String),
    /// `<repository>:<tag>` (or a pinned digest): Flux's release artifact.
    Oci(crate::ocireference::OciManifestSource),
}

impl std::fmt::Display for ManifestSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BaseUrl(url) => f.write_str(url),
            Self::Directory(dir) => write!(f, "directory {dir}"),
            Self::Oci(oci) => write!(f, "{oci}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxDefaults {
    pub default_version: Option<VersionRequest>,
    pub namespace: String,
    pub registry: Option<String>,
    /// A `.dockerconfigjson` file with the credentials of `registry`, read at start into
    /// `image_pull_secret`.
    pub image_pull_secret_file: Option<String>,
    pub image_pull_secret: Option<super::pullsecret::DockerConfigJson>,
    /// The default components of install.yaml to install (None: all).
    pub components: Option<Vec<String>>,
    pub manifests: ManifestSource,
    pub manifest_timeout: Duration,
    /// How long a resolved `latest` is reused before the release host is asked again.
    pub latest_refresh: Duration,
}

impl FluxDefaults {
    /// Takes `text`, the content of the operator's `flux.imagePullSecretFile` (read by the shell
    /// at start), into `image_pull_secret`; the error names the field and the file, never the
    /// content.
    pub fn take_image_pull_secret(&mut self, text: &str) -> Result<(), String> {
        let file = self.image_pull_secret_file.as_deref().unwrap_or_default();
        let parsed = super::pullsecret::DockerConfigJson::parse(text)
            .map_err(|e| format!("flux.imagePullSecretFile: {file} {e}"))?;
        self.image_pull_secret = Some(parsed);
        Ok(())
    }

    /// A placeholder for the operator's file where it is not read (the `render` command), so
    /// that the output shows the Secret and the Deployments' `imagePullSecrets` without its
    /// content.
    pub fn placeholder_image_pull_secret(&mut self) {
        if self.image_pull_secret_file.is_some() {
            self.image_pull_secret = Some(super::pullsecret::DockerConfigJson::placeholder());
        }
    }
}

/// Deploy keys of private repositories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployKeyDefaults {
    /// `known_hosts` lines the operator vouches for; a host not named here has its key read
    /// once when a project's key is created (trust on first use).
    pub known_hosts: Vec<String>,
    pub host_key_scan_timeout: Duration,
}

/// The sync status poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatusOptions {
    pub concurrency: usize,
    pub timeout: Duration,
    /// Whether a failing Flux sync makes the health check's `SystemComponentsHealthy` False
    /// (it then shows on the Shoot). Off by default: the repository is the owner's, not the
    /// landscape's.
    pub fail_health_check: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorConfig {
    pub flux: FluxDefaults,
    pub deploy_keys: DeployKeyDefaults,
    pub sync_status: SyncStatusOptions,
    /// The garden's identity, for `SHOOT_INFO_GARDEN_CLUSTER_IDENTITY`.
    pub garden_cluster_identity: String,
    /// How long a seed or garden request may go unanswered before it fails with that reason.
    /// Watches are exempt. Generous, because a first LIST of large objects (Clusters) in a big
    /// seed is slow.
    pub request_timeout: Duration,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        Self {
            flux: FluxDefaults {
                default_version: None,
                namespace: "flux-system".into(),
                registry: None,
                image_pull_secret_file: None,
                image_pull_secret: None,
                components: None,
                manifests: ManifestSource::BaseUrl(DEFAULT_RELEASES_URL.into()),
                manifest_timeout: Duration::from_secs(30),
                latest_refresh: Duration::from_secs(3600),
            },
            deploy_keys: DeployKeyDefaults {
                known_hosts: Vec::new(),
                host_key_scan_timeout: Duration::from_secs(10),
            },
            garden_cluster_identity: "garden".into(),
            request_timeout: Duration::from_secs(60),
            sync_status: SyncStatusOptions {
                concurrency: 16,
                timeout: Duration::from_secs(10),
                fail_health_check: false,
            },
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSyncStatus {
    concurrency: Option<usize>,
    timeout: Option<String>,
    fail_health_check: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawManifests {
    #[serde(rename = "baseURL")]
    base_url: Option<String>,
    directory: Option<String>,
    oci: Option<RawOci>,
    timeout: Option<String>,
    latest_refresh_interval: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawOci {
    repository: Option<String>,
    digests: Option<std::collections::BTreeMap<String, String>>,
    pull_secret_file: Option<String>,
    ca_file: Option<String>,
}

/// `flux.manifests.oci`, checked field by field.
fn parse_oci(
    raw: RawOci,
    errors: &mut Vec<FieldError>,
) -> Option<crate::ocireference::OciManifestSource> {
    use crate::ocireference::{ArtifactRepository, OciManifestSource, check_digest_syntax};
    const FIELD: &str = "flux.manifests.oci";
    let repository = match raw.repository.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(FieldError::new(
                format!("{FIELD}.repository"),
                "is required, e.g. oci://registry.example.com/fluxcd/flux-manifests",
            ));
            None
        }
        Some(text) => match ArtifactRepository::parse(text) {
            Ok(r) => Some(r),
            Err(m) => {
                errors.push(FieldError::new(format!("{FIELD}.repository"), m));
                None
            }
        },
    };
    let mut digests = std::collections::BTreeMap::new();
    for (version, digest) in raw.digests.unwrap_or_default() {
        let path = format!("{FIELD}.digests[{version}]");
        match fluxversion::parse_exact(&version) {
            Ok(v) if v.tag() == version => {}
            Ok(v) => {
                errors.push(FieldError::new(
                    path,
                    format!("write the release tag as {}", v.tag()),
                ));
                continue;
            }
            Err(m) => {
                errors.push(FieldError::new(path, m));
                continue;
            }
        }
        match check_digest_syntax(digest.trim()) {
            Ok(()) => {
                digests.insert(version, digest.trim().to_string());
            }
            Err(m) => errors.push(FieldError::new(path, m)),
        }
    }
    let file = |value: Option<String>, name: &str, errors: &mut Vec<FieldError>| match value
        .as_deref()
        .map(str::trim)
    {
        None => None,
        Some("") => {
            errors.push(FieldError::new(
                format!("{FIELD}.{name}"),
                "must not be empty (omit it)",
            ));
            None
        }
        Some(path) => Some(path.to_string()),
    };
    let pull_secret_file = file(raw.pull_secret_file, "pullSecretFile", errors);
    let ca_file = file(raw.ca_file, "caFile", errors);
    Some(OciManifestSource {
        repository: repository?,
        digests,
        pull_secret_file,
        ca_file,
    })
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawFlux {
    default_version: Option<String>,
    namespace: Option<String>,
    registry: Option<String>,
    image_pull_secret_file: Option<String>,
    components: Option<serde_json::Value>,
    manifests: Option<RawManifests>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDeployKeys {
    known_hosts: Option<Vec<String>>,
    host_key_scan_timeout: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    flux: Option<RawFlux>,
    #[serde(default)]
    deploy_keys: Option<RawDeployKeys>,
    #[serde(default)]
    garden_cluster_identity: Option<String>,
    #[serde(default)]
    sync_status: Option<RawSyncStatus>,
    #[serde(default)]
    request_timeout: Option<String>,
}

/// Parses a Go-style duration like `30s`, `5m`, `1h`, `1m30s`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total = 0u64;
    let mut number = String::new();
    let mut seen_unit = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        let seconds = match c {
            'h' => n.checked_mul(3600)?,
            'm' => n.checked_mul(60)?,
            's' => n,
            _ => return None,
        };
        // Beyond u64 seconds is no duration (it overflowed here before: found by fuzzing).
        total = total.checked_add(seconds)?;
        seen_unit = true;
    }
    (number.is_empty() && seen_unit).then(|| Duration::from_secs(total))
}

impl OperatorConfig {
    pub fn parse(yaml: &str) -> Result<Self, FieldErrors> {
        let raw: RawConfig = serde_saphyr::from_str(yaml)
            .map_err(|e| FieldErrors(vec![FieldError::new("config", e.to_string())]))?;
        let mut errors = Vec::new();
        let mut config = Self::default();
        if let Some(kind) = raw.kind.as_deref()
            && kind != "OperatorConfiguration"
        {
            errors.push(FieldError::new("kind", "must be OperatorConfiguration"));
        }
        let _ = raw.api_version;
        let flux = raw.flux.unwrap_or_default();
        if let Some(v) = flux.default_version {
            match fluxversion::parse(&v) {
                Ok(v) => config.flux.default_version = Some(v),
                Err(m) => errors.push(FieldError::new("flux.defaultVersion", m)),
            }
        }
        if let Some(ns) = flux.namespace {
            config.flux.namespace = ns;
        }
        config.flux.registry = flux.registry.map(|r| r.trim_end_matches('/').to_string());
        match flux.image_pull_secret_file.as_deref().map(str::trim) {
            None => {}
            Some("") => errors.push(FieldError::new(
                "flux.imagePullSecretFile",
                "must not be empty (omit it for no image pull secret)",
            )),
            Some(file) => config.flux.image_pull_secret_file = Some(file.to_string()),
        }
        if let Some(value) = flux.components {
            config.flux.components = check_components(&value, "flux.components", &mut errors);
        }
        let manifests = flux.manifests.unwrap_or_default();
        let oci = manifests.oci.and_then(|raw| parse_oci(raw, &mut errors));
        match (manifests.base_url, manifests.directory, oci) {
            (base_url, directory, Some(oci)) => {
                if base_url.is_some() || directory.is_some() {
                    errors.push(FieldError::new(
                        "flux.manifests",
                        "set one of baseURL, directory and oci, not several (with the chart, set baseURL: null)",
                    ));
                }
                config.flux.manifests = ManifestSource::Oci(oci);
            }
            (Some(_), Some(_), None) => errors.push(FieldError::new(
                "flux.manifests",
                "set either baseURL or directory, not both",
            )),
            (Some(url), None, None) => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    errors.push(FieldError::new(
                        "flux.manifests.baseURL",
                        "must be an http(s) URL",
                    ));
                }
                config.flux.manifests =
                    ManifestSource::BaseUrl(url.trim_end_matches('/').to_string());
            }
            (None, Some(dir), None) => config.flux.manifests = ManifestSource::Directory(dir),
            (None, None, None) => {}
        }
        if let Some(t) = manifests.timeout {
            match parse_duration(&t) {
                Some(d) if !d.is_zero() => config.flux.manifest_timeout = d,
                _ => errors.push(FieldError::new(
                    "flux.manifests.timeout",
                    format!("{t:?} is not a duration like 30s"),
                )),
            }
        }
        if let Some(t) = manifests.latest_refresh_interval {
            match parse_duration(&t) {
                Some(d) if !d.is_zero() => config.flux.latest_refresh = d,
                _ => errors.push(FieldError::new(
                    "flux.manifests.latestRefreshInterval",
                    format!("{t:?} is not a duration like 1h"),
                )),
            }
        }
        match raw.garden_cluster_identity.as_deref().map(str::trim) {
            None => {}
            Some("") => errors.push(FieldError::new(
                "gardenClusterIdentity",
                "must not be empty (omit it for \"garden\")",
            )),
            Some(identity) => config.garden_cluster_identity = identity.to_string(),
        }
        let sync_status = raw.sync_status.unwrap_or_default();
        match sync_status.concurrency {
            Some(0) => errors.push(FieldError::new(
                "syncStatus.concurrency",
                "must be at least 1",
            )),
            Some(n) => config.sync_status.concurrency = n,
            None => {}
        }
        if let Some(t) = sync_status.timeout {
            match parse_duration(&t) {
                Some(d) if !d.is_zero() => config.sync_status.timeout = d,
                _ => errors.push(FieldError::new(
                    "syncStatus.timeout",
                    format!("{t:?} is not a duration like 10s"),
                )),
            }
        }
        if let Some(t) = raw.request_timeout {
            match parse_duration(&t) {
                Some(d) if !d.is_zero() => config.request_timeout = d,
                _ => errors.push(FieldError::new(
                    "requestTimeout",
                    format!("{t:?} is not a duration like 60s"),
                )),
            }
        }
        if let Some(fail) = sync_status.fail_health_check {
            config.sync_status.fail_health_check = fail;
        }
        let deploy_keys = raw.deploy_keys.unwrap_or_default();
        for (i, line) in deploy_keys.known_hosts.iter().flatten().enumerate() {
            if let Err(m) = crate::deploykey::check_known_hosts_line(line) {
                errors.push(FieldError::new(format!("deployKeys.knownHosts[{i}]"), m));
            }
        }
        config.deploy_keys.known_hosts = deploy_keys.known_hosts.unwrap_or_default();
        if let Some(t) = deploy_keys.host_key_scan_timeout {
            match parse_duration(&t) {
                Some(d) if !d.is_zero() => config.deploy_keys.host_key_scan_timeout = d,
                _ => errors.push(FieldError::new(
                    "deployKeys.hostKeyScanTimeout",
                    format!("{t:?} is not a duration like 10s"),
                )),
            }
        }
        FieldErrors::or_ok(errors, config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operator_pull_secret_file_is_taken_and_its_problems_name_the_field() {
        use super::super::pullsecret::DockerConfigJson;
        const CONFIG: &str = r#"{"auths": {"mirror.example.com": {"username": "reader", "password": "hunter2-pw"}}}"#;
        let defaults = |file: &str| {
            let mut flux = OperatorConfig::default().flux;
            flux.image_pull_secret_file = Some(file.to_string());
            flux
        };
        let mut flux = defaults("/etc/pull/.dockerconfigjson");
        flux.take_image_pull_secret(CONFIG).unwrap();
        assert_eq!(
            flux.image_pull_secret,
            Some(DockerConfigJson::parse(CONFIG).unwrap())
        );
        let mut bad = defaults("/etc/pull/.dockerconfigjson");
        let err = bad
            .take_image_pull_secret("password: hunter2-pw")
            .unwrap_err();
        assert!(
            err.starts_with("flux.imagePullSecretFile: /etc/pull/.dockerconfigjson not JSON"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(bad.image_pull_secret, None);
        let mut render = defaults("/only/on/the/seed");
        render.placeholder_image_pull_secret();
        assert!(render.image_pull_secret.is_some());
        let mut none = OperatorConfig::default().flux;
        none.placeholder_image_pull_secret();
        assert!(none.image_pull_secret.is_none());
    }

    #[test]
    fn parses_a_full_config() {
        let c = OperatorConfig::parse(
            "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  defaultVersion: v2.9.5\n  registry: mirror.local/fluxcd/\n  manifests:\n    baseURL: http://127.0.0.1:1/fluxcd/flux2/releases/\n    timeout: 1m30s\n",
        )
        .unwrap();
        assert_eq!(c.flux.registry.as_deref(), Some("mirror.local/fluxcd"));
        assert_eq!(c.flux.image_pull_secret_file, None);
        let with_secret =
            OperatorConfig::parse("flux:\n  imagePullSecretFile: /etc/pull/.dockerconfigjson\n")
                .unwrap();
        assert_eq!(
            with_secret.flux.image_pull_secret_file.as_deref(),
            Some("/etc/pull/.dockerconfigjson")
        );
        // Read by the shell at start, never by parsing.
        assert_eq!(with_secret.flux.image_pull_secret, None);
        let empty = OperatorConfig::parse("flux:\n  imagePullSecretFile: \"\"\n").unwrap_err();
        assert_eq!(empty.0[0].path, "flux.imagePullSecretFile");
        assert_eq!(
            c.flux.manifests,
            ManifestSource::BaseUrl("http://127.0.0.1:1/fluxcd/flux2/releases".into())
        );
        assert_eq!(c.flux.manifest_timeout, Duration::from_secs(90));
        assert_eq!(c.flux.latest_refresh, Duration::from_secs(3600));
        let c =
            OperatorConfig::parse("flux:\n  manifests:\n    latestRefreshInterval: 5m\n").unwrap();
        assert_eq!(c.flux.latest_refresh, Duration::from_secs(300));
        let err = OperatorConfig::parse("flux:\n  manifests:\n    latestRefreshInterval: 0s\n")
            .unwrap_err();
        assert_eq!(err.0[0].path, "flux.manifests.latestRefreshInterval");
    }

    #[test]
    fn flux_manifests_from_an_oci_repository() {
        let digest = format!("sha256:{}", "0".repeat(64));
        let c = OperatorConfig::parse(&format!(
            "flux:\n  manifests:\n    oci:\n      repository: oci://127.0.0.1:5000/fluxcd/flux-manifests\n      digests:\n        v2.9.5: \"{digest}\"\n      pullSecretFile: /etc/pull/.dockerconfigjson\n      caFile: /etc/ca/ca.crt\n"
        ))
        .unwrap();
        let ManifestSource::Oci(oci) = &c.flux.manifests else {
            panic!("{:?}", c.flux.manifests)
        };
        assert_eq!(oci.repository.path, "fluxcd/flux-manifests");
        assert_eq!(oci.digests["v2.9.5"], digest);
        assert_eq!(
            oci.pull_secret_file.as_deref(),
            Some("/etc/pull/.dockerconfigjson")
        );
        assert_eq!(oci.ca_file.as_deref(), Some("/etc/ca/ca.crt"));
        assert_eq!(
            c.flux.manifests.to_string(),
            "oci://127.0.0.1:5000/fluxcd/flux-manifests"
        );

        let err = OperatorConfig::parse(
            "flux:\n  manifests:\n    baseURL: https://github.com/fluxcd/flux2/releases\n    oci:\n      repository: ghcr.io/fluxcd/flux-manifests\n      digests:\n        2.9.5: sha256:00\n        v2.9.6: md5:1\n      caFile: \"\"\n",
        )
        .unwrap_err();
        let paths: Vec<&str> = err.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "flux.manifests.oci.repository",
                "flux.manifests.oci.digests[2.9.5]",
                "flux.manifests.oci.digests[v2.9.6]",
                "flux.manifests.oci.caFile",
            ]
        );
        let both = OperatorConfig::parse(
            "flux:\n  manifests:\n    directory: /d\n    oci:\n      repository: oci://r/x\n",
        )
        .unwrap_err();
        assert_eq!(both.0[0].path, "flux.manifests");
        let missing = OperatorConfig::parse("flux:\n  manifests:\n    oci: {}\n").unwrap_err();
        assert_eq!(missing.0[0].path, "flux.manifests.oci.repository");
    }

    #[test]
    fn rejects_bad_fields() {
        let err = OperatorConfig::parse("flux:\n  defaultVersion: 0.1.0\n  manifests:\n    baseURL: ftp://x\n    directory: /d\n").unwrap_err();
        assert_eq!(err.0.len(), 2);
        assert!(OperatorConfig::parse("flux:\n  unknownField: 1\n").is_err());
    }

    #[test]
    fn known_hosts_lines_are_checked_one_by_one() {
        let c = OperatorConfig::parse("deployKeys:\n  knownHosts:\n  - github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n  hostKeyScanTimeout: 3s\n").unwrap();
        assert_eq!(c.deploy_keys.known_hosts.len(), 1);
        assert_eq!(c.deploy_keys.host_key_scan_timeout, Duration::from_secs(3));
        let err = OperatorConfig::parse("deployKeys:\n  knownHosts:\n  - github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n  - github.com ssh-ed25519 notbase64\n  - justahost\n").unwrap_err();
        let paths: Vec<&str> = err.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            ["deployKeys.knownHosts[1]", "deployKeys.knownHosts[2]"]
        );
    }

    #[test]
    fn sync_status_options() {
        assert!(!OperatorConfig::default().sync_status.fail_health_check);
        let c = OperatorConfig::parse(
            "syncStatus:\n  concurrency: 4\n  timeout: 3s\n  failHealthCheck: true\n",
        )
        .unwrap();
        assert_eq!(
            c.sync_status,
            SyncStatusOptions {
                concurrency: 4,
                timeout: Duration::from_secs(3),
                fail_health_check: true
            }
        );
        let err =
            OperatorConfig::parse("syncStatus:\n  concurrency: 0\n  timeout: soon\n").unwrap_err();
        assert_eq!(
            OperatorConfig::parse("requestTimeout: 5s\n")
                .unwrap()
                .request_timeout,
            Duration::from_secs(5)
        );
        let bad = OperatorConfig::parse("requestTimeout: 0s\n").unwrap_err();
        assert_eq!(bad.0[0].path, "requestTimeout");
        let fields: Vec<&str> = err.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(fields, ["syncStatus.concurrency", "syncStatus.timeout"]);
    }

    #[test]
    fn the_example_in_the_repository_parses() {
        let c = OperatorConfig::parse(include_str!("../../../../example/operator-config.yaml"))
            .unwrap();
        assert_eq!(c.deploy_keys.known_hosts.len(), 1);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("18446744073709551615h"), None);
        assert_eq!(parse_duration("18446744073709551615s1s"), None);
        assert_eq!(
            parse_duration("18446744073709551615s"),
            Some(Duration::from_secs(u64::MAX))
        );
    }
}
