//! Gardener's extension contract on real control planes: operation annotations, migration,
//! deletion while the shoot is deleted, failed shoots, hibernation, taking over the
//! 23technologies layout, a garden that answers 403, and a table of bad inputs that never
//! destroy the applied state.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use testbed::gardenlet::{self, ShootSpec};
use testbed::kubeutil::{dynamic_api, wait_for};

use common::*;

async fn seed() -> kube::Client {
    testbed::bed().await.unwrap().seed().client().await.unwrap()
}

/// A shoot whose Extension has succeeded once.
async fn succeeded_shoot(spec: &ShootSpec, grm: bool) -> testbed::Shoot {
    let bed = testbed::bed().await.unwrap();
    let mut shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    if grm {
        shoot.start_grm().await.unwrap();
        shoot.start_node_simulator().unwrap();
    }
    gardenlet::apply_extension(&seed().await, spec)
        .await
        .unwrap();
    wait_ready(bed, &spec.technical_id(), Duration::from_secs(60)).await;
    shoot
}

#[tokio::test]
async fn reconcile_wait_for_state_and_restore_annotations() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    project_with_fleet(bed, "annot").await;
    let _ext = start_extension(bed, &[]).await;
    let spec = ShootSpec::new("annot", "one");
    let ns = spec.technical_id();
    let _shoot = succeeded_shoot(&spec, false).await;

    // reconcile: removed at once, a fresh lastUpdateTime satisfies gardenlet.
    wait_past_last_update(bed, &ns).await;
    let ts = annotate(bed, &ns, "reconcile").await;
    let ext = wait_ready(bed, &ns, Duration::from_secs(90)).await;
    assert_eq!(
        ext["metadata"]["annotations"]["gardener.cloud/timestamp"],
        ts.as_str()
    );
    assert_eq!(ext["status"]["lastOperation"]["type"], "Reconcile");

    // wait-for-state: nothing happens on a new object until gardenlet switches to restore.
    let spec2 = ShootSpec::new("annot", "two");
    let ns2 = spec2.technical_id();
    let shoot2 = bed.new_shoot(spec2.clone()).await.unwrap();
    shoot2.create_gardenlet_objects().await.unwrap();
    let api2 = extension_api(bed, &ns2).await;
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
        "metadata": {"name": "shoot-flux", "namespace": ns2, "annotations": {"gardener.cloud/operation": "wait-for-state"}},
        "spec": {"type": "shoot-flux"}
    }))
    .unwrap();
    api2.create(&PostParams::default(), &object).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let waiting = serde_json::to_value(api2.get("shoot-flux").await.unwrap()).unwrap();
    assert!(
        waiting
            .get("status")
            .is_none_or(|s| s.get("lastOperation").is_none()),
        "{waiting}"
    );
    assert!(
        waiting["metadata"]["finalizers"].is_null(),
        "no finalizer while waiting for state"
    );
    annotate(bed, &ns2, "restore").await;
    let ext = wait_ready(bed, &ns2, Duration::from_secs(90)).await;
    assert_eq!(ext["status"]["lastOperation"]["type"], "Restore");
    assert!(has_our_finalizer(&ext));
}

#[tokio::test]
async fn migrate_keeps_shoot_objects_and_removes_ours() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    project_with_fleet(bed, "mig").await;
    let _ext = start_extension(bed, &[]).await;
    let spec = ShootSpec::new("mig", "app");
    let ns = spec.technical_id();
    let shoot = succeeded_shoot(&spec, true).await;
    wait_mr_applied(bed, &ns, "extension-shoot-flux-flux-install").await;
    let target = shoot.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "flux-system");
    let before: Vec<String> = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d.metadata.uid.clone().unwrap())
        .collect();
    assert!(!before.is_empty());

    // Another controller's finalizer is removed too, as Gardener's migrate flow does.
    extension_api(bed, &ns).await
        .patch("shoot-flux", &PatchParams::default(), &Patch::Merge(&json!({"metadata": {"finalizers": ["extensions.gardener.cloud/shoot-flux", "example.com/other"]}})))
        .await
        .unwrap();
    annotate(bed, &ns, "migrate").await;
    let api = extension_api(bed, &ns).await;
    let ext = wait_for("Migrate succeeded", Duration::from_secs(120), || async {
        let ext = serde_json::to_value(api.get("shoot-flux").await?)?;
        let done = ext["status"]["lastOperation"]["type"] == "Migrate"
            && ext["status"]["lastOperation"]["state"] == "Succeeded"
            && ext["metadata"]["annotations"]["gardener.cloud/operation"].is_null();
        Ok(done.then_some(ext))
    })
    .await
    .unwrap();
    assert!(
        ext["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "all finalizers removed: {}",
        ext["metadata"]
    );
    let mrs = mr_api(bed, &ns).await;
    assert!(
        mrs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "our MRs left this seed"
    );
    let secrets: Api<Secret> = Api::namespaced(seed().await, &ns);
    assert!(
        secrets
            .list_metadata(
                &ListParams::default()
                    .labels("shoot-flux.extensions.gardener.cloud/managed-resource")
            )
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let after: Vec<String> = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|d| d.metadata.uid.clone().unwrap())
        .collect();
    assert_eq!(before, after, "the shoot keeps Flux, untouched");
    let flux_ns = Api::<Namespace>::all(target)
        .get("flux-system")
        .await
        .unwrap();
    assert!(flux_ns.metadata.deletion_timestamp.is_none());
    // A reconcile of a migrated object is skipped until it is restored.
    annotate(bed, &ns, "reconcile").await;
    wait_annotation_taken(bed, &ns).await;
    assert!(
        mrs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn extension_of_a_shoot_being_deleted_goes_without_waiting_and_keeps_objects() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    project_with_fleet(bed, "del").await;
    let _ext = start_extension(bed, &[]).await;
    let mut spec = ShootSpec::new("del", "app");
    let ns = spec.technical_id();
    let shoot = succeeded_shoot(&spec, true).await;
    wait_mr_applied(bed, &ns, "extension-shoot-flux-flux-install").await;
    spec.deleting = true;
    gardenlet::apply_shoot_objects(&seed().await, &spec, Some(shoot.api()))
        .await
        .unwrap();
    let api = extension_api(bed, &ns).await;
    api.delete("shoot-flux", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "the Extension to be gone",
        Duration::from_secs(90),
        || async { Ok(api.get_opt("shoot-flux").await?.is_none().then_some(())) },
    )
    .await
    .unwrap();
    // The MRs go with keepObjects (GRM releases them without touching the shoot).
    let mrs = mr_api(bed, &ns).await;
    wait_for(
        "the MRs to be released",
        Duration::from_secs(60),
        || async {
            Ok(mrs
                .list(&ListParams::default())
                .await?
                .items
                .is_empty()
                .then_some(()))
        },
    )
    .await
    .unwrap();
    let target = shoot.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(target, "flux-system");
    assert!(
        !deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty(),
        "objects go with the cluster, not before"
    );
}

#[tokio::test]
async fn a_failed_shoot_is_skipped() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let ext = start_extension(bed, &[]).await;
    let mut spec = ShootSpec::new("failed", "app");
    spec.last_operation = Some(("Reconcile".into(), "Failed".into()));
    let shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    gardenlet::apply_extension(&seed().await, &spec)
        .await
        .unwrap();
    wait_logged(
        &ext,
        &[
            "skipping: the shoot's last operation failed",
            &spec.technical_id(),
        ],
    )
    .await;
    let ext = serde_json::to_value(
        extension_api(bed, &spec.technical_id())
            .await
            .get("shoot-flux")
            .await
            .unwrap(),
    )
    .unwrap();
    assert!(
        ext.get("status")
            .is_none_or(|s| s.get("lastOperation").is_none()),
        "{ext}"
    );
    assert!(ext["metadata"]["finalizers"].is_null());
    assert!(
        mr_api(bed, &spec.technical_id())
            .await
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn a_hibernated_shoot_is_reconciled_without_its_api_server() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let url = repository(bed, "hib-fleet").await;
    set_project_config(bed, "hib", &[("repositoryUrl", &url)]).await;
    let _ext = start_extension(bed, &[]).await;
    let mut spec = ShootSpec::new("hib", "app");
    let ns = spec.technical_id();
    let mut shoot = succeeded_shoot(&spec, false).await;
    let before = mr_secrets(bed, &ns).await;
    shoot.api_mut().stop();
    spec.hibernated = true;
    gardenlet::apply_shoot_objects(&seed().await, &spec, None)
        .await
        .unwrap();
    wait_past_last_update(bed, &ns).await;
    let changed_at = k8s_openapi::jiff::Timestamp::now();
    set_project_config(
        bed,
        "hib",
        &[("repositoryUrl", &url), ("repositoryBranch", "asleep")],
    )
    .await;
    wait_succeeded_since(bed, &ns, changed_at, "a fresh Succeeded while hibernated").await;
    let after = mr_secrets(bed, &ns).await;
    assert_eq!(before[0], after[0], "install unchanged");
    assert_ne!(before[1], after[1], "the config MR follows the new branch");
}

#[tokio::test]
async fn a_shoot_of_the_23technologies_extension_is_taken_over_without_recreating_flux() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let versions = testbed::paths::versions().unwrap();
    let url = repository(bed, "adopt-fleet").await;
    let spec = ShootSpec::new("adopt", "app");
    let ns = spec.technical_id();
    let shoot = shoot_with_grm(bed, spec.clone()).await;
    // The predecessor's layout, as gardener's managedresources.CreateForShoot wrote it: MR
    // `extension-shoot-flux-flux-install` (label origin=gardener) over a mutable, unlabelled
    // Secret named `managedresource-<MR>` with the plain key flux-install-yaml; once healthy, the
    // install MR is marked ignore and the config MR written the same way.
    let install = std::fs::read_to_string(
        testbed::paths::flux_release_dir(&versions.flux)
            .unwrap()
            .join("install.yaml"),
    )
    .unwrap();
    let secrets: Api<Secret> = Api::namespaced(seed().await, &ns);
    let mrs = mr_api(bed, &ns).await;
    create_predecessor_mr(
        bed,
        &ns,
        "extension-shoot-flux-flux-install",
        json!({"flux-install-yaml": install}),
    )
    .await;
    mark_ignored(bed, &ns, "extension-shoot-flux-flux-install").await;
    // Its GitRepository main-gitrepo and Kustomization main-ks (it wrote v1beta2, which this
    // Flux no longer serves; the objects are the same).
    create_predecessor_mr(
        bed,
        &ns,
        "extension-shoot-flux-flux-config",
        json!({
            "flux-source": format!("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: main-gitrepo\n  namespace: flux-system\nspec:\n  interval: 30s\n  url: {url}\n  ref:\n    branch: main\n"),
            "flux-ks": "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: main-ks\n  namespace: flux-system\nspec:\n  interval: 5m\n  path: ./\n  prune: true\n  targetNamespace: default\n  sourceRef:\n    kind: GitRepository\n    name: main-gitrepo\n"
        }),
    )
    .await;
    // Another extension's MR secret, as unlabelled: never ours to delete.
    let other = predecessor_secret(&ns, "extension-shoot-dns-service-shoot", json!({"a": "b"}));
    secrets
        .create(&PostParams::default(), &other)
        .await
        .unwrap();
    let target = shoot.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "flux-system");
    let uids = |list: Vec<Deployment>| -> Vec<(String, String)> {
        let mut v: Vec<_> = list
            .into_iter()
            .map(|d| (d.metadata.name.unwrap(), d.metadata.uid.unwrap()))
            .collect();
        v.sort();
        v
    };
    let before = uids(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items,
    );
    let ns_uid = Api::<Namespace>::all(target.clone())
        .get("flux-system")
        .await
        .unwrap()
        .metadata
        .uid;

    set_project_config(
        bed,
        "adopt",
        &[("fluxVersion", &versions.flux), ("repositoryUrl", &url)],
    )
    .await;
    // The Extension as the predecessor's generic reconciler left it: Succeeded long ago.
    gardenlet::apply_extension(&seed().await, &spec)
        .await
        .unwrap();
    succeeded_long_ago(bed, &ns).await;
    let _ext = start_extension(bed, &[]).await;
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    // The predecessor's secrets are gone once nothing references them; the other extension's
    // unlabelled secret stays.
    let names = |list: Vec<Secret>| -> Vec<String> {
        list.into_iter().filter_map(|s| s.metadata.name).collect()
    };
    let left = names(secrets.list(&ListParams::default()).await.unwrap().items);
    for name in [
        "managedresource-extension-shoot-flux-flux-install",
        "managedresource-extension-shoot-flux-flux-config",
    ] {
        assert!(
            !left.contains(&name.to_string()),
            "{name} left behind: {left:?}"
        );
    }
    assert!(left.contains(&"managedresource-extension-shoot-dns-service-shoot".to_string()));
    for secret in mr_secrets(bed, &ns).await {
        assert!(left.contains(&secret), "{secret} referenced and kept");
    }
    let mr =
        serde_json::to_value(mrs.get("extension-shoot-flux-flux-install").await.unwrap()).unwrap();
    assert!(
        mr["metadata"]["annotations"]["resources.gardener.cloud/ignore"].is_null(),
        "taken over: {}",
        mr["metadata"]
    );
    wait_mr_applied(bed, &ns, "extension-shoot-flux-flux-install").await;
    wait_mr_applied(bed, &ns, "extension-shoot-flux-flux-config").await;
    let after = uids(
        deployments
            .list(&ListParams::default())
            .await
            .unwrap()
            .items,
    );
    assert_eq!(before, after, "no Flux controller was recreated");
    assert_eq!(
        Api::<Namespace>::all(target)
            .get("flux-system")
            .await
            .unwrap()
            .metadata
            .uid,
        ns_uid
    );
}

#[tokio::test]
async fn a_garden_that_answers_403_is_a_clear_status() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    project_with_fleet(bed, "deny").await;
    let no_rights = bed
        .garden()
        .service_account_kubeconfig("garden-deny", "no-rights")
        .await
        .unwrap();
    let mut ext = start_extension_with(bed, &[], Some(&no_rights)).await;
    let spec = ShootSpec::new("deny", "app");
    let shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    let since = k8s_openapi::jiff::Timestamp::now().to_string();
    gardenlet::apply_extension(&seed().await, &spec)
        .await
        .unwrap();
    let status = wait_error(
        bed,
        &spec.technical_id(),
        &since,
        &["403", "custom-extensions-permissions"],
    )
    .await;
    assert_eq!(
        status["status"]["lastError"]["codes"][0],
        "ERR_INFRA_UNAUTHORIZED"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    ext.process.ensure_running().expect("no crash loop");
    assert!(
        mr_api(bed, &spec.technical_id())
            .await
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

/// What one bad input changes.
enum Bad {
    ConfigMap(Vec<(&'static str, String)>),
    ProviderConfig(Value),
    Cluster(Value),
}

#[tokio::test]
async fn bad_inputs_are_configuration_errors_naming_the_field_and_keep_the_good_state() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let url = repository(bed, "bad-fleet").await;
    let good_cm = [("repositoryUrl", url.as_str())];
    set_project_config(bed, "bad", &good_cm).await;
    let mut extension = start_extension(bed, &[]).await;
    let spec = ShootSpec::new("bad", "app");
    let ns = spec.technical_id();
    let _shoot = succeeded_shoot(&spec, false).await;
    let good = mr_secrets(bed, &ns).await;
    let good_cluster = serde_json::to_value(
        dynamic_api(
            &seed().await,
            "extensions.gardener.cloud/v1alpha1",
            "Cluster",
            None,
        )
        .await
        .unwrap()
        .get(&ns)
        .await
        .unwrap(),
    )
    .unwrap()["spec"]["shoot"]
        .clone();

    let cm = |pairs: &[(&'static str, &str)]| {
        Bad::ConfigMap(pairs.iter().map(|(k, v)| (*k, v.to_string())).collect())
    };
    let fc = |extra: Value| {
        let mut v =
            json!({"apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig"});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Bad::ProviderConfig(v)
    };
    let u = url.as_str();
    let cases: Vec<(Bad, &str, &str)> = vec![
        (
            cm(&[("repositoryUrl", u), ("fluxVersion", "0.29.5")]),
            "flux-config.data.fluxVersion",
            "older than v2.0.0",
        ),
        (
            cm(&[("repositoryUrl", u), ("fluxVersion", "two")]),
            "flux-config.data.fluxVersion",
            "\"two\"",
        ),
        (
            cm(&[("repositoryUrl", u), ("fluxVersion", " ")]),
            "flux-config.data.fluxVersion",
            "must not be empty",
        ),
        (
            cm(&[("repositoryUrl", u), ("fluxVersion", "v1.2.3")]),
            "flux-config.data.fluxVersion",
            "v1.2.3",
        ),
        (
            cm(&[("repositoryUrl", u), ("fluxVersion", "v9.9.9")]),
            "flux-config.data.fluxVersion",
            "v9.9.9 does not exist",
        ),
        (
            cm(&[("repositoryUrl", "ftp://host/x.git")]),
            "flux-config.data.repositoryUrl",
            "ftp://host/x.git",
        ),
        (
            cm(&[("repositoryUrl", "https://")]),
            "flux-config.data.repositoryUrl",
            "no host",
        ),
        (
            cm(&[("repositoryUrl", "git@host:org/repo.git")]),
            "flux-config.data.repositoryUrl",
            "read over HTTP(S)",
        ),
        (
            cm(&[("repositoryUrl", "https://host/org repo.git")]),
            "flux-config.data.repositoryUrl",
            "whitespace",
        ),
        (
            cm(&[("repositoryUrl", u), ("repositoryType", "secret")]),
            "flux-config.data.repositoryType",
            "\"secret\"",
        ),
        (
            cm(&[("repositoryUrl", u), ("repositoryType", "private")]),
            "flux-config.data.repositoryType",
            "over SSH",
        ),
        (
            cm(&[("repositoryUrl", u), ("repositoryBranch", "a b")]),
            "flux-config.data.repositoryBranch",
            "\"a b\"",
        ),
        (
            cm(&[("repositoryUrl", u), ("repositoryBranch", "feature..x")]),
            "flux-config.data.repositoryBranch",
            "feature..x",
        ),
        (
            cm(&[("repositoryUrl", u), ("kustomizationPath", "../etc")]),
            "flux-config.data.kustomizationPath",
            "../etc",
        ),
        (
            cm(&[("repositoryUrl", u), ("kustomizationPath", "/abs")]),
            "flux-config.data.kustomizationPath",
            "/abs",
        ),
        (
            cm(&[("repositoryUrl", u), ("targetNamespace", "Default")]),
            "flux-config.data.targetNamespace",
            "\"Default\"",
        ),
        (
            cm(&[("repositoryURL", u)]),
            "flux-config.data.repositoryURL",
            "unknown key",
        ),
        (
            cm(&[("repositoryBranch", "main")]),
            "flux-config.data.repositoryUrl",
            "required when repositoryBranch",
        ),
        (
            fc(json!({"flux": {"components": ["kustomize-controller"]}})),
            "providerConfig.flux.components",
            "must include source-controller",
        ),
        (
            fc(json!({"flux": {"componentsExtra": ["image-updater"]}})),
            "providerConfig.flux.componentsExtra[0]",
            "image-updater",
        ),
        (
            fc(
                json!({"source": {"template": {"kind": "GitRepository", "spec": {"url": "https://host/org/repo.git", "ref": {"branch": "main"}}}}}),
            ),
            "providerConfig.kustomization",
            "required",
        ),
        (
            fc(json!({
                "source": {"template": {"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "OCIRepository", "spec": {"url": "oci://ghcr.io/org/app", "ref": {"tag": "latest"}}}},
                "kustomization": {"template": {"spec": {"path": "./"}}}
            })),
            "providerConfig.source.template.apiVersion",
            "source.toolkit.fluxcd.io/v1",
        ),
        (
            fc(json!({
                "source": {"template": {"kind": "GitRepository", "spec": {"url": "https://host/org/repo.git"}}},
                "kustomization": {"template": {"spec": {"path": "./"}}}
            })),
            "providerConfig.source.template.spec.ref",
            "required: the Git reference",
        ),
        (
            fc(json!({"additionalSecretResources": [{"name": "nowhere"}]})),
            "providerConfig.additionalSecretResources[0].name",
            "nowhere",
        ),
        (
            fc(json!({
                "flux": {"version": "v2.5.1"},
                "source": {"template": {"kind": "OCIRepository", "spec": {"url": "oci://ghcr.io/org/app", "ref": {"semver": "1.x"}}}},
                "kustomization": {"template": {"spec": {"path": "./"}}}
            })),
            "providerConfig.flux.version",
            "v2.6.0 or newer",
        ),
        (
            fc(json!({"managementMode": "Sometimes"})),
            "providerConfig.managementMode",
            "Sometimes",
        ),
        (
            Bad::ProviderConfig(
                json!({"apiVersion": "flux.extensions.gardener.cloud/v1beta1", "kind": "FluxConfig"}),
            ),
            "providerConfig.apiVersion",
            "v1beta1",
        ),
        (
            Bad::ProviderConfig(
                json!({"apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "Flux"}),
            ),
            "providerConfig.kind",
            "\"Flux\"",
        ),
        (
            Bad::ProviderConfig(json!({"kind": "FluxConfig"})),
            "providerConfig.apiVersion",
            "required",
        ),
        (fc(json!({"foo": 1})), "providerConfig.foo", "unknown field"),
        (
            fc(json!({"flux": 5})),
            "providerConfig.flux",
            "must be an object",
        ),
        (
            fc(json!({"flux": {"version": "0.1.0"}})),
            "providerConfig.flux.version",
            "0.1.0",
        ),
        (
            fc(json!({"flux": {"version": 2}})),
            "providerConfig.flux.version",
            "must be a string",
        ),
        (
            fc(json!({"flux": {"namespace": "Bad_NS"}})),
            "providerConfig.flux.namespace",
            "Bad_NS",
        ),
        (
            fc(json!({"flux": {"registry": "https://mirror.local"}})),
            "providerConfig.flux.registry",
            "without a scheme",
        ),
        (
            fc(json!({"flux": {"colour": "blue"}})),
            "providerConfig.flux.colour",
            "unknown field",
        ),
        (
            fc(json!({"flux": {"version": "v8.0.0"}})),
            "providerConfig.flux.version",
            "v8.0.0 does not exist",
        ),
        (
            Bad::Cluster(json!({"spec": {"hibernation": {"enabled": "yes"}}})),
            "spec.shoot.spec.hibernation.enabled",
            "\"yes\"",
        ),
        (
            Bad::Cluster(json!({"spec": {"provider": {"workers": {"a": 1}}}})),
            "spec.shoot.spec.provider.workers",
            "expected a list",
        ),
        (
            Bad::Cluster(json!({"spec": {"purpose": 3}})),
            "spec.shoot.spec.purpose",
            "expected a string",
        ),
        (
            Bad::Cluster(json!({"metadata": {"namespace": "kube-system"}})),
            "spec.shoot.metadata.namespace",
            "kube-system",
        ),
        (
            Bad::Cluster(json!({"metadata": {"name": null}})),
            "spec.shoot.metadata.name",
            "missing",
        ),
        (
            Bad::Cluster(json!({"status": {"hibernated": "no"}})),
            "spec.shoot.status.hibernated",
            "\"no\"",
        ),
        (
            Bad::Cluster(json!({"spec": {"region": 1}})),
            "spec.shoot.spec.region",
            "found 1",
        ),
        (
            Bad::Cluster(json!({"spec": {"kubernetes": {"version": 1.36}}})),
            "spec.shoot.spec.kubernetes.version",
            "1.36",
        ),
        (
            Bad::Cluster(json!({"spec": {"dns": {"domain": []}}})),
            "spec.shoot.spec.dns.domain",
            "[]",
        ),
        (
            Bad::Cluster(json!({"status": {"lastOperation": {"state": 5}}})),
            "spec.shoot.status.lastOperation.state",
            "found 5",
        ),
        (
            Bad::Cluster(json!({"spec": {"provider": {"workers": []}}})),
            "spec.shoot.spec.provider.workers",
            "no workers",
        ),
    ];
    assert!(cases.len() >= 30);
    let clusters = dynamic_api(
        &seed().await,
        "extensions.gardener.cloud/v1alpha1",
        "Cluster",
        None,
    )
    .await
    .unwrap();
    let extensions = extension_api(bed, &ns).await;
    for (i, (bad, path, fragment)) in cases.iter().enumerate() {
        match bad {
            Bad::ConfigMap(pairs) => {
                let pairs: Vec<(&str, &str)> =
                    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                set_project_config(bed, "bad", &pairs).await;
            }
            Bad::ProviderConfig(value) => {
                set_project_config(bed, "bad", &good_cm).await;
                // A merge patch would merge into the previous case's providerConfig: replace it.
                for step in [Value::Null, value.clone()] {
                    extensions
                        .patch(
                            "shoot-flux",
                            &PatchParams::default(),
                            &Patch::Merge(&json!({"spec": {"providerConfig": step}})),
                        )
                        .await
                        .unwrap();
                }
            }
            Bad::Cluster(patch) => {
                extensions
                    .patch(
                        "shoot-flux",
                        &PatchParams::default(),
                        &Patch::Merge(&json!({"spec": {"providerConfig": null}})),
                    )
                    .await
                    .unwrap();
                clusters
                    .patch(
                        &ns,
                        &PatchParams::default(),
                        &Patch::Merge(&json!({"spec": {"shoot": good_cluster}})),
                    )
                    .await
                    .unwrap();
                clusters
                    .patch(
                        &ns,
                        &PatchParams::default(),
                        &Patch::Merge(&json!({"spec": {"shoot": patch}})),
                    )
                    .await
                    .unwrap();
            }
        }
        let since = annotate(bed, &ns, "reconcile").await;
        let status = wait_error(bed, &ns, &since, &[path, fragment]).await;
        assert_eq!(
            status["status"]["lastError"]["codes"],
            json!(["ERR_CONFIGURATION_PROBLEM"]),
            "case {i}: {path}"
        );
        assert_eq!(
            mr_secrets(bed, &ns).await,
            good,
            "case {i} ({path}) left the applied state in place"
        );
        extension.process.ensure_running().expect("no panic");
    }
    // A good configuration heals it.
    clusters
        .patch(
            &ns,
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"shoot": good_cluster}})),
        )
        .await
        .unwrap();
    set_project_config(bed, "bad", &good_cm).await;
    annotate(bed, &ns, "reconcile").await;
    wait_ready(bed, &ns, Duration::from_secs(90)).await;
    extension
        .process
        .ensure_running()
        .expect("the controller survived every case");
}

/// Every `lastOperation.state` the Extensions of `api` show, in order, as a watch sees them.
fn record_states(
    api: Api<DynamicObject>,
) -> (
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    tokio::task::JoinHandle<()>,
) {
    use futures::StreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let states: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let recorded = states.clone();
    let task = tokio::spawn(async move {
        let mut objects =
            std::pin::pin!(watcher(api, watcher::Config::default()).applied_objects());
        while let Some(Ok(object)) = objects.next().await {
            let state = object.data["status"]["lastOperation"]["state"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let mut states = recorded.lock().unwrap();
            if states.last() != Some(&state) {
                states.push(state);
            }
        }
    });
    (states, task)
}

/// A requested reconcile writes Processing only once it has run for `--processing-delay`: one
/// that finishes sooner writes its outcome alone (one Extension write of the contract's three
/// saved); with no delay, Processing comes first as before.
#[tokio::test]
async fn processing_is_written_only_when_a_reconcile_takes_longer_than_the_delay() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    project_with_fleet(bed, "delay").await;
    let spec = ShootSpec::new("delay", "one");
    let ns = spec.technical_id();
    let (states, watch) = record_states(extension_api(bed, &ns).await);
    let mut quick = start_extension(bed, &["--processing-delay=1h"]).await;
    let _shoot = succeeded_shoot(&spec, false).await;
    wait_past_last_update(bed, &ns).await;
    annotate(bed, &ns, "reconcile").await;
    wait_ready(bed, &ns, Duration::from_secs(90)).await;
    wait_for("the watch to see both", Duration::from_secs(30), || async {
        Ok((states.lock().unwrap().len() >= 2).then_some(()))
    })
    .await
    .unwrap();
    let seen = states.lock().unwrap().clone();
    assert!(
        !seen.iter().any(|s| s == "Processing"),
        "a reconcile quicker than the delay writes no Processing: {seen:?}"
    );
    quick.process.stop(Duration::from_secs(10));

    let _always = start_extension(bed, &["--processing-delay=0s"]).await;
    states.lock().unwrap().clear();
    wait_past_last_update(bed, &ns).await;
    annotate(bed, &ns, "reconcile").await;
    wait_ready(bed, &ns, Duration::from_secs(90)).await;
    let processing_first = || {
        let seen = states.lock().unwrap().clone();
        seen.windows(2).any(|w| w == ["Processing", "Succeeded"])
    };
    wait_for(
        "with no delay, Processing before Succeeded",
        Duration::from_secs(30),
        || async { Ok(processing_first().then_some(())) },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {:?}", states.lock().unwrap()));
    watch.abort();
}

/// gardenlet never takes the previous outcome for the answer to a new request, also when it asks
/// in the very second of that outcome (its check compares whole seconds): with Processing first
/// and with a delay, the `reconcile` annotation stays until the new outcome is written. The
/// previous outcome is marked by its description; the first version after the request that passes
/// gardenlet's check must carry a new one.
#[tokio::test]
async fn a_request_in_the_second_of_the_last_success_waits_for_its_own_outcome() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    project_with_fleet(bed, "same-second").await;
    let spec = ShootSpec::new("same-second", "one");
    let ns = spec.technical_id();
    let api = extension_api(bed, &ns).await;
    let mut shoot = None;
    for delay in ["--processing-delay=1h", "--processing-delay=0s"] {
        use futures::{StreamExt, TryStreamExt};
        let mut extension = start_extension(bed, &[delay]).await;
        if shoot.is_none() {
            shoot = Some(succeeded_shoot(&spec, false).await);
        }
        wait_ready(bed, &ns, Duration::from_secs(90)).await;
        let marker = "the previous request's outcome";
        let marked = api
            .patch_status(
                "shoot-flux",
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": {"lastOperation": {"description": marker}}})),
            )
            .await
            .unwrap();
        let marked = serde_json::to_value(marked).unwrap();
        let last_update = marked["status"]["lastOperation"]["lastUpdateTime"]
            .as_str()
            .unwrap()
            .to_string();
        let rv = marked["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        let mut events = api
            .watch(&kube::api::WatchParams::default(), &rv)
            .await
            .unwrap()
            .boxed();
        // gardenlet's clock in the second of the last success.
        api.patch(
            "shoot-flux",
            &PatchParams::default(),
            &Patch::Merge(&json!({"metadata": {"annotations": {
                "gardener.cloud/operation": "reconcile", "gardener.cloud/timestamp": last_update
            }}})),
        )
        .await
        .unwrap();
        let mut seen = Vec::new();
        let first_ready = tokio::time::timeout(Duration::from_secs(90), async {
            while let Some(event) = events.try_next().await.unwrap() {
                if let kube::api::WatchEvent::Modified(object) = event {
                    let object = serde_json::to_value(object).unwrap();
                    seen.push(format!(
                        "annotation {} description {}",
                        object["metadata"]["annotations"]["gardener.cloud/operation"],
                        object["status"]["lastOperation"]["description"]
                    ));
                    if gardenlet_ready(&object).is_ok() {
                        return object;
                    }
                }
            }
            panic!("the watch ended");
        })
        .await
        .unwrap_or_else(|_| panic!("{delay}: never ready; saw {seen:?}"));
        assert_ne!(
            first_ready["status"]["lastOperation"]["description"], marker,
            "{delay}: the previous outcome passed for the new request's: {seen:?}"
        );
        extension.process.stop(Duration::from_secs(10));
    }
}

/// A request gardenlet makes while the work for its previous one runs (a spec change with a
/// fresh timestamp, the `reconcile` annotation still on the object: no Processing within the
/// delay) is answered too: the first outcome leaves the annotation, and the next reconcile
/// observes the new generation. The work is held at a gate in front of the release host, so the
/// second request lands mid-work for certain.
#[tokio::test]
async fn a_request_made_while_the_work_runs_is_answered_too() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    project_with_fleet(bed, "again").await;
    let spec = ShootSpec::new("again", "one");
    let ns = spec.technical_id();
    let mut first = start_extension(bed, &[]).await;
    let _shoot = succeeded_shoot(&spec, false).await;
    first.process.stop(Duration::from_secs(10));

    // A fresh process has no Flux release cached: its reconcile fetches one through the gate.
    let releases = bed.releases().await.unwrap();
    let github_port: u16 = releases
        .base_url()
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let gate = testbed::tcpgate::TcpGate::start(([127, 0, 0, 1], github_port).into())
        .await
        .unwrap();
    let gated = releases.base_url().replace(
        &format!("127.0.0.1:{github_port}/"),
        &format!("127.0.0.1:{}/", gate.port()),
    );
    assert_ne!(gated, releases.base_url());
    let config = format!(
        "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  manifests:\n    baseURL: {gated}\n    timeout: 5m\n"
    );
    let _held = start_extension_with_config(
        bed,
        "shoot-flux-held",
        &["--processing-delay=1h"],
        Some(bed.garden().kubeconfig_path()),
        &config,
    )
    .await;
    wait_past_last_update(bed, &ns).await;
    annotate(bed, &ns, "reconcile").await;
    wait_for(
        "the reconcile to wait for the release host",
        Duration::from_secs(60),
        || async { Ok((gate.held() >= 1).then_some(())) },
    )
    .await
    .unwrap();

    // gardenlet changes the spec and asks again, as it does: annotation and a fresh timestamp.
    let api = extension_api(bed, &ns).await;
    let working = serde_json::to_value(api.get("shoot-flux").await.unwrap()).unwrap();
    assert_eq!(
        working["metadata"]["annotations"]["gardener.cloud/operation"], "reconcile",
        "the first request is still open while its work runs: {working}"
    );
    let asked = api
        .patch(
            "shoot-flux",
            &PatchParams::default(),
            &Patch::Merge(&json!({
                "metadata": {"annotations": {
                    "gardener.cloud/operation": "reconcile",
                    "gardener.cloud/timestamp": k8s_openapi::jiff::Timestamp::now().to_string(),
                }},
                "spec": {"providerConfig": {
                    "apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig"
                }},
            })),
        )
        .await
        .unwrap();
    let generation = asked.metadata.generation.unwrap();
    gate.open();
    let ext = wait_ready(bed, &ns, Duration::from_secs(120)).await;
    assert_eq!(ext["status"]["observedGeneration"], generation, "{ext}");
}
