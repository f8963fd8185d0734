//! Every outbound call has a deadline, and the status says which one fired: a garden API server
//! that accepts connections but does not answer (frozen with SIGSTOP), a manifest server that
//! never answers, and a frozen shoot API server. Meanwhile the shoot keeps what it had.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use kube::api::ListParams;
use serde_json::{Value, json};
use testbed::gardenlet;

use common::*;

const POLL: &str = "--healthcheck-sync-period=2s";

/// An API server frozen with SIGSTOP: it keeps its sockets (the kernel still accepts
/// connections) but answers nothing, like a hung server. Resumed when dropped, also when the test
/// fails.
struct Frozen<'a>(&'a testbed::apiserver::ApiServer);

impl<'a> Frozen<'a> {
    fn new(server: &'a testbed::apiserver::ApiServer) -> Self {
        server.pause().unwrap();
        Self(server)
    }
}

impl Drop for Frozen<'_> {
    fn drop(&mut self) {
        let _ = self.0.resume();
    }
}

/// The shoot's ManagedResources as they are: names, generations (GRM's status updates do not
/// count) and referenced secrets.
async fn managed_resources(bed: &testbed::Bed, namespace: &str) -> Vec<(String, i64, Value)> {
    let mut out: Vec<_> = mr_api(bed, namespace)
        .await
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|mr| {
            (
                mr.metadata.name.unwrap_or_default(),
                mr.metadata.generation.unwrap_or_default(),
                mr.data["spec"]["secretRefs"].clone(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[tokio::test]
async fn deadlines_on_garden_manifests_and_shoot_are_named_in_the_status() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    marker_repository(git, "deadlines");
    let versions = testbed::paths::versions().unwrap();
    let spec = synced_spec(git, "deadlines", "deadlines");
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let config = "requestTimeout: 2s\nsyncStatus:\n  timeout: 2s\n";
    let extension = start_extension_configured(
        bed,
        "shoot-flux",
        &[POLL],
        Some(bed.garden().kubeconfig_path()),
        config,
    )
    .await;
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    start_flux_when_installed(&mut shoot).await;
    wait_condition(
        bed,
        &ns,
        "FluxKustomizationReady",
        "True",
        Duration::from_secs(90),
        |c| c["status"] == "True",
    )
    .await;
    let before = managed_resources(bed, &ns).await;
    assert_eq!(before.len(), 3, "{before:?}");

    // The garden hangs while the controller starts again: its garden watches cannot list, so
    // the project's flux-config is read with a request, which fails after the deadline; the
    // status names the request and nothing of the shoot's is touched. (Once its watches have
    // listed, a controller answers a steady project from them and needs no garden request.)
    // When the garden answers again, the retry succeeds.
    let frozen = Frozen::new(bed.garden());
    drop(extension);
    let extension = start_extension_configured(
        bed,
        "shoot-flux",
        &[POLL],
        Some(bed.garden().kubeconfig_path()),
        config,
    )
    .await;
    let asked = Instant::now();
    let since = annotate(bed, &ns, "reconcile").await;
    let failed = wait_error(
        bed,
        &ns,
        &since,
        &[
            "the garden request to read ConfigMap flux-config in garden-deadlines failed",
            "GET /api/v1/namespaces/garden-deadlines/configmaps/flux-config: no answer within 2s",
        ],
    )
    .await;
    println!(
        "garden frozen, {:.1}s after the reconcile was asked for: {}",
        asked.elapsed().as_secs_f64(),
        failed["status"]["lastError"]["description"]
    );
    assert_eq!(
        failed["status"]["lastError"]["codes"],
        json!(["ERR_RETRYABLE_INFRA_DEPENDENCIES"])
    );
    assert_eq!(managed_resources(bed, &ns).await, before);
    drop(frozen);
    wait_ready(bed, &ns, Duration::from_secs(60)).await;

    // The shoot's API server hangs: its sync conditions turn Unknown with the deadline as the
    // reason, within a poll period and the deadline; the Extension's operation is untouched.
    let frozen = Frozen::new(shoot.api());
    let stopped = Instant::now();
    let unknown = wait_condition(
        bed,
        &ns,
        "FluxKustomizationReady",
        "Unknown: no answer",
        Duration::from_secs(90),
        |c| {
            c["status"] == "Unknown"
                && c["reason"] == "ShootUnreachable"
                && c["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("no answer within 2s"))
        },
    )
    .await;
    println!(
        "shoot frozen, {:.1}s later: {}",
        stopped.elapsed().as_secs_f64(),
        unknown["message"]
    );
    // A poll period and the deadline (2 s each) with room for a loaded machine; a read without
    // a deadline would hang on the frozen server for as long as it stays frozen.
    assert!(stopped.elapsed() < Duration::from_secs(2 + 2 + 26));
    let ext = extension_api(bed, &ns)
        .await
        .get("shoot-flux")
        .await
        .unwrap();
    assert_eq!(ext.data["status"]["lastOperation"]["state"], "Succeeded");
    drop(frozen);
    wait_condition(
        bed,
        &ns,
        "FluxKustomizationReady",
        "True again",
        Duration::from_secs(60),
        |c| c["status"] == "True",
    )
    .await;

    // The manifest server accepts the connection and never answers: the download gives up after
    // flux.manifests.timeout with the URL in the status, and the installed Flux stays.
    drop(extension);
    let silent = testbed::silent::SilentServer::start().await.unwrap();
    let silent_url = silent.url();
    let _extension = start_extension_with_config(
        bed,
        "shoot-flux-silent-manifests",
        &[POLL],
        Some(bed.garden().kubeconfig_path()),
        &format!(
            "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  manifests:\n    baseURL: {silent_url}\n    timeout: 2s\nrequestTimeout: 2s\n"
        ),
    )
    .await;
    let since = annotate(bed, &ns, "reconcile").await;
    let failed = wait_error(
        bed,
        &ns,
        &since,
        &[&format!(
            "GET {silent_url}/download/{}/install.yaml timed out after 2s",
            versions.flux
        )],
    )
    .await;
    println!(
        "manifest server silent: {}",
        failed["status"]["lastError"]["description"]
    );
    assert_eq!(managed_resources(bed, &ns).await, before);
    drop(silent);
}
