//! One shoot's plan: from every input a reconcile reads to every object the shoot gets, plus the
//! providerStatus that records it. The actuator and the `render` command both call [`plan`], so
//! what `render` prints is what the controller writes.
//!
//! Some inputs can only be fetched once part of the plan is known (which Flux release, whether
//! the project's deploy key is needed, which seed Secrets are copied): [`configure`] answers
//! those questions from the cheap inputs, the shell fetches, and [`plan`] takes everything.

use std::collections::BTreeMap;

use crate::api::v1alpha1::{self, FluxConfig, ManagementMode};
use crate::config::operator::OperatorConfig;
use crate::config::project::{self, RepositoryType};
use crate::config::{self, EffectiveConfig, Sync};
use crate::deploykey::{DeployKey, SshAddress};
use crate::fielderrors::FieldErrors;
use crate::flux::bundle::InstallBundle;
use crate::flux::objects::SecretPayload;
use crate::flux::transform::InstallOptions;
use crate::gardener::shoot::ShootFacts;
use crate::gardener::types::Extension;
use crate::render::{self, Desired};
use crate::syncstatus::{DeployKeyRef, Installed};
use crate::takeover::stackit_bootstrapped;

/// The inputs a reconcile reads before it knows what else to fetch.
#[derive(Debug, Clone, Copy)]
pub struct ShootInputs<'a> {
    pub extension: &'a Extension,
    pub shoot: &'a ShootFacts,
    pub operator: &'a OperatorConfig,
    /// The data of the project's `flux-config` ConfigMap; None when there is none (or no garden
    /// access to read it).
    pub project_config: Option<&'a BTreeMap<String, String>>,
}

/// What the shell fetched for the configuration [`configure`] returned.
#[derive(Debug, Clone, Default)]
pub struct Fetched<'a> {
    /// The Flux release's install bundle; None leaves the install part out (`render` without
    /// reachable manifests), which a reconcile never does.
    pub install: Option<&'a InstallBundle>,
    /// The project's deploy key, when [`deploy_key_address`] asked for one.
    pub deploy_key: Option<&'a DeployKey>,
    /// The seed copies of the `Shoot.spec.resources` Secrets the configuration names, by seed name.
    pub secrets: BTreeMap<String, SecretPayload>,
}

/// Why there is no plan: every variant is a configuration problem, its text the status message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "invalid configuration: spec.shoot.spec.provider.workers: the shoot has no workers, and Flux needs nodes to run; shoot-flux does not support workerless shoots, remove the extension"
    )]
    Workerless,
    /// The shoot's `providerConfig` (paths relative to the Extension's `spec`).
    #[error("invalid configuration: {0}")]
    ProviderConfig(FieldErrors),
    /// The project's `flux-config` ConfigMap.
    #[error("invalid configuration: {0}")]
    ProjectConfig(FieldErrors),
    /// The layers together (e.g. a Flux version the chosen source kind does not support).
    #[error("invalid configuration: {0}")]
    Combined(FieldErrors),
    #[error("invalid configuration: flux-config.data.repositoryUrl: {0:?} has no SSH host")]
    NoSshHost(String),
    #[error("invalid configuration: {0}")]
    Render(String),
}

/// A shoot's effective configuration, with the inputs it was merged from: what [`plan`] builds
/// on, so that the layers are decoded and merged once per reconcile.
#[derive(Debug, Clone)]
pub struct Configured<'a> {
    inputs: ShootInputs<'a>,
    pub effective: EffectiveConfig,
}

/// Everything one shoot gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The ManagedResources and the objects inside them.
    pub desired: Desired,
    /// The providerStatus a successful reconcile writes; None without an install bundle.
    pub installed: Option<Installed>,
}

/// The shoot's own `providerConfig`, decoded and validated: it needs no request, so a reconcile
/// checks it before reading anything else.
pub fn shoot_layer(extension: &Extension, shoot: &ShootFacts) -> Result<FluxConfig, PlanError> {
    if shoot.is_workerless() {
        return Err(PlanError::Workerless);
    }
    v1alpha1::decode(extension.spec.provider_config.as_ref(), &shoot.resources)
        .map_err(PlanError::ProviderConfig)
}

/// The effective configuration: operator, project and shoot layers merged.
pub fn configure<'a>(inputs: &ShootInputs<'a>) -> Result<Configured<'a>, PlanError> {
    let shoot_layer = shoot_layer(inputs.extension, inputs.shoot)?;
    let project = inputs
        .project_config
        .map(project::parse)
        .transpose()
        .map_err(PlanError::ProjectConfig)?;
    let effective = config::merge(
        inputs.operator,
        project.as_ref(),
        &shoot_layer,
        inputs.shoot,
        stackit_bootstrapped(inputs.extension),
    )
    .map_err(PlanError::Combined)?;
    Ok(Configured {
        inputs: *inputs,
        effective,
    })
}

/// How Flux's manifests are adapted for this configuration.
pub fn install_options(effective: &EffectiveConfig) -> InstallOptions {
    InstallOptions {
        namespace: effective.namespace.clone(),
        registry: effective.registry.clone(),
        components: effective.components.clone(),
        components_extra: effective.components_extra.clone(),
        ignore_updates: effective.management == ManagementMode::Bootstrap,
        image_pull_secret: effective.image_pull_secret.clone(),
    }
}

/// Where the project's deploy key must grant access, when the configuration syncs a private
/// project repository; None when no key is needed.
pub fn deploy_key_address(effective: &EffectiveConfig) -> Result<Option<SshAddress>, PlanError> {
    match &effective.sync {
        Some(Sync::Project(sync)) if sync.repository_type == RepositoryType::Private => {
            // Validation admits only SSH URLs for private repositories.
            SshAddress::from_url(&sync.url)
                .map(Some)
                .ok_or_else(|| PlanError::NoSshHost(sync.url.clone()))
        }
        _ => Ok(None),
    }
}

/// Every object the shoot gets and the providerStatus recording it.
pub fn plan(configured: &Configured<'_>, fetched: &Fetched<'_>) -> Result<Plan, PlanError> {
    let (inputs, effective) = (&configured.inputs, &configured.effective);
    if let Some(bundle) = fetched.install {
        effective
            .check_version(&bundle.version)
            .map_err(PlanError::Combined)?;
    }
    // Objects name the garden the operator configured, not what the Cluster says.
    let shoot = ShootFacts {
        garden_cluster_identity: Some(inputs.operator.garden_cluster_identity.clone()),
        ..inputs.shoot.clone()
    };
    let render_inputs = render::Inputs {
        deploy_key: fetched.deploy_key,
        secrets: fetched.secrets.clone(),
    };
    let desired = render::render(&shoot, effective, fetched.install, &render_inputs)
        .map_err(PlanError::Render)?;
    let installed = fetched.install.map(|bundle| {
        let key = fetched.deploy_key.map(|k| DeployKeyRef {
            project: shoot.project.clone(),
            namespace: Some(shoot.project_namespace.clone()),
            fingerprint: k.fingerprint(),
        });
        Installed::new(effective, bundle, key)
    });
    Ok(Plan { desired, installed })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::flux::objects::GIT_REPOSITORY_NAME;
    use crate::takeover::{BOOTSTRAPPED_BY_SHOOT_FLUX, STACKIT_BOOTSTRAPPED};
    use serde_json::json;

    fn shoot(workers: usize) -> ShootFacts {
        ShootFacts {
            cluster_name: "shoot--dev--app".into(),
            name: "app".into(),
            project_namespace: "garden-dev".into(),
            project: "dev".into(),
            technical_id: "shoot--dev--app".into(),
            worker_count: workers,
            kubernetes_version: Some("1.34.1".into()),
            ..Default::default()
        }
    }

    fn extension(
        provider_config: Option<serde_json::Value>,
        bootstrapped: Option<&str>,
    ) -> Extension {
        let conditions: Vec<serde_json::Value> = bootstrapped
            .map(|reason| {
                json!({"type": STACKIT_BOOTSTRAPPED, "status": "True", "reason": reason, "message": "m",
                       "lastTransitionTime": "2026-12-05T00:00:00Z", "lastUpdateTime": "2026-12-05T00:00:00Z"})
            })
            .into_iter()
            .collect();
        Extension::from_json(&json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
            "metadata": {"name": "shoot-flux", "namespace": "shoot--dev--app", "generation": 1},
            "spec": {"type": "shoot-flux", "providerConfig": provider_config},
            "status": {"conditions": conditions}
        }))
        .unwrap()
    }

    fn bundle() -> InstallBundle {
        InstallBundle::minimal()
    }

    fn project(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_private_project_repository_plans_the_key_secret_and_records_its_fingerprint() {
        let (ext, facts) = (extension(None, None), shoot(1));
        let operator = OperatorConfig::default();
        let data = project(&[
            ("repositoryUrl", "ssh://git@git.example.com/org/fleet.git"),
            ("repositoryType", "private"),
        ]);
        let inputs = ShootInputs {
            extension: &ext,
            shoot: &facts,
            operator: &operator,
            project_config: Some(&data),
        };
        let configured = configure(&inputs).unwrap();
        let address = deploy_key_address(&configured.effective).unwrap().unwrap();
        assert_eq!(address.host, "git.example.com");
        let key = DeployKey::generate("test", "git.example.com ssh-ed25519 AAAA\n".into()).unwrap();
        let bundle = bundle();
        let fetched = Fetched {
            install: Some(&bundle),
            deploy_key: Some(&key),
            secrets: BTreeMap::new(),
        };
        let plan = plan(&configured, &fetched).unwrap();
        let objects = &plan.desired.config_objects;
        assert!(objects.iter().any(
            |o| o["kind"] == "Secret" && o["metadata"]["name"] == crate::deploykey::SECRET_NAME
        ));
        assert!(
            objects
                .iter()
                .any(|o| o["kind"] == "GitRepository"
                    && o["metadata"]["name"] == GIT_REPOSITORY_NAME)
        );
        let installed = plan.installed.unwrap();
        assert_eq!(installed.deploy_key.unwrap().fingerprint, key.fingerprint());
        assert!(plan.desired.install.is_some());
        // Planning is a function of its inputs.
        assert_eq!(
            super::plan(&configure(&inputs).unwrap(), &fetched)
                .unwrap()
                .desired,
            plan.desired
        );
    }

    #[test]
    fn problems_name_the_input_they_are_in() {
        let operator = OperatorConfig::default();
        let facts = shoot(1);
        let bad_shoot = extension(
            Some(
                json!({"apiVersion": "flux.extensions.gardener.cloud/v1alpha1",
            "kind": "FluxConfig", "flux": {"namespace": "Bad_NS"}}),
            ),
            None,
        );
        let inputs = ShootInputs {
            extension: &bad_shoot,
            shoot: &facts,
            operator: &operator,
            project_config: None,
        };
        assert!(
            matches!(configure(&inputs), Err(PlanError::ProviderConfig(e)) if e.to_string().contains("providerConfig.flux.namespace"))
        );
        let ext = extension(None, None);
        let data = project(&[("repositoryUrl", "not a url")]);
        let inputs = ShootInputs {
            extension: &ext,
            shoot: &facts,
            operator: &operator,
            project_config: Some(&data),
        };
        assert!(
            matches!(configure(&inputs), Err(PlanError::ProjectConfig(e)) if e.to_string().contains("repositoryUrl"))
        );
        let workerless = shoot(0);
        let inputs = ShootInputs {
            shoot: &workerless,
            project_config: None,
            ..inputs
        };
        let e = configure(&inputs).unwrap_err();
        assert_eq!(e, PlanError::Workerless);
        assert!(e.to_string().contains("spec.shoot.spec.provider.workers"));
    }

    #[test]
    fn only_the_stackit_mark_changes_the_management_defaults() {
        let operator = OperatorConfig::default();
        let facts = shoot(1);
        let effective = |ext: &Extension| {
            configure(&ShootInputs {
                extension: ext,
                shoot: &facts,
                operator: &operator,
                project_config: None,
            })
            .unwrap()
            .effective
        };
        let stackit = effective(&extension(None, Some("BootstrapSuccessful")));
        let ours = effective(&extension(None, Some(BOOTSTRAPPED_BY_SHOOT_FLUX)));
        let fresh = effective(&extension(None, None));
        assert_eq!(stackit.management, ManagementMode::Bootstrap);
        assert_eq!(ours.management, fresh.management);
        assert_eq!(ours.deletion, fresh.deletion);
    }

    #[test]
    fn without_a_release_the_sync_objects_are_still_planned() {
        let (ext, facts) = (extension(None, None), shoot(1));
        let operator = OperatorConfig::default();
        let data = project(&[("repositoryUrl", "https://git.example.com/org/fleet.git")]);
        let inputs = ShootInputs {
            extension: &ext,
            shoot: &facts,
            operator: &operator,
            project_config: Some(&data),
        };
        let plan = plan(&configure(&inputs).unwrap(), &Fetched::default()).unwrap();
        assert!(plan.desired.install.is_none());
        assert!(plan.installed.is_none());
        assert!(
            plan.desired
                .config_objects
                .iter()
                .any(|o| o["kind"] == "Kustomization")
        );
        assert!(!plan.desired.access_objects.is_empty());
    }
}
