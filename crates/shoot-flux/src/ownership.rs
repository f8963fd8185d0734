//! Two owners of Flux's components: in `Managed` mode shoot-flux keeps Flux's Deployments as
//! released; a repository that also carries Flux's components (`gotk-components.yaml`, applied
//! by kustomize-controller) makes both overwrite each other on every sync. This check reads the
//! field managers of the Flux Deployments through shoot-flux's own shoot access and reports the
//! Extension condition `FluxComponentsOwnership` (False with what to do, when it happens).

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
    let others = if mode == ManagementMode::Managed {
        let generic = cluster
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(GENERIC_KUBECONFIG_ANNOTATION))
            .cloned();
        let token = shootaccess::token(seed, &ext.namespace).await?;
        let client = match clients.0.get(&ext.namespace) {
            Some((t, c)) if *t == token => c.clone(),
            _ => {
                let c = shootaccess::client(seed, &ext.namespace, generic.as_deref()).await?;
                clients
                    .0
                    .insert(ext.namespace.clone(), (token.clone(), c.clone()));
                c
            }
        };
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
