//! A Flux release as shoot-flux uses it: its parsed install manifests, its component files, and
//! the bundle a shoot's install ManagedResource carries. Reading them from a source is
//! `manifests`' business.

use std::collections::HashMap;

use super::transform;
use crate::fluxversion::FluxVersion;

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The version does not exist at the source: a configuration problem.
    #[error("Flux {version} has no install manifests at {location}; check the version")]
    NotFound { version: String, location: String },
    /// The source could not be reached or answered nonsense: retry later.
    #[error("Flux install manifests unavailable: {0}")]
    Unavailable(String),
    #[error("Flux {version} install.yaml is malformed: {message}")]
    Malformed { version: String, message: String },
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
    /// The install ManagedResource's content: `yaml` compressed and encoded, once per bundle.
    pub content: crate::managedresource::SecretContent,
    /// The Flux namespace the manifests were transformed for.
    pub namespace: String,
    /// The shoot-access ManagedResource that goes with this bundle's CRDs in `namespace`, the
    /// same for each of its shoots (`render::access_objects`); None: rendered per shoot.
    pub access: Option<crate::managedresource::EncodedObjects>,
    pub images: Vec<String>,
    /// Controller Deployment names with their images, for the `FluxInstalled` condition.
    pub controllers: Vec<(String, String)>,
    /// Its CRDs' versions, to migrate what a shoot stored at versions they no longer have.
    pub crds: Vec<super::storedversions::BundleCrd>,
}

#[cfg(test)]
impl InstallBundle {
    /// A one-Namespace bundle of Flux v2.9.5, for tests of what is built around a bundle.
    pub(crate) fn minimal() -> Self {
        let yaml = "---\nkind: Namespace\n";
        Self {
            version: FluxVersion(semver::Version::new(2, 9, 5)),
            yaml: yaml.into(),
            content: crate::managedresource::SecretContent::new(
                &crate::managedresource::brotli_compress(yaml.as_bytes()),
            )
            .unwrap(),
            namespace: "flux-system".into(),
            access: None,
            images: vec![],
            controllers: vec![],
            crds: vec![],
        }
    }
}
