//! Configuration: operator defaults (a file), the project's `flux-config` ConfigMap in the
//! garden, the shoot's `FluxConfig` (`crate::api::v1alpha1`), and how they merge into what one
//! shoot gets. Everything here is pure; every problem names its field.

pub mod operator;
pub mod project;
pub mod pullsecret;

use serde_json::Value;

use crate::api::v1alpha1::{self, DeletionPolicy, FluxConfig, ManagementMode, SourceKind};
use crate::fielderrors::{FieldError, FieldErrors};
use crate::fluxversion::{self, FluxVersion, VersionRequest};
use crate::gardener::shoot::ShootFacts;
use operator::OperatorConfig;
use project::{ProjectConfig, RepositoryType};

/// Flux v2.6.0 brought OCIRepository to `source.toolkit.fluxcd.io/v1`.
pub const OCI_MINIMUM: semver::Version = semver::Version::new(2, 6, 0);

/// The sync objects of the project's ConfigMap (GitRepository `main-gitrepo` + Kustomization
/// `main-ks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncConfig {
    pub url: String,
    pub branch: String,
    pub repository_type: RepositoryType,
    pub path: String,
    pub target_namespace: String,
}

/// Where the shoot's source and Kustomization come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Sync {
    /// The project's `flux-config` ConfigMap.
    Project(SyncConfig),
    /// The shoot's providerConfig templates, with defaults applied; they replace the project's
    /// objects whole, names included.
    Shoot {
        kind: SourceKind,
        source: Value,
        kustomization: Value,
    },
}

/// A Secret of `Shoot.spec.resources` copied into the Flux namespace of the shoot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretCopy {
    /// The seed's copy in the shoot namespace, `ref-<resourceRef.name>`.
    pub seed_name: String,
    /// The Secret's name in the shoot.
    pub target_name: String,
    /// The providerConfig field that asked for it, for errors.
    pub field: String,
}

/// What one shoot gets after merging the layers.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveConfig {
    pub flux_version: VersionRequest,
    /// Which field chose the version, for errors about it.
    pub flux_version_field: &'static str,
    pub namespace: String,
    pub registry: Option<String>,
    /// Which default components to install (None: all of install.yaml).
    pub components: Option<Vec<String>>,
    /// Extra components from the release's manifests.tar.gz.
    pub components_extra: Vec<String>,
    /// The Secret in the Flux namespace the controllers pull their images with.
    pub image_pull_secret: Option<String>,
    /// The operator's registry credentials, when that Secret is the operator's.
    pub operator_image_pull_secret: Option<pullsecret::DockerConfigJson>,
    pub sync: Option<Sync>,
    pub secret_copies: Vec<SecretCopy>,
    pub management: ManagementMode,
    pub deletion: DeletionPolicy,
}

impl EffectiveConfig {
    /// A source that needs a newer Flux than `version`, as the error to report.
    pub fn check_version(&self, version: &FluxVersion) -> Result<(), FieldErrors> {
        match &self.sync {
            Some(Sync::Shoot {
                kind: SourceKind::OciRepository,
                ..
            }) if version.0 < OCI_MINIMUM => Err(FieldErrors(vec![FieldError::new(
                self.flux_version_field,
                format!(
                    "Flux {version} has no OCIRepository of source.toolkit.fluxcd.io/v1 (providerConfig.source.template); use Flux v{OCI_MINIMUM} or newer"
                ),
            )])),
            _ => Ok(()),
        }
    }
}

/// The management mode and deletion policy: explicit fields win; a shoot that the stackit
/// extension bootstrapped (condition `FluxBootstrapped=True`) keeps stackit's model, and so does
/// a providerConfig in stackit's style.
pub fn management(
    shoot: &FluxConfig,
    stackit_bootstrapped: bool,
) -> (ManagementMode, DeletionPolicy) {
    let (mode, policy) = v1alpha1::defaults::default_management(shoot);
    if stackit_bootstrapped {
        (
            shoot.management_mode.unwrap_or(ManagementMode::Bootstrap),
            shoot.deletion_policy.unwrap_or(DeletionPolicy::Orphan),
        )
    } else {
        (mode, policy)
    }
}

/// Merges operator defaults, the project's ConfigMap (None when the project has none) and the
/// shoot's providerConfig. `flux.*` fields win field by field; the shoot's source and
/// Kustomization replace the project's whole.
pub fn merge(
    operator: &OperatorConfig,
    project: Option<&ProjectConfig>,
    shoot: &FluxConfig,
    facts: &ShootFacts,
    stackit_bootstrapped: bool,
) -> Result<EffectiveConfig, FieldErrors> {
    let flux = &shoot.flux;
    let (flux_version, flux_version_field) = if let Some(v) = &flux.version {
        (v.clone(), "providerConfig.flux.version")
    } else if let Some(v) = project.and_then(|p| p.flux_version.as_ref()) {
        (v.clone(), "flux-config.data.fluxVersion")
    } else if let Some(v) = &operator.flux.default_version {
        (v.clone(), "operator configuration flux.defaultVersion")
    } else {
        // Never `latest` unless someone wrote it: a new Flux release must not upgrade shoots
        // unattended.
        (
            VersionRequest::Exact(fluxversion::PINNED_DEFAULT),
            "shoot-flux's built-in default Flux version (operator configuration flux.defaultVersion unset)",
        )
    };
    let namespace = flux
        .namespace
        .clone()
        .unwrap_or_else(|| operator.flux.namespace.clone());
    let mut secret_copies = Vec::new();
    let mut errors = Vec::new();
    let mut copy = |resource: &str, target: String, field: String| {
        match facts.resources.iter().find(|r| r.name == resource) {
            Some(r) => secret_copies.push(SecretCopy {
                seed_name: format!("ref-{}", r.resource_name),
                target_name: target,
                field,
            }),
            // The decoder checked this already; a Cluster that changed meanwhile lands here.
            None => errors.push(FieldError::new(
                field,
                format!("{resource:?} is not in Shoot.spec.resources"),
            )),
        }
    };
    let sync = match (&shoot.source, &shoot.kustomization) {
        (Some(source), Some(kustomization)) => {
            let source_object = v1alpha1::defaults::source_object(source, &namespace);
            let kustomization_object =
                v1alpha1::defaults::kustomization_object(kustomization, &source_object, &namespace);
            if let (Some(resource), Some(target)) = (
                &source.secret_resource_name,
                v1alpha1::defaults::source_secret_name(source),
            ) {
                copy(
                    resource,
                    target,
                    "providerConfig.source.secretResourceName".into(),
                );
            }
            Some(Sync::Shoot {
                kind: source.kind,
                source: source_object,
                kustomization: kustomization_object,
            })
        }
        _ => project.and_then(|p| p.repository.as_ref()).map(|r| {
            Sync::Project(SyncConfig {
                url: r.url.clone(),
                branch: r.branch.clone(),
                repository_type: r.repository_type,
                path: r.path.clone(),
                target_namespace: r.target_namespace.clone(),
            })
        }),
    };
    for (i, extra) in shoot.additional_secret_resources.iter().enumerate() {
        let target = extra.target_name.clone().unwrap_or_else(|| {
            facts
                .resources
                .iter()
                .find(|r| r.name == extra.name)
                .map_or_else(|| extra.name.clone(), |r| r.resource_name.clone())
        });
        copy(
            &extra.name,
            target,
            format!("providerConfig.additionalSecretResources[{i}].name"),
        );
    }
    let (management, deletion) = management(shoot, stackit_bootstrapped);
    let (image_pull_secret, operator_image_pull_secret) =
        pullsecret::choose(flux, operator.flux.image_pull_secret.as_ref());
    let config = EffectiveConfig {
        flux_version,
        flux_version_field,
        namespace,
        registry: flux
            .registry
            .clone()
            .or_else(|| operator.flux.registry.clone()),
        components: flux
            .components
            .clone()
            .or_else(|| operator.flux.components.clone()),
        components_extra: flux.components_extra.clone().unwrap_or_default(),
        image_pull_secret,
        operator_image_pull_secret,
        sync,
        secret_copies,
        management,
        deletion,
    };
    if let VersionRequest::Exact(v) = &config.flux_version
        && let Err(e) = config.check_version(v)
    {
        errors.extend(e.0);
    }
    FieldErrors::or_ok(errors, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts() -> ShootFacts {
        ShootFacts {
            cluster_name: "shoot--dev--app".into(),
            name: "app".into(),
            project: "dev".into(),
            project_namespace: "garden-dev".into(),
            resources: vec![
                v1alpha1::ShootResource {
                    name: "git".into(),
                    api_version: "v1".into(),
                    kind: "Secret".into(),
                    resource_name: "git-credentials".into(),
                },
                v1alpha1::ShootResource {
                    name: "sops".into(),
                    api_version: "v1".into(),
                    kind: "Secret".into(),
                    resource_name: "sops-age".into(),
                },
            ],
            ..Default::default()
        }
    }

    fn project() -> ProjectConfig {
        let data = [
            ("fluxVersion", "v2.6.4"),
            ("repositoryUrl", "https://git.example.com/org/fleet.git"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        project::parse(&data).unwrap()
    }

    fn shoot(value: Value) -> FluxConfig {
        v1alpha1::decode(Some(&value), &facts().resources).unwrap()
    }

    #[test]
    fn flux_fields_override_field_by_field_and_the_project_sync_stays() {
        let operator = OperatorConfig::default();
        let c = merge(
            &operator,
            Some(&project()),
            &shoot(json!({"apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig", "flux": {"registry": "mirror.local/flux"}})),
            &facts(),
            false,
        )
        .unwrap();
        assert_eq!(c.flux_version_field, "flux-config.data.fluxVersion");
        assert_eq!(c.registry.as_deref(), Some("mirror.local/flux"));
        assert_eq!(c.namespace, "flux-system");
        assert!(matches!(c.sync, Some(Sync::Project(_))));
        assert_eq!(
            (c.management, c.deletion),
            (ManagementMode::Managed, DeletionPolicy::Delete)
        );
    }

    /// The version's layers: shoot, then project, then operator, then the pinned default;
    /// `latest` only where a layer writes it.
    #[test]
    fn the_version_comes_from_the_first_layer_that_names_one_and_never_defaults_to_latest() {
        let bare = shoot(json!({"apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig"}));
        let pinned = |version: &str| {
            shoot(
                json!({"apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig", "flux": {"version": version}}),
            )
        };
        let no_version_project = {
            let mut p = project();
            p.flux_version = None;
            p
        };
        let mut latest_operator = OperatorConfig::default();
        latest_operator.flux.default_version = Some(VersionRequest::Latest);
        let exact = |t: &str| VersionRequest::Exact(fluxversion::parse_exact(t).unwrap());
        let cases = [
            (
                OperatorConfig::default(),
                None,
                &bare,
                VersionRequest::Exact(fluxversion::PINNED_DEFAULT),
                "built-in default",
            ),
            (
                OperatorConfig::default(),
                Some(&no_version_project),
                &bare,
                VersionRequest::Exact(fluxversion::PINNED_DEFAULT),
                "built-in default",
            ),
            (
                latest_operator.clone(),
                Some(&no_version_project),
                &bare,
                VersionRequest::Latest,
                "operator configuration flux.defaultVersion",
            ),
            (
                latest_operator.clone(),
                Some(&project()),
                &bare,
                exact("v2.6.4"),
                "flux-config.data.fluxVersion",
            ),
            (
                latest_operator,
                Some(&project()),
                &pinned("latest"),
                VersionRequest::Latest,
                "providerConfig.flux.version",
            ),
            (
                OperatorConfig::default(),
                Some(&project()),
                &pinned("v2.7.0"),
                exact("v2.7.0"),
                "providerConfig.flux.version",
            ),
        ];
        for (i, (operator, project, shoot, want, field)) in cases.into_iter().enumerate() {
            let c = merge(&operator, project, shoot, &facts(), false).unwrap();
            assert_eq!(c.flux_version, want, "case {i}");
            assert!(
                c.flux_version_field.contains(field),
                "case {i}: {}",
                c.flux_version_field
            );
        }
    }

    #[test]
    fn shoot_templates_replace_the_project_objects_whole() {
        let c = merge(
            &OperatorConfig::default(),
            Some(&project()),
            &shoot(json!({
                "apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig",
                "flux": {"namespace": "gitops"},
                "source": {"template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                    "spec": {"url": "https://github.com/org/repo", "ref": {"branch": "main"}}},
                    "secretResourceName": "git"},
                "kustomization": {"template": {"spec": {"path": "./clusters/app"}}},
                "additionalSecretResources": [{"name": "sops", "targetName": "sops-keys"}]
            })),
            &facts(),
            false,
        )
        .unwrap();
        let Some(Sync::Shoot {
            source,
            kustomization,
            ..
        }) = &c.sync
        else {
            panic!("{:?}", c.sync)
        };
        assert_eq!(source["metadata"]["name"], "flux-system");
        assert_eq!(source["metadata"]["namespace"], "gitops");
        assert_eq!(kustomization["spec"]["sourceRef"]["name"], "flux-system");
        assert_eq!(
            c.secret_copies,
            [
                SecretCopy {
                    seed_name: "ref-git-credentials".into(),
                    target_name: "flux-system".into(),
                    field: "providerConfig.source.secretResourceName".into()
                },
                SecretCopy {
                    seed_name: "ref-sops-age".into(),
                    target_name: "sops-keys".into(),
                    field: "providerConfig.additionalSecretResources[0].name".into()
                }
            ]
        );
        // stackit's style defaults to stackit's model.
        assert_eq!(
            (c.management, c.deletion),
            (ManagementMode::Bootstrap, DeletionPolicy::Orphan)
        );
    }

    #[test]
    fn an_oci_source_needs_flux_2_6() {
        let err = merge(
            &OperatorConfig::default(),
            None,
            &shoot(json!({
                "apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig",
                "flux": {"version": "v2.5.1"},
                "source": {"template": {"kind": "OCIRepository",
                    "spec": {"url": "oci://ghcr.io/org/manifests", "ref": {"semver": ">=1.0.0"}}}},
                "kustomization": {"template": {"spec": {"path": "./"}}}
            })),
            &facts(),
            false,
        )
        .unwrap_err();
        assert_eq!(err.0[0].path, "providerConfig.flux.version");
        assert!(err.0[0].message.contains("v2.6.0"), "{err}");
    }

    #[test]
    fn a_stackit_bootstrapped_shoot_keeps_stackits_model_unless_told_otherwise() {
        let install_only =
            shoot(json!({"apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig"}));
        assert_eq!(
            management(&install_only, true),
            (ManagementMode::Bootstrap, DeletionPolicy::Orphan)
        );
        assert_eq!(
            management(&install_only, false),
            (ManagementMode::Managed, DeletionPolicy::Delete)
        );
        let explicit = shoot(
            json!({"apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig", "managementMode": "Managed"}),
        );
        assert_eq!(
            management(&explicit, true),
            (ManagementMode::Managed, DeletionPolicy::Orphan)
        );
    }
}
