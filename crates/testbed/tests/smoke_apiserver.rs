//! The API servers are real: create, get, list and watch a ConfigMap in the garden and an
//! Extension (a Gardener CRD) in the seed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DynamicObject, ListParams, PostParams, WatchEvent, WatchParams};
use serde_json::json;
use testbed::kubeutil::dynamic_api;

async fn ensure_namespace(client: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    if api.get_opt(name).await.unwrap().is_none() {
        api.create(&PostParams::default(), &ns).await.unwrap();
    }
}

/// Starts a watch, runs `create`, and returns the name of the first ADDED object seen.
async fn first_added<K>(api: &Api<K>, create: impl std::future::Future<Output = ()>) -> String
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let version = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = api
        .watch(&WatchParams::default().timeout(120), &version)
        .await
        .unwrap()
        .boxed();
    create.await;
    let event = tokio::time::timeout(Duration::from_secs(120), stream.try_next())
        .await
        .expect("no watch event within 120s")
        .unwrap()
        .expect("watch ended");
    match event {
        WatchEvent::Added(obj) => obj.meta().name.clone().unwrap(),
        other => panic!("expected ADDED, got {other:?}"),
    }
}

#[tokio::test]
async fn garden_configmap_create_get_list_watch() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let client = bed.garden().client().await.unwrap();
    ensure_namespace(&client, "garden-smoke").await;
    let api: Api<ConfigMap> = Api::namespaced(client, "garden-smoke");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "flux-config"},
        "data": {"repositoryUrl": "http://127.0.0.1/x.git", "repositoryBranch": "main"}
    }))
    .unwrap();
    let added = first_added(&api, async {
        api.create(&PostParams::default(), &cm).await.unwrap();
    })
    .await;
    assert_eq!(added, "flux-config");
    let got = api.get("flux-config").await.unwrap();
    assert_eq!(got.data.unwrap()["repositoryBranch"], "main");
    let listed = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    // The garden and the seed are separate API servers with separate data.
    let seed: Api<ConfigMap> = Api::namespaced(bed.seed().client().await.unwrap(), "garden-smoke");
    assert!(seed.get_opt("flux-config").await.unwrap().is_none());
}

#[tokio::test]
async fn seed_extension_create_get_list_watch() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let client = bed.seed().client().await.unwrap();
    ensure_namespace(&client, "shoot--smoke--ext").await;
    let api = dynamic_api(
        &client,
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        Some("shoot--smoke--ext"),
    )
    .await
    .unwrap();
    let extension: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1",
        "kind": "Extension",
        "metadata": {"name": "shoot-flux", "namespace": "shoot--smoke--ext"},
        "spec": {"type": "shoot-flux", "providerConfig": {"apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig"}}
    }))
    .unwrap();
    let added = first_added(&api, async {
        api.create(&PostParams::default(), &extension)
            .await
            .unwrap();
    })
    .await;
    assert_eq!(added, "shoot-flux");
    let got = api.get("shoot-flux").await.unwrap();
    assert_eq!(got.data["spec"]["type"], "shoot-flux");
    assert_eq!(
        got.data["spec"]["providerConfig"]["kind"], "FluxConfig",
        "providerConfig is preserved"
    );
    assert_eq!(
        api.list(&ListParams::default()).await.unwrap().items.len(),
        1
    );
    // The CRD's schema is enforced: spec.type is required.
    let bad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
        "metadata": {"name": "bad", "namespace": "shoot--smoke--ext"}, "spec": {}
    }))
    .unwrap();
    let err = api.create(&PostParams::default(), &bad).await.unwrap_err();
    assert!(err.to_string().contains("type"), "{err}");
}
