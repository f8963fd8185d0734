//! Where Flux's release artifacts are (`flux.manifests.oci`): the repository reference, the
//! operator's source with its digest pins, and which manifest reference a version is read by.
//! Apart from `flux::ociartifact` (what is read there) so that the configuration can name it
//! without depending on the Flux module.

use std::collections::BTreeMap;

use crate::fluxversion::FluxVersion;

/// A repository in a registry: `oci://<registry>/<path>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArtifactRepository {
    /// `host[:port]`, as written.
    pub registry: String,
    /// `fluxcd/flux-manifests`.
    pub path: String,
}

impl std::fmt::Display for ArtifactRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.path)
    }
}

impl ArtifactRepository {
    /// Parses `oci://host[:port]/path` (no tag, no digest: the version names the tag).
    pub fn parse(text: &str) -> Result<Self, String> {
        let rest = text
            .trim()
            .strip_prefix("oci://")
            .ok_or_else(|| format!("{text:?} is not an oci:// reference"))?;
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| format!("{text:?} names no repository after the registry"))?;
        let host_ok = !registry.is_empty()
            && registry
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !host_ok {
            return Err(format!("{registry:?} is not a registry host[:port]"));
        }
        if path.contains('@') || path.rsplit('/').next().is_some_and(|l| l.contains(':')) {
            return Err(format!(
                "{text:?} carries a tag or digest; give the repository alone (the tag is the Flux version, digests go into digests)"
            ));
        }
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.chars().all(|ch| {
                    ch.is_ascii_lowercase() || ch.is_ascii_digit() || matches!(ch, '.' | '_' | '-')
                })
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
                && c.ends_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        let path = path.trim_end_matches('/');
        if !path.split('/').all(component_ok) {
            return Err(format!(
                "{path:?} is not a repository path (lowercase letters, digits and . _ - between slashes)"
            ));
        }
        Ok(Self {
            registry: registry.to_string(),
            path: path.to_string(),
        })
    }

    /// Where the distribution API is served: Docker Hub's `docker.io` is an alias.
    pub fn api_host(&self) -> &str {
        match self.registry.as_str() {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            other => other,
        }
    }

    /// `https://<host>/v2/<path>/manifests/<reference>`.
    pub fn manifest_url(&self, reference: &str) -> String {
        format!(
            "https://{}/v2/{}/manifests/{reference}",
            self.api_host(),
            self.path
        )
    }

    pub fn blob_url(&self, digest: &str) -> String {
        format!(
            "https://{}/v2/{}/blobs/{digest}",
            self.api_host(),
            self.path
        )
    }

    pub fn tags_url(&self) -> String {
        format!("https://{}/v2/{}/tags/list", self.api_host(), self.path)
    }

    /// The URL a blob is uploaded to (`mirror --to-oci`).
    pub fn upload_url(&self) -> String {
        format!(
            "https://{}/v2/{}/blobs/uploads/",
            self.api_host(),
            self.path
        )
    }

    /// The token scope of a pull (`push` adds push).
    pub fn scope(&self, push: bool) -> String {
        if push {
            format!("repository:{}:pull,push", self.path)
        } else {
            format!("repository:{}:pull", self.path)
        }
    }
}

/// The operator's `flux.manifests.oci`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciManifestSource {
    pub repository: ArtifactRepository,
    /// Manifest digests by release tag: a pinned version is read by its digest, not its tag.
    pub digests: BTreeMap<String, String>,
    /// A `.dockerconfigjson` with the registry's pull credentials (read by the shell at start).
    pub pull_secret_file: Option<String>,
    /// A PEM file of CAs trusted for the registry besides the system's.
    pub ca_file: Option<String>,
}

impl std::fmt::Display for OciManifestSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.repository)
    }
}

/// How a version's manifest is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestReference {
    Tag(String),
    /// Pinned by the operator: the manifest must hash to it.
    Digest(String),
}

impl ManifestReference {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Tag(s) | Self::Digest(s) => s,
        }
    }
}

impl OciManifestSource {
    /// The version's pinned digest if the operator gave one, else its tag.
    pub fn reference_for(&self, version: &FluxVersion) -> ManifestReference {
        let tag = version.tag();
        match self.digests.get(&tag) {
            Some(digest) => ManifestReference::Digest(digest.clone()),
            None => ManifestReference::Tag(tag),
        }
    }

    /// `oci://host/path:tag` or `oci://host/path@digest`, for messages.
    pub fn location(&self, reference: &ManifestReference) -> String {
        match reference {
            ManifestReference::Tag(tag) => format!("{}:{tag}", self.repository),
            ManifestReference::Digest(d) => format!("{}@{d}", self.repository),
        }
    }
}

/// Checks `sha256:<64 lowercase hex>`.
pub fn check_digest_syntax(digest: &str) -> Result<(), String> {
    match digest.strip_prefix("sha256:") {
        Some(hex)
            if hex.len() == 64
                && hex
                    .chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "{digest:?} is not a digest like sha256:<64 hex digits>"
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn v(tag: &str) -> FluxVersion {
        crate::fluxversion::parse_exact(tag).unwrap()
    }

    #[test]
    fn repositories_parse_and_refuse_tags() {
        let r = ArtifactRepository::parse("oci://127.0.0.1:5000/fluxcd/flux-manifests").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.path, "fluxcd/flux-manifests");
        assert_eq!(
            r.manifest_url("v2.9.5"),
            "https://127.0.0.1:5000/v2/fluxcd/flux-manifests/manifests/v2.9.5"
        );
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/fluxcd/flux-manifests");
        let hub = ArtifactRepository::parse("oci://docker.io/fluxcd/flux-manifests").unwrap();
        assert_eq!(
            hub.blob_url("sha256:x"),
            "https://registry-1.docker.io/v2/fluxcd/flux-manifests/blobs/sha256:x"
        );
        for bad in [
            "https://ghcr.io/fluxcd/flux-manifests",
            "oci://ghcr.io",
            "oci:///fluxcd",
            "oci://ghcr.io/fluxcd/flux-manifests:v2.9.5",
            "oci://ghcr.io/fluxcd/flux-manifests@sha256:00",
            "oci://ghcr.io/FluxCD/manifests",
            "oci://ghcr.io/fluxcd//x",
            "oci://gh cr.io/x",
        ] {
            assert!(ArtifactRepository::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pinned_version_is_read_by_its_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let source = OciManifestSource {
            repository: ArtifactRepository::parse("oci://r.example/fluxcd/flux-manifests").unwrap(),
            digests: BTreeMap::from([("v2.9.5".to_string(), digest.clone())]),
            pull_secret_file: None,
            ca_file: None,
        };
        assert_eq!(
            source.reference_for(&v("v2.9.5")),
            ManifestReference::Digest(digest.clone())
        );
        assert_eq!(
            source.reference_for(&v("v2.6.4")),
            ManifestReference::Tag("v2.6.4".into())
        );
        assert_eq!(
            source.location(&ManifestReference::Digest(digest.clone())),
            format!("oci://r.example/fluxcd/flux-manifests@{digest}")
        );
        assert!(check_digest_syntax(&digest).is_ok());
        assert!(check_digest_syntax("sha256:ABC").is_err());
        assert!(check_digest_syntax(&format!("sha512:{}", "a".repeat(64))).is_err());
    }
}
