//! The reconcile deadline (`--reconcile-timeout`) ends in a status: a reconcile stuck on a
//! manifest server that never answers (its own timeout is longer) turns the Extension to Error
//! with a lastError that names the pending step, is retried with backoff, and succeeds once the
//! input is fixed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde_json::{Value, json};
use testbed::gardenlet;

use common::*;

/// The Extension's last Error status written at or after `since`, once there is one.
async fn error_since(bed: &testbed::Bed, ns: &str, since: Timestamp) -> (Value, Timestamp) {
    wait_extension(
        bed,
        ns,
        "an Error status after the deadline",
        Duration::from_secs(90),
        |ext| {
            let op = &ext["status"]["lastOperation"];
            let at = last_update(ext)?;
            if op["state"] == "Error" && at.as_second() >= since.as_second() {
                Ok(Some((ext.clone(), at)))
            } else {
                anyhow::bail!("state {} at {at}", op["state"])
            }
        },
    )
    .await
}

#[tokio::test]
async fn a_reconcile_that_runs_out_of_time_ends_in_an_error_naming_the_pending_step() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let version = testbed::paths::versions().unwrap().flux;
    let mut spec = spec("deadline", "app");
    spec.provider_config = Some(json!({
        "apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig",
        "flux": {"version": version}
    }));
    let ns = spec.technical_id();
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_shoot_objects(&seed, &spec, None)
        .await
        .unwrap();

    // A manifest server that accepts connections and never answers; the download's own
    // timeout (10m) is far beyond the reconcile's (5s), so the deadline is what ends it.
    let silent = testbed::silent::SilentServer::start().await.unwrap();
    let silent_url = silent.url();
    let extension = start_extension_with_config(
        bed,
        "shoot-flux-deadline",
        &["--reconcile-timeout=5s"],
        Some(bed.garden().kubeconfig_path()),
        &format!(
            "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  manifests:\n    baseURL: {silent_url}\n    timeout: 10m\n"
        ),
    )
    .await;
    let created = Timestamp::now();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    let (failed, first) = error_since(bed, &ns, created).await;
    let status = &failed["status"];
    let description = status["lastError"]["description"].as_str().unwrap();
    println!("after the deadline: {description}");
    assert!(
        description.starts_with(
            "Error reconciling Extension: it did not finish within the reconcile timeout of 5s"
        ),
        "{description}"
    );
    let pending = format!("fetching the install manifests of Flux {version} from {silent_url}");
    assert!(
        description.contains("; still pending after "),
        "{description}"
    );
    assert!(description.ends_with(&pending), "{description}");
    assert_eq!(
        status["lastError"]["codes"],
        json!(["ERR_RETRYABLE_INFRA_DEPENDENCIES"])
    );
    assert_eq!(status["lastOperation"]["description"], description);
    assert_eq!(status["lastOperation"]["type"], "Create");

    // It is tried again, after a backoff, and fails the same way: each attempt ends in Error.
    let (again, second) = error_since(
        bed,
        &ns,
        Timestamp::from_second(first.as_second() + 1).unwrap(),
    )
    .await;
    let gap = second.as_second() - first.as_second();
    println!("the retry ended in Error again {gap}s later");
    // 5s of backoff and 5s of deadline at least (timestamps have whole seconds).
    assert!(gap >= 9, "retried after {gap}s");
    let description = again["status"]["lastError"]["description"]
        .as_str()
        .unwrap();
    assert!(description.ends_with(&pending), "{description}");
    let metrics = extension.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("shoot_flux_reconcile_errors_total{error=\"timeout\"}")),
        "{metrics}"
    );

    // The operator fixes the manifest source; the restarted controller (default deadline)
    // succeeds.
    drop(extension);
    drop(silent);
    let _extension = start_extension_as(
        bed,
        "shoot-flux-deadline",
        &[],
        Some(bed.garden().kubeconfig_path()),
    )
    .await;
    let ready = wait_ready(bed, &ns, Duration::from_secs(90)).await;
    assert!(ready["status"]["lastError"].is_null());
}
