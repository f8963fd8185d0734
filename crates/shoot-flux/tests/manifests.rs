//! The Flux manifest store against the bed's release server (GitHub's layout and redirects on
//! loopback: downloads go through a second, signed asset host) and a local directory: one fetch
//! per version however many shoots ask, `latest` through the redirect and cached, changes of
//! `latest` counted, missing versions as configuration errors, components selected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use shoot_flux::manifests::ManifestStore;
use shoot_flux::manifests::fetch::Fetcher;
use shoot_flux::metrics::Metrics;
use shoot_flux_core::config::operator::ManifestSource;
use shoot_flux_core::flux::bundle::ManifestError;
use shoot_flux_core::flux::transform::InstallOptions;
use shoot_flux_core::fluxversion::{VersionRequest, parse_exact};
use testbed::releases::{AssetRequest, ReleaseServer};

fn options(components: Option<&[&str]>) -> InstallOptions {
    InstallOptions {
        namespace: "flux-system".into(),
        registry: None,
        components: components.map(|c| c.iter().map(|s| s.to_string()).collect()),
        components_extra: Vec::new(),
        ignore_updates: false,
        image_pull_secret: None,
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
    let from_asset_host: Vec<AssetRequest> = server
        .asset_requests()
        .into_iter()
        .filter(|r| r.asset == Some(format!("{}/install.yaml", versions.flux)))
        .collect();
    assert_eq!(from_asset_host.len(), 1, "{from_asset_host:?}");
    assert_eq!(from_asset_host[0].status, 200);
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

fn store(server: &ReleaseServer) -> ManifestStore {
    ManifestStore::new(
        ManifestSource::BaseUrl(server.base_url()),
        Duration::from_secs(30),
    )
    .unwrap()
}

/// The release host answers downloads as github.com does: a 302 to a second host with a signed,
/// expiring URL. A client that does not follow redirects (shoot-flux until this test existed)
/// gets no manifests from it; the store follows the redirect and both hosts see the download.
#[tokio::test]
async fn downloads_go_through_the_asset_host_as_on_github() {
    let versions = testbed::paths::versions().unwrap();
    let server = ReleaseServer::start(&versions.flux).unwrap();
    let base = server.base_url();
    let install = std::fs::read(
        testbed::paths::flux_release_dir(&versions.flux_previous)
            .unwrap()
            .join("install.yaml"),
    )
    .unwrap();

    // One GET without following, as the store did before: a redirect, not the manifests.
    let url = format!("{base}/download/{}/install.yaml", versions.flux_previous);
    let single = Fetcher::new(Duration::from_secs(30))
        .unwrap()
        .get(&url)
        .await
        .unwrap();
    assert_eq!(single.status, 302);
    assert!(single.body.is_empty());
    let location = single.location.unwrap();
    assert!(
        location.starts_with(&format!("{}/", server.asset_host_url())),
        "{location}"
    );
    assert!(!base.starts_with(&server.asset_host_url()));

    // The asset host: the signed URL works, a changed signature does not.
    let asset = testbed::plainhttp::get(&location).await.unwrap();
    assert_eq!(asset.status, 200);
    assert_eq!(
        asset.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(asset.body, install);
    let forged = location.replace("sig=", "sig=0");
    let refused = testbed::plainhttp::get(&forged).await.unwrap();
    assert_eq!(refused.status, 403);
    assert!(String::from_utf8_lossy(&refused.body).contains("AuthenticationFailed"));
    let unsigned = location.split('?').next().unwrap();
    assert_eq!(testbed::plainhttp::get(unsigned).await.unwrap().status, 403);

    // Unknown tags and files: 404 from the release host itself, no redirect.
    for missing in [
        "download/v9.9.9/install.yaml",
        "download/v2.9.5/components.txt",
    ] {
        let r = testbed::plainhttp::get(&format!("{base}/{missing}"))
            .await
            .unwrap();
        assert_eq!((r.status, r.header("location")), (404, None), "{missing}");
    }

    // latest/download: two hops, the second to the asset host.
    let r = testbed::plainhttp::get(&format!("{base}/latest/download/install.yaml"))
        .await
        .unwrap();
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some(format!("{base}/download/{}/install.yaml", versions.flux).as_str())
    );
    let followed = Fetcher::new(Duration::from_secs(30))
        .unwrap()
        .get_following(&format!("{base}/latest/download/manifests.tar.gz"))
        .await
        .unwrap();
    assert_eq!(followed.status, 200);
    assert_eq!(followed.hop.as_ref().map(|h| h.number), Some(2));
    assert!(followed.url.starts_with(&server.asset_host_url()));

    // The store follows the redirect; both hosts' logs show the download.
    let before = server.asset_requests().len();
    let version = parse_exact(&versions.flux_previous).unwrap();
    let release = store(&server).release(&version).await.unwrap();
    assert!(!release.docs.is_empty());
    let asset_log = server.asset_requests();
    assert_eq!(
        asset_log[before..],
        [AssetRequest {
            path: location
                .split('?')
                .next()
                .unwrap()
                .trim_start_matches(&server.asset_host_url())
                .to_string(),
            asset: Some(format!("{}/install.yaml", versions.flux_previous)),
            status: 200
        }]
    );
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.ends_with(&format!(
                "/download/{}/install.yaml",
                versions.flux_previous
            )))
            .count(),
        2,
        "the single GET above and the store's"
    );
}

/// A 404 on the release URL is a version that does not exist; a refusal after the redirect is
/// an outage of the asset host, and the error says which hop failed (without the signature).
#[tokio::test]
async fn a_refused_asset_url_is_an_outage_naming_the_hop() {
    let versions = testbed::paths::versions().unwrap();
    let server = ReleaseServer::start(&versions.flux).unwrap();
    server.set_url_lifetime(Duration::ZERO);
    let store = store(&server);
    let version = parse_exact(&versions.flux).unwrap();
    let err = store.release(&version).await.unwrap_err();
    let ManifestError::Unavailable(message) = &err else {
        panic!("{err}")
    };
    let first = format!(
        "{}/download/{}/install.yaml",
        server.base_url(),
        versions.flux
    );
    assert!(
        message.starts_with(&format!(
            "GET {}/github-production-release-asset/",
            server.asset_host_url()
        )),
        "{message}"
    );
    assert!(
        message.ends_with(&format!(
            "?… (redirect 1 of ≤5, from {first}): answered 403"
        )),
        "{message}"
    );
    assert!(!message.contains("sig="), "{message}");
    assert_eq!(server.asset_requests().last().unwrap().status, 403);

    // Links valid again: the same store now gets the release (a failure is not cached).
    server.set_url_lifetime(Duration::from_secs(300));
    assert!(store.release(&version).await.is_ok());
    assert!(matches!(
        store.release(&parse_exact("v9.9.9").unwrap()).await,
        Err(ManifestError::NotFound { location, .. }) if location.ends_with("/download/v9.9.9/install.yaml")
    ));
}

/// `latest` is read from the redirect of `<base>/latest` (not followed to the tag page), and
/// every change of the release it names is counted once.
#[tokio::test]
async fn a_change_of_latest_is_counted() {
    let versions = testbed::paths::versions().unwrap();
    let server = ReleaseServer::start(&versions.flux_previous).unwrap();
    let metrics = Arc::new(Metrics::default());
    let store = store(&server)
        .with_latest_refresh(Duration::ZERO)
        .with_metrics(metrics.clone());
    let previous = parse_exact(&versions.flux_previous).unwrap();
    let newest = parse_exact(&versions.flux).unwrap();
    assert_eq!(
        store.resolve(&VersionRequest::Latest).await.unwrap(),
        previous
    );
    assert_eq!(
        store.resolve(&VersionRequest::Latest).await.unwrap(),
        previous
    );
    assert!(!metrics.encode().contains("flux_latest_changes_total{"));
    server.set_latest(&versions.flux).unwrap();
    assert_eq!(
        store.resolve(&VersionRequest::Latest).await.unwrap(),
        newest
    );
    assert_eq!(
        store.resolve(&VersionRequest::Latest).await.unwrap(),
        newest
    );
    let text = metrics.encode();
    let series = format!(
        "shoot_flux_flux_latest_changes_total{{from=\"{}\",to=\"{}\"}} 1",
        versions.flux_previous, versions.flux
    );
    assert!(text.contains(&series), "{text}");
    assert!(
        !server.requests().iter().any(|r| r.contains("/tag/")),
        "the tag page is never fetched: {:?}",
        server.requests()
    );
}

/// The download deadline covers the whole redirect chain: six answers of a second each (five
/// redirects, the most followed) do not fit a 3 s deadline, although each of them alone would;
/// the error names the hop it reached.
#[tokio::test]
async fn one_deadline_covers_the_whole_redirect_chain() {
    let server = testbed::httpserve::HttpServer::start(|req| async move {
        let hop: usize = req
            .uri()
            .path()
            .trim_start_matches("/hop/")
            .parse()
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_secs(1)).await;
        if hop >= 5 {
            return testbed::httpserve::response(200, "done");
        }
        let mut r = testbed::httpserve::response(302, "");
        r.headers_mut().insert(
            hyper::header::LOCATION,
            hyper::header::HeaderValue::from_str(&format!("/hop/{}", hop + 1)).unwrap(),
        );
        r
    })
    .unwrap();
    let fetcher = Fetcher::new(Duration::from_secs(3)).unwrap();
    let err = fetcher
        .get_following(&format!("{}/hop/0", server.url()))
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("timed out after 3s"), "{message}");
    assert!(message.contains("(redirect "), "{message}");
}
