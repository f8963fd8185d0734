//! Configuration: operator defaults (a file), the project's `flux-config` ConfigMap in the
//! garden, and how they merge into what one shoot gets. Everything here is pure; every problem
//! names its field.

pub mod errors;
pub mod operator;
pub mod project;
pub mod provider;
pub mod version;

use errors::{FieldError, FieldErrors};
use operator::OperatorConfig;
use project::{ProjectConfig, RepositoryType};
use provider::ShootFluxConfig;
use version::VersionRequest;

/// The sync objects a shoot gets (GitRepository + Kustomization).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    pub url: String,
    pub branch: String,
    pub repository_type: RepositoryType,
    pub path: String,
    pub target_namespace: String,
}

/// What one shoot gets after merging the layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EffectiveConfig {
    pub flux_version: VersionRequest,
    /// Which field chose the version, for errors about it.
    pub flux_version_field: &'static str,
    pub namespace: String,
    pub registry: Option<String>,
    /// Which default components to install (None: all of install.yaml).
    pub components: Option<Vec<String>>,
    pub sync: Option<SyncConfig>,
}

/// Merges operator defaults, the project's ConfigMap (None when the project has none) and the
/// shoot's providerConfig. Later layers win field by field.
pub fn merge(
    operator: &OperatorConfig,
    project: Option<&ProjectConfig>,
    shoot: &ShootFluxConfig,
) -> Result<EffectiveConfig, FieldErrors> {
    let (flux_version, flux_version_field) = if let Some(v) = &shoot.version {
        (v.clone(), "providerConfig.flux.version")
    } else if let Some(v) = project.and_then(|p| p.flux_version.as_ref()) {
        (v.clone(), "flux-config.data.fluxVersion")
    } else if let Some(v) = &operator.flux.default_version {
        (v.clone(), "operator configuration flux.defaultVersion")
    } else {
        (VersionRequest::Latest, "the latest Flux release")
    };
    let sync = project
        .and_then(|p| p.repository.as_ref())
        .map(|r| SyncConfig {
            url: r.url.clone(),
            branch: r.branch.clone(),
            repository_type: r.repository_type,
            path: r.path.clone(),
            target_namespace: r.target_namespace.clone(),
        });
    if let Some(sync) = &sync
        && sync.repository_type == RepositoryType::Private
    {
        // Deploy keys for private repositories come with their own capability; until then this
        // is a configuration the extension cannot serve, said plainly.
        return Err(FieldErrors(vec![FieldError::new(
            "flux-config.data.repositoryType",
            "private repositories need the deploy-key support of shoot-flux, which this version does not have yet; use \"public\"",
        )]));
    }
    Ok(EffectiveConfig {
        flux_version,
        flux_version_field,
        namespace: shoot
            .namespace
            .clone()
            .unwrap_or_else(|| operator.flux.namespace.clone()),
        registry: shoot
            .registry
            .clone()
            .or_else(|| operator.flux.registry.clone()),
        components: shoot
            .components
            .clone()
            .or_else(|| operator.flux.components.clone()),
        sync,
    })
}
