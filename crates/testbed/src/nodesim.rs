//! The node simulator: the one simulated part of the bed.
//!
//! Nothing here runs Pods, so a Deployment would never report a rollout. The simulator does what
//! kube-controller-manager's ReplicaSet controller and kubelet would do once the Pods run: it
//! keeps exactly `spec.replicas` Pod objects of the Deployment's current generation (bound to a
//! node name that no kubelet serves, status Running and Ready; GRM counts them; deleted ones are
//! removed as kubelet would once they stopped), and sets the
//! Deployment's status to fully rolled out (observedGeneration, replica counts, Available and
//! Progressing conditions). It logs everything it does, and a test switches it on per shoot. The
//! programs those Deployments stand for (Flux's controllers) really run as local processes.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use crate::background::TaskGuard;

/// Marks Deployments of one shoot API server as rolled out until dropped.
#[derive(Debug)]
pub struct NodeSimulator {
    _task: TaskGuard,
}

/// True when the Deployment already reports the rollout of its current generation.
pub fn is_rolled_out(deployment: &Deployment) -> bool {
    let generation = deployment.metadata.generation.unwrap_or(0);
    let replicas = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let Some(status) = deployment.status.as_ref() else {
        return false;
    };
    status.observed_generation == Some(generation)
        && status.replicas == Some(replicas)
        && status.updated_replicas == Some(replicas)
        && status.ready_replicas == Some(replicas)
        && status.available_replicas == Some(replicas)
}

/// The status kube-controller-manager reports once every replica of `generation` is available.
pub fn rolled_out_status(generation: i64, replicas: i32, now: &str) -> serde_json::Value {
    json!({
        "status": {
            "observedGeneration": generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "unavailableReplicas": null,
            "conditions": [
                {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                 "message": "Deployment has minimum availability (node simulator).",
                 "lastUpdateTime": now, "lastTransitionTime": now},
                {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                 "message": "ReplicaSet has successfully progressed (node simulator).",
                 "lastUpdateTime": now, "lastTransitionTime": now}
            ]
        }
    })
}

impl NodeSimulator {
    /// Starts simulating for the API server behind `kubeconfig_yaml`; logs to `log`.
    pub fn start(kubeconfig_yaml: String, log: &Path) -> Result<Self> {
        let log = Arc::new(Mutex::new(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(log)?,
        ));
        let task = TaskGuard::spawn(async move {
            loop {
                if let Err(e) = simulate(&kubeconfig_yaml, &log).await {
                    write_log(&log, &format!("node simulator error, restarting: {e:#}"));
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        Ok(Self { _task: task })
    }
}

fn write_log(log: &Arc<Mutex<std::fs::File>>, line: &str) {
    if let Ok(mut file) = log.lock() {
        let _ = writeln!(file, "{line}");
    }
}

const NODE_NAME: &str = "testbed-simulated-node";

async fn simulate(kubeconfig_yaml: &str, log: &Arc<Mutex<std::fs::File>>) -> Result<()> {
    tokio::try_join!(
        simulate_deployments(kubeconfig_yaml, log),
        simulate_kubelet(kubeconfig_yaml, log)
    )?;
    Ok(())
}

/// What kubelet does when a Pod on its node is deleted: stop it and remove the object.
async fn simulate_kubelet(kubeconfig_yaml: &str, log: &Arc<Mutex<std::fs::File>>) -> Result<()> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(kubeconfig_yaml)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let pods: Api<Pod> = Api::all(client.clone());
    let config = watcher::Config::default().fields(&format!("spec.nodeName={NODE_NAME}"));
    let mut events = watcher(pods, config).applied_objects().boxed();
    while let Some(pod) = events.try_next().await? {
        if pod.metadata.deletion_timestamp.is_none() {
            continue;
        }
        let name = pod.metadata.name.clone().unwrap_or_default();
        let namespace = pod.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(client.clone(), &namespace);
        match api
            .delete(&name, &DeleteParams::default().grace_period(0))
            .await
        {
            Ok(_) => write_log(
                log,
                &format!("kubelet: removed terminated Pod {namespace}/{name}"),
            ),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => write_log(
                log,
                &format!("kubelet: could not remove Pod {namespace}/{name}: {e}"),
            ),
        }
    }
    Ok(())
}

async fn simulate_deployments(
    kubeconfig_yaml: &str,
    log: &Arc<Mutex<std::fs::File>>,
) -> Result<()> {
    let kubeconfig = kube::config::Kubeconfig::from_yaml(kubeconfig_yaml)?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default()).await?;
    let client = kube::Client::try_from(config)?;
    let all: Api<Deployment> = Api::all(client.clone());
    let mut events = watcher(all, watcher::Config::default())
        .applied_objects()
        .boxed();
    while let Some(deployment) = events.try_next().await? {
        if deployment.metadata.deletion_timestamp.is_some() {
            continue;
        }
        if let Err(e) = sync_pods(&client, &deployment, log).await {
            write_log(
                log,
                &format!(
                    "could not run the Pods of {:?}: {e:#}",
                    deployment.metadata.name
                ),
            );
        }
        if is_rolled_out(&deployment) {
            continue;
        }
        let name = deployment.metadata.name.clone().unwrap_or_default();
        let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
        let generation = deployment.metadata.generation.unwrap_or(0);
        let replicas = deployment
            .spec
            .as_ref()
            .and_then(|s| s.replicas)
            .unwrap_or(1);
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let api: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
        let patch = rolled_out_status(generation, replicas, &now);
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => write_log(
                log,
                &format!(
                    "{now} marked Deployment {namespace}/{name} generation {generation} as rolled out ({replicas} replicas)"
                ),
            ),
            Err(e) => write_log(
                log,
                &format!("{now} could not mark {namespace}/{name}: {e}"),
            ),
        }
    }
    Ok(())
}

const GENERATION_LABEL: &str = "testbed.shoot-flux/deployment-generation";

/// Keeps exactly `spec.replicas` running Pods of the Deployment's current generation.
async fn sync_pods(
    client: &kube::Client,
    deployment: &Deployment,
    log: &Arc<Mutex<std::fs::File>>,
) -> Result<()> {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    let namespace = deployment.metadata.namespace.clone().unwrap_or_default();
    let generation = deployment.metadata.generation.unwrap_or(0).to_string();
    let Some(spec) = deployment.spec.as_ref() else {
        return Ok(());
    };
    let replicas = usize::try_from(spec.replicas.unwrap_or(1)).unwrap_or(0);
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    if selector.is_empty() {
        return Ok(());
    }
    let label_selector: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let existing = pods
        .list(&ListParams::default().labels(&label_selector.join(",")))
        .await?
        .items;
    let (current, stale): (Vec<Pod>, Vec<Pod>) = existing.into_iter().partition(|p| {
        p.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(GENERATION_LABEL))
            == Some(&generation)
            && p.metadata.deletion_timestamp.is_none()
    });
    for pod in stale.iter().chain(current.iter().skip(replicas)) {
        if let Some(pod_name) = &pod.metadata.name {
            let _ = pods
                .delete(pod_name, &DeleteParams::default().grace_period(0))
                .await;
            write_log(log, &format!("deleted Pod {namespace}/{pod_name}"));
        }
    }
    let template = spec.template.clone();
    for index in current.len()..replicas {
        let mut labels = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        labels.insert(GENERATION_LABEL.into(), generation.clone());
        let pod_name = format!("{name}-g{generation}-{index}");
        let mut pod_spec = template.spec.clone().unwrap_or_default();
        pod_spec.node_name = Some(NODE_NAME.into());
        let pod = Pod {
            metadata: kube::api::ObjectMeta {
                name: Some(pod_name.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(labels),
                owner_references: Some(vec![
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                        api_version: "apps/v1".into(),
                        kind: "Deployment".into(),
                        name: name.clone(),
                        uid: deployment.metadata.uid.clone().unwrap_or_default(),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            },
            spec: Some(pod_spec),
            status: None,
        };
        match pods.create(&PostParams::default(), &pod).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        let status = json!({"status": {
            "phase": "Running", "podIP": "10.3.0.10", "startTime": now,
            "conditions": [
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
                {"type": "Initialized", "status": "True", "lastTransitionTime": now},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "lastTransitionTime": now}
            ]
        }});
        pods.patch_status(&pod_name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        write_log(log, &format!("{now} runs Pod {namespace}/{pod_name}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_deployment_is_not_rolled_out_and_the_simulated_status_is() {
        let mut deployment: Deployment = serde_json::from_value(json!({
            "metadata": {"name": "d", "generation": 3},
            "spec": {"replicas": 2, "selector": {}, "template": {}}
        }))
        .unwrap();
        assert!(!is_rolled_out(&deployment));
        let status = rolled_out_status(3, 2, "2026-01-01T00:00:00Z");
        deployment.status = serde_json::from_value(status["status"].clone()).unwrap();
        assert!(is_rolled_out(&deployment));
        deployment.metadata.generation = Some(4);
        assert!(
            !is_rolled_out(&deployment),
            "a new generation needs a new rollout"
        );
    }
}
