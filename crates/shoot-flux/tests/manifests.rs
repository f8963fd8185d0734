//! The Flux manifest store against the bed's release asset server (GitHub's layout on loopback)
//! and a local directory: one fetch per version however many shoots ask, `latest` through the
//! redirect and cached, missing versions as configuration errors, components selected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use shoot_flux::config::operator::ManifestSource;
use shoot_flux::config::version::{VersionRequest, parse_exact};
use shoot_flux::flux::manifests::{ManifestError, ManifestStore};
use shoot_flux::flux::transform::InstallOptions;
use testbed::releases::ReleaseServer;

fn options(components: Option<&[&str]>) -> InstallOptions {
    InstallOptions {
        namespace: "flux-system".into(),
        registry: None,
        components: components.map(|c| c.iter().map(|s| s.to_string()).collect()),
        components_extra: Vec::new(),
        ignore_updates: false,
    }
}

#[tokio::test]
async fn one_fetch_per_version_latest_via_redirect_and_missing_versions() {
    let versions = testbed::paths::versions().unwrap();
    let server = ReleaseServer::start(&versions.flux).unwrap();
    let store = ManifestStore::new(
        ManifestSource::BaseUrl(server.base_url()),
        Duration::from_secs(10),
    )
    .unwrap();
    let newest = parse_exact(&versions.flux).unwrap();

    // Many shoots at once, several option sets: one download.
    let calls = (0..8).map(|i| {
        let store = &store;
        let newest = &newest;
        async move {
            let components: Option<&[&str]> = if i % 2 == 0 {
                None
            } else {
                Some(&["source-controller", "kustomize-controller"])
            };
            store
                .install_bundle(newest, &options(components))
                .await
                .unwrap()
        }
    });
    let bundles = futures::future::join_all(calls).await;
    let downloads = server
        .requests()
        .iter()
        .filter(|r| r.ends_with(&format!("/download/{}/install.yaml", versions.flux)))
        .count();
    assert_eq!(downloads, 1, "{:?}", server.requests());
    assert!(
        std::sync::Arc::ptr_eq(&bundles[0], &bundles[2]),
        "the same bundle is shared"
    );
    assert_eq!(bundles[0].images.len(), 4);
    let mut selected = bundles[1].images.clone();
    selected.sort();
    assert_eq!(
        selected,
        [
            format!(
                "ghcr.io/fluxcd/kustomize-controller:{}",
                versions.kustomize_controller
            ),
            format!(
                "ghcr.io/fluxcd/source-controller:{}",
                versions.source_controller
            ),
        ]
    );
    assert!(
        !bundles[1]
            .yaml
            .contains("helmreleases.helm.toolkit.fluxcd.io"),
        "helm-controller's CRDs go with it"
    );

    // latest resolves through the redirect, once.
    assert_eq!(
        store.resolve(&VersionRequest::Latest).await.unwrap(),
        newest
    );
    assert_eq!(
        store.resolve(&VersionRequest::Latest).await.unwrap(),
        newest
    );
    let latest_requests = server
        .requests()
        .iter()
        .filter(|r| r.ends_with("/releases/latest"))
        .count();
    assert_eq!(latest_requests, 1);
    assert!(
        server
            .requests()
            .iter()
            .all(|r| !r.contains("api.github.com"))
    );

    // A version that does not exist is a configuration problem, not an outage.
    let missing = parse_exact("v9.9.9").unwrap();
    assert!(matches!(
        store.release(&missing).await,
        Err(ManifestError::NotFound { .. })
    ));
}

#[tokio::test]
async fn a_local_directory_serves_air_gapped_seeds() {
    let versions = testbed::paths::versions().unwrap();
    let dir = testbed::paths::cached_file("flux-releases", "flux-assets").unwrap();
    let store = ManifestStore::new(
        ManifestSource::Directory(dir.display().to_string()),
        Duration::from_secs(10),
    )
    .unwrap();
    let latest = store.resolve(&VersionRequest::Latest).await.unwrap();
    assert_eq!(latest.tag(), versions.flux, "the newest <tag>/install.yaml");
    let previous = parse_exact(&versions.flux_previous).unwrap();
    let bundle = store
        .install_bundle(&previous, &options(None))
        .await
        .unwrap();
    assert!(
        bundle
            .images
            .iter()
            .any(|i| i.starts_with("ghcr.io/fluxcd/source-controller:"))
    );
    assert!(matches!(
        store.release(&parse_exact("v2.0.0").unwrap()).await,
        Err(ManifestError::NotFound { .. })
    ));
}

#[tokio::test]
async fn an_unreachable_source_is_an_outage_with_the_reason() {
    let port = testbed::ports::free_port().unwrap();
    let store = ManifestStore::new(
        ManifestSource::BaseUrl(format!("http://127.0.0.1:{port}/fluxcd/flux2/releases")),
        Duration::from_secs(2),
    )
    .unwrap();
    let err = store
        .release(&parse_exact("v2.9.5").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, ManifestError::Unavailable(_)), "{err}");
    assert!(err.to_string().contains(&port.to_string()), "{err}");
}

/// `componentsExtra` come from the release's manifests.tar.gz (fetched once, only when asked
/// for), namespaced like install.yaml, kept by the component filter, and Bootstrap marks
/// everything for GRM to create once.
#[tokio::test]
async fn extra_components_come_from_the_release_tarball() {
    let versions = testbed::paths::versions().unwrap();
    let server = ReleaseServer::start(&versions.flux).unwrap();
    let store = ManifestStore::new(
        ManifestSource::BaseUrl(server.base_url()),
        Duration::from_secs(10),
    )
    .unwrap();
    let version = parse_exact(&versions.flux).unwrap();
    store
        .install_bundle(&version, &options(None))
        .await
        .unwrap();
    let tarball = format!("/download/{}/manifests.tar.gz", versions.flux);
    assert!(!server.requests().iter().any(|r| r.ends_with(&tarball)));

    let mut with_extras = options(Some(&["source-controller", "kustomize-controller"]));
    with_extras.namespace = "gitops".into();
    with_extras.components_extra = vec![
        "image-automation-controller".into(),
        "image-reflector-controller".into(),
    ];
    with_extras.ignore_updates = true;
    let bundle = store.install_bundle(&version, &with_extras).await.unwrap();
    store.install_bundle(&version, &with_extras).await.unwrap();
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.ends_with(&tarball))
            .count(),
        1
    );
    let docs = testbed::kubeutil::parse_documents(&bundle.yaml).unwrap();
    let deployments: Vec<(&str, &str)> = docs
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .map(|d| {
            (
                d["metadata"]["name"].as_str().unwrap(),
                d["metadata"]["namespace"].as_str().unwrap(),
            )
        })
        .collect();
    let mut names: Vec<&str> = deployments.iter().map(|(n, _)| *n).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "image-automation-controller",
            "image-reflector-controller",
            "kustomize-controller",
            "source-controller"
        ]
    );
    assert!(deployments.iter().all(|(_, ns)| *ns == "gitops"));
    assert!(docs.iter().any(|d| d["kind"] == "CustomResourceDefinition"
        && d["metadata"]["name"] == "imagepolicies.image.toolkit.fluxcd.io"));
    assert!(
        docs.iter()
            .all(|d| d["metadata"]["annotations"]["resources.gardener.cloud/ignore"] == "true")
    );

    let mut unknown = options(None);
    unknown.components_extra = vec!["no-such-controller".into()];
    let err = store.install_bundle(&version, &unknown).await.unwrap_err();
    assert!(matches!(err, ManifestError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("no-such-controller.yaml"), "{err}");
}
