//! `gardener-extension-shoot-flux render`: prints, from files, exactly the objects a shoot would
//! get, for operators and for the CI of users' own repositories. Secret values are placeholders;
//! nothing is read from a cluster.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::actuator::STACKIT_BOOTSTRAPPED;
use crate::api::v1alpha1::{self, ManagementMode};
use crate::config::operator::OperatorConfig;
use crate::config::project::{self, RepositoryType};
use crate::config::{self, Sync};
use crate::deploykey::{DeployKey, SshAddress, known_hosts_for};
use crate::flux::manifests::ManifestStore;
use crate::flux::transform::{self, InstallOptions};
use crate::gardener::shoot::decode_cluster;
use crate::gardener::types::Extension;
use crate::render::{self, Inputs, SecretPayload};

/// The input files' contents (YAML).
#[derive(Debug, Clone, Default)]
pub struct RenderInput {
    pub cluster: String,
    pub extension: String,
    pub project_config: Option<String>,
    pub operator_config: Option<String>,
}

/// The objects as multi-document YAML, and what stderr should say about them.
#[derive(Debug, Clone)]
pub struct RenderOutput {
    pub yaml: String,
    pub notes: Vec<String>,
}

fn yaml_value(text: &str, what: &str) -> Result<Value, Vec<String>> {
    serde_saphyr::from_str::<Value>(text).map_err(|e| vec![format!("{what}: not YAML: {e}")])
}

/// Renders the shoot's objects; `Err` carries every input problem, each with its path.
pub async fn render(input: &RenderInput) -> Result<RenderOutput, Vec<String>> {
    let mut problems = Vec::new();
    let cluster = yaml_value(&input.cluster, "--cluster")?;
    let extension_json = yaml_value(&input.extension, "--extension")?;
    let facts = decode_cluster(&cluster).map_err(|e| vec![format!("--cluster: {e}")]);
    let extension =
        Extension::from_json(&extension_json).map_err(|e| vec![format!("--extension: {e}")]);
    let operator = match &input.operator_config {
        None => Ok(OperatorConfig::default()),
        Some(text) => OperatorConfig::parse(text).map_err(|e| {
            e.0.iter()
                .map(|f| format!("--config: {f}"))
                .collect::<Vec<_>>()
        }),
    }
    .map(|mut operator| {
        crate::flux::image_pull::placeholder_operator_secret(&mut operator.flux);
        operator
    });
    let project = match &input.project_config {
        None => Ok(None),
        Some(text) => yaml_value(text, "--project-config").and_then(|cm| {
            let data: BTreeMap<String, String> = cm["data"]
                .as_object()
                .map(|d| {
                    d.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                v.as_str().map_or_else(|| v.to_string(), str::to_string),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            project::parse(&data).map(Some).map_err(|e| {
                e.0.iter()
                    .map(|f| format!("--project-config: {f}"))
                    .collect()
            })
        }),
    };
    let (facts, extension, operator, project) = match (facts, extension, operator, project) {
        (Ok(f), Ok(e), Ok(o), Ok(p)) => (f, e, o, p),
        (f, e, o, p) => {
            for r in [f.err(), e.err(), o.err(), p.err()].into_iter().flatten() {
                problems.extend(r);
            }
            return Err(problems);
        }
    };
    let shoot_layer = v1alpha1::decode(extension.spec.provider_config.as_ref(), &facts.resources)
        .map_err(|e| {
        e.0.iter()
            .map(|f| format!("--extension: spec.{f}"))
            .collect::<Vec<_>>()
    })?;
    let stackit = extension
        .status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == STACKIT_BOOTSTRAPPED && c.status == "True");
    let effective = config::merge(&operator, project.as_ref(), &shoot_layer, &facts, stackit)
        .map_err(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;

    // Placeholders where the cluster would supply secret material.
    let deploy_key = match &effective.sync {
        Some(Sync::Project(sync)) if sync.repository_type == RepositoryType::Private => {
            let known_hosts = SshAddress::from_url(&sync.url)
                .and_then(|a| known_hosts_for(&operator.deploy_keys.known_hosts, &a))
                .unwrap_or_else(|| {
                    "<the host keys recorded in the project's garden Secret flux-source>\n".into()
                });
            Some(DeployKey::placeholder(known_hosts))
        }
        _ => None,
    };
    let secrets = effective
        .secret_copies
        .iter()
        .map(|c| {
            let placeholder = base64::engine::general_purpose::STANDARD.encode(format!(
                "<redacted: the data of seed Secret {}>",
                c.seed_name
            ));
            (
                c.seed_name.clone(),
                SecretPayload {
                    type_: None,
                    data: BTreeMap::from([("<keys of the Secret>".to_string(), placeholder)]),
                    ..Default::default()
                },
            )
        })
        .collect();
    let inputs = Inputs {
        deploy_key: deploy_key.as_ref(),
        secrets,
    };
    let facts = crate::gardener::shoot::ShootFacts {
        garden_cluster_identity: Some(operator.garden_cluster_identity.clone()),
        ..facts
    };
    let config_objects =
        render::config_objects(&facts, &effective, &inputs).map_err(|e| vec![e])?;

    let mut notes = Vec::new();
    let mut yaml = String::new();
    match install_yaml(&operator, &effective).await {
        Ok((version, install)) => {
            notes.push(format!("Flux {version} install manifests included"));
            yaml.push_str(&install);
        }
        Err(reason) => notes.push(format!(
            "the Flux install part was left out ({reason}); the sync objects follow"
        )),
    }
    yaml.push_str(&transform::to_yaml(&config_objects).map_err(|e| vec![e])?);
    Ok(RenderOutput { yaml, notes })
}

async fn install_yaml(
    operator: &OperatorConfig,
    effective: &config::EffectiveConfig,
) -> Result<(String, String), String> {
    let store = ManifestStore::new(
        operator.flux.manifests.clone(),
        operator.flux.manifest_timeout.min(Duration::from_secs(30)),
    )
    .map_err(|e| e.to_string())?;
    let version = store
        .resolve(&effective.flux_version)
        .await
        .map_err(|e| e.to_string())?;
    effective
        .check_version(&version)
        .map_err(|e| e.to_string())?;
    let options = InstallOptions {
        namespace: effective.namespace.clone(),
        registry: effective.registry.clone(),
        components: effective.components.clone(),
        components_extra: effective.components_extra.clone(),
        ignore_updates: effective.management == ManagementMode::Bootstrap,
        image_pull_secret: effective.image_pull_secret.clone(),
    };
    let bundle = store
        .install_bundle(&version, &options)
        .await
        .map_err(|e| e.to_string())?;
    Ok((version.to_string(), bundle.yaml.clone()))
}
