//! The project's ConfigMap `flux-config` in the garden (in the Shoot's namespace, the project's),
//! with exactly the keys of the seed's original extension plus a few optional ones:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `fluxVersion` | flux2 release tag, with or without `v`, or `latest` | operator default |
//! | `repositoryUrl` | Git URL of the repository every shoot of the project syncs | no sync objects |
//! | `repositoryBranch` | branch to follow | `main` |
//! | `repositoryType` | `public` or `private` | `public` |
//! | `kustomizationPath` | path in the repository the main Kustomization applies | `./` |
//! | `targetNamespace` | namespace for objects without one | `default` |

use crate::giturl::url_scheme;
use std::collections::BTreeMap;

use crate::fielderrors::{FieldError, FieldErrors, is_dns_label};
use crate::fluxversion::{self, VersionRequest};

pub const CONFIGMAP_NAME: &str = "flux-config";
const KNOWN_KEYS: [&str; 6] = [
    "fluxVersion",
    "repositoryUrl",
    "repositoryBranch",
    "repositoryType",
    "kustomizationPath",
    "targetNamespace",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepositoryType {
    Public,
    Private,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub url: String,
    pub branch: String,
    pub repository_type: RepositoryType,
    pub path: String,
    pub target_namespace: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProjectConfig {
    pub flux_version: Option<VersionRequest>,
    pub repository: Option<Repository>,
}

fn path(key: &str) -> String {
    format!("{CONFIGMAP_NAME}.data.{key}")
}

fn check_url(url: &str, repository_type: RepositoryType, errors: &mut Vec<FieldError>) {
    if url.chars().any(char::is_whitespace) {
        errors.push(FieldError::new(
            path("repositoryUrl"),
            "must not contain whitespace",
        ));
        return;
    }
    let scheme = url_scheme(url);
    let host_missing = match scheme {
        Some("https" | "http" | "ssh") => {
            let rest = url.split_once("://").map(|(_, r)| r).unwrap_or_default();
            let authority = rest.split('/').next().unwrap_or_default();
            authority.rsplit('@').next().unwrap_or_default().is_empty() || !rest.contains('/')
        }
        _ => false,
    };
    match (scheme, repository_type) {
        (None, _) => errors.push(FieldError::new(
            path("repositoryUrl"),
            format!("{url:?} is not a Git URL: use https://host/org/repo.git, ssh://git@host/org/repo.git or git@host:org/repo.git"),
        )),
        _ if host_missing => errors.push(FieldError::new(
            path("repositoryUrl"),
            format!("{url:?} has no host or no repository path"),
        )),
        (Some("ssh" | "scp"), RepositoryType::Public) => errors.push(FieldError::new(
            path("repositoryUrl"),
            "a public repository is read over HTTP(S); an SSH URL needs repositoryType \"private\" and a deploy key",
        )),
        (Some("https" | "http"), RepositoryType::Private) => errors.push(FieldError::new(
            path("repositoryType"),
            "\"private\" repositories are read over SSH with a deploy key: use an ssh:// or git@host:org/repo.git URL",
        )),
        _ => {}
    }
}

fn check_branch(branch: &str, errors: &mut Vec<FieldError>) {
    let bad = branch.is_empty()
        || branch.starts_with('-')
        || branch.starts_with('/')
        || branch.ends_with('/')
        || branch.ends_with(".lock")
        || branch.contains("..")
        || branch.contains("@{")
        || branch
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\".contains(c));
    if bad {
        errors.push(FieldError::new(
            path("repositoryBranch"),
            format!("{branch:?} is not a valid Git branch name"),
        ));
    }
}

/// Parses and validates the ConfigMap's data; returns every problem at once.
pub fn parse(data: &BTreeMap<String, String>) -> Result<ProjectConfig, FieldErrors> {
    let mut errors = Vec::new();
    for key in data.keys() {
        if !KNOWN_KEYS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                path(key),
                format!("unknown key; known keys are {}", KNOWN_KEYS.join(", ")),
            ));
        }
    }
    let flux_version = match data.get("fluxVersion") {
        None => None,
        Some(v) => match fluxversion::parse(v) {
            Ok(v) => Some(v),
            Err(message) => {
                errors.push(FieldError::new(path("fluxVersion"), message));
                None
            }
        },
    };
    let repository_type = match data.get("repositoryType").map(|t| t.trim()) {
        None | Some("public") => RepositoryType::Public,
        Some("private") => RepositoryType::Private,
        Some(other) => {
            errors.push(FieldError::new(
                path("repositoryType"),
                format!("{other:?} is not one of \"public\", \"private\""),
            ));
            RepositoryType::Public
        }
    };
    let repository = match data.get("repositoryUrl").map(|u| u.trim()) {
        None | Some("") => {
            for key in [
                "repositoryBranch",
                "repositoryType",
                "kustomizationPath",
                "targetNamespace",
            ] {
                if data.contains_key(key) {
                    errors.push(FieldError::new(
                        path("repositoryUrl"),
                        format!("required when {key} is set"),
                    ));
                    break;
                }
            }
            None
        }
        Some(url) => {
            check_url(url, repository_type, &mut errors);
            let branch = data
                .get("repositoryBranch")
                .map_or("main", |b| b.trim())
                .to_string();
            check_branch(&branch, &mut errors);
            let kustomization_path = data
                .get("kustomizationPath")
                .map_or("./", |p| p.trim())
                .to_string();
            if kustomization_path.starts_with('/')
                || kustomization_path.split('/').any(|part| part == "..")
                || kustomization_path.is_empty()
            {
                errors.push(FieldError::new(
                    path("kustomizationPath"),
                    format!("{kustomization_path:?} must be a relative path inside the repository, like ./ or ./clusters/dev"),
                ));
            }
            let target_namespace = data
                .get("targetNamespace")
                .map_or("default", |n| n.trim())
                .to_string();
            if !is_dns_label(&target_namespace) {
                errors.push(FieldError::new(
                    path("targetNamespace"),
                    format!("{target_namespace:?} is not a valid namespace name"),
                ));
            }
            Some(Repository {
                url: url.to_string(),
                branch,
                repository_type,
                path: kustomization_path,
                target_namespace,
            })
        }
    };
    FieldErrors::or_ok(
        errors,
        ProjectConfig {
            flux_version,
            repository,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_seed_keys_with_defaults() {
        let config = parse(&data(&[
            ("fluxVersion", "2.6.4"),
            ("repositoryUrl", "https://git.example.com/org/fleet.git"),
        ]))
        .unwrap();
        let repo = config.repository.unwrap();
        assert_eq!(repo.branch, "main");
        assert_eq!(repo.path, "./");
        assert_eq!(repo.target_namespace, "default");
        assert_eq!(repo.repository_type, RepositoryType::Public);
        assert!(matches!(
            config.flux_version,
            Some(VersionRequest::Exact(_))
        ));
    }

    #[test]
    fn an_empty_configmap_means_install_only() {
        assert_eq!(parse(&BTreeMap::new()).unwrap(), ProjectConfig::default());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let err = parse(&data(&[
            ("fluxVersion", "0.29.5"),
            ("repositoryUrl", "https://git.example.com/org/fleet.git"),
            ("repositoryBranch", "feature..x"),
            ("repositoryTyp", "public"),
        ]))
        .unwrap_err();
        let paths: Vec<&str> = err.0.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "flux-config.data.repositoryTyp",
                "flux-config.data.fluxVersion",
                "flux-config.data.repositoryBranch"
            ]
        );
    }
}
