//! Flux versions: flux2 release tags, with or without `v`; v2.0.0 is the oldest with the v1
//! GitRepository and Kustomization APIs.

use std::fmt;

use semver::Version;

pub const MINIMUM: Version = Version::new(2, 0, 0);

/// The Flux release a shoot gets when no layer names one: the release the test bed builds and
/// tests (`FLUX_VERSION` in hack/testbed/versions.env), also the chart's
/// `config.flux.defaultVersion`. Bumped deliberately, all three together (docs/flux-versions.md);
/// a unit test holds them equal.
pub const PINNED_DEFAULT: FluxVersion = FluxVersion(Version::new(2, 9, 5));

/// A requested Flux version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionRequest {
    /// The newest release, resolved through the release `latest` redirect.
    Latest,
    Exact(FluxVersion),
}

/// A concrete flux2 release.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FluxVersion(pub Version);

impl FluxVersion {
    /// The release tag, `v<semver>`.
    pub fn tag(&self) -> String {
        format!("v{}", self.0)
    }
}

impl fmt::Display for FluxVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// Parses a version request; the error says what is wrong (the caller adds the field path).
pub fn parse(text: &str) -> Result<VersionRequest, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed == "latest" {
        return Ok(VersionRequest::Latest);
    }
    parse_exact(trimmed).map(VersionRequest::Exact)
}

/// Parses a concrete flux2 tag (no `latest`).
pub fn parse_exact(text: &str) -> Result<FluxVersion, String> {
    let bare = text.strip_prefix('v').unwrap_or(text);
    let version = Version::parse(bare)
        .map_err(|e| format!("{text:?} is not a Flux release tag like v2.6.4 ({e})"))?;
    if version < MINIMUM {
        return Err(format!(
            "Flux {text} is older than v2.0.0, the oldest release with the v1 GitRepository and Kustomization APIs; set a v2 version (or remove the field for the default): shoot-flux then upgrades the shoot's Flux in place, migrating the objects it stored at older API versions, and keeps the namespace, the sources, the Kustomizations and what they applied"
        ));
    }
    Ok(FluxVersion(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_with_and_without_v() {
        assert_eq!(parse("v2.6.4").unwrap(), parse("2.6.4").unwrap());
        assert_eq!(parse("latest").unwrap(), VersionRequest::Latest);
        match parse("2.9.5").unwrap() {
            VersionRequest::Exact(v) => assert_eq!(v.tag(), "v2.9.5"),
            VersionRequest::Latest => panic!(),
        }
    }

    /// A bump of the pinned default is done in the binary, the chart and the test bed at once.
    #[test]
    fn the_pinned_default_is_the_beds_tested_release_and_the_charts_default() {
        let versions = include_str!("../../../hack/testbed/versions.env");
        let bed = versions
            .lines()
            .find_map(|l| l.trim().strip_prefix("FLUX_VERSION="))
            .expect("FLUX_VERSION in hack/testbed/versions.env");
        assert_eq!(
            PINNED_DEFAULT.tag(),
            bed,
            "the pinned default Flux must be the release the test bed tests (FLUX_VERSION)"
        );
        let values: serde_json::Value = serde_saphyr::from_str(include_str!(
            "../../../charts/gardener-extension-shoot-flux/values.yaml"
        ))
        .expect("the chart's values.yaml parses");
        assert_eq!(
            values["config"]["flux"]["defaultVersion"].as_str(),
            Some(PINNED_DEFAULT.tag().as_str()),
            "the chart's config.flux.defaultVersion must be the pinned default"
        );
        assert_eq!(
            parse(&PINNED_DEFAULT.tag()),
            Ok(VersionRequest::Exact(PINNED_DEFAULT))
        );
    }

    #[test]
    fn old_and_malformed_versions_are_rejected() {
        let message = parse("0.29.5").unwrap_err();
        assert!(message.contains("older than v2.0.0"), "{message}");
        assert!(
            message.contains("set a v2 version"),
            "names the step: {message}"
        );
        assert!(parse("v1.9.9").is_err());
        assert!(parse("two").unwrap_err().contains("not a Flux release tag"));
        assert!(parse("").is_err());
        assert!(parse("v2.6").is_err());
    }
}
