//! `render` prints what the controller writes. For the same inputs (the Cluster and Extension the
//! controller read from the seed, the project's ConfigMap from the garden, the operator
//! configuration it runs with), the objects inside the ManagedResource secrets the controller
//! wrote equal the objects `render` prints, object by object. Secret material is the exception:
//! `render` reads no cluster and prints placeholders for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use serde_json::{Value, json};
use shoot_flux_core::managedresource::{ACCESS_NAME, CONFIG_NAME, INSTALL_NAME};
use testbed::gardenlet;
use testbed::kubeutil::parse_documents;

use common::*;

const API: &str = "flux.extensions.gardener.cloud/v1alpha1";

/// An object's identity in a ManagedResource.
fn key(object: &Value) -> String {
    format!(
        "{} {} {}/{}",
        object["apiVersion"].as_str().unwrap_or_default(),
        object["kind"].as_str().unwrap_or_default(),
        object["metadata"]["namespace"].as_str().unwrap_or_default(),
        object["metadata"]["name"].as_str().unwrap_or_default()
    )
}

/// Objects by identity; of a Secret, what comes from secret material `render` does not read
/// (its values, which keys it has, the type of a copied seed Secret) is left out, the rest is
/// compared whole.
fn comparable(objects: Vec<Value>) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for mut object in objects {
        if object["kind"] == "Secret"
            && let Some(map) = object.as_object_mut()
        {
            map.remove("data");
            map.remove("stringData");
            map.remove("type");
        }
        let previous = out.insert(key(&object), object);
        assert!(previous.is_none(), "an object twice: {previous:?}");
    }
    out
}

/// The objects inside the shoot's ManagedResources, as the controller wrote them to the seed.
async fn written(bed: &testbed::Bed, namespace: &str) -> Vec<Value> {
    let seed = bed.seed().client().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(seed, namespace);
    let mrs = mr_api(bed, namespace).await;
    let mut objects = Vec::new();
    for name in [INSTALL_NAME, CONFIG_NAME, ACCESS_NAME] {
        let mr = serde_json::to_value(mrs.get(name).await.unwrap()).unwrap();
        let refs = mr["spec"]["secretRefs"].as_array().unwrap();
        assert!(!refs.is_empty(), "{name} references no secret");
        for reference in refs {
            let secret = secrets
                .get(reference["name"].as_str().unwrap())
                .await
                .unwrap();
            for (data_key, value) in secret.data.unwrap() {
                let yaml = testbed::managedresource::brotli_decompress(&value.0)
                    .unwrap_or_else(|e| panic!("{name} secret key {data_key}: {e}"));
                objects.extend(parse_documents(&String::from_utf8(yaml).unwrap()).unwrap());
            }
        }
    }
    objects
}

/// What `render` prints for the inputs the controller had.
async fn rendered(
    bed: &testbed::Bed,
    namespace: &str,
    project_namespace: &str,
    config: &Path,
) -> Vec<Value> {
    let cluster = cluster(bed, namespace).await;
    let extension = extension_api(bed, namespace)
        .await
        .get("shoot-flux")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, value: &Value| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_string(value).unwrap()).unwrap();
        path
    };
    let cluster_file = write("cluster.yaml", &cluster);
    let extension_file = write("extension.yaml", &serde_json::to_value(extension).unwrap());
    let garden_cms: Api<ConfigMap> =
        Api::namespaced(bed.garden().client().await.unwrap(), project_namespace);
    let mut command = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"));
    command
        .arg("render")
        .arg("--cluster")
        .arg(&cluster_file)
        .arg("--extension")
        .arg(&extension_file)
        .arg("--config")
        .arg(config);
    if let Some(cm) = garden_cms.get_opt("flux-config").await.unwrap() {
        let project_file = write("flux-config.yaml", &serde_json::to_value(cm).unwrap());
        command.arg("--project-config").arg(project_file);
    }
    let out = tokio::task::spawn_blocking(move || command.output().unwrap())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "render failed: {stderr}");
    assert!(stderr.contains("install manifests included"), "{stderr}");
    parse_documents(&String::from_utf8(out.stdout).unwrap()).unwrap()
}

/// The shoot's Cluster as the seed holds it.
async fn cluster(bed: &testbed::Bed, name: &str) -> Value {
    let seed = bed.seed().client().await.unwrap();
    let api: Api<kube::api::DynamicObject> =
        Api::all_with(seed, &shoot_flux::apiresources::cluster_resource());
    serde_json::to_value(api.get(name).await.unwrap()).unwrap()
}

fn assert_same(case: &str, written: Vec<Value>, rendered: Vec<Value>) {
    let (written, rendered) = (comparable(written), comparable(rendered));
    let written_keys: BTreeSet<_> = written.keys().collect();
    let rendered_keys: BTreeSet<_> = rendered.keys().collect();
    assert_eq!(
        written_keys, rendered_keys,
        "{case}: the controller wrote (left) other objects than render printed (right)"
    );
    for (key, object) in &written {
        assert_eq!(
            object, &rendered[key],
            "{case}: {key} differs between the controller (left) and render (right)"
        );
    }
    println!("{case}: {} objects equal", written.len());
}

#[tokio::test]
async fn render_prints_what_the_controller_writes() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    git.create_repository("render-fleet", &[("README.md", "render\n")])
        .unwrap();

    // The seed's ConfigMap model: a public project repository.
    let configmap = spec("render-cm", "app");
    set_project_config(
        bed,
        "render-cm",
        &[
            ("repositoryUrl", "https://git.example.com/org/fleet.git"),
            ("repositoryBranch", "develop"),
            (
                "fluxVersion",
                testbed::paths::versions().unwrap().flux.as_str(),
            ),
        ],
    )
    .await;
    // A private project repository: the project's deploy key.
    let private = spec("render-key", "app");
    set_project_config(
        bed,
        "render-key",
        &[
            ("repositoryUrl", &git.ssh_url("render-fleet")),
            ("repositoryType", "private"),
        ],
    )
    .await;
    // stackit's Git providerConfig with credentials and an extra Secret from Shoot.spec.resources.
    let mut stackit_git = spec("render-git", "app");
    stackit_git.resources = vec![
        (
            "fleet-credentials".into(),
            BTreeMap::from([
                ("username".to_string(), "bot".to_string()),
                ("password".to_string(), "secret-value".to_string()),
            ]),
        ),
        (
            "sops-age".into(),
            BTreeMap::from([("age.agekey".to_string(), "AGE-SECRET-KEY-1".to_string())]),
        ),
    ];
    stackit_git.provider_config = Some(json!({
        "apiVersion": API, "kind": "FluxConfig",
        "source": {
            "template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "spec": {"url": "https://git.example.com/platform/fleet.git", "ref": {"branch": "main"}}},
            "secretResourceName": "fleet-credentials"
        },
        "kustomization": {"template": {"spec": {
            "path": "./clusters/app", "prune": true,
            "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
            "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "shoot-info"}]}
        }}},
        "additionalSecretResources": [{"name": "sops-age"}]
    }));
    // An OCI providerConfig, Managed, in its own Flux namespace.
    let mut oci = spec("render-oci", "app");
    oci.provider_config = Some(json!({
        "apiVersion": API, "kind": "FluxConfig",
        "managementMode": "Managed",
        "flux": {"namespace": "gitops"},
        "source": {"template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "platform"},
            "spec": {"url": "oci://registry.example.com/org/manifests", "ref": {"semver": ">=1.0.0"}}}},
        "kustomization": {"template": {"spec": {"path": "./", "targetNamespace": "apps"}}}
    }));
    let cases = [
        ("project ConfigMap", configmap),
        ("private project repository", private),
        ("stackit Git providerConfig", stackit_git),
        ("OCI providerConfig", oci),
    ];

    let seed = bed.seed().client().await.unwrap();
    for (_, s) in &cases {
        gardenlet::apply_shoot_objects(&seed, s, None)
            .await
            .unwrap();
    }
    let garden_kubeconfig = bed.garden().kubeconfig_path().to_path_buf();
    let name = "shoot-flux-render";
    let _extension = start_extension_as(bed, name, &[], Some(&garden_kubeconfig)).await;
    let config = bed.dir().join(format!("{name}-operator-config.yaml"));
    for (_, s) in &cases {
        gardenlet::apply_extension(&seed, s).await.unwrap();
    }
    for (_, s) in &cases {
        wait_ready(bed, &s.technical_id(), Duration::from_secs(180)).await;
    }
    for (case, s) in &cases {
        let namespace = s.technical_id();
        let written = written(bed, &namespace).await;
        let rendered = rendered(bed, &namespace, &s.project_namespace(), &config).await;
        assert!(
            written
                .iter()
                .any(|o| o["kind"] == "CustomResourceDefinition"),
            "{case}: no install objects written"
        );
        assert_same(case, written, rendered);
    }
}
