//! gardener-resource-manager is real: a ManagedResource in a shoot namespace of the seed is
//! applied into that shoot's own API server, reports health with the node simulator on, has its
//! replaced secret garbage-collected, and removes its objects when deleted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams};
use testbed::ShootSpec;
use testbed::kubeutil::{dynamic_api, wait_for};
use testbed::managedresource::{managed_resource, secret};

fn objects(greeting: &str) -> String {
    format!(
        "apiVersion: v1
kind: Namespace
metadata:
  name: smoke-app
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: greeting
  namespace: smoke-app
data:
  greeting: {greeting}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: smoke-app
spec:
  replicas: 2
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: registry.local/web:1.0
"
    )
}

fn condition(mr: &DynamicObject, kind: &str) -> Option<String> {
    mr.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
        .and_then(|c| c["status"].as_str().map(str::to_string))
}

const MANAGER: &str = "smoke-test";

#[tokio::test]
async fn managed_resource_is_applied_checked_collected_and_deleted() {
    let bed = testbed::bed().await.unwrap();
    let mut shoot = bed.new_shoot(ShootSpec::new("smoke", "grm")).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    shoot.start_grm().await.unwrap();
    shoot.start_node_simulator().unwrap();
    let ns = shoot.namespace();
    let seed = bed.seed().client().await.unwrap();
    let target = shoot.client().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(seed.clone(), &ns);
    let mrs = dynamic_api(
        &seed,
        "resources.gardener.cloud/v1alpha1",
        "ManagedResource",
        Some(&ns),
    )
    .await
    .unwrap();

    let first = secret("managedresource-smoke-aaaa1111", &ns, &objects("hello")).unwrap();
    secrets
        .patch(
            "managedresource-smoke-aaaa1111",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&first),
        )
        .await
        .unwrap();
    let mr = managed_resource("smoke", &ns, &["managedresource-smoke-aaaa1111"]);
    mrs.patch("smoke", &PatchParams::apply(MANAGER), &Patch::Apply(&mr))
        .await
        .unwrap();

    let configmaps: Api<ConfigMap> = Api::namespaced(target.clone(), "smoke-app");
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "smoke-app");
    let cm = wait_for(
        "ConfigMap in the shoot",
        Duration::from_secs(60),
        || async { Ok(configmaps.get_opt("greeting").await?) },
    )
    .await
    .unwrap();
    assert_eq!(cm.data.unwrap()["greeting"], "hello");
    let origin = cm.metadata.annotations.unwrap_or_default();
    assert_eq!(
        origin
            .get("resources.gardener.cloud/origin")
            .map(String::as_str),
        Some(format!("{ns}/smoke").as_str())
    );
    assert!(deployments.get_opt("web").await.unwrap().is_some());
    assert!(
        Api::<Namespace>::all(target.clone())
            .get_opt("smoke-app")
            .await
            .unwrap()
            .is_some()
    );

    wait_for(
        "ResourcesApplied and ResourcesHealthy",
        Duration::from_secs(90),
        || async {
            let mr = mrs.get("smoke").await?;
            let applied = condition(&mr, "ResourcesApplied");
            let healthy = condition(&mr, "ResourcesHealthy");
            if applied.as_deref() == Some("True") && healthy.as_deref() == Some("True") {
                Ok(Some(()))
            } else {
                anyhow::bail!("applied={applied:?} healthy={healthy:?}")
            }
        },
    )
    .await
    .unwrap();

    // A new content-named secret replaces the old one; GRM's garbage collector removes the old.
    let second = secret("managedresource-smoke-bbbb2222", &ns, &objects("bonjour")).unwrap();
    secrets
        .patch(
            "managedresource-smoke-bbbb2222",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&second),
        )
        .await
        .unwrap();
    let mr = managed_resource("smoke", &ns, &["managedresource-smoke-bbbb2222"]);
    mrs.patch(
        "smoke",
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&mr),
    )
    .await
    .unwrap();
    wait_for(
        "the shoot to get the new content",
        Duration::from_secs(60),
        || async {
            let cm = configmaps.get("greeting").await?;
            Ok((cm
                .data
                .unwrap_or_default()
                .get("greeting")
                .map(String::as_str)
                == Some("bonjour"))
            .then_some(()))
        },
    )
    .await
    .unwrap();
    wait_for(
        "the old secret to be garbage-collected",
        Duration::from_secs(90),
        || async {
            Ok(secrets
                .get_opt("managedresource-smoke-aaaa1111")
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await
    .unwrap();
    assert!(
        secrets
            .get_opt("managedresource-smoke-bbbb2222")
            .await
            .unwrap()
            .is_some(),
        "the referenced secret stays"
    );

    // Deleting the MR removes its objects from the shoot.
    mrs.delete("smoke", &DeleteParams::default()).await.unwrap();
    wait_for("the MR to be gone", Duration::from_secs(90), || async {
        Ok(mrs.get_opt("smoke").await?.is_none().then_some(()))
    })
    .await
    .unwrap();
    assert!(configmaps.get_opt("greeting").await.unwrap().is_none());
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    let namespace = Api::<Namespace>::all(target)
        .get_opt("smoke-app")
        .await
        .unwrap();
    // Without kube-controller-manager a namespace stays Terminating, but it is being deleted.
    assert!(namespace.is_none_or(|n| n.metadata.deletion_timestamp.is_some()));
}
