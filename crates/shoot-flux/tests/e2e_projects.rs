//! A Project whose namespace is not `garden-<name>` (its `spec.namespace` may be any `garden-`
//! namespace): project `alpha` in `garden-team-a`, shoot namespace `shoot--alpha--app`. The
//! shoot gets the project's `flux-config` and deploy key from `garden-team-a`, `shoot-info`
//! names project alpha, a change of `flux-config` there reaches the shoot with no other trigger,
//! and `deploy-key --namespace garden-team-a` prints the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use serde_json::Value;
use shoot_flux_core::deploykey::fingerprint;
use testbed::gardenlet;
use testbed::kubeutil::{dynamic_api, wait_for};
use testbed::sample::podinfo_files;

use common::*;

const PROJECT_NAMESPACE: &str = "garden-team-a";

fn deploy_key_cli(bed: &testbed::Bed, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"))
        .arg("deploy-key")
        .args(args)
        .env("GARDEN_KUBECONFIG", bed.garden().kubeconfig_path())
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Object `name` of `kind` in the shoot's flux-system namespace, once it exists.
async fn flux_object(shoot: &kube::Client, api_version: &str, kind: &str, name: &str) -> Value {
    let api = dynamic_api(shoot, api_version, kind, Some("flux-system"))
        .await
        .unwrap();
    let object = wait_for(
        &format!("{kind} {name} in the shoot"),
        Duration::from_secs(60),
        || async { Ok(api.get_opt(name).await?) },
    )
    .await
    .unwrap();
    serde_json::to_value(object).unwrap()
}

#[tokio::test]
async fn a_project_whose_namespace_is_not_garden_and_its_name() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    git.create_repository_from("team-a-fleet", &podinfo_files("team-a v1"))
        .unwrap();
    let url = git.ssh_url("team-a-fleet");
    set_namespace_config(
        bed,
        PROJECT_NAMESPACE,
        &[("repositoryUrl", &url), ("repositoryType", "private")],
    )
    .await;

    let spec = spec_in("alpha", PROJECT_NAMESPACE, "app");
    let ns = spec.technical_id();
    assert_eq!(ns, "shoot--alpha--app");
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let _extension = start_extension(bed, &["--healthcheck-sync-period=2s"]).await;
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    start_flux_when_installed(&mut shoot).await;
    let target = shoot.client().await.unwrap();

    // The deploy key is created in the project's namespace, not in garden-alpha.
    let garden = bed.garden().client().await.unwrap();
    let key = Api::<Secret>::namespaced(garden.clone(), PROJECT_NAMESPACE)
        .get("flux-source")
        .await
        .unwrap();
    let public = String::from_utf8(key.data.unwrap()["identity.pub"].0.clone())
        .unwrap()
        .trim()
        .to_string();
    assert!(
        Api::<Secret>::namespaced(garden.clone(), "garden-alpha")
            .get_opt("flux-source")
            .await
            .unwrap()
            .is_none()
    );

    // shoot-info names the project by its name.
    let info = Api::<ConfigMap>::namespaced(target.clone(), "flux-system");
    let info = wait_for(
        "shoot-info in the shoot",
        Duration::from_secs(60),
        || async { Ok(info.get_opt("shoot-info").await?) },
    )
    .await
    .unwrap()
    .data
    .unwrap();
    assert_eq!(info["SHOOT_INFO_PROJECT"], "alpha");
    assert_eq!(info["SHOOT_INFO_TECHNICAL_ID"], "shoot--alpha--app");

    // The source is the project's repository, with the project's key.
    let repo = flux_object(
        &target,
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        "main-gitrepo",
    )
    .await;
    assert_eq!(repo["spec"]["secretRef"]["name"], "flux-source");
    let shoot_key = Api::<Secret>::namespaced(target.clone(), "flux-system")
        .get("flux-source")
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8(shoot_key.data.unwrap()["identity.pub"].0.clone())
            .unwrap()
            .trim(),
        public
    );

    // Refused by the Git host, the status names the command that prints the key.
    let refused = wait_condition(
        bed,
        &ns,
        "FluxSourceReady",
        "the refused deploy key",
        Duration::from_secs(90),
        |c| c["status"] == "False" && c["reason"] == "AuthenticationFailed",
    )
    .await;
    let advice = refused["message"].as_str().unwrap();
    assert!(
        advice.contains("(project alpha)")
            && advice.contains("`shoot-flux deploy-key --namespace garden-team-a` prints it"),
        "{advice}"
    );

    // The CLI finds the key by namespace; by project name it looks in garden-alpha, and says so.
    let (code, stdout, stderr) = deploy_key_cli(bed, &["--namespace", PROJECT_NAMESPACE]);
    assert_eq!(code, 0, "{stderr}");
    let printed = stdout
        .lines()
        .find(|l| l.starts_with("ssh-ed25519 "))
        .unwrap()
        .to_string();
    assert_eq!(printed, public);
    assert!(stdout.contains(&fingerprint(&public).unwrap()), "{stdout}");
    assert!(stdout.contains("garden-team-a/flux-source"), "{stdout}");
    let (code, _, stderr) = deploy_key_cli(bed, &["--project", "alpha"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("garden Secret garden-alpha/flux-source does not exist"),
        "{stderr}"
    );

    // Authorized, the app syncs.
    git.authorize_key(&printed).unwrap();
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "default");
    wait_for("podinfo synced", Duration::from_secs(150), || async {
        Ok(deployments.get_opt("podinfo").await?)
    })
    .await
    .unwrap();

    // A changed flux-config in garden-team-a reaches the shoot with nothing else asking for a
    // reconcile (the resync is 10 minutes away).
    set_namespace_config(
        bed,
        PROJECT_NAMESPACE,
        &[
            ("repositoryUrl", &url),
            ("repositoryType", "private"),
            ("kustomizationPath", "./apps/podinfo"),
        ],
    )
    .await;
    let ks = flux_kustomizations(&target).await;
    wait_for(
        "the changed kustomizationPath in the shoot",
        Duration::from_secs(60),
        || async {
            let path = ks.get("main-ks").await?.data["spec"]["path"].clone();
            if path == "./apps/podinfo" {
                Ok(Some(()))
            } else {
                anyhow::bail!("main-ks path is {path}")
            }
        },
    )
    .await
    .unwrap();
}
