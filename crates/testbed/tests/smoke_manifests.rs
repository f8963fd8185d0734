//! The Flux release assets are real: both prepared flux2 tags' `install.yaml` are served in
//! GitHub's layout (downloads through a 302 to the asset host, and the `latest` redirects) and
//! apply cleanly to a fresh shoot API server, and each `manifests.tar.gz` holds every component
//! the tag names, the extras included.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Read;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use testbed::kubeutil::{apply_documents, parse_documents};
use testbed::paths;
use testbed::{ShootSpec, plainhttp};

/// The components flux2 `tag` names in its `manifests/bases`, from the Go module cache.
fn components_of(tag: &str) -> BTreeSet<String> {
    let bases = paths::cache_dir().join(format!(
        "go/mod/github.com/fluxcd/flux2/v2@{tag}/manifests/bases"
    ));
    std::fs::read_dir(&bases)
        .unwrap_or_else(|e| panic!("{}: {e}", bases.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn images(docs: &[serde_json::Value]) -> BTreeSet<String> {
    docs.iter()
        .filter(|d| d["kind"] == "Deployment")
        .flat_map(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c["image"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn both_tags_are_served_and_install_yaml_applies_to_a_fresh_shoot() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = paths::versions().unwrap();
    let releases = bed.releases().await.unwrap();
    let base = releases.base_url();

    let latest = plainhttp::get(&format!("{base}/latest")).await.unwrap();
    assert_eq!(latest.status, 302);
    assert!(
        latest
            .header("location")
            .unwrap()
            .ends_with(&format!("/releases/tag/{}", versions.flux))
    );
    let latest_file = plainhttp::get(&format!("{base}/latest/download/install.yaml"))
        .await
        .unwrap();
    assert_eq!(latest_file.status, 302);
    assert!(latest_file.header("location").unwrap().ends_with(&format!(
        "/releases/download/{}/install.yaml",
        versions.flux
    )));
    assert_eq!(
        plainhttp::get(&format!("{base}/download/v0.0.1/install.yaml"))
            .await
            .unwrap()
            .status,
        404
    );

    for tag in [&versions.flux_previous, &versions.flux] {
        let response = download(releases, &format!("{base}/download/{tag}/install.yaml")).await;
        let text = String::from_utf8(response.body).unwrap();
        assert!(text.contains(&format!("# Flux Version: {tag}")));
        let docs = parse_documents(&text).unwrap();
        let images = images(&docs);
        let expected: BTreeSet<String> = [
            "source-controller",
            "kustomize-controller",
            "helm-controller",
            "notification-controller",
        ]
        .iter()
        .map(|c| c.to_string())
        .collect();
        let names: BTreeSet<String> = images
            .iter()
            .map(|i| {
                i.rsplit('/')
                    .next()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            names, expected,
            "install.yaml of {tag} holds the default controllers"
        );
        assert!(
            images.iter().all(|i| i.starts_with("ghcr.io/fluxcd/")),
            "{images:?}"
        );
        if tag == &versions.flux {
            assert!(images.contains(&format!(
                "ghcr.io/fluxcd/source-controller:{}",
                versions.source_controller
            )));
            assert!(images.contains(&format!(
                "ghcr.io/fluxcd/kustomize-controller:{}",
                versions.kustomize_controller
            )));
        }

        let shoot = bed
            .new_shoot(ShootSpec::new("manifests", &tag.replace('.', "-")))
            .await
            .unwrap();
        let client = shoot.client().await.unwrap();
        let applied = apply_documents(&client, &docs, "smoke-test").await.unwrap();
        assert_eq!(applied, docs.len());
        let deployments: Api<Deployment> = Api::namespaced(client, "flux-system");
        assert_eq!(
            deployments
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
            4,
            "{tag}"
        );
    }
}

#[tokio::test]
async fn manifests_tarball_holds_every_component_of_each_tag() {
    let bed = testbed::bed().await.unwrap();
    let versions = paths::versions().unwrap();
    let releases = bed.releases().await.unwrap();
    for tag in [&versions.flux_previous, &versions.flux] {
        let response = download(
            releases,
            &format!("{}/download/{tag}/manifests.tar.gz", releases.base_url()),
        )
        .await;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(response.body.as_slice()));
        let mut files = BTreeSet::new();
        let mut all_images = BTreeSet::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().to_string_lossy().into_owned();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            let docs = parse_documents(&text).unwrap();
            assert!(!docs.is_empty(), "{name} in {tag} is empty");
            all_images.extend(images(&docs));
            files.insert(name);
        }
        let mut expected: BTreeSet<String> = components_of(tag)
            .into_iter()
            .map(|c| format!("{c}.yaml"))
            .collect();
        expected.insert("rbac.yaml".into());
        expected.insert("policies.yaml".into());
        assert_eq!(files, expected, "manifests.tar.gz of {tag}");
        assert!(
            files.contains("image-reflector-controller.yaml")
                && files.contains("image-automation-controller.yaml")
        );
        assert!(
            all_images
                .iter()
                .any(|i| i.contains("image-automation-controller:")),
            "{all_images:?}"
        );
    }
}

/// A release download as GitHub serves it: a 302 from the release host to the asset host, whose
/// answer (200) holds the bytes.
async fn download(releases: &testbed::releases::ReleaseServer, url: &str) -> plainhttp::Response {
    let redirect = plainhttp::get(url).await.unwrap();
    assert_eq!(redirect.status, 302, "{url}");
    let location = redirect.header("location").unwrap().to_string();
    assert!(
        location.starts_with(&releases.asset_host_url()),
        "{url} redirects to {location}, not to the asset host"
    );
    let response = plainhttp::get(&location).await.unwrap();
    assert_eq!(response.status, 200, "{location}");
    response
}
