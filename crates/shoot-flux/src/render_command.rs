//! `gardener-extension-shoot-flux render`: prints, from files, exactly the objects a shoot would
//! get, for operators and for the CI of users' own repositories. Secret values are placeholders;
//! nothing is read from a cluster.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::manifests::ManifestStore;
use shoot_flux_core::config;
use shoot_flux_core::config::operator::OperatorConfig;
use shoot_flux_core::config::project;
use shoot_flux_core::deploykey::{DeployKey, known_hosts_for};
use shoot_flux_core::fielderrors::FieldErrors;
use shoot_flux_core::flux::bundle::InstallBundle;
use shoot_flux_core::flux::objects::SecretPayload;
use shoot_flux_core::flux::transform;
use shoot_flux_core::gardener::shoot::decode_cluster;
use shoot_flux_core::gardener::types::Extension;
use shoot_flux_core::plan::{self, Fetched, PlanError, ShootInputs};

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

fn prefixed(prefix: &str, errors: &FieldErrors) -> Vec<String> {
    errors.0.iter().map(|f| format!("{prefix}{f}")).collect()
}

/// The plan's problems, each named by the input file it is in.
fn plan_problems(e: PlanError) -> Vec<String> {
    match e {
        PlanError::ProviderConfig(errors) => prefixed("--extension: spec.", &errors),
        PlanError::ProjectConfig(errors) => prefixed("--project-config: ", &errors),
        PlanError::Combined(errors) => prefixed("", &errors),
        other => vec![other.to_string()],
    }
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
        Some(text) => OperatorConfig::parse(text).map_err(|e| prefixed("--config: ", &e)),
    }
    .map(|mut operator| {
        operator.flux.placeholder_image_pull_secret();
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
            // Checked here too, so that its problems come with the other files'.
            project::parse(&data)
                .map(|_| Some(data))
                .map_err(|e| prefixed("--project-config: ", &e))
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
    let inputs = ShootInputs {
        extension: &extension,
        shoot: &facts,
        operator: &operator,
        project_config: project.as_ref(),
    };
    let configured = plan::configure(&inputs).map_err(plan_problems)?;
    let effective = &configured.effective;

    // Placeholders where the cluster would supply secret material.
    let deploy_key = plan::deploy_key_address(effective)
        .map_err(plan_problems)?
        .map(|address| {
            let known_hosts = known_hosts_for(&operator.deploy_keys.known_hosts, &address)
                .unwrap_or_else(|| {
                    "<the host keys recorded in the project's garden Secret flux-source>\n".into()
                });
            DeployKey::placeholder(known_hosts)
        });
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

    let mut notes = Vec::new();
    let bundle = match install_bundle(&operator, effective).await {
        Ok(bundle) => {
            notes.push(format!(
                "Flux {} install manifests included",
                bundle.version
            ));
            Some(bundle)
        }
        Err(reason) => {
            notes.push(format!(
                "the Flux install part was left out ({reason}); the sync objects follow"
            ));
            None
        }
    };
    let fetched = Fetched {
        install: bundle.as_deref(),
        deploy_key: deploy_key.as_ref(),
        secrets,
    };
    let planned = plan::plan(&configured, &fetched).map_err(plan_problems)?;
    let mut yaml = String::new();
    if let Some(bundle) = &bundle {
        yaml.push_str(&bundle.yaml);
    }
    for objects in [
        &planned.desired.config_objects,
        &planned.desired.access_objects,
    ] {
        yaml.push_str(&transform::to_yaml(objects).map_err(|e| vec![e])?);
    }
    Ok(RenderOutput { yaml, notes })
}

async fn install_bundle(
    operator: &OperatorConfig,
    effective: &config::EffectiveConfig,
) -> Result<Arc<InstallBundle>, String> {
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
    store
        .install_bundle(&version, &plan::install_options(effective))
        .await
        .map_err(|e| e.to_string())
}
