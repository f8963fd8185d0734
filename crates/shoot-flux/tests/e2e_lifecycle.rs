//! End to end on real control planes: an Extension created as gardenlet creates it gets Flux of
//! the project's version installed through GRM, Flux (local processes) syncs the project's
//! repository into the shoot, a version change upgrades Flux, a branch change moves the
//! GitRepository, and removing the extension from the running shoot removes everything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams};
use testbed::gardenlet;
use testbed::kubeutil::{dynamic_api, wait_for};
use testbed::sample::podinfo_files;

use common::*;

async fn images(shoot: &kube::Client) -> Vec<String> {
    let deployments: Api<Deployment> = Api::namespaced(shoot.clone(), "flux-system");
    let mut out: Vec<String> = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .flat_map(|d| {
            d.spec
                .as_ref()
                .unwrap()
                .template
                .spec
                .as_ref()
                .unwrap()
                .containers
                .iter()
                .map(|c| c.image.clone().unwrap_or_default())
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn create_sync_upgrade_change_branch_and_remove() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let versions = testbed::paths::versions().unwrap();
    let git = bed.git().await.unwrap();
    git.create_repository_from("e2e-fleet", &podinfo_files("hello from e2e"))
        .unwrap();
    git.commit_files(
        "e2e-fleet",
        "release",
        &podinfo_files("release branch"),
        "release branch",
    )
    .unwrap();

    set_project_config(
        bed,
        "e2e",
        &[
            (
                "fluxVersion",
                versions.flux_previous.trim_start_matches('v'),
            ),
            ("repositoryUrl", &git.http_url("e2e-fleet")),
            ("repositoryBranch", "main"),
        ],
    )
    .await;
    let spec = spec("e2e", "app");
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let _extension = start_extension(bed, &[]).await;

    let created = Instant::now();
    gardenlet::apply_extension(&bed.seed().client().await.unwrap(), &spec)
        .await
        .unwrap();
    let ext = wait_ready(bed, &ns, Duration::from_secs(60)).await;
    let to_succeeded = created.elapsed();
    println!(
        "Extension created -> Succeeded in {:.1}s",
        to_succeeded.as_secs_f64()
    );
    assert_eq!(ext["status"]["lastOperation"]["type"], "Create");
    assert!(has_our_finalizer(&ext));

    // Both MRs and their secrets are in the seed, and GRM applied them.
    let mrs = mr_api(bed, &ns).await;
    let secrets: Api<Secret> = Api::namespaced(bed.seed().client().await.unwrap(), &ns);
    for name in [
        "extension-shoot-flux-flux-install",
        "extension-shoot-flux-flux-config",
    ] {
        let mr = wait_for(
            &format!("{name} applied and healthy"),
            Duration::from_secs(120),
            || async {
                let mr = serde_json::to_value(mrs.get(name).await?)?;
                let applied = condition(&mr, "ResourcesApplied").map(|c| c["status"].clone());
                if applied == Some("True".into()) {
                    Ok(Some(mr))
                } else {
                    anyhow::bail!("ResourcesApplied {applied:?}: {}", mr["status"])
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(mr["metadata"]["labels"]["origin"], "shoot-flux");
        assert!(mr["spec"].get("class").is_none_or(|c| c.is_null()));
        let secret_name = mr["spec"]["secretRefs"][0]["name"].as_str().unwrap();
        let secret = secrets.get(secret_name).await.unwrap();
        assert_eq!(secret.immutable, Some(true));
        assert!(secret.data.unwrap().contains_key("data.yaml.br"));
    }
    let install_mr =
        serde_json::to_value(mrs.get("extension-shoot-flux-flux-install").await.unwrap()).unwrap();
    let first_secret = install_mr["spec"]["secretRefs"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();

    // The shoot has Flux of the project's version.
    let target = shoot.client().await.unwrap();
    assert!(
        Api::<Namespace>::all(target.clone())
            .get_opt("flux-system")
            .await
            .unwrap()
            .is_some()
    );
    let expected_old = format!("ghcr.io/fluxcd/kustomize-controller:{}", {
        let components = std::fs::read_to_string(
            testbed::paths::flux_release_dir(&versions.flux_previous)
                .unwrap()
                .join("components.txt"),
        )
        .unwrap();
        components
            .lines()
            .find(|l| l.starts_with("kustomize-controller "))
            .unwrap()
            .split_whitespace()
            .nth(1)
            .unwrap()
            .to_string()
    });
    wait_for(
        "Flux controllers of the first version",
        Duration::from_secs(60),
        || {
            let target = target.clone();
            let expected_old = expected_old.clone();
            async move { Ok(images(&target).await.contains(&expected_old).then_some(())) }
        },
    )
    .await
    .unwrap();
    let generation = ext["metadata"]["generation"].clone();

    // Upgrade: a new fluxVersion in the project ConfigMap, nothing touches the Extension.
    set_project_config(
        bed,
        "e2e",
        &[
            ("fluxVersion", &versions.flux),
            ("repositoryUrl", &git.http_url("e2e-fleet")),
            ("repositoryBranch", "main"),
        ],
    )
    .await;
    let expected_new = format!(
        "ghcr.io/fluxcd/kustomize-controller:{}",
        versions.kustomize_controller
    );
    wait_for(
        "Flux upgraded in the shoot",
        Duration::from_secs(120),
        || {
            let target = target.clone();
            let expected_new = expected_new.clone();
            async move { Ok(images(&target).await.contains(&expected_new).then_some(())) }
        },
    )
    .await
    .unwrap();
    wait_for(
        "the old install secret to be garbage-collected",
        Duration::from_secs(90),
        || async {
            Ok(secrets
                .get_opt(&first_secret)
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await
    .unwrap();
    let ext_after = serde_json::to_value(
        extension_api(bed, &ns)
            .await
            .get("shoot-flux")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        ext_after["metadata"]["generation"], generation,
        "the upgrade does not touch the Extension spec"
    );
    gardenlet_ready(&ext_after).unwrap();

    // Flux runs (local processes for the controllers GRM deployed) and syncs the repository.
    shoot.start_flux().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "default");
    let podinfo = wait_for(
        "podinfo synced into the shoot",
        Duration::from_secs(180),
        || async { Ok(deployments.get_opt("podinfo").await?) },
    )
    .await
    .unwrap();
    let env = &podinfo.spec.unwrap().template.spec.unwrap().containers[0]
        .env
        .clone()
        .unwrap()[0];
    assert_eq!(env.value.as_deref(), Some("hello from e2e"));

    // A branch change moves the GitRepository, and the shoot follows.
    set_project_config(
        bed,
        "e2e",
        &[
            ("fluxVersion", &versions.flux),
            ("repositoryUrl", &git.http_url("e2e-fleet")),
            ("repositoryBranch", "release"),
        ],
    )
    .await;
    let sources = dynamic_api(
        &target,
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        Some("flux-system"),
    )
    .await
    .unwrap();
    wait_for(
        "GitRepository on the release branch",
        Duration::from_secs(90),
        || async {
            let repo = sources.get("main-gitrepo").await?;
            Ok((repo.data["spec"]["ref"]["branch"] == "release").then_some(()))
        },
    )
    .await
    .unwrap();
    wait_for(
        "podinfo from the release branch",
        Duration::from_secs(120),
        || async {
            let d = deployments.get("podinfo").await?;
            let env = d
                .spec
                .and_then(|s| s.template.spec)
                .map(|s| s.containers[0].env.clone().unwrap_or_default())
                .unwrap_or_default();
            Ok(
                (env.first().and_then(|e| e.value.as_deref()) == Some("release branch"))
                    .then_some(()),
            )
        },
    )
    .await
    .unwrap();

    // Removing the extension from the running shoot removes everything, then the finalizer.
    let extensions = extension_api(bed, &ns).await;
    extensions
        .delete("shoot-flux", &DeleteParams::default())
        .await
        .unwrap();
    // GRM deletes Flux's CRDs. kube-apiserver's CRD finalizer can fail once with "could not
    // list instances: storage is (re)initializing" for a CRD whose storage nobody used yet (here
    // helm- and notification-controller's, which no process in the bed watches) and then waits
    // for its informer's 5-minute resync before it tries again: a real API server takes that
    // long too, so the deadline covers it.
    wait_for(
        "the Extension to be gone",
        Duration::from_secs(420),
        || async {
            Ok(extensions
                .get_opt("shoot-flux")
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await
    .unwrap();
    assert!(
        mrs.get_opt("extension-shoot-flux-flux-install")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        mrs.get_opt("extension-shoot-flux-flux-config")
            .await
            .unwrap()
            .is_none()
    );
    let left = secrets
        .list_metadata(
            &ListParams::default().labels("shoot-flux.extensions.gardener.cloud/managed-resource"),
        )
        .await
        .unwrap();
    assert!(left.items.is_empty(), "our secrets are gone");
    let flux_ns = Api::<Namespace>::all(target.clone())
        .get_opt("flux-system")
        .await
        .unwrap();
    assert!(
        flux_ns.is_none_or(|n| n.metadata.deletion_timestamp.is_some()),
        "Flux is removed from the shoot"
    );
    assert!(
        deployments.get_opt("podinfo").await.unwrap().is_none(),
        "Flux pruned what it deployed"
    );
}
