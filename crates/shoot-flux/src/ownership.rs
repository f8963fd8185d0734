//! Two owners of Flux's components: in `Managed` mode shoot-flux keeps Flux's Deployments as
//! released; a repository that also carries Flux's components (`gotk-components.yaml`, applied
//! by kustomize-controller) makes both overwrite each other on every sync. This check reads the
//! field managers of the Flux Deployments through shoot-flux's own shoot access and reports the
//! Extension condition `FluxComponentsOwnership` (False with what to do, when it happens).
//! The same poll reports whether the shoot synced: `FluxSourceReady` (with the fetched
//! revision) and `FluxKustomizationReady` (with the last applied revision, or Flux's message).

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};

use crate::actuator::stackit_bootstrapped;
use crate::api::v1alpha1::{self, ManagementMode};
use crate::config;
use crate::gardener::shoot::decode_cluster;
use crate::gardener::types::{Extension, cluster_resource, extension_resource};
use crate::health::{Verdict, write_condition};
use crate::shootaccess::{self, GENERIC_KUBECONFIG_ANNOTATION, ShootAccessError};

pub const CONDITION_TYPE: &str = "FluxComponentsOwnership";
pub const SOURCE_CONDITION: &str = "FluxSourceReady";
pub const KUSTOMIZATION_CONDITION: &str = "FluxKustomizationReady";
const SOURCE_REVISION: &str = "/status/artifact/revision";
const KUSTOMIZATION_REVISION: &str = "/status/lastAppliedRevision";

/// The sync objects of a shoot: the providerConfig's templates, else the project's.
fn sync_objects(
    config: &v1alpha1::FluxConfig,
    namespace: &str,
) -> (String, String, String, String) {
    match (&config.source, &config.kustomization) {
        (Some(source), Some(kustomization)) => {
            let s = v1alpha1::defaults::source_object(source, namespace);
            let k = v1alpha1::defaults::kustomization_object(kustomization, &s, namespace);
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&s["kind"]),
                text(&s["metadata"]["name"]),
                text(&k["metadata"]["namespace"]),
                text(&k["metadata"]["name"]),
            )
        }
        _ => (
            "GitRepository".into(),
            crate::flux::objects::GIT_REPOSITORY_NAME.into(),
            namespace.to_string(),
            crate::flux::objects::KUSTOMIZATION_NAME.into(),
        ),
    }
}

/// A Flux object's `Ready` condition as one of ours: (status, reason, message). `revision` is
/// the JSON pointer of the revision the object reports.
pub fn ready_verdict(kind: &str, object: Option<&serde_json::Value>, revision: &str) -> Verdict {
    let Some(object) = object else {
        return Verdict {
            status: "Unknown",
            reason: "NotFound",
            message: format!("the {kind} does not exist in the shoot (yet)"),
        };
    };
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let ready = object["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"));
    let revision = object
        .pointer(revision)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    match ready {
        Some(c) if c["status"] == "True" => Verdict {
            status: "True",
            reason: "Ready",
            message: format!("{kind} {name} is ready at revision {revision}"),
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

/// The condition for the other writers found (deployment, manager).
pub fn verdict(mode: ManagementMode, others: &[(String, String)], namespace: &str) -> Verdict {
    if mode == ManagementMode::Bootstrap {
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

/// Shoot clients by shoot namespace, rebuilt when the token changes.
#[derive(Default)]
struct Clients(HashMap<String, (String, Client)>);

impl Clients {
    /// The shoot's client, reusing the cached one while the token is the same.
    async fn get(
        &mut self,
        seed: &Client,
        namespace: &str,
        generic_kubeconfig_secret: Option<&str>,
    ) -> Result<Client, ShootAccessError> {
        let token = shootaccess::token(seed, namespace).await?;
        if let Some((cached, client)) = self.0.get(namespace)
            && *cached == token
        {
            return Ok(client.clone());
        }
        let client =
            shootaccess::client(seed, namespace, generic_kubeconfig_secret, &token).await?;
        self.0
            .insert(namespace.to_string(), (token, client.clone()));
        Ok(client)
    }
}

async fn check_one(
    seed: &Client,
    clients: &mut Clients,
    object: &DynamicObject,
    default_namespace: &str,
) -> Result<(), ShootAccessError> {
    let json = serde_json::to_value(object).unwrap_or_default();
    let Ok(ext) = Extension::from_json(&json) else {
        return Ok(());
    };
    if !ext.is_ours() || ext.deletion_timestamp.is_some() || ext.operation_annotation().is_some() {
        return Ok(());
    }
    let clusters: Api<DynamicObject> = Api::all_with(seed.clone(), &cluster_resource());
    let Some(cluster) = clusters.get_opt(&ext.namespace).await? else {
        return Ok(());
    };
    let Ok(shoot) = decode_cluster(&serde_json::to_value(&cluster).unwrap_or_default()) else {
        return Ok(());
    };
    // Hibernated shoots are never contacted.
    if shoot.is_hibernation_enabled() || shoot.deleting {
        clients.0.remove(&ext.namespace);
        return Ok(());
    }
    let Ok(flux_config) = v1alpha1::decode(ext.spec.provider_config.as_ref(), &shoot.resources)
    else {
        return Ok(());
    };
    let (mode, _) = config::management(&flux_config, stackit_bootstrapped(&ext));
    let namespace = flux_config
        .flux
        .namespace
        .clone()
        .unwrap_or_else(|| default_namespace.to_string());
    let generic = cluster
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(GENERIC_KUBECONFIG_ANNOTATION))
        .cloned();
    // Bootstrap mode needs no shoot request for its ownership verdict.
    let managed_client = if mode == ManagementMode::Managed {
        Some(
            clients
                .get(seed, &ext.namespace, generic.as_deref())
                .await?,
        )
    } else {
        None
    };
    let others = if let Some(client) = managed_client.clone() {
        let deployments: Api<Deployment> = Api::namespaced(client, &namespace);
        let list = deployments
            .list(&ListParams::default())
            .await
            .map_err(|e| ShootAccessError::Waiting(format!("the shoot answered: {e}")))?;
        let values: Vec<serde_json::Value> = list
            .items
            .iter()
            .map(|d| serde_json::to_value(d).unwrap_or_default())
            .collect();
        shootaccess::other_owners(&values)
    } else {
        Vec::new()
    };
    write_condition(
        seed,
        &ext.namespace,
        &ext.name,
        CONDITION_TYPE,
        &verdict(mode, &others, &namespace),
    )
    .await?;
    // Whether the shoot actually synced: the source and the main Kustomization.
    let client = match managed_client {
        Some(client) => client,
        None => {
            clients
                .get(seed, &ext.namespace, generic.as_deref())
                .await?
        }
    };
    let (source_kind, source_name, ks_namespace, ks_name) = sync_objects(&flux_config, &namespace);
    let get = |api_version: &'static str, kind: String, ns: String, name: String| {
        let client = client.clone();
        async move {
            let gvk = kube::api::GroupVersionKind::gvk(
                api_version.split('/').next().unwrap_or_default(),
                api_version.split('/').nth(1).unwrap_or_default(),
                &kind,
            );
            let resource = kube::api::ApiResource::from_gvk(&gvk);
            let api: Api<DynamicObject> = Api::namespaced_with(client, &ns, &resource);
            api.get_opt(&name)
                .await
                .map(|o| o.map(|o| serde_json::to_value(o).unwrap_or_default()))
                .map_err(|e| ShootAccessError::Waiting(format!("the shoot answered: {e}")))
        }
    };
    let source = get(
        "source.toolkit.fluxcd.io/v1",
        source_kind.clone(),
        namespace.clone(),
        source_name,
    )
    .await?;
    let kustomization = get(
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization".into(),
        ks_namespace,
        ks_name,
    )
    .await?;
    if source.is_some() || kustomization.is_some() {
        let source_verdict = ready_verdict(&source_kind, source.as_ref(), SOURCE_REVISION);
        write_condition(
            seed,
            &ext.namespace,
            &ext.name,
            SOURCE_CONDITION,
            &source_verdict,
        )
        .await?;
        write_condition(
            seed,
            &ext.namespace,
            &ext.name,
            KUSTOMIZATION_CONDITION,
            &ready_verdict(
                "Kustomization",
                kustomization.as_ref(),
                KUSTOMIZATION_REVISION,
            ),
        )
        .await?;
    }
    Ok(())
}

/// Checks every Extension of ours each `period`, until the process ends.
pub async fn run(seed: Client, period: Duration, default_namespace: String) {
    let api: Api<DynamicObject> = Api::all_with(seed.clone(), &extension_resource());
    let mut clients = Clients::default();
    loop {
        match api.list(&ListParams::default()).await {
            Ok(list) => {
                let present: Vec<String> = list
                    .items
                    .iter()
                    .filter_map(|o| o.metadata.namespace.clone())
                    .collect();
                // Connections of shoots that are gone are dropped.
                clients.0.retain(|ns, _| present.contains(ns));
                for object in &list.items {
                    match check_one(&seed, &mut clients, object, &default_namespace).await {
                        Ok(()) => {}
                        Err(ShootAccessError::Waiting(reason)) => {
                            tracing::debug!(namespace = ?object.metadata.namespace, %reason, "ownership check skipped");
                        }
                        Err(e) => {
                            tracing::warn!(namespace = ?object.metadata.namespace, error = %e, "ownership check failed");
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "listing Extensions for the ownership check failed")
            }
        }
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_readiness_becomes_our_conditions() {
        let ready = serde_json::json!({"metadata": {"name": "main-ks"}, "status": {
            "lastAppliedRevision": "main@sha1:abc",
            "conditions": [{"type": "Ready", "status": "True", "message": "Applied"}]}});
        let v = ready_verdict("Kustomization", Some(&ready), KUSTOMIZATION_REVISION);
        assert_eq!(v.status, "True");
        assert!(v.message.contains("main@sha1:abc"), "{}", v.message);
        let failing = serde_json::json!({"metadata": {"name": "main-ks"}, "status": {
            "conditions": [{"type": "Ready", "status": "False", "message": "kustomize build failed"}]}});
        let v = ready_verdict("Kustomization", Some(&failing), KUSTOMIZATION_REVISION);
        assert_eq!(
            (v.status, v.message.as_str()),
            ("False", "Kustomization main-ks: kustomize build failed")
        );
        assert_eq!(
            ready_verdict("GitRepository", None, SOURCE_REVISION).status,
            "Unknown"
        );
    }

    #[test]
    fn verdicts_say_what_to_do() {
        let others = vec![(
            "source-controller".to_string(),
            "kustomize-controller".to_string(),
        )];
        let v = verdict(ManagementMode::Managed, &others, "flux-system");
        assert_eq!(
            (v.status, v.reason),
            ("False", "RepositoryAlsoAppliesFluxComponents")
        );
        assert!(v.message.contains(
            "Deployment flux-system/source-controller is also written by kustomize-controller"
        ));
        assert!(v.message.contains("managementMode: Bootstrap"));
        assert_eq!(
            verdict(ManagementMode::Managed, &[], "flux-system").status,
            "True"
        );
        assert_eq!(
            verdict(ManagementMode::Bootstrap, &others, "flux-system").status,
            "True"
        );
    }
}
