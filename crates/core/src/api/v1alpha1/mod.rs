//! `FluxConfig` of `flux.extensions.gardener.cloud/v1alpha1`: the types after decoding and
//! validation. Decoding (`validation/`) returns every problem at once, each with its JSON path
//! under `providerConfig`; defaulting (`defaults.rs`) fills what stackit's defaults fill. The
//! field tables (`reference.rs`) drive the strict checks and render docs/api-reference.md.

pub mod defaults;
mod image_pull;
pub mod reference;
pub mod validation;

use serde_json::Value;

use crate::fluxversion::VersionRequest;

pub use reference::reference_markdown;
pub use validation::decode;

pub const API_VERSION: &str = "flux.extensions.gardener.cloud/v1alpha1";
pub const KIND: &str = "FluxConfig";
pub const SOURCE_API_VERSION: &str = "source.toolkit.fluxcd.io/v1";
pub const KUSTOMIZATION_API_VERSION: &str = "kustomize.toolkit.fluxcd.io/v1";

/// The decoded providerConfig. `None`/empty fields mean "not set here" (lower layers decide).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FluxConfig {
    pub flux: FluxInstallation,
    pub source: Option<Source>,
    pub kustomization: Option<KustomizationTemplate>,
    pub additional_secret_resources: Vec<AdditionalSecretResource>,
    pub management_mode: Option<ManagementMode>,
    pub deletion_policy: Option<DeletionPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FluxInstallation {
    pub version: Option<VersionRequest>,
    /// Without a trailing slash.
    pub registry: Option<String>,
    pub namespace: Option<String>,
    /// Default components of install.yaml, sorted and deduplicated.
    pub components: Option<Vec<String>>,
    /// Extra components from manifests.tar.gz, sorted and deduplicated.
    pub components_extra: Option<Vec<String>>,
    /// The Secret in the Flux namespace the controllers pull their images with; one that
    /// `additional_secret_resources` copies.
    pub image_pull_secret: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    GitRepository,
    OciRepository,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GitRepository => "GitRepository",
            Self::OciRepository => "OCIRepository",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub kind: SourceKind,
    /// The validated template as the user wrote it (apiVersion/kind/metadata/spec); defaults are
    /// applied by `defaults::source_object`.
    pub template: Value,
    /// An entry of `Shoot.spec.resources[]` (a Secret) whose seed copy `ref-<resourceRef.name>`
    /// becomes the source's secret.
    pub secret_resource_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct KustomizationTemplate {
    /// The validated template as the user wrote it.
    pub template: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdditionalSecretResource {
    /// An entry of `Shoot.spec.resources[]` (a Secret).
    pub name: String,
    /// The Secret's name in the shoot (default: the resource's `resourceRef.name`).
    pub target_name: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManagementMode {
    /// The ManagedResources are kept enforced; changing the version upgrades Flux.
    Managed,
    /// Flux objects are created once, then left to Flux's own management from the repository.
    Bootstrap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Removing the extension removes Flux and what it deployed.
    Delete,
    /// Removing the extension leaves Flux and its workloads in the shoot.
    Orphan,
}

/// One `Shoot.spec.resources[]` entry, as the Cluster object carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShootResource {
    pub name: String,
    pub api_version: String,
    pub kind: String,
    /// `resourceRef.name`; gardenlet copies the object into the shoot namespace as
    /// `ref-<resource_name>`.
    pub resource_name: String,
}
