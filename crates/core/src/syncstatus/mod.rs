//! Whether each shoot actually synced, shown where the cluster is managed.
//!
//! A successful reconcile records what it put into the shoot in `Extension.status.providerStatus`
//! ([`Installed`]: Flux version and controller images, the sync objects, the deploy key's
//! fingerprint). The status poll (the shell's `syncpoll`) reads the shoot through shoot-flux's own
//! least-privilege access and turns what it sees ([`Observation`]) into four Extension
//! conditions ([`decide`]): `FluxInstalled`, `FluxSourceReady`, `FluxKustomizationReady` and
//! `FluxComponentsOwnership`. Beside them, from what the poll already has without asking the
//! shoot ([`with_shoot_facts`]): `FluxKubernetesCompatible` (the shoot's Kubernetes version
//! against the range its Flux release supports) and, in Bootstrap mode, the stackit extension's
//! `FluxBootstrapped`. Deciding is pure and tested here without any server.

mod credentials;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access;
use crate::api::v1alpha1::ManagementMode;
use crate::config::{EffectiveConfig, Sync};
use crate::flux::bundle::InstallBundle;
use crate::flux::compat::{self, Compatibility};
use crate::flux::objects::{GIT_REPOSITORY_NAME, KUSTOMIZATION_NAME};
use crate::gardener::conditions::{self, Verdict};
use crate::gardener::types::Condition;
use crate::takeover::{BOOTSTRAPPED_BY_SHOOT_FLUX, STACKIT_BOOTSTRAPPED};

pub const INSTALLED: &str = "FluxInstalled";
pub const SOURCE: &str = "FluxSourceReady";
pub const KUSTOMIZATION: &str = "FluxKustomizationReady";
pub const OWNERSHIP: &str = "FluxComponentsOwnership";
pub const KUBERNETES_COMPATIBLE: &str = "FluxKubernetesCompatible";
/// The source condition's reason when the Git host refused the project's deploy key.
pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";

const SOURCE_REVISION: &str = "/status/artifact/revision";
const KUSTOMIZATION_REVISION: &str = "/status/lastAppliedRevision";
/// Ready messages end with this, followed by the revision; [`revision_in`] reads it back.
const AT_REVISION: &str = " is ready at revision ";

pub const PROVIDER_STATUS_API_VERSION: &str = "shoot-flux.extensions.gardener.cloud/v1alpha1";
pub const PROVIDER_STATUS_KIND: &str = "FluxStatus";

/// What the last successful reconcile put into the shoot (`Extension.status.providerStatus`).
/// Optional fields are written as null, so a merge patch removes what no longer applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Installed {
    pub api_version: String,
    pub kind: String,
    pub flux: InstalledFlux,
    /// `Managed` or `Bootstrap`.
    pub management_mode: String,
    pub source: Option<ObjectRef>,
    pub kustomization: Option<ObjectRef>,
    /// The project's deploy key, for a private repository: public facts only.
    pub deploy_key: Option<DeployKeyRef>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledFlux {
    pub version: String,
    pub namespace: String,
    pub controllers: Vec<Controller>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Controller {
    pub name: String,
    pub image: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeployKeyRef {
    pub project: String,
    /// The project's garden namespace, where the key's Secret is (absent in records written
    /// before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub fingerprint: String,
}

impl DeployKeyRef {
    /// The `deploy-key` command that prints this key.
    pub fn command(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("shoot-flux deploy-key --namespace {namespace}"),
            None => format!("shoot-flux deploy-key --project {}", self.project),
        }
    }
}

impl Installed {
    /// The record for a reconcile of `config` with `bundle`.
    pub fn new(
        config: &EffectiveConfig,
        bundle: &InstallBundle,
        deploy_key: Option<DeployKeyRef>,
    ) -> Self {
        let reference = |kind: &str, object: &Value, namespace: &str| ObjectRef {
            kind: kind.to_string(),
            namespace: object["metadata"]["namespace"]
                .as_str()
                .unwrap_or(namespace)
                .to_string(),
            name: object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        let (source, kustomization) = match &config.sync {
            Some(Sync::Project(_)) => (
                Some(ObjectRef {
                    kind: "GitRepository".into(),
                    namespace: config.namespace.clone(),
                    name: GIT_REPOSITORY_NAME.into(),
                }),
                Some(ObjectRef {
                    kind: "Kustomization".into(),
                    namespace: config.namespace.clone(),
                    name: KUSTOMIZATION_NAME.into(),
                }),
            ),
            Some(Sync::Shoot {
                source,
                kustomization,
                ..
            }) => (
                Some(reference(
                    source["kind"].as_str().unwrap_or("GitRepository"),
                    source,
                    &config.namespace,
                )),
                Some(reference("Kustomization", kustomization, &config.namespace)),
            ),
            None => (None, None),
        };
        Self {
            api_version: PROVIDER_STATUS_API_VERSION.into(),
            kind: PROVIDER_STATUS_KIND.into(),
            flux: InstalledFlux {
                version: bundle.version.tag(),
                namespace: config.namespace.clone(),
                controllers: bundle
                    .controllers
                    .iter()
                    .map(|(name, image)| Controller {
                        name: name.clone(),
                        image: image.clone(),
                    })
                    .collect(),
            },
            management_mode: match config.management {
                ManagementMode::Managed => "Managed",
                ManagementMode::Bootstrap => "Bootstrap",
            }
            .into(),
            source,
            kustomization,
            deploy_key,
        }
    }

    /// Reads the record from an Extension's JSON; None before the first successful reconcile.
    pub fn from_extension(extension: &Value) -> Option<Self> {
        let status = &extension["status"]["providerStatus"];
        (status["kind"] == PROVIDER_STATUS_KIND)
            .then(|| serde_json::from_value(status.clone()).ok())
            .flatten()
    }

    fn bootstrap(&self) -> bool {
        self.management_mode == "Bootstrap"
    }
}

/// What the status poll saw of one shoot.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// No token yet, no generic kubeconfig yet, or the shoot does not grant the token access yet
    /// (its RBAC is still being applied).
    WaitingForAccess(String),
    /// The shoot's API server could not be reached or did not answer usefully.
    Unreachable(String),
    /// The Flux Deployments of the Flux namespace and the sync objects (None: absent).
    Seen {
        deployments: Vec<Value>,
        source: Option<Value>,
        kustomization: Option<Value>,
    },
}

/// A shoot's sync state in one word, for metrics and the `status` command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyncState {
    Ready,
    Failing,
    Progressing,
    Waiting,
    Unreachable,
    Hibernated,
}

impl SyncState {
    pub const ALL: [SyncState; 6] = [
        SyncState::Ready,
        SyncState::Failing,
        SyncState::Progressing,
        SyncState::Waiting,
        SyncState::Unreachable,
        SyncState::Hibernated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Ready => "ready",
            SyncState::Failing => "failing",
            SyncState::Progressing => "progressing",
            SyncState::Waiting => "waiting",
            SyncState::Unreachable => "unreachable",
            SyncState::Hibernated => "hibernated",
        }
    }
}

/// The conditions for what was observed, and the state they sum up to.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub conditions: Vec<(&'static str, Verdict)>,
    pub state: SyncState,
}

fn all_unknown(reason: &'static str, message: &str) -> Vec<(&'static str, Verdict)> {
    [INSTALLED, SOURCE, KUSTOMIZATION, OWNERSHIP]
        .into_iter()
        .map(|kind| {
            (
                kind,
                Verdict {
                    status: "Unknown",
                    reason,
                    message: message.to_string(),
                },
            )
        })
        .collect()
}

/// The Extension conditions for `observation` of a shoot that got `installed`.
pub fn decide(installed: &Installed, observation: &Observation) -> Report {
    let (deployments, source, kustomization) = match observation {
        Observation::WaitingForAccess(reason) => {
            return Report {
                conditions: all_unknown(
                    "WaitingForShootAccess",
                    &format!("waiting for shoot access: {reason}"),
                ),
                state: SyncState::Waiting,
            };
        }
        Observation::Unreachable(reason) => {
            return Report {
                conditions: all_unknown(
                    "ShootUnreachable",
                    &format!("the shoot's API server cannot be read: {reason}"),
                ),
                state: SyncState::Unreachable,
            };
        }
        Observation::Seen {
            deployments,
            source,
            kustomization,
        } => (deployments, source, kustomization),
    };
    let (source_verdict, kustomization_verdict) = match (
        &installed.source,
        &installed.kustomization,
    ) {
        (Some(s), Some(k)) => (
            credentials::secret_hint(
                auth_hint(
                    ready_verdict(&s.kind, source.as_ref(), SOURCE_REVISION),
                    installed,
                ),
                source.as_ref(),
            ),
            ready_verdict(&k.kind, kustomization.as_ref(), KUSTOMIZATION_REVISION),
        ),
        _ => {
            let none = Verdict {
                    status: "Unknown",
                    reason: "NoRepository",
                    message: "no repository is configured for this shoot (project ConfigMap flux-config or providerConfig.source)".into(),
                };
            (none.clone(), none)
        }
    };
    let state = match (source_verdict.status, kustomization_verdict.status) {
        ("False", _) | (_, "False") => SyncState::Failing,
        ("True", "True") => SyncState::Ready,
        _ => SyncState::Progressing,
    };
    let others = access::other_owners(deployments);
    Report {
        conditions: vec![
            (INSTALLED, installed_verdict(installed, deployments)),
            (SOURCE, source_verdict),
            (KUSTOMIZATION, kustomization_verdict),
            (
                OWNERSHIP,
                ownership_verdict(installed.bootstrap(), &others, &installed.flux.namespace),
            ),
        ],
        state,
    }
}

/// Whether the controller Deployments of the recorded Flux are there, at the recorded images,
/// and rolled out. In Bootstrap mode the repository may upgrade Flux, so only presence counts.
pub fn installed_verdict(installed: &Installed, deployments: &[Value]) -> Verdict {
    let version = &installed.flux.version;
    let find = |name: &str| deployments.iter().find(|d| d["metadata"]["name"] == name);
    let mut missing = Vec::new();
    let mut other_image = Vec::new();
    let mut unavailable = Vec::new();
    for controller in &installed.flux.controllers {
        let Some(deployment) = find(&controller.name) else {
            missing.push(controller.name.clone());
            continue;
        };
        let images: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["image"].as_str())
            .collect();
        if !installed.bootstrap() && !images.contains(&controller.image.as_str()) {
            other_image.push(format!(
                "{} runs {}, not {}",
                controller.name,
                images.join(","),
                controller.image
            ));
        } else if !rolled_out(deployment) {
            unavailable.push(controller.name.clone());
        }
    }
    if !missing.is_empty() {
        return Verdict {
            status: "False",
            reason: "ControllersMissing",
            message: format!(
                "Flux {version}: Deployments {} missing in namespace {}",
                missing.join(", "),
                installed.flux.namespace
            ),
        };
    }
    if !other_image.is_empty() {
        return Verdict {
            status: "False",
            reason: "VersionMismatch",
            message: format!(
                "Flux {version} is not fully rolled out: {}",
                other_image.join("; ")
            ),
        };
    }
    if !unavailable.is_empty() {
        return Verdict {
            status: "False",
            reason: "ControllersUnavailable",
            message: format!(
                "Flux {version}: {} not available yet",
                unavailable.join(", ")
            ),
        };
    }
    let names: Vec<&str> = installed
        .flux
        .controllers
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    Verdict {
        status: "True",
        reason: "Installed",
        message: if installed.bootstrap() {
            format!(
                "Flux controllers present ({}); their version is managed by the repository (managementMode Bootstrap, installed as {version})",
                names.join(", ")
            )
        } else {
            format!(
                "Flux {version} is installed and available ({})",
                names.join(", ")
            )
        },
    }
}

/// A Deployment whose current generation is rolled out and available.
fn rolled_out(deployment: &Value) -> bool {
    let status = &deployment["status"];
    let generation = deployment["metadata"]["generation"].as_i64().unwrap_or(0);
    let replicas = deployment["spec"]["replicas"].as_i64().unwrap_or(1);
    status["observedGeneration"].as_i64().unwrap_or(0) >= generation
        && status["updatedReplicas"].as_i64().unwrap_or(0) >= replicas
        && status["availableReplicas"].as_i64().unwrap_or(0) >= replicas
}

/// A Flux object's `Ready` condition as one of ours. `revision` is the JSON pointer of the
/// revision the object reports.
pub fn ready_verdict(kind: &str, object: Option<&Value>, revision: &str) -> Verdict {
    let Some(object) = object else {
        return Verdict {
            status: "Unknown",
            reason: "NotFound",
            message: format!("the {kind} does not exist in the shoot (yet)"),
        };
    };
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let ready = conditions::in_object(object, "Ready");
    let revision = object
        .pointer(revision)
        .and_then(Value::as_str)
        .unwrap_or_default();
    match ready {
        Some(c) if c["status"] == "True" => Verdict {
            status: "True",
            reason: "Ready",
            message: format!("{kind} {name}{AT_REVISION}{revision}"),
        },
        Some(c) if c["status"] == "False" => Verdict {
            status: "False",
            reason: "NotReady",
            message: format!(
                "{kind} {name}: {}",
                c["message"].as_str().unwrap_or_default()
            ),
        },
        _ => Verdict {
            status: "Unknown",
            reason: "Progressing",
            message: format!("{kind} {name} has not reported readiness yet"),
        },
    }
}

/// The revision a Ready message of ours names, for the `status` command.
pub fn revision_in(message: &str) -> Option<&str> {
    message
        .split_once(AT_REVISION)
        .map(|(_, revision)| revision)
        .filter(|r| !r.is_empty())
}

/// Signs of a Git host refusing the credentials, as source-controller reports them.
fn is_auth_failure(message: &str) -> bool {
    let message = message.to_lowercase();
    [
        "unable to authenticate",
        "authentication required",
        "authentication failed",
        "permission denied",
        "access denied",
        "could not read from remote repository",
    ]
    .iter()
    .any(|sign| message.contains(sign))
}

/// A failing source of a private repository that the Git host refused: say which key to add.
fn auth_hint(verdict: Verdict, installed: &Installed) -> Verdict {
    match &installed.deploy_key {
        Some(key) if verdict.status == "False" && is_auth_failure(&verdict.message) => Verdict {
            status: "False",
            reason: AUTHENTICATION_FAILED,
            message: format!(
                "authentication failed: add deploy key {} (project {}) to the repository as a read-only deploy key; `{}` prints it. {}",
                key.fingerprint,
                key.project,
                key.command(),
                verdict.message
            ),
        },
        _ => verdict,
    }
}

/// The ownership condition for the other writers found (deployment, manager).
pub fn ownership_verdict(bootstrap: bool, others: &[(String, String)], namespace: &str) -> Verdict {
    if bootstrap {
        return Verdict {
            status: "True",
            reason: "BootstrapMode",
            message: "Flux manages its own components (managementMode Bootstrap)".into(),
        };
    }
    if others.is_empty() {
        return Verdict {
            status: "True",
            reason: "SingleOwner",
            message: "shoot-flux alone manages Flux's components".into(),
        };
    }
    let found: Vec<String> = others
        .iter()
        .map(|(d, m)| format!("Deployment {namespace}/{d} is also written by {m}"))
        .collect();
    Verdict {
        status: "False",
        reason: "RepositoryAlsoAppliesFluxComponents",
        message: format!(
            "the repository also applies Flux's own components ({}); with managementMode Managed, shoot-flux and Flux overwrite each other on every sync: remove Flux's components (gotk-components.yaml) from the repository, or set managementMode: Bootstrap",
            found.join("; ")
        ),
    }
}

/// Whether the shoot's Kubernetes version (the Cluster's `spec.shoot.spec.kubernetes.version`)
/// is one the recorded Flux release supports. Unknown when either is not known: no statement.
pub fn compatibility_verdict(installed: &Installed, kubernetes_version: Option<&str>) -> Verdict {
    let flux = &installed.flux.version;
    let Ok(version) = crate::fluxversion::parse_exact(flux) else {
        return no_statement(flux);
    };
    match compat::check(&version.0, kubernetes_version) {
        Compatibility::Supported(range) => Verdict {
            status: "True",
            reason: "KubernetesVersionSupported",
            message: format!(
                "Flux {flux} supports Kubernetes {range}; the shoot runs Kubernetes {}",
                kubernetes_version.unwrap_or_default()
            ),
        },
        Compatibility::Unsupported(range) => Verdict {
            status: "False",
            reason: "KubernetesVersionUnsupported",
            message: format!(
                "the shoot runs Kubernetes {}, which Flux {flux} does not support (Flux {flux} supports Kubernetes {range}); Flux is installed anyway and may work: choose a Flux release that supports this Kubernetes version",
                kubernetes_version.unwrap_or_default()
            ),
        },
        Compatibility::NoStatement => no_statement(flux),
        Compatibility::KubernetesVersionUnknown => Verdict {
            status: "Unknown",
            reason: "KubernetesVersionUnknown",
            message: format!(
                "the shoot's Kubernetes version (spec.kubernetes.version) is missing or not a version: {:?}",
                kubernetes_version.unwrap_or_default()
            ),
        },
    }
}

fn no_statement(flux: &str) -> Verdict {
    Verdict {
        status: "Unknown",
        reason: "NoCompatibilityStatement",
        message: format!(
            "shoot-flux knows no supported Kubernetes versions for Flux {flux} (docs/flux-versions.md lists the releases it knows)"
        ),
    }
}

/// The `FluxBootstrapped=True` condition the stackit extension reads before it bootstraps a
/// shoot, so that rolling back to it never reinstalls Flux over a shoot shoot-flux bootstrapped:
/// set once the Flux controllers of a Bootstrap-mode shoot are there (`installed_verdict` True),
/// and never changed again once True, like stackit's own (which it keeps as it is).
pub fn bootstrapped_verdict(
    installed: &Installed,
    installed_verdict: &Verdict,
    existing: &[Condition],
) -> Option<Verdict> {
    let already = existing
        .iter()
        .any(|c| c.type_ == STACKIT_BOOTSTRAPPED && c.status == "True");
    (installed.bootstrap() && installed_verdict.status == "True" && !already).then(|| Verdict {
        status: "True",
        reason: BOOTSTRAPPED_BY_SHOOT_FLUX,
        message: "Flux has been bootstrapped on the Shoot cluster by shoot-flux (managementMode Bootstrap); the repository manages it from here on".into(),
    })
}

/// `report` with the conditions that need nothing more from the shoot: the Kubernetes
/// compatibility, and `FluxBootstrapped` when it is due. `existing`: the Extension's conditions.
pub fn with_shoot_facts(
    mut report: Report,
    installed: &Installed,
    kubernetes_version: Option<&str>,
    existing: &[Condition],
) -> Report {
    let bootstrapped = report
        .conditions
        .iter()
        .find(|(kind, _)| *kind == INSTALLED)
        .and_then(|(_, verdict)| bootstrapped_verdict(installed, verdict, existing));
    report.conditions.push((
        KUBERNETES_COMPATIBLE,
        compatibility_verdict(installed, kubernetes_version),
    ));
    if let Some(verdict) = bootstrapped {
        report.conditions.push((STACKIT_BOOTSTRAPPED, verdict));
    }
    report
}

/// A failing sync as the health check reports it when the operator asks for it: the messages
/// of the False Flux sync conditions, None when none is False.
pub fn sync_failure(conditions: &[Condition]) -> Option<String> {
    let failing: Vec<&str> = conditions
        .iter()
        .filter(|c| (c.type_ == SOURCE || c.type_ == KUSTOMIZATION) && c.status == "False")
        .map(|c| c.message.as_str())
        .collect();
    (!failing.is_empty()).then(|| format!("Flux sync failing: {}", failing.join("; ")))
}

/// The project and fingerprint of the deploy key the Git host refused, by the source condition
/// of `report` (None: the source is not refused, or the shoot uses no deploy key).
pub fn refused_key<'a>(report: &Report, installed: &'a Installed) -> Option<(&'a str, &'a str)> {
    let key = installed.deploy_key.as_ref()?;
    report
        .conditions
        .iter()
        .any(|(kind, verdict)| {
            *kind == SOURCE && verdict.status == "False" && verdict.reason == AUTHENTICATION_FAILED
        })
        .then_some((key.project.as_str(), key.fingerprint.as_str()))
}

#[cfg(test)]
mod tests;
