//! Malformed objects in the watch stream: Extensions and Clusters the API server accepts but
//! shoot-flux's types do not expect become an Error status on that object (naming the field),
//! never a stopped watch, a stuck controller or a hot loop, and shoots created after them still
//! succeed.
//!
//! The bed's CRDs are Gardener's: they type `spec.type`, `spec.providerConfig` (an object) and
//! the status, and keep unknown fields inside providerConfig and the Cluster's Shoot. So the test
//! first sends what those CRDs accept (wrong types inside providerConfig and the Shoot), then
//! loosens both CRDs to `x-kubernetes-preserve-unknown-fields` everywhere, as an older or
//! hand-edited CRD would be, and sends what only such a CRD lets through: providerConfig as a
//! string, a spec without type, a status of the wrong shape, a Shoot that is a string and a spec
//! that is one. This bed (one per test binary) serves no other test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use testbed::gardenlet::{self, ShootSpec};
use testbed::kubeutil::{dynamic_api, wait_for};

use common::*;

async fn seed() -> kube::Client {
    testbed::bed().await.unwrap().seed().client().await.unwrap()
}

async fn clusters() -> Api<DynamicObject> {
    dynamic_api(
        &seed().await,
        "extensions.gardener.cloud/v1alpha1",
        "Cluster",
        None,
    )
    .await
    .unwrap()
}

/// A healthy shoot (with its own API server) whose Extension becomes ready.
async fn healthy_shoot(name: &str) -> testbed::Shoot {
    let bed = testbed::bed().await.unwrap();
    let spec = ShootSpec::new("healthy", name);
    let shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    gardenlet::apply_extension(&seed().await, &spec)
        .await
        .unwrap();
    shoot
}

/// The seed objects of a shoot without an API server of its own (shoot-flux fails on them
/// before it would talk to the shoot).
async fn bare_shoot(name: &str, provider_config: Option<Value>) -> ShootSpec {
    let mut spec = ShootSpec::new("bad", name);
    spec.provider_config = provider_config;
    gardenlet::apply_shoot_objects(&seed().await, &spec, None)
        .await
        .unwrap();
    spec
}

/// Creates an Extension from raw JSON, retrying while a just loosened CRD is not in force yet.
async fn create_extension(namespace: &str, object: Value) {
    let api = extension_api(testbed::bed().await.unwrap(), namespace).await;
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    wait_for(
        "the Extension accepted",
        Duration::from_secs(60),
        || async {
            match api.create(&PostParams::default(), &object).await {
                Ok(_) => Ok(Some(())),
                Err(e) => anyhow::bail!(e),
            }
        },
    )
    .await
    .unwrap();
}

/// Merge-patches the Cluster `name`, retrying while a just loosened CRD is not in force yet.
async fn patch_cluster(name: &str, patch: Value) {
    let api = clusters().await;
    wait_for(
        "the Cluster patch accepted",
        Duration::from_secs(60),
        || async {
            match api
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                Ok(_) => Ok(Some(())),
                Err(e) => anyhow::bail!(e),
            }
        },
    )
    .await
    .unwrap();
}

/// Replaces the schema of every version of the CRD `name` by one that keeps anything.
async fn loosen_crd(name: &str) {
    let api: Api<CustomResourceDefinition> = Api::all(seed().await);
    let mut crd = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
    for version in crd["spec"]["versions"].as_array_mut().unwrap() {
        version["schema"] = json!({"openAPIV3Schema": {
            "type": "object", "x-kubernetes-preserve-unknown-fields": true
        }});
    }
    let crd: CustomResourceDefinition = serde_json::from_value(crd).unwrap();
    api.replace(name, &PostParams::default(), &crd)
        .await
        .unwrap();
}

/// Waits for lastOperation Error with a lastError containing `field`; returns the Extension.
async fn wait_error_naming(namespace: &str, name: &str, field: &str) -> Value {
    let api = extension_api(testbed::bed().await.unwrap(), namespace).await;
    wait_for(
        &format!("{namespace}/{name}: an Error naming {field}"),
        Duration::from_secs(90),
        || async {
            let ext = serde_json::to_value(api.get(name).await?)?;
            let description = ext["status"]["lastError"]["description"]
                .as_str()
                .unwrap_or_default();
            if ext["status"]["lastOperation"]["state"] == "Error" && description.contains(field) {
                Ok(Some(ext))
            } else {
                anyhow::bail!(
                    "lastOperation {} lastError {}",
                    ext["status"]["lastOperation"],
                    ext["status"]["lastError"]
                )
            }
        },
    )
    .await
    .unwrap()
}

fn extension(namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
        "metadata": {"name": name, "namespace": namespace,
                     "annotations": {"gardener.cloud/operation": "reconcile"}},
        "spec": spec
    })
}

#[tokio::test]
async fn malformed_extensions_and_clusters_are_errors_on_themselves_only() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let mut ext = start_extension(bed, &[]).await;

    // A healthy shoot before anything malformed exists.
    let first = healthy_shoot("first").await;
    wait_ready(bed, &first.namespace(), Duration::from_secs(60)).await;

    // What Gardener's CRDs accept: wrong types inside providerConfig and inside the Shoot.
    let bad_config = bare_shoot(
        "config",
        Some(
            json!({"apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig",
                    "flux": "v2.9.5", "source": 7, "managementMode": ["Managed"]}),
        ),
    )
    .await;
    gardenlet::apply_extension(&seed().await, &bad_config)
        .await
        .unwrap();
    let bad_shoot_field = bare_shoot("hibernation", None).await;
    patch_cluster(
        &bad_shoot_field.technical_id(),
        json!({"spec": {"shoot": {"spec": {"hibernation": {"enabled": "yes"}}}}}),
    )
    .await;
    gardenlet::apply_extension(&seed().await, &bad_shoot_field)
        .await
        .unwrap();

    // What only a looser CRD lets through.
    loosen_crd("extensions.extensions.gardener.cloud").await;
    loosen_crd("clusters.extensions.gardener.cloud").await;
    let string_config = bare_shoot("string", None).await;
    create_extension(
        &string_config.technical_id(),
        extension(
            &string_config.technical_id(),
            "shoot-flux",
            json!({"type": "shoot-flux", "providerConfig": "flux please"}),
        ),
    )
    .await;
    let list_config = bare_shoot("list", None).await;
    create_extension(
        &list_config.technical_id(),
        extension(
            &list_config.technical_id(),
            "shoot-flux",
            json!({"type": "shoot-flux", "providerConfig": [1, 2], "class": "shoot"}),
        ),
    )
    .await;
    // Not ours (no type, another type, a spec that is no object): nothing is written to them.
    let strangers = bare_shoot("strangers", None).await;
    let strangers_ns = strangers.technical_id();
    for (name, spec) in [
        ("no-type", json!({"providerConfig": {"a": 1}})),
        (
            "other-type",
            json!({"type": "shoot-dns-service", "providerConfig": "x"}),
        ),
        ("spec-string", json!("shoot-flux")),
    ] {
        create_extension(&strangers_ns, extension(&strangers_ns, name, spec)).await;
    }
    // A status of the wrong shape (as a broken writer could leave it), on an object that becomes
    // ours only afterwards, so no reconcile of the well-formed object races with it.
    let bad_status = bare_shoot("status", None).await;
    let bad_status_ns = bad_status.technical_id();
    create_extension(
        &bad_status_ns,
        extension(
            &bad_status_ns,
            "shoot-flux",
            json!({"type": "not-yet-ours"}),
        ),
    )
    .await;
    let status_api = extension_api(bed, &bad_status_ns).await;
    status_api
        .patch_status(
            "shoot-flux",
            &PatchParams::default(),
            &Patch::Merge(
                &json!({"status": {"conditions": "all good", "observedGeneration": "one"}}),
            ),
        )
        .await
        .unwrap();
    status_api
        .patch(
            "shoot-flux",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"type": "shoot-flux"}})),
        )
        .await
        .unwrap();
    // A Cluster whose Shoot is a string, and one whose spec is a number.
    let shoot_string = bare_shoot("shootstring", None).await;
    patch_cluster(
        &shoot_string.technical_id(),
        json!({"spec": {"shoot": "app"}}),
    )
    .await;
    gardenlet::apply_extension(&seed().await, &shoot_string)
        .await
        .unwrap();
    let spec_number = bare_shoot("specnumber", None).await;
    patch_cluster(&spec_number.technical_id(), json!({"spec": 42})).await;
    gardenlet::apply_extension(&seed().await, &spec_number)
        .await
        .unwrap();

    // Shoots created after all of them still succeed, and the first one still reconciles.
    let second = healthy_shoot("second").await;
    wait_ready(bed, &second.namespace(), Duration::from_secs(60)).await;
    wait_past_last_update(bed, &first.namespace()).await;
    annotate(bed, &first.namespace(), "reconcile").await;
    wait_ready(bed, &first.namespace(), Duration::from_secs(90)).await;

    // Each malformed object of ours carries its own error, naming the field.
    for (namespace, field) in [
        (bad_config.technical_id(), "providerConfig.flux"),
        (bad_config.technical_id(), "providerConfig.source"),
        (
            bad_shoot_field.technical_id(),
            "spec.shoot.spec.hibernation.enabled",
        ),
        (
            string_config.technical_id(),
            "providerConfig: must be a FluxConfig object",
        ),
        (
            list_config.technical_id(),
            "providerConfig: must be a FluxConfig object",
        ),
        (bad_status_ns.clone(), "status.observedGeneration"),
        (
            shoot_string.technical_id(),
            "spec.shoot: expected the Shoot object",
        ),
        (
            spec_number.technical_id(),
            "spec: expected an object, found a number",
        ),
    ] {
        let object = wait_error_naming(&namespace, "shoot-flux", field).await;
        assert_eq!(
            object["status"]["lastError"]["codes"],
            json!(["ERR_CONFIGURATION_PROBLEM"]),
            "{namespace}: {object}"
        );
    }
    // No status on what is not ours.
    let api = extension_api(bed, &strangers_ns).await;
    for name in ["no-type", "other-type", "spec-string"] {
        let object = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
        assert!(
            object["status"]["lastOperation"].is_null(),
            "{name} was written to: {object}"
        );
        assert!(object["metadata"]["finalizers"].is_null(), "{object}");
    }
    // A malformed object is reported once per change, not in a loop of its own status writes.
    let version = |o: DynamicObject| o.metadata.resource_version.unwrap_or_default();
    let before = version(status_api.get("shoot-flux").await.unwrap());
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        before,
        version(status_api.get("shoot-flux").await.unwrap()),
        "the malformed Extension keeps being written"
    );

    // The controller lives on, without a panic.
    ext.process.ensure_running().unwrap();
    let log = ext.log();
    assert!(!log.contains("panicked"), "a panic in the log");
    assert!(
        log.contains("invalid Extension"),
        "the malformed Extension is not logged"
    );
    println!("malformed-object test took {:?}", started.elapsed());
}
