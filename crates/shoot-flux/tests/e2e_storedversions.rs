//! Flux across removed API versions, on real control planes: a shoot of the 23technologies
//! extension with Flux 0.x CRDs (storage version `v1beta2`) and objects stored at `v1beta2` is
//! taken over and upgraded to the pinned Flux, whose CRDs have only `v1`. The API server refuses
//! that CRD update while `storedVersions` lists `v1beta2`; shoot-flux migrates the stored objects
//! first, through its shoot access, and survives a `kill -9` in the middle of it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use serde_json::json;
use testbed::gardenlet::{self, ShootSpec};
use testbed::git::SshKeyPair;
use testbed::kubeutil::{dynamic_api, wait_for};
use testbed::sample::podinfo_files;

use common::*;

const GIT_REPOSITORIES: &str = "gitrepositories.source.toolkit.fluxcd.io";
const KUSTOMIZATIONS: &str = "kustomizations.kustomize.toolkit.fluxcd.io";
/// GitRepositories beside the predecessor's own, for a migration of a realistic size.
const EXTRA_OBJECTS: usize = 1000;

fn legacy_crd(file: &str) -> String {
    std::fs::read_to_string(testbed::paths::legacy_flux_crd(file).unwrap()).unwrap()
}

/// (storage version, storedVersions, served versions) of a CRD in the shoot.
async fn crd_versions(shoot: &kube::Client, name: &str) -> (String, Vec<String>, Vec<String>) {
    let crd = Api::<CustomResourceDefinition>::all(shoot.clone())
        .get(name)
        .await
        .unwrap();
    let storage = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .map(|v| v.name.clone())
        .unwrap();
    let served = crd.spec.versions.iter().map(|v| v.name.clone()).collect();
    let stored = crd
        .status
        .and_then(|s| s.stored_versions)
        .unwrap_or_default();
    (storage, stored, served)
}

async fn uid(api: &Api<DynamicObject>, name: &str) -> String {
    api.get(name).await.unwrap().metadata.uid.unwrap()
}

#[tokio::test]
async fn a_flux_0x_shoot_is_taken_over_across_removed_versions_and_survives_kill_9() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let versions = testbed::paths::versions().unwrap();
    let git = bed.git().await.unwrap();
    git.create_repository_from("legacy-fleet", &podinfo_files("hello from the takeover"))
        .unwrap();
    let url = git.ssh_url("legacy-fleet");
    // The project's deploy key as the predecessor left it in the garden (flux2 sourcesecret
    // keys), authorized at the Git host.
    let key = SshKeyPair::generate("the predecessor's deploy key").unwrap();
    git.authorize_key(&key.public_openssh).unwrap();
    let garden_secrets: Api<Secret> =
        Api::namespaced(bed.garden().client().await.unwrap(), "garden-legacy");
    let spec = ShootSpec::new("legacy", "app");
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let target = shoot.client().await.unwrap();

    // The predecessor's Flux 0.x: its namespace and CRDs (storage v1beta2), marked ignore once
    // applied as the predecessor did; then its GitRepository main-gitrepo and Kustomization
    // main-ks at v1beta2.
    let install = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n---\n{}\n---\n{}",
        legacy_crd("source.toolkit.fluxcd.io_gitrepositories.yaml"),
        legacy_crd("kustomize.toolkit.fluxcd.io_kustomizations.yaml")
    );
    create_predecessor_mr(
        bed,
        &ns,
        "extension-shoot-flux-flux-install",
        json!({"flux-install-yaml": install}),
    )
    .await;
    mark_ignored(bed, &ns, "extension-shoot-flux-flux-install").await;
    create_predecessor_mr(
        bed,
        &ns,
        "extension-shoot-flux-flux-config",
        json!({
            "flux-source": format!("apiVersion: source.toolkit.fluxcd.io/v1beta2\nkind: GitRepository\nmetadata:\n  name: main-gitrepo\n  namespace: flux-system\nspec:\n  interval: 30s\n  url: {url}\n  secretRef:\n    name: flux-source\n  ref:\n    branch: main\n"),
            "flux-ks": "apiVersion: kustomize.toolkit.fluxcd.io/v1beta2\nkind: Kustomization\nmetadata:\n  name: main-ks\n  namespace: flux-system\nspec:\n  interval: 5m\n  path: ./\n  prune: true\n  targetNamespace: default\n  sourceRef:\n    kind: GitRepository\n    name: main-gitrepo\n"
        }),
    )
    .await;
    assert_eq!(
        crd_versions(&target, GIT_REPOSITORIES).await.1,
        ["v1beta2"],
        "the shoot stores GitRepositories at v1beta2, as Flux 0.x does"
    );
    // More objects stored at v1beta2 (other teams' sources), written at once.
    let legacy_sources = dynamic_api(
        &target,
        "source.toolkit.fluxcd.io/v1beta2",
        "GitRepository",
        Some("flux-system"),
    )
    .await
    .unwrap();
    futures::stream::iter(0..EXTRA_OBJECTS)
        .map(|i| {
            let api = legacy_sources.clone();
            let url = url.clone();
            async move {
                let object: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "GitRepository",
                    "metadata": {"name": format!("team-{i:04}"), "namespace": "flux-system"},
                    "spec": {"interval": "1h", "url": url, "ref": {"branch": "main"}, "suspend": true}
                }))
                .unwrap();
                api.create(&PostParams::default(), &object).await.unwrap();
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    // What Flux 0.x had applied from the repository: kept, never recreated.
    let (_, deployment_yaml) = podinfo_files("hello from flux 0.x")
        .into_iter()
        .find(|(path, _)| path.ends_with("deployment.yaml"))
        .unwrap();
    let mut podinfo: Deployment = serde_saphyr::from_str(&deployment_yaml).unwrap();
    podinfo.metadata.namespace = Some("default".into());
    podinfo.metadata.labels.get_or_insert_default().extend([
        (
            "kustomize.toolkit.fluxcd.io/name".to_string(),
            "main-ks".to_string(),
        ),
        (
            "kustomize.toolkit.fluxcd.io/namespace".to_string(),
            "flux-system".to_string(),
        ),
    ]);
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "default");
    let podinfo_uid = deployments
        .create(&PostParams::default(), &podinfo)
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let sources = dynamic_api(
        &target,
        "source.toolkit.fluxcd.io/v1beta2",
        "GitRepository",
        Some("flux-system"),
    )
    .await
    .unwrap();
    let kustomizations = dynamic_api(
        &target,
        "kustomize.toolkit.fluxcd.io/v1beta2",
        "Kustomization",
        Some("flux-system"),
    )
    .await
    .unwrap();
    let source_uid = uid(&sources, "main-gitrepo").await;
    let kustomization_uid = uid(&kustomizations, "main-ks").await;
    let namespace_uid = Api::<Namespace>::all(target.clone())
        .get("flux-system")
        .await
        .unwrap()
        .metadata
        .uid;

    // The project's flux-config as the predecessor's users wrote it: pinned to 0.x.
    set_project_config(
        bed,
        "legacy",
        &[
            ("fluxVersion", "0.29.5"),
            ("repositoryUrl", &url),
            ("repositoryType", "private"),
        ],
    )
    .await;
    let deploy_key: Secret = serde_json::from_value(json!({
        "metadata": {"name": "flux-source", "namespace": "garden-legacy"},
        "stringData": {
            "identity": key.private_openssh,
            "identity.pub": key.public_openssh,
            "known_hosts": git.known_hosts(),
        }
    }))
    .unwrap();
    let deploy_key = garden_secrets
        .create(&PostParams::default(), &deploy_key)
        .await
        .unwrap();
    gardenlet::apply_extension(&bed.seed().client().await.unwrap(), &spec)
        .await
        .unwrap();
    succeeded_long_ago(bed, &ns).await;

    // A configuration error that names the way out, and nothing is touched.
    let since = k8s_openapi::jiff::Timestamp::now().to_string();
    let mut first = start_extension(bed, &[]).await;
    wait_error(
        bed,
        &ns,
        &since,
        &["flux-config.data.fluxVersion", "0.29.5", "set a v2 version"],
    )
    .await;
    assert_eq!(crd_versions(&target, GIT_REPOSITORIES).await.0, "v1beta2");
    set_project_config(
        bed,
        "legacy",
        &[
            ("fluxVersion", &versions.flux),
            ("repositoryUrl", &url),
            ("repositoryType", "private"),
        ],
    )
    .await;

    // kill -9 in the middle: once the GitRepository CRD has its bridge (storage v1) and before
    // the Kustomization CRD, migrated after it, is trimmed.
    // Polled tightly: the kill must land while ~2,000 writes are still to come.
    let deadline = Instant::now() + Duration::from_secs(180);
    while crd_versions(&target, GIT_REPOSITORIES).await.0 != "v1" {
        assert!(
            Instant::now() < deadline,
            "the migration did not start (the GitRepository CRD never stored v1)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    first.process.kill();
    let (_, stored, served) = crd_versions(&target, GIT_REPOSITORIES).await;
    assert!(
        stored.contains(&"v1beta2".to_string()),
        "killed before the GitRepository CRD was trimmed: {stored:?}"
    );
    assert!(served.contains(&"v1beta2".to_string()), "{served:?}");
    assert_eq!(
        crd_versions(&target, KUSTOMIZATIONS).await.1,
        ["v1beta2"],
        "the Kustomization CRD was not reached"
    );
    let install_mr = serde_json::to_value(
        mr_api(bed, &ns)
            .await
            .get("extension-shoot-flux-flux-install")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        install_mr["metadata"]["labels"]["origin"], "gardener",
        "the install MR is not written before the migration succeeded"
    );

    // Said on the Extension while it runs.
    let ext = serde_json::to_value(
        extension_api(bed, &ns)
            .await
            .get("shoot-flux")
            .await
            .unwrap(),
    )
    .unwrap();
    let upgrade = condition(&ext, "FluxUpgradeReady").expect("FluxUpgradeReady while migrating");
    assert_eq!(upgrade["status"], "False");
    assert_eq!(upgrade["reason"], "MigratingStoredVersions");
    let message = upgrade["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("{GIT_REPOSITORIES} (v1beta2 to v1)"))
            && message.contains(&versions.flux),
        "{message}"
    );

    let second = start_extension(bed, &[]).await;
    let started = Instant::now();
    wait_ready(bed, &ns, Duration::from_secs(300)).await;
    println!(
        "takeover with the migration of {} GitRepositories and 1 Kustomization after the restart: {:.1}s",
        EXTRA_OBJECTS + 1,
        started.elapsed().as_secs_f64()
    );
    for line in second
        .log()
        .lines()
        .filter(|l| l.contains("migrated the stored objects"))
    {
        println!("{line}");
    }
    let log = second.log();
    let failures: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("label=\"storage-migration\""))
        .collect();
    assert!(
        failures.is_empty(),
        "the resumed migration failed: {failures:?}"
    );
    wait_for(
        "the install ManagedResource applied by GRM",
        Duration::from_secs(180),
        || async {
            let mr = serde_json::to_value(
                mr_api(bed, &ns)
                    .await
                    .get("extension-shoot-flux-flux-install")
                    .await?,
            )?;
            Ok((mr["metadata"]["labels"]["origin"] == "shoot-flux"
                && mr["status"]["observedGeneration"] == mr["metadata"]["generation"]
                && condition(&mr, "ResourcesApplied").is_some_and(|c| c["status"] == "True"))
            .then_some(()))
        },
    )
    .await
    .unwrap();
    let ext = serde_json::to_value(
        extension_api(bed, &ns)
            .await
            .get("shoot-flux")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        condition(&ext, "FluxUpgradeReady").unwrap()["status"],
        "True",
        "{}",
        ext["status"]
    );
    for crd in [GIT_REPOSITORIES, KUSTOMIZATIONS] {
        let (storage, stored, served) = crd_versions(&target, crd).await;
        assert_eq!(storage, "v1", "{crd}");
        assert_eq!(stored, ["v1"], "{crd}: storedVersions trimmed");
        assert_eq!(served, ["v1"], "{crd}: the new Flux's CRD applied");
    }
    // Every object is readable at v1 (one left at v1beta2 in etcd would not decode now), and
    // the predecessor's objects are the same objects.
    let sources = dynamic_api(
        &target,
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        Some("flux-system"),
    )
    .await
    .unwrap();
    assert_eq!(
        sources
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .len(),
        EXTRA_OBJECTS + 1
    );
    let kustomizations = dynamic_api(
        &target,
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        Some("flux-system"),
    )
    .await
    .unwrap();
    assert_eq!(uid(&sources, "main-gitrepo").await, source_uid);
    assert_eq!(uid(&kustomizations, "main-ks").await, kustomization_uid);
    assert_eq!(
        Api::<Namespace>::all(target.clone())
            .get("flux-system")
            .await
            .unwrap()
            .metadata
            .uid,
        namespace_uid,
        "no reinstall of the Flux namespace"
    );

    // The new Flux runs and syncs on: the sample app is the same Deployment, now at the
    // repository's content; main-gitrepo and main-ks are Ready.
    start_flux_when_crds_established(&mut shoot).await;
    wait_for(
        "podinfo updated by the new Flux",
        Duration::from_secs(240),
        || async {
            let d = deployments.get("podinfo").await?;
            let env = serde_json::to_value(&d)?["spec"]["template"]["spec"]["containers"][0]["env"]
                .clone();
            Ok((env[0]["value"] == "hello from the takeover").then_some(d))
        },
    )
    .await
    .map(|d| assert_eq!(d.metadata.uid.unwrap(), podinfo_uid, "never recreated"))
    .unwrap();
    // The predecessor's deploy key, used as it is: unchanged in the garden.
    let after = garden_secrets.get("flux-source").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        deploy_key.metadata.resource_version
    );
    assert_eq!(after.data, deploy_key.data, "the same deploy key");
    // The sync continues at the next commit.
    git.commit_files(
        "legacy-fleet",
        "main",
        &podinfo_files("the next commit"),
        "the next commit",
    )
    .unwrap();
    wait_for(
        "the next commit synced",
        Duration::from_secs(240),
        || async {
            let d = serde_json::to_value(deployments.get("podinfo").await?)?;
            Ok(
                (d["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"]
                    == "the next commit")
                    .then_some(()),
            )
        },
    )
    .await
    .unwrap();
    for (api, name) in [(&sources, "main-gitrepo"), (&kustomizations, "main-ks")] {
        wait_for(
            &format!("{name} Ready"),
            Duration::from_secs(120),
            || async {
                let object = serde_json::to_value(api.get(name).await?)?;
                Ok(condition(&object, "Ready")
                    .is_some_and(|c| c["status"] == "True")
                    .then_some(()))
            },
        )
        .await
        .unwrap();
    }
    // The predecessor's leftovers are gone.
    let left: Vec<String> = Api::<Secret>::namespaced(bed.seed().client().await.unwrap(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect();
    for name in [
        "managedresource-extension-shoot-flux-flux-install",
        "managedresource-extension-shoot-flux-flux-config",
    ] {
        assert!(!left.contains(&name.to_string()), "{name} left: {left:?}");
    }
}

/// A hibernated shoot cannot be read, so its Flux upgrade waits: the install and config stay as
/// they are while it sleeps, and the reconcile at wake-up checks the CRDs and upgrades.
#[tokio::test]
async fn a_hibernated_shoots_upgrade_waits_for_the_wake_up() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let versions = testbed::paths::versions().unwrap();
    let url = repository(bed, "sleepy-fleet").await;
    let previous = versions.flux_previous.trim_start_matches('v');
    set_project_config(
        bed,
        "sleepy",
        &[("fluxVersion", previous), ("repositoryUrl", &url)],
    )
    .await;
    let mut spec = ShootSpec::new("sleepy", "app");
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let _extension = start_extension(bed, &[]).await;
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(90)).await;
    wait_mr_applied(bed, &ns, "extension-shoot-flux-flux-install").await;
    let before = mr_secrets(bed, &ns).await;

    // Hibernated: the shoot's API server does not answer, the Cluster says so.
    shoot.api_mut().pause().unwrap();
    spec.hibernated = true;
    gardenlet::apply_shoot_objects(&seed, &spec, None)
        .await
        .unwrap();
    wait_past_last_update(bed, &ns).await;
    let changed_at = k8s_openapi::jiff::Timestamp::now();
    set_project_config(
        bed,
        "sleepy",
        &[("fluxVersion", &versions.flux), ("repositoryUrl", &url)],
    )
    .await;
    wait_succeeded_since(bed, &ns, changed_at, "a fresh Succeeded while hibernated").await;
    let asleep = mr_secrets(bed, &ns).await;
    assert_eq!(
        before[0], asleep[0],
        "the install waits while the shoot sleeps"
    );
    assert_eq!(before[1], asleep[1], "and so does the config");

    // Woken up: gardenlet's reconcile upgrades, after the CRD check.
    shoot.api_mut().resume().unwrap();
    spec.hibernated = false;
    gardenlet::apply_shoot_objects(&seed, &spec, None)
        .await
        .unwrap();
    annotate(bed, &ns, "reconcile").await;
    wait_ready(bed, &ns, Duration::from_secs(180)).await;
    let upgraded = wait_mr_applied(bed, &ns, "extension-shoot-flux-flux-install").await;
    assert_ne!(upgraded, before[0], "upgraded at wake-up");
    let target = shoot.client().await.unwrap();
    let (_, stored, served) = crd_versions(&target, KUSTOMIZATIONS).await;
    assert_eq!(served, ["v1"], "the new Flux's CRD applied");
    assert_eq!(stored, ["v1"]);
}
