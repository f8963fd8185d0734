//! Flux is real: source-controller and kustomize-controller, as local processes against a shoot
//! API server of their own, sync a private repository over SSH (sshd, a deploy key made here and
//! `known_hosts` from the sshd host key) and a public one over smart HTTP. A key the Git server
//! does not know leaves the source not Ready. Each controller has a temporary directory of its
//! own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};
use testbed::git::SshKeyPair;
use testbed::kubeutil::{dynamic_api, install_crds, wait_for};
use testbed::{Shoot, ShootSpec};

const MANAGER: &str = "smoke-test";

fn app_files(name: &str) -> Vec<(String, String)> {
    vec![(
        "deploy/deployment.yaml".into(),
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: registry.local/{name}:1.0
"
        ),
    )]
}

/// A shoot with the Flux CRDs, the flux-system namespace and the Flux controllers running.
async fn shoot_with_flux(name: &str) -> Shoot {
    let bed = testbed::bed().await.unwrap();
    let mut shoot = bed.new_shoot(ShootSpec::new("smoke", name)).await.unwrap();
    let client = shoot.client().await.unwrap();
    install_crds(
        &client,
        &testbed::paths::cached_file("crds/flux", "crds").unwrap(),
    )
    .await
    .unwrap();
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "flux-system"}})).unwrap();
    Api::<Namespace>::all(client)
        .patch(
            "flux-system",
            &PatchParams::apply(MANAGER),
            &Patch::Apply(&ns),
        )
        .await
        .unwrap();
    shoot.start_flux().await.unwrap();
    shoot
}

async fn apply(client: &kube::Client, api_version: &str, kind: &str, object: Value) {
    let api = dynamic_api(client, api_version, kind, Some("flux-system"))
        .await
        .unwrap();
    let name = object["metadata"]["name"].as_str().unwrap().to_string();
    let object: DynamicObject = serde_json::from_value(object).unwrap();
    api.patch(&name, &PatchParams::apply(MANAGER), &Patch::Apply(&object))
        .await
        .unwrap();
}

async fn git_repository(client: &kube::Client, name: &str, url: &str, secret: Option<&str>) {
    let mut spec =
        json!({"url": url, "interval": "10s", "timeout": "20s", "ref": {"branch": "main"}});
    if let Some(secret) = secret {
        spec["secretRef"] = json!({"name": secret});
    }
    apply(
        client,
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": name, "namespace": "flux-system"}, "spec": spec
        }),
    )
    .await;
}

async fn kustomization(client: &kube::Client, name: &str, source: &str) {
    apply(
        client,
        "kustomize.toolkit.fluxcd.io/v1",
        "Kustomization",
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "flux-system"},
            "spec": {"interval": "1m", "path": "./deploy", "prune": true, "wait": false,
                     "sourceRef": {"kind": "GitRepository", "name": source}}
        }),
    )
    .await;
}

fn ready(object: &DynamicObject) -> Option<(String, String)> {
    object.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

async fn wait_for_deployment(client: &kube::Client, name: &str) -> Deployment {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    wait_for(
        &format!("Deployment {name} synced by Flux"),
        Duration::from_secs(180),
        || async { Ok(deployments.get_opt(name).await?) },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn flux_syncs_a_private_repository_over_ssh_and_rejects_an_unknown_key() {
    let bed = testbed::bed().await.unwrap();
    let git = bed.git().await.unwrap();
    let shoot = shoot_with_flux("ssh").await;
    let client = shoot.client().await.unwrap();
    git.create_repository_from("private-app", &app_files("podinfo-ssh"))
        .unwrap();

    let deploy_key = SshKeyPair::generate("flux-smoke").unwrap();
    git.authorize_key(&deploy_key.public_openssh).unwrap();
    let stranger = SshKeyPair::generate("not-authorized").unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), "flux-system");
    for (name, key) in [("flux-source", &deploy_key), ("stranger", &stranger)] {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "flux-system"},
            "stringData": {"identity": key.private_openssh, "identity.pub": key.public_openssh, "known_hosts": git.known_hosts()}
        }))
        .unwrap();
        secrets
            .patch(name, &PatchParams::apply(MANAGER), &Patch::Apply(&secret))
            .await
            .unwrap();
    }
    let url = git.ssh_url("private-app");
    git_repository(&client, "private", &url, Some("flux-source")).await;
    git_repository(&client, "unauthorized", &url, Some("stranger")).await;
    kustomization(&client, "private", "private").await;

    let deployment = wait_for_deployment(&client, "podinfo-ssh").await;
    let labels = deployment.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels
            .get("kustomize.toolkit.fluxcd.io/name")
            .map(String::as_str),
        Some("private")
    );

    let sources = dynamic_api(
        &client,
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        Some("flux-system"),
    )
    .await
    .unwrap();
    let source = sources.get("private").await.unwrap();
    assert_eq!(ready(&source).unwrap().0, "True");
    let revision = source.data["status"]["artifact"]["revision"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(revision.starts_with("main@sha1:"), "{revision}");

    let (status, message) = wait_for(
        "the unauthorized source to report a failure",
        Duration::from_secs(90),
        || async {
            let source = sources.get("unauthorized").await?;
            Ok(ready(&source).filter(|(status, _)| status == "False"))
        },
    )
    .await
    .unwrap();
    assert_eq!(status, "False");
    assert!(
        message.contains("unable to authenticate") || message.contains("auth"),
        "{message}"
    );
}

#[tokio::test]
async fn flux_syncs_a_public_repository_over_smart_http() {
    let bed = testbed::bed().await.unwrap();
    let git = bed.git().await.unwrap();
    let shoot = shoot_with_flux("http").await;
    let client = shoot.client().await.unwrap();
    let first = git
        .create_repository_from("public-app", &app_files("podinfo-http"))
        .unwrap();
    git_repository(&client, "public", &git.http_url("public-app"), None).await;
    kustomization(&client, "public", "public").await;
    wait_for_deployment(&client, "podinfo-http").await;

    // A new commit reaches the shoot too: the server really serves fetches, not a snapshot.
    let second = git
        .commit(
            "public-app",
            "main",
            &[("deploy/extra.yaml", Some(&app_files("podinfo-extra")[0].1))],
            "add extra",
        )
        .unwrap();
    assert_ne!(first, second);
    wait_for_deployment(&client, "podinfo-extra").await;
    assert!(
        git.http_requests()
            .iter()
            .any(|r| r.contains("git-upload-pack")),
        "{:?}",
        git.http_requests()
    );
}

/// The value of `variable` in the environment a running process was started with.
fn environment_of(pid: i32, variable: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|b| *b == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry
            .strip_prefix(&format!("{variable}="))
            .map(str::to_string)
    })
}

/// kustomize-controller removes every `kustomization-*` directory of its temporary directory when
/// it starts. Other beds' controllers build in such directories, so each controller must have a
/// temporary directory of its own, as each real Pod has.
#[tokio::test]
async fn each_flux_controller_has_a_temporary_directory_of_its_own() {
    let in_use = std::env::temp_dir().join(format!("kustomization-in-use-{}", std::process::id()));
    std::fs::create_dir_all(&in_use).unwrap();
    let shoot = shoot_with_flux("tmpdirs").await;
    let bed_dir = testbed::bed().await.unwrap().dir().to_path_buf();
    let flux = shoot.flux().unwrap();
    let mut seen = Vec::new();
    for process in [&flux.source_controller, &flux.kustomize_controller] {
        let tmp = environment_of(process.pid(), "TMPDIR")
            .unwrap_or_else(|| panic!("{} runs without TMPDIR", process.name()));
        let tmp = std::path::PathBuf::from(tmp);
        assert!(
            tmp.starts_with(&bed_dir) && tmp.is_dir(),
            "{}: TMPDIR {} is not a directory in the bed {}",
            process.name(),
            tmp.display(),
            bed_dir.display()
        );
        assert!(!seen.contains(&tmp), "{} shares its TMPDIR", process.name());
        seen.push(tmp);
    }
    assert!(
        in_use.is_dir(),
        "a build directory in the machine's temporary directory was removed"
    );
    std::fs::remove_dir_all(&in_use).unwrap();
}
