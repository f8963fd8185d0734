//! The shoot's own `FluxConfig` end to end: stackit-style source and Kustomization templates,
//! additional Secrets that follow the configuration, `shoot-info` substitution, Managed and
//! Bootstrap modes, Orphan deletion, and taking over a shoot the stackit extension bootstrapped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};
use testbed::gardenlet;
use testbed::kubeutil::{dynamic_api, wait_for};
use testbed::sample::podinfo_files;

use common::*;

const API: &str = "flux.extensions.gardener.cloud/v1alpha1";

/// The sample app plus a ConfigMap that names the shoot through `${SHOOT_INFO_NAME}`.
fn files_with_shoot_info(message: &str) -> Vec<(String, String)> {
    let mut files = podinfo_files(message);
    files.retain(|(p, _)| p != "kustomization.yaml");
    files.push((
        "apps/info.yaml".into(),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cluster-info\ndata:\n  shoot: \"${SHOOT_INFO_NAME}\"\n  project: \"${SHOOT_INFO_PROJECT}\"\n".into(),
    ));
    files.push((
        "kustomization.yaml".into(),
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- apps/podinfo\n- apps/info.yaml\n".into(),
    ));
    files
}

/// Waits until the shoot's GRM has finished `rounds` more reconciles of the install
/// ManagedResource (one per sync period, 15 s in the bed), each a chance to revert the shoot.
async fn wait_grm_resyncs(shoot: &testbed::Shoot, rounds: usize) {
    let log = shoot.grm().unwrap().process.log_path().to_path_buf();
    let finished = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| {
                l.contains("Finished to reconcile ManagedResource")
                    && l.contains("extension-shoot-flux-flux-install")
            })
            .count()
    };
    let before = finished();
    wait_for(
        &format!("{rounds} more GRM reconciles of the install ManagedResource"),
        Duration::from_secs(180),
        || async { Ok((finished() >= before + rounds).then_some(())) },
    )
    .await
    .unwrap();
}

async fn object(
    shoot: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
) -> Option<Value> {
    let api = dynamic_api(shoot, api_version, kind, Some(ns)).await.ok()?;
    api.get_opt(name)
        .await
        .ok()?
        .map(|o| serde_json::to_value(o).unwrap())
}

async fn wait_object(
    shoot: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: &str,
    name: &str,
) -> Value {
    wait_for(
        &format!("{kind} {ns}/{name} in the shoot"),
        Duration::from_secs(90),
        || async { Ok(object(shoot, api_version, kind, ns, name).await) },
    )
    .await
    .unwrap()
}

async fn secret_data(shoot: &kube::Client, name: &str) -> Option<BTreeMap<String, String>> {
    let secrets: Api<Secret> = Api::namespaced(shoot.clone(), "flux-system");
    let secret = secrets.get_opt(name).await.ok()??;
    Some(
        secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
            .collect(),
    )
}

/// Changes the shoot's GitRepository interval as a user of the shoot would.
async fn edit_interval(shoot: &kube::Client, kind: &str, name: &str, api_version: &str) {
    let api = dynamic_api(shoot, api_version, kind, Some("flux-system"))
        .await
        .unwrap();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"interval": "7m"}})),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn managed_templates_additional_secrets_and_shoot_info_substitution() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    git.create_repository_from("templates-fleet", &files_with_shoot_info("templates"))
        .unwrap();
    let mut spec = spec("templates", "app");
    spec.resources = vec![(
        "extra".into(),
        BTreeMap::from([("token".to_string(), "one".to_string())]),
    )];
    let config = |with_extra: bool| {
        let mut config = json!({
            "apiVersion": API, "kind": "FluxConfig",
            "managementMode": "Managed",
            "source": {"template": {
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "fleet"},
                "spec": {"url": git.http_url("templates-fleet"), "ref": {"branch": "main"}, "interval": "30s"}
            }},
            "kustomization": {"template": {"spec": {
                "path": "./", "prune": true, "targetNamespace": "default",
                "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "shoot-info"}]}
            }}}
        });
        if with_extra {
            config["additionalSecretResources"] =
                json!([{"name": "extra", "targetName": "extra-creds"}]);
        }
        config
    };
    spec.provider_config = Some(config(true));
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let _extension = start_extension(bed, &[]).await;
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    start_flux_when_installed(&mut shoot).await;
    let target = shoot.client().await.unwrap();

    // The templates replace main-gitrepo/main-ks, names included; the app syncs and the
    // manifest got the shoot's name from shoot-info.
    let repo = wait_object(
        &target,
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        "flux-system",
        "fleet",
    )
    .await;
    assert_eq!(repo["spec"]["url"], git.http_url("templates-fleet"));
    let ks = wait_object(
        &target,
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        "flux-system",
        "flux-system",
    )
    .await;
    assert_eq!(ks["spec"]["sourceRef"]["name"], "fleet");
    assert!(
        object(
            &target,
            "source.toolkit.fluxcd.io/v1",
            "GitRepository",
            "flux-system",
            "main-gitrepo"
        )
        .await
        .is_none()
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(target.clone(), "default");
    let info = wait_for("cluster-info synced", Duration::from_secs(120), || async {
        Ok(configmaps.get_opt("cluster-info").await?)
    })
    .await
    .unwrap();
    let data = info.data.unwrap();
    assert_eq!(data["shoot"], "app");
    assert_eq!(data["project"], "templates");
    // Flux applies the revision's objects one by one: the Deployment may follow the ConfigMap.
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "default");
    wait_for("podinfo synced", Duration::from_secs(60), || async {
        Ok(deployments.get_opt("podinfo").await?)
    })
    .await
    .unwrap();

    // The additional Secret is copied with its type, follows changes, and goes when unlisted.
    let copied = wait_for(
        "extra-creds in the shoot",
        Duration::from_secs(60),
        || async { Ok(secret_data(&target, "extra-creds").await) },
    )
    .await
    .unwrap();
    assert_eq!(copied["token"], "one");
    spec.resources[0].1.insert("token".into(), "two".into());
    shoot.spec = spec.clone();
    shoot.create_gardenlet_objects().await.unwrap();
    annotate(bed, &ns, "reconcile").await;
    wait_for("extra-creds updated", Duration::from_secs(60), || async {
        let data = secret_data(&target, "extra-creds").await;
        Ok((data.as_ref().map(|d| d["token"].as_str()) == Some("two")).then_some(()))
    })
    .await
    .unwrap();

    // The stackit extension's opt-in on the seed copy: its labels go to the shoot Secret, and
    // without it they do not.
    let seed_secrets: Api<Secret> = Api::namespaced(seed.clone(), &ns);
    let label_seed_copy = |metadata: Value| {
        let seed_secrets = seed_secrets.clone();
        async move {
            seed_secrets
                .patch(
                    "ref-extra-source",
                    &PatchParams::default(),
                    &Patch::Merge(&json!({ "metadata": metadata })),
                )
                .await
                .unwrap();
        }
    };
    let shoot_labels = || async {
        let secrets: Api<Secret> = Api::namespaced(target.clone(), "flux-system");
        secrets
            .get("extra-creds")
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap_or_default()
    };
    let before = mr_secrets(bed, &ns).await;
    label_seed_copy(json!({"labels": {"team": "payments"}})).await;
    annotate(bed, &ns, "reconcile").await;
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    // Nothing new for the shoot: the config ManagedResource's content did not change.
    assert_eq!(mr_secrets(bed, &ns).await, before);
    let labels = shoot_labels().await;
    assert!(!labels.contains_key("team"), "{labels:?}");
    label_seed_copy(json!({"annotations": {"gardener-extension-shoot-flux/copy-labels": "true"}}))
        .await;
    annotate(bed, &ns, "reconcile").await;
    wait_for(
        "the seed copy's labels on extra-creds",
        Duration::from_secs(60),
        || async {
            let labels = shoot_labels().await;
            Ok((labels.get("team").map(String::as_str) == Some("payments")).then_some(labels))
        },
    )
    .await
    .map(|labels| {
        assert_eq!(
            labels["app.kubernetes.io/managed-by"],
            "gardener-extension-shoot-flux"
        )
    })
    .unwrap();

    spec.provider_config = Some(config(false));
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_for("extra-creds removed", Duration::from_secs(60), || async {
        Ok(secret_data(&target, "extra-creds")
            .await
            .is_none()
            .then_some(()))
    })
    .await
    .unwrap();

    // Managed: a change made in the shoot is put back by GRM.
    edit_interval(
        &target,
        "GitRepository",
        "fleet",
        "source.toolkit.fluxcd.io/v1",
    )
    .await;
    wait_for(
        "GRM to restore the GitRepository",
        Duration::from_secs(60),
        || async {
            let repo = object(
                &target,
                "source.toolkit.fluxcd.io/v1",
                "GitRepository",
                "flux-system",
                "fleet",
            )
            .await;
            Ok((repo.map(|r| r["spec"]["interval"].clone()) == Some(json!("30s"))).then_some(()))
        },
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn bootstrap_mode_oci_source_and_orphan_deletion() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let mut spec = spec("bootstrap", "app");
    // stackit's style: source and Kustomization in the providerConfig, so Bootstrap + Orphan.
    spec.provider_config = Some(json!({
        "apiVersion": API, "kind": "FluxConfig",
        "source": {"template": {
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "spec": {"url": "oci://registry.example.com/org/manifests", "ref": {"semver": ">=1.0.0"}}
        }},
        "kustomization": {"template": {"spec": {"path": "./"}}}
    }));
    let ns = spec.technical_id();
    let shoot = shoot_with_grm(bed, spec.clone()).await;
    let _extension = start_extension(bed, &[]).await;
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    let target = shoot.client().await.unwrap();

    // The OCIRepository is rendered with stackit's defaults and applied (Flux need not pull it).
    let repo = wait_object(
        &target,
        "source.toolkit.fluxcd.io/v1",
        "OCIRepository",
        "flux-system",
        "flux-system",
    )
    .await;
    assert_eq!(repo["spec"]["interval"], "1m");
    assert_eq!(repo["spec"]["ref"]["semver"], ">=1.0.0");
    let ks = wait_object(
        &target,
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        "flux-system",
        "flux-system",
    )
    .await;
    assert_eq!(ks["spec"]["sourceRef"]["kind"], "OCIRepository");

    // Bootstrap: a change made in the shoot stays, past several GRM resyncs (15 s each).
    edit_interval(
        &target,
        "OCIRepository",
        "flux-system",
        "source.toolkit.fluxcd.io/v1",
    )
    .await;
    annotate(bed, &ns, "reconcile").await;
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    wait_grm_resyncs(&shoot, 2).await;
    let repo = object(
        &target,
        "source.toolkit.fluxcd.io/v1",
        "OCIRepository",
        "flux-system",
        "flux-system",
    )
    .await
    .unwrap();
    assert_eq!(
        repo["spec"]["interval"], "7m",
        "Bootstrap mode must leave Flux objects to Flux"
    );

    // The stackit extension's mark, so that a rollback to it does not bootstrap this shoot again.
    let mark = wait_condition(
        bed,
        &ns,
        "FluxBootstrapped",
        "True",
        Duration::from_secs(120),
        |c| c["status"] == "True",
    )
    .await;
    assert_eq!(mark["reason"], "BootstrappedByShootFlux");

    // Orphan: removing the extension leaves Flux in the shoot; our seed objects go.
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "flux-system");
    let before = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .len();
    assert!(before >= 2, "{before}");
    extension_api(bed, &ns)
        .await
        .delete("shoot-flux", &DeleteParams::default())
        .await
        .unwrap();
    let extensions = extension_api(bed, &ns).await;
    wait_for(
        "the Extension to be gone",
        Duration::from_secs(60),
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
    let mrs = mr_api(bed, &ns).await;
    wait_for(
        "our ManagedResources to be gone",
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
    // GRM's finalizer leaves an MR only once it has released or deleted the MR's objects, so
    // what GRM would delete is gone, or being deleted, by now.
    let left = deployments
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(left.len(), before);
    assert!(
        left.iter().all(|d| d.metadata.deletion_timestamp.is_none()),
        "a Flux Deployment is being deleted"
    );
    assert!(
        object(
            &target,
            "source.toolkit.fluxcd.io/v1",
            "OCIRepository",
            "flux-system",
            "flux-system"
        )
        .await
        .is_some()
    );
}

/// A shoot the stackit extension bootstrapped: Flux and the sync objects were applied directly,
/// and the Extension carries `FluxBootstrapped=True`. shoot-flux adopts it without recreating
/// Flux and without interrupting the sync.
#[tokio::test]
async fn a_stackit_bootstrapped_shoot_is_taken_over_without_a_reinstall() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = testbed::paths::versions().unwrap();
    let git = bed.git().await.unwrap();
    git.create_repository_from("stackit-fleet", &podinfo_files("bootstrapped by stackit"))
        .unwrap();
    let mut spec = spec("stackit", "app");
    spec.provider_config = Some(json!({
        "apiVersion": API, "kind": "FluxConfig",
        "flux": {"version": versions.flux},
        "source": {"template": {
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "spec": {"url": git.http_url("stackit-fleet"), "ref": {"branch": "main"}}
        }},
        "kustomization": {"template": {"spec": {"path": "./", "prune": true, "targetNamespace": "default"}}}
    }));
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let target = shoot.client().await.unwrap();

    // What the stackit extension did: Flux's install.yaml and the sync objects, applied directly.
    let install = testbed::paths::flux_release_dir(&versions.flux)
        .unwrap()
        .join("install.yaml");
    testbed::kubeutil::apply_file(&target, &install, "gardener-extension-shoot-flux-stackit")
        .await
        .unwrap();
    let sync = format!(
        "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: {}\n  ref:\n    branch: main\n---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: flux-system\n  namespace: flux-system\nspec:\n  interval: 1m\n  path: ./\n  prune: true\n  targetNamespace: default\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n    namespace: flux-system\n",
        git.http_url("stackit-fleet")
    );
    testbed::kubeutil::apply_documents(
        &target,
        &testbed::kubeutil::parse_documents(&sync).unwrap(),
        "gardener-extension-shoot-flux-stackit",
    )
    .await
    .unwrap();
    start_flux_when_crds_established(&mut shoot).await;
    let apps: Api<Deployment> = Api::namespaced(target.clone(), "default");
    wait_for(
        "podinfo synced by the stackit-bootstrapped Flux",
        Duration::from_secs(120),
        || async { Ok(apps.get_opt("podinfo").await?) },
    )
    .await
    .unwrap();
    let flux: Api<Deployment> = Api::namespaced(target.clone(), "flux-system");
    let identity = |list: Vec<Deployment>| -> BTreeMap<String, (String, i64)> {
        list.into_iter()
            .map(|d| {
                (
                    d.metadata.name.unwrap(),
                    (d.metadata.uid.unwrap(), d.metadata.generation.unwrap()),
                )
            })
            .collect()
    };
    let before = identity(flux.list(&ListParams::default()).await.unwrap().items);

    // The Extension as stackit left it: FluxBootstrapped=True.
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    let now = k8s_openapi::jiff::Timestamp::now().to_string();
    extension_api(bed, &ns)
        .await
        .patch_status(
            "shoot-flux",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"conditions": [{
                "type": "FluxBootstrapped", "status": "True", "reason": "BootstrapSuccessful",
                "message": "Flux installation has been bootstrapped successfully",
                "lastTransitionTime": now, "lastUpdateTime": now
            }]}})),
        )
        .await
        .unwrap();
    let _extension = start_extension(bed, &[]).await;
    let ext = wait_ready(bed, &ns, Duration::from_secs(60)).await;
    assert!(
        condition(&ext, "FluxBootstrapped").is_some_and(|c| c["status"] == "True"),
        "stackit's condition stays: {}",
        ext["status"]
    );
    let mrs = mr_api(bed, &ns).await;
    wait_for(
        "both ManagedResources applied",
        Duration::from_secs(90),
        || async {
            let mut applied = 0;
            for mr in mrs.list(&ListParams::default()).await?.items {
                let mr = serde_json::to_value(mr)?;
                if condition(&mr, "ResourcesApplied").is_some_and(|c| c["status"] == "True") {
                    applied += 1;
                }
            }
            // Install, config and shoot access.
            Ok((applied == 3).then_some(()))
        },
    )
    .await
    .unwrap();

    // Not reinstalled: the same Deployments, unchanged; the sync goes on.
    let after = identity(flux.list(&ListParams::default()).await.unwrap().items);
    assert_eq!(after, before);
    git.commit_files(
        "stackit-fleet",
        "main",
        &podinfo_files("still syncing"),
        "after the takeover",
    )
    .unwrap();
    wait_for(
        "the next commit to sync",
        Duration::from_secs(150),
        || async {
            let d = apps.get("podinfo").await?;
            let env = d.spec.unwrap().template.spec.unwrap().containers[0]
                .env
                .clone()
                .unwrap_or_default();
            Ok(env
                .iter()
                .any(|e| e.value.as_deref() == Some("still syncing"))
                .then_some(()))
        },
    )
    .await
    .unwrap();
}
