//! `gardener-extension-shoot-flux render` from files: the example Shoot's objects with Flux from
//! a local manifest directory, the sync objects alone when no manifests are at hand, and every
//! problem with its path (exit code 1) for invalid input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use testbed::ShootSpec;
use testbed::kubeutil::parse_documents;

fn example(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../example")
        .join(name);
    let docs = parse_documents(&std::fs::read_to_string(path).unwrap()).unwrap();
    docs.into_iter().next().unwrap()
}

/// A Cluster for the example Shoot (its `spec.resources` as gardenlet sees them).
fn cluster(shoot: &Value) -> Value {
    let spec = ShootSpec::new("dev", "app");
    let mut shoot_json = spec.shoot_json();
    shoot_json["spec"]["resources"] = shoot["spec"]["resources"].clone();
    json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Cluster",
        "metadata": {"name": spec.technical_id()},
        "spec": {"shoot": shoot_json, "seed": spec.seed_json(), "cloudProfile": spec.cloud_profile_json()}
    })
}

fn extension(provider_config: Option<&Value>) -> Value {
    let mut ext = json!({
        "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
        "metadata": {"name": "shoot-flux", "namespace": "shoot--dev--app"},
        "spec": {"type": "shoot-flux"}
    });
    if let Some(config) = provider_config {
        ext["spec"]["providerConfig"] = config.clone();
    }
    ext
}

struct Files(tempfile::TempDir);

impl Files {
    fn new() -> Self {
        Self(tempfile::tempdir().unwrap())
    }

    fn write(&self, name: &str, value: &Value) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
        path
    }

    fn write_text(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

fn render(args: &[&Path]) -> (i32, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"));
    command.arg("render");
    let flags = ["--cluster", "--extension", "--project-config", "--config"];
    for (flag, path) in flags.iter().zip(args) {
        if !path.as_os_str().is_empty() {
            command.arg(flag).arg(path);
        }
    }
    let out = command.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn the_example_shoot_renders_with_flux_from_a_local_directory() {
    let versions = testbed::paths::versions().unwrap();
    let releases = testbed::paths::flux_release_dir(&versions.flux)
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let shoot = example("shoot-gitrepository.yaml");
    let files = Files::new();
    let cluster = files.write("cluster.yaml", &cluster(&shoot));
    let ext = files.write(
        "extension.yaml",
        &extension(Some(&shoot["spec"]["extensions"][0]["providerConfig"])),
    );
    let config = files.write_text(
        "config.yaml",
        &format!(
            "kind: OperatorConfiguration\nflux:\n  manifests:\n    directory: {}\n",
            releases.display()
        ),
    );
    let (code, stdout, stderr) = render(&[&cluster, &ext, Path::new(""), &config]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("install manifests included"), "{stderr}");
    let docs = parse_documents(&stdout).unwrap();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
            .clone()
    };
    find("Deployment", "source-controller");
    let repo = find("GitRepository", "flux-system");
    assert_eq!(repo["spec"]["secretRef"]["name"], "flux-system");
    assert_eq!(repo["spec"]["interval"], "1m");
    let ks = find("Kustomization", "flux-system");
    assert_eq!(ks["spec"]["path"], "./clusters/app");
    // Secrets from Shoot.spec.resources are placeholders, never data.
    let secret = find("Secret", "flux-system");
    assert!(
        secret["data"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.starts_with('<'))
    );
    find("Secret", "sops-age");
    find("ConfigMap", "shoot-info");
}

#[test]
fn without_manifests_the_sync_objects_still_render() {
    let files = Files::new();
    let shoot = example("shoot-ocirepository.yaml");
    let cluster = files.write("cluster.yaml", &cluster(&shoot));
    let ext = files.write(
        "extension.yaml",
        &extension(Some(&shoot["spec"]["extensions"][0]["providerConfig"])),
    );
    let config = files.write_text(
        "config.yaml",
        "kind: OperatorConfiguration\nflux:\n  manifests:\n    directory: /nonexistent/flux-releases\n",
    );
    let project = files.write_text(
        "flux-config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flux-config\n  namespace: garden-dev\ndata:\n  repositoryUrl: https://git.example.com/fleet.git\n",
    );
    let (code, stdout, stderr) = render(&[&cluster, &ext, &project, &config]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("install part was left out"), "{stderr}");
    let docs = parse_documents(&stdout).unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    // The shoot's OCIRepository replaces the project's GitRepository whole; shoot-flux's own
    // read access to the shoot follows.
    assert_eq!(
        kinds,
        [
            "OCIRepository",
            "Kustomization",
            "ConfigMap",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding"
        ]
    );
    assert_eq!(docs[0]["metadata"]["name"], "platform");
    assert_eq!(docs[1]["spec"]["sourceRef"]["name"], "platform");
}

#[test]
fn invalid_input_reports_every_path_with_exit_code_1() {
    let files = Files::new();
    let cluster = files.write("cluster.yaml", &cluster(&json!({"spec": {}})));
    let ext = files.write(
        "extension.yaml",
        &extension(Some(&json!({
            "apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig",
            "flux": {"namespace": "Bad_NS"},
            "source": {"template": {"apiVersion": "source.toolkit.fluxcd.io/v1beta2", "kind": "GitRepository",
                "spec": {"url": "https://git.example.com/fleet.git"}}},
            "kustomization": {"template": {"spec": {}}}
        }))),
    );
    let (code, stdout, stderr) = render(&[&cluster, &ext, Path::new(""), Path::new("")]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    for path in [
        "providerConfig.flux.namespace",
        "providerConfig.source.template.apiVersion",
        "providerConfig.source.template.spec.ref",
        "providerConfig.kustomization.template.spec.path",
    ] {
        assert!(stderr.contains(path), "{path} missing in:\n{stderr}");
    }
    let (code, _, stderr) = render(&[
        Path::new("/nonexistent/cluster.yaml"),
        &ext,
        Path::new(""),
        Path::new(""),
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("/nonexistent/cluster.yaml"), "{stderr}");
}

/// An operator configuration with a mirror and its credentials file (which exists only in the
/// seed) renders the Secret `shoot-flux-image-pull` with a placeholder and the controllers'
/// `imagePullSecrets`, without reading the file.
#[test]
fn the_operators_image_pull_secret_renders_as_a_placeholder() {
    let versions = testbed::paths::versions().unwrap();
    let releases = testbed::paths::flux_release_dir(&versions.flux)
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let files = Files::new();
    let cluster = files.write("cluster.yaml", &cluster(&json!({"spec": {}})));
    let ext = files.write("extension.yaml", &extension(None));
    let config = files.write_text(
        "config.yaml",
        &format!(
            "kind: OperatorConfiguration\nflux:\n  registry: mirror.example.com/fluxcd\n  imagePullSecretFile: /only/in/the/seed/.dockerconfigjson\n  manifests:\n    directory: {}\n",
            releases.display()
        ),
    );
    let (code, stdout, stderr) = render(&[&cluster, &ext, Path::new(""), &config]);
    assert_eq!(code, 0, "{stderr}");
    let docs = parse_documents(&stdout).unwrap();
    let secret = docs
        .iter()
        .find(|d| d["kind"] == "Secret" && d["metadata"]["name"] == "shoot-flux-image-pull")
        .expect("the operator's image pull Secret");
    assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
    let deployments: Vec<&Value> = docs.iter().filter(|d| d["kind"] == "Deployment").collect();
    assert!(!deployments.is_empty());
    for d in deployments {
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(
            pod["imagePullSecrets"],
            json!([{"name": "shoot-flux-image-pull"}]),
            "{}",
            d["metadata"]["name"]
        );
        assert!(
            pod["containers"][0]["image"]
                .as_str()
                .unwrap()
                .starts_with("mirror.example.com/fluxcd/")
        );
    }
}
