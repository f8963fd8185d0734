//! Which Flux a shoot gets (docs/flux-versions.md): without a version from shoot, project or
//! operator, the release pinned in the binary, never `latest`; a project that writes `latest`
//! follows the release host, and when the release `latest` names changes, the extension logs
//! old and new version and counts the change in `shoot_flux_flux_latest_changes_total`.
//!
//! The test runs its own release server (GitHub's redirects, asset host included) whose latest
//! tag it switches at run time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use testbed::kubeutil::wait_for;
use testbed::releases::ReleaseServer;

use common::*;

/// The kustomize-controller image of the shoot's install ManagedResource, as written now.
async fn installed_kustomize_controller(bed: &testbed::Bed, namespace: &str) -> String {
    let mr = serde_json::to_value(
        mr_api(bed, namespace)
            .await
            .get("extension-shoot-flux-flux-install")
            .await
            .unwrap(),
    )
    .unwrap();
    let name = mr["spec"]["secretRefs"][0]["name"].as_str().unwrap();
    let secrets: Api<Secret> = Api::namespaced(bed.seed().client().await.unwrap(), namespace);
    let data = secrets.get(name).await.unwrap().data.unwrap();
    let yaml =
        testbed::managedresource::brotli_decompress(&data[testbed::managedresource::DATA_KEY].0)
            .unwrap();
    let yaml = String::from_utf8(yaml).unwrap();
    yaml.lines()
        .filter_map(|l| l.trim().strip_prefix("image: "))
        .map(|i| i.trim_matches('"').to_string())
        .find(|i| i.contains("/kustomize-controller:"))
        .unwrap()
}

/// kustomize-controller's image of a prepared release.
fn kustomize_controller_of(tag: &str) -> String {
    let components = std::fs::read_to_string(
        testbed::paths::flux_release_dir(tag)
            .unwrap()
            .join("components.txt"),
    )
    .unwrap();
    let version = components
        .lines()
        .find_map(|l| l.strip_prefix("kustomize-controller "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap();
    format!("ghcr.io/fluxcd/kustomize-controller:{version}")
}

#[tokio::test]
async fn the_default_is_pinned_and_changes_of_latest_are_logged_and_counted() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = testbed::paths::versions().unwrap();
    // latest starts at the older release, so that the pinned default (the newer, the bed's
    // tested release) and latest differ.
    let releases = ReleaseServer::start(&versions.flux_previous).unwrap();
    let config = format!(
        "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  manifests:\n    baseURL: {}\n    timeout: 30s\n    latestRefreshInterval: 1s\n",
        releases.base_url()
    );
    let extension = start_extension_with_config(
        bed,
        "shoot-flux-versions",
        &[],
        Some(bed.garden().kubeconfig_path()),
        &config,
    )
    .await;

    set_project_config(bed, "pinned", &[]).await;
    set_project_config(bed, "follows", &[("fluxVersion", "latest")]).await;
    let pinned = spec("pinned", "app");
    let follows = spec("follows", "app");
    let mut shoots = Vec::new();
    for spec in [&pinned, &follows] {
        let shoot = bed.new_shoot(spec.clone()).await.unwrap();
        shoot.create_gardenlet_objects().await.unwrap();
        testbed::gardenlet::apply_extension(&bed.seed().client().await.unwrap(), spec)
            .await
            .unwrap();
        shoots.push(shoot);
    }
    for spec in [&pinned, &follows] {
        wait_ready(bed, &spec.technical_id(), Duration::from_secs(120)).await;
    }
    let newer = kustomize_controller_of(&versions.flux);
    let older = kustomize_controller_of(&versions.flux_previous);
    assert_ne!(newer, older);
    assert_eq!(
        installed_kustomize_controller(bed, &pinned.technical_id()).await,
        newer,
        "a shoot that names no version gets the pinned default, not latest ({})",
        versions.flux_previous
    );
    assert_eq!(
        installed_kustomize_controller(bed, &follows.technical_id()).await,
        older,
        "a project that writes latest gets what latest names"
    );
    assert!(
        extension.log().contains(&format!(
            "the latest Flux release is {}",
            versions.flux_previous
        )),
        "{}",
        extension.log()
    );
    // Downloads went through the asset host.
    assert!(
        releases
            .asset_requests()
            .iter()
            .any(|r| r.status == 200 && r.asset == Some(format!("{}/install.yaml", versions.flux))),
        "{:?}",
        releases.asset_requests()
    );

    // A new release becomes latest: the next reconcile of the following shoot sees it.
    releases.set_latest(&versions.flux).unwrap();
    let series = format!(
        "shoot_flux_flux_latest_changes_total{{from=\"{}\",to=\"{}\"}} 1",
        versions.flux_previous, versions.flux
    );
    let namespace = follows.technical_id();
    wait_for(
        "the change of latest counted",
        Duration::from_secs(180),
        || {
            let (series, namespace) = (series.clone(), namespace.clone());
            let extension = &extension;
            async move {
                if extension.metrics().await.contains(&series) {
                    return Ok(Some(()));
                }
                // Each reconcile asks again once the refresh interval (1s) has passed.
                annotate(bed, &namespace, "reconcile").await;
                wait_ready(bed, &namespace, Duration::from_secs(120)).await;
                Ok(None)
            }
        },
    )
    .await
    .unwrap();
    let log = extension.log();
    assert!(
        log.contains(&format!(
            "the latest Flux release changed from {} to {}",
            versions.flux_previous, versions.flux
        )),
        "{log}"
    );
    wait_for(
        "the following shoot moved to the new latest",
        Duration::from_secs(120),
        || {
            let (newer, namespace) = (newer.clone(), namespace.clone());
            async move {
                annotate(bed, &namespace, "reconcile").await;
                wait_ready(bed, &namespace, Duration::from_secs(120)).await;
                Ok((installed_kustomize_controller(bed, &namespace).await == newer).then_some(()))
            }
        },
    )
    .await
    .unwrap();
    // Counted once, however many reconciles resolved latest since.
    assert!(extension.metrics().await.contains(&series));
    assert_eq!(
        installed_kustomize_controller(bed, &pinned.technical_id()).await,
        newer
    );
}
