//! `mirror`: copies a Flux release for a seed without internet access, through the same
//! fetcher as the controller (redirects included), into a directory that
//! `flux.manifests.directory` reads (`<dir>/<tag>/install.yaml` and `manifests.tar.gz`), or into
//! a registry as the artifact `flux.manifests.oci` reads (the shape of Flux's own
//! `flux-manifests:<tag>`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::manifests::ManifestStore;
use crate::manifests::oci::OciClient;
use shoot_flux_core::config::operator::ManifestSource;
use shoot_flux_core::config::pullsecret::DockerConfigJson;
use shoot_flux_core::flux::bundle::components_from_tarball;
use shoot_flux_core::flux::ociartifact::{self, ArtifactOrigin, ArtifactRepository};
use shoot_flux_core::flux::transform;
use shoot_flux_core::fluxversion;

/// Where a release goes.
#[derive(Debug, Clone)]
pub enum Destination {
    /// `<dir>/<tag>/`.
    Directory(PathBuf),
    /// `<repository>:<tag>`.
    Oci(ArtifactRepository),
}

#[derive(Debug, Clone)]
pub struct MirrorRequest {
    /// A release tag, or `latest`.
    pub version: String,
    /// The releases base URL (`https://github.com/fluxcd/flux2/releases`).
    pub from: String,
    pub destination: Destination,
    /// CAs trusted for the registry besides the system's (PEM).
    pub ca_file: Option<PathBuf>,
    /// A `.dockerconfigjson` with the registry's push credentials.
    pub credentials_file: Option<PathBuf>,
    /// One deadline for each download and for the push.
    pub timeout: Duration,
}

/// Copies the release; returns what to tell the operator.
pub async fn mirror(request: &MirrorRequest) -> Result<String, String> {
    let from = request.from.trim_end_matches('/').to_string();
    if !(from.starts_with("https://") || from.starts_with("http://")) {
        return Err(format!("--from {from:?} must be an http(s) URL"));
    }
    let store = ManifestStore::new(ManifestSource::BaseUrl(from.clone()), request.timeout)
        .map_err(|e| e.to_string())?;
    let wanted = fluxversion::parse(&request.version).map_err(|e| format!("--version: {e}"))?;
    let version = store.resolve(&wanted).await.map_err(|e| e.to_string())?;
    let install = store
        .release_file(&version, "install.yaml")
        .await
        .map_err(|e| e.to_string())?;
    let tarball = store
        .release_file(&version, "manifests.tar.gz")
        .await
        .map_err(|e| e.to_string())?;
    // Nothing is written unless both files are what the controller can read.
    let install_text = String::from_utf8(install.clone())
        .map_err(|e| format!("Flux {version} install.yaml is not UTF-8: {e}"))?;
    let docs = transform::parse_documents(&install_text)
        .map_err(|e| format!("Flux {version} install.yaml is malformed: {e}"))?;
    if docs.is_empty() {
        return Err(format!("Flux {version} install.yaml holds no objects"));
    }
    let components = components_from_tarball(&version, &tarball).map_err(|e| e.to_string())?;
    match &request.destination {
        Destination::Directory(dir) => {
            let target = dir.join(version.tag());
            write_release(&target, &install, &tarball)
                .map_err(|e| format!("writing Flux {version} into {}: {e}", target.display()))?;
            Ok(format!(
                "Flux {version} from {from} copied into {} (install.yaml sha256 {}, manifests.tar.gz sha256 {}).\n\
                 Operator configuration: flux.manifests.directory: {}\n",
                target.display(),
                hex::encode(Sha256::digest(&install)),
                hex::encode(Sha256::digest(&tarball)),
                dir.display()
            ))
        }
        Destination::Oci(repository) => {
            let file = ociartifact::components_file(&install_text, &components)?;
            let client = oci_client(request, repository)?;
            let origin = ArtifactOrigin {
                created: created_now(),
                source: from.clone(),
                revision: version.tag(),
            };
            let digest = client
                .push_artifact(
                    repository,
                    &version.tag(),
                    &[(ociartifact::COMPONENTS_FILE, file.as_bytes())],
                    &origin,
                )
                .await
                .map_err(|e| format!("pushing Flux {version} to {repository}: {e}"))?;
            Ok(format!(
                "Flux {version} from {from} pushed to {repository}:{} as {digest}.\n\
                 Operator configuration:\n  flux:\n    manifests:\n      oci:\n        repository: {repository}\n        digests:\n          {}: \"{digest}\"\n",
                version.tag(),
                version.tag()
            ))
        }
    }
}

fn oci_client(
    request: &MirrorRequest,
    repository: &ArtifactRepository,
) -> Result<OciClient, String> {
    let ca = match &request.ca_file {
        Some(file) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| format!("--ca-file {}: {e}", file.display()))?,
        ),
        None => None,
    };
    let credentials = match &request.credentials_file {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .map_err(|e| format!("--credentials-file {}: {e}", file.display()))?;
            let config = DockerConfigJson::parse(&text)
                .map_err(|e| format!("--credentials-file {}: {e}", file.display()))?;
            Some(
                config
                    .credentials_for(&repository.registry)
                    .ok_or_else(|| {
                        format!(
                            "--credentials-file {} has no credentials for {}",
                            file.display(),
                            repository.registry
                        )
                    })?,
            )
        }
        None => None,
    };
    Ok(OciClient::new(ca.as_deref(), credentials, request.timeout)
        .map_err(|e| format!("--ca-file: {e}"))?
        .with_option_names("--timeout", "--credentials-file"))
}

/// Writes both files next to each other through temporary names, so that a reader never
/// sees half a file.
fn write_release(target: &Path, install: &[u8], tarball: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(target)?;
    for (name, content) in [("install.yaml", install), ("manifests.tar.gz", tarball)] {
        let temporary = target.join(format!(".{name}.partial"));
        std::fs::write(&temporary, content)?;
        std::fs::rename(&temporary, target.join(name))?;
    }
    Ok(())
}

/// Now, in whole seconds, as the `created` annotation (RFC 3339).
fn created_now() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::Timestamp::from_second(now.as_second())
        .map_or_else(|_| now.to_string(), |t| t.to_string())
}

/// A destination from the flags: exactly one of them.
pub fn destination(to_dir: Option<&Path>, to_oci: Option<&str>) -> Result<Destination, String> {
    match (to_dir, to_oci) {
        (Some(dir), None) => Ok(Destination::Directory(dir.to_path_buf())),
        (None, Some(reference)) => ArtifactRepository::parse(reference)
            .map(Destination::Oci)
            .map_err(|e| format!("--to-oci: {e}")),
        _ => Err("give one of --to-dir and --to-oci".into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn one_destination() {
        assert!(matches!(
            destination(Some(Path::new("/m")), None),
            Ok(Destination::Directory(_))
        ));
        assert!(matches!(
            destination(None, Some("oci://127.0.0.1:5000/fluxcd/flux-manifests")),
            Ok(Destination::Oci(_))
        ));
        assert!(
            destination(None, Some("oci://r/x:v1"))
                .unwrap_err()
                .contains("--to-oci")
        );
        assert!(destination(None, None).is_err());
    }

    #[test]
    fn files_are_written_whole() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("v2.9.5");
        write_release(&target, b"install", b"tarball").unwrap();
        assert_eq!(
            std::fs::read(target.join("install.yaml")).unwrap(),
            b"install"
        );
        assert_eq!(
            std::fs::read(target.join("manifests.tar.gz")).unwrap(),
            b"tarball"
        );
        let names: Vec<_> = std::fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        assert!(created_now().ends_with('Z'));
    }
}
