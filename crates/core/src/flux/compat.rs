//! Which Kubernetes versions each Flux minor release supports, and the verdict for one shoot.
//!
//! Pure: the status poll turns the verdict into the Extension condition
//! `FluxKubernetesCompatible`; Flux is installed whatever it says (Flux often works outside its
//! range, and refusing would break shoots on a Kubernetes upgrade).

use std::fmt;

/// A Kubernetes minor version, e.g. 1.34.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubernetesMinor {
    pub major: u64,
    pub minor: u64,
}

impl fmt::Display for KubernetesMinor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

const fn k8s(minor: u64) -> KubernetesMinor {
    KubernetesMinor { major: 1, minor }
}

/// The Kubernetes minors one Flux minor supports, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedRange {
    pub oldest: KubernetesMinor,
    pub newest: KubernetesMinor,
}

impl SupportedRange {
    pub fn contains(&self, version: KubernetesMinor) -> bool {
        self.oldest <= version && version <= self.newest
    }
}

impl fmt::Display for SupportedRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", self.oldest, self.newest)
    }
}

/// Flux 2.x minor -> the Kubernetes minors it supports, as Flux states them per release:
/// 2.1 in the "Kubernetes compatibility" table of the flux2 v2.1.0 release notes; 2.3 to 2.9 in
/// the "Supported Versions" section of each minor's release announcement on the Flux blog
/// (e.g. "Flux v2.9 supports the following Kubernetes versions: 1.34, 1.35, 1.36").
/// Left out because no statement could be confirmed: 2.0 (only a minimum, 1.24, is documented)
/// and 2.2 (its supported range changed within the minor: 2.2.1 added 1.29). A minor that is not
/// listed gets no verdict. Add the row of each new Flux minor when it is released.
const TABLE: &[(u64, SupportedRange)] = &[
    (1, range(25, 28)),
    (3, range(28, 30)),
    (4, range(29, 31)),
    (5, range(30, 32)),
    (6, range(31, 33)),
    (7, range(32, 34)),
    (8, range(33, 35)),
    (9, range(34, 36)),
];

const fn range(oldest: u64, newest: u64) -> SupportedRange {
    SupportedRange {
        oldest: k8s(oldest),
        newest: k8s(newest),
    }
}

/// The supported range of a Flux release (any patch of a listed 2.x minor); None: no statement.
pub fn supported_range(flux: &semver::Version) -> Option<SupportedRange> {
    if flux.major != 2 {
        return None;
    }
    TABLE
        .iter()
        .find(|(minor, _)| *minor == flux.minor)
        .map(|(_, range)| *range)
}

/// Reads the minor of a Kubernetes version as Gardener writes it (`1.31.0`), tolerating a `v`
/// and suffixes (`v1.31.0-gke.1`); None when it has no `<major>.<minor>`.
pub fn kubernetes_minor(version: &str) -> Option<KubernetesMinor> {
    let bare = version.trim().trim_start_matches('v');
    let mut parts = bare.split('.');
    let number = |part: Option<&str>| -> Option<u64> {
        let digits: String = part?.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    Some(KubernetesMinor {
        major: number(parts.next())?,
        minor: number(parts.next())?,
    })
}

/// Whether a shoot's Kubernetes version is one its Flux release supports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compatibility {
    Supported(SupportedRange),
    Unsupported(SupportedRange),
    /// The table says nothing about this Flux release.
    NoStatement,
    /// The shoot's Kubernetes version is missing or unreadable.
    KubernetesVersionUnknown,
}

/// The verdict for Flux `flux` on Kubernetes `kubernetes` (the Cluster's
/// `spec.shoot.spec.kubernetes.version`).
pub fn check(flux: &semver::Version, kubernetes: Option<&str>) -> Compatibility {
    let Some(range) = supported_range(flux) else {
        return Compatibility::NoStatement;
    };
    match kubernetes.and_then(kubernetes_minor) {
        None => Compatibility::KubernetesVersionUnknown,
        Some(version) if range.contains(version) => Compatibility::Supported(range),
        Some(_) => Compatibility::Unsupported(range),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> semver::Version {
        semver::Version::parse(text).unwrap()
    }

    #[test]
    fn the_table_has_the_documented_rows_and_no_others() {
        let rows: Vec<(u64, String)> = TABLE.iter().map(|(m, r)| (*m, r.to_string())).collect();
        assert_eq!(
            rows,
            [
                (1, "1.25 to 1.28"),
                (3, "1.28 to 1.30"),
                (4, "1.29 to 1.31"),
                (5, "1.30 to 1.32"),
                (6, "1.31 to 1.33"),
                (7, "1.32 to 1.34"),
                (8, "1.33 to 1.35"),
                (9, "1.34 to 1.36"),
            ]
            .map(|(m, r)| (m, r.to_string()))
        );
        // Each row is a range, and ranges move forward with the minor.
        for pair in TABLE.windows(2) {
            assert!(pair[0].0 < pair[1].0);
            assert!(pair[0].1.oldest <= pair[1].1.oldest);
            assert!(pair[0].1.newest <= pair[1].1.newest);
        }
        assert!(TABLE.iter().all(|(_, r)| r.oldest <= r.newest));
    }

    #[test]
    fn any_patch_of_a_listed_minor_has_its_range_and_others_none() {
        assert_eq!(supported_range(&v("2.9.5")), Some(range(34, 36)));
        assert_eq!(supported_range(&v("2.9.0")), Some(range(34, 36)));
        assert_eq!(supported_range(&v("2.6.4")), Some(range(31, 33)));
        assert_eq!(supported_range(&v("2.0.0")), None);
        assert_eq!(supported_range(&v("2.2.1")), None);
        assert_eq!(supported_range(&v("2.10.0")), None);
        assert_eq!(supported_range(&v("3.9.0")), None);
    }

    #[test]
    fn kubernetes_versions_are_read_as_gardener_writes_them() {
        assert_eq!(kubernetes_minor("1.31.0"), Some(k8s(31)));
        assert_eq!(kubernetes_minor("v1.36.3"), Some(k8s(36)));
        assert_eq!(kubernetes_minor("1.34"), Some(k8s(34)));
        assert_eq!(kubernetes_minor("1.33.2-gke.100"), Some(k8s(33)));
        assert_eq!(kubernetes_minor(""), None);
        assert_eq!(kubernetes_minor("one.two"), None);
        assert_eq!(kubernetes_minor("1"), None);
    }

    #[test]
    fn the_verdict_includes_both_ends_and_knows_what_it_does_not_know() {
        let flux = v("2.9.5");
        assert_eq!(
            check(&flux, Some("1.34.0")),
            Compatibility::Supported(range(34, 36))
        );
        assert_eq!(
            check(&flux, Some("1.36.3")),
            Compatibility::Supported(range(34, 36))
        );
        assert_eq!(
            check(&flux, Some("1.33.9")),
            Compatibility::Unsupported(range(34, 36))
        );
        assert_eq!(
            check(&flux, Some("1.37.0")),
            Compatibility::Unsupported(range(34, 36))
        );
        assert_eq!(
            check(&flux, Some("1.31.0")),
            Compatibility::Unsupported(range(34, 36))
        );
        assert_eq!(
            check(&flux, Some("2.0.0")),
            Compatibility::Unsupported(range(34, 36))
        );
        assert_eq!(check(&flux, None), Compatibility::KubernetesVersionUnknown);
        assert_eq!(
            check(&flux, Some("latest")),
            Compatibility::KubernetesVersionUnknown
        );
        assert_eq!(
            check(&v("2.10.0"), Some("1.31.0")),
            Compatibility::NoStatement
        );
    }
}
