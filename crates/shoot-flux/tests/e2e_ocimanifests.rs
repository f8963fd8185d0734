//! Flux for seeds without internet access, on the bed's real registry (the distribution
//! registry, TLS from the bed's CA, htpasswd basic auth):
//!
//! - `flux.manifests.oci`: Flux's release artifact, made as Flux's release workflow makes
//!   `ghcr.io/fluxcd/flux-manifests:<tag>` (`flux install --export` with the image automation
//!   components, pushed by the real flux CLI's `flux push artifact`), reaches a shoot with no
//!   release server anywhere in the operator configuration: pulled with the credentials of a
//!   `.dockerconfigjson` file, the registry trusted through a CA file, pinned by digest; extra
//!   components and the image registry rewrite work on it. Wrong or missing credentials, an
//!   untrusted registry, a digest that does not match and an unknown version fail by name,
//!   without the password.
//! - The same with a registry that wants Bearer tokens (Docker's token authentication, as
//!   ghcr.io and Docker Hub use it; the bed's token service stand-in signs them, the registry
//!   checks them): `mirror` pushes and the store reads through it. (The flux CLI cannot take
//!   part: it refuses a token realm on a loopback address.)
//! - `mirror`: the command copies a release from the release server (GitHub's redirects to a
//!   signed asset host) into a directory and into the registry; the three sources give the same
//!   install bundles, the flux CLI reads the pushed artifact, and the extension installs from the
//!   directory and from the registry once the release server is gone.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::{Value, json};
use shoot_flux::manifests::ManifestStore;
use shoot_flux_core::config::operator::ManifestSource;
use shoot_flux_core::flux::bundle::ManifestError;
use shoot_flux_core::flux::ociartifact::{ArtifactRepository, OciManifestSource};
use shoot_flux_core::flux::transform::InstallOptions;
use shoot_flux_core::fluxversion::parse_exact;
use testbed::gardenlet;
use testbed::kubeutil::wait_for;
use testbed::registry::{BasicAuth, Registry, RegistryOptions};
use testbed::registrytoken::TokenService;
use testbed::releases::ReleaseServer;

use common::*;

const API: &str = "flux.extensions.gardener.cloud/v1alpha1";
const PASSWORD: &str = "manifests-pw-correct-horse";
/// The user of the token service (registries with token authentication).
const TOKEN_USER: &str = "flux-token-user";

/// Runs the bed's flux CLI with `args`; its traffic stays on loopback (the proxy variables point
/// at a closed port) and it trusts the bed's CA through `SSL_CERT_FILE`. Returns stdout.
async fn flux(args: Vec<String>, home_name: &str) -> String {
    let bed = testbed::bed().await.unwrap();
    let closed = format!("http://127.0.0.1:{}", testbed::ports::free_port().unwrap());
    let home = bed.dir().join(home_name);
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(testbed::paths::flux_cli().unwrap());
    command
        .args(&args)
        .env("SSL_CERT_FILE", &bed.pki().ca_file)
        .env("HOME", &home)
        .env("HTTPS_PROXY", &closed)
        .env("HTTP_PROXY", &closed)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("KUBECONFIG");
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "flux {} exited {}\n{stderr}",
        args.first().cloned().unwrap_or_default(),
        out.status
    );
    stdout
}

/// Makes Flux `tag`'s release artifact as Flux's release workflow does: `flux install --export`
/// with the image automation components into `flux-system/gotk-components.yaml`, pushed with
/// `flux push artifact` to `<registry>/<path>:<tag>`. Returns the manifest digest.
async fn push_release_as_flux_does(registry: &Registry, path: &str, tag: &str) -> String {
    let bed = testbed::bed().await.unwrap();
    let dir = bed
        .dir()
        .join(format!("{}-release-{tag}/flux-system", registry.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let components = flux(
        [
            "install",
            "--export",
            "--components-extra=image-reflector-controller,image-automation-controller",
            "--registry=ghcr.io/fluxcd",
        ]
        .map(String::from)
        .to_vec(),
        "flux-home-export",
    )
    .await;
    std::fs::write(dir.join("gotk-components.yaml"), components).unwrap();
    let auth = registry.basic_auth().unwrap();
    let pushed = flux(
        vec![
            "push".into(),
            "artifact".into(),
            format!("oci://{}/{path}:{tag}", registry.host()),
            format!("--path={}", dir.display()),
            "--source=https://github.com/fluxcd/flux2".into(),
            format!("--revision={tag}@sha1:0000000000000000000000000000000000000000"),
            format!("--creds={}:{}", auth.user, auth.password),
            "--output=json".into(),
        ],
        "flux-home-push",
    )
    .await;
    let pushed: Value = serde_json::from_str(&pushed).unwrap();
    pushed["digest"].as_str().unwrap().to_string()
}

/// A `.dockerconfigjson` file for `registry` with `user` and `password` (as `kubectl create
/// secret docker-registry` writes its key), in the bed's directory.
fn docker_config_file(registry: &Registry, name: &str, user: &str, password: &str) -> PathBuf {
    use base64::Engine;
    let bed_dir = registry.config_file().parent().unwrap().to_path_buf();
    let file = bed_dir.join(format!("{name}.dockerconfigjson"));
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config =
        json!({"auths": {registry.host(): {"username": user, "password": password, "auth": auth}}});
    std::fs::write(&file, config.to_string()).unwrap();
    file
}

fn oci_source(
    registry: &Registry,
    path: &str,
    pull_secret: Option<&Path>,
    ca: bool,
    digests: &[(&str, &str)],
) -> OciManifestSource {
    let bed_ca = registry
        .config_file()
        .parent()
        .unwrap()
        .join("ocimanifests-ca.crt");
    std::fs::write(&bed_ca, registry.ca_pem()).unwrap();
    OciManifestSource {
        repository: ArtifactRepository::parse(&format!("oci://{}/{path}", registry.host()))
            .unwrap(),
        digests: digests
            .iter()
            .map(|(v, d)| (v.to_string(), d.to_string()))
            .collect::<BTreeMap<_, _>>(),
        pull_secret_file: pull_secret.map(|p| p.display().to_string()),
        ca_file: ca.then(|| bed_ca.display().to_string()),
    }
}

/// The operator configuration of an OCI source (no base URL: no release server is named).
fn oci_config(source: &OciManifestSource) -> String {
    let mut oci = format!("      repository: {}\n", source.repository);
    if !source.digests.is_empty() {
        oci.push_str("      digests:\n");
        for (version, digest) in &source.digests {
            oci.push_str(&format!("        {version}: \"{digest}\"\n"));
        }
    }
    if let Some(file) = &source.pull_secret_file {
        oci.push_str(&format!("      pullSecretFile: {file}\n"));
    }
    if let Some(file) = &source.ca_file {
        oci.push_str(&format!("      caFile: {file}\n"));
    }
    format!(
        "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  manifests:\n    timeout: 30s\n    oci:\n{oci}"
    )
}

/// The install ManagedResource's manifests of the shoot in `namespace`, as written now.
async fn installed_yaml(bed: &testbed::Bed, namespace: &str) -> String {
    let mr = serde_json::to_value(
        mr_api(bed, namespace)
            .await
            .get("extension-shoot-flux-flux-install")
            .await
            .unwrap(),
    )
    .unwrap();
    let name = mr["spec"]["secretRefs"][0]["name"].as_str().unwrap();
    let secrets: Api<Secret> = Api::namespaced(bed.seed().client().await.unwrap(), namespace);
    let data = secrets.get(name).await.unwrap().data.unwrap();
    let yaml =
        testbed::managedresource::brotli_decompress(&data[testbed::managedresource::DATA_KEY].0)
            .unwrap();
    String::from_utf8(yaml).unwrap()
}

fn options(components: Option<&[&str]>, extra: &[&str], registry: Option<&str>) -> InstallOptions {
    InstallOptions {
        namespace: "flux-system".into(),
        registry: registry.map(str::to_string),
        components: components.map(|c| c.iter().map(|s| s.to_string()).collect()),
        components_extra: extra.iter().map(|s| s.to_string()).collect(),
        ignore_updates: false,
        image_pull_secret: None,
    }
}

/// Fails with the first line where `other` differs from the release server's bundle (the
/// bundles are a few hundred kilobytes).
fn assert_same(source: &str, url: &str, other: &str, options: &InstallOptions) {
    if url == other {
        return;
    }
    let line = url
        .lines()
        .zip(other.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| url.lines().count().min(other.lines().count()));
    panic!(
        "the {source} bundle differs from the release server's with {options:?}, from line {}: {:?} vs {:?}",
        line + 1,
        url.lines().nth(line),
        other.lines().nth(line)
    );
}

/// The error of reading `version` from `source`, with the password nowhere in it.
async fn release_error(source: OciManifestSource, version: &str) -> ManifestError {
    let store = ManifestStore::new(ManifestSource::Oci(source), Duration::from_secs(30)).unwrap();
    let error = store
        .release(&parse_exact(version).unwrap())
        .await
        .expect_err("reading the release must fail");
    assert!(
        !error.to_string().contains(PASSWORD),
        "an error shows the password: {error}"
    );
    println!("{version}: {error}");
    error
}

#[tokio::test]
async fn a_shoot_gets_flux_from_the_release_artifact_in_a_private_registry() {
    let _serial = SERIAL.lock().await;
    testbed::paths::flux_cli().unwrap();
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = testbed::paths::versions().unwrap();
    let tag = versions.flux.clone();
    let auth = BasicAuth::new("flux-manifests", PASSWORD);
    let registry = bed
        .start_registry(RegistryOptions {
            basic_auth: Some(auth.clone()),
        })
        .await
        .unwrap();
    let path = "fluxcd/flux-manifests";
    let digest = push_release_as_flux_does(&registry, path, &tag).await;
    let pull = docker_config_file(&registry, "manifests-pull", &auth.user, PASSWORD);
    let wrong = docker_config_file(&registry, "manifests-wrong", &auth.user, "not-the-pw");

    // What goes wrong is named: no credentials, wrong ones, an untrusted registry, a pinned
    // digest the registry's manifest does not match, a version the registry does not have.
    let e = release_error(oci_source(&registry, path, None, true, &[]), &tag).await;
    assert!(
        e.to_string().contains("needs credentials")
            && e.to_string().contains("flux.manifests.oci.pullSecretFile"),
        "{e}"
    );
    let e = release_error(oci_source(&registry, path, Some(&wrong), true, &[]), &tag).await;
    assert!(e.to_string().contains("refused the credentials"), "{e}");
    let e = release_error(oci_source(&registry, path, Some(&pull), false, &[]), &tag).await;
    assert!(
        matches!(e, ManifestError::Unavailable(_)) && e.to_string().contains("certificate"),
        "{e}"
    );
    let other = format!("sha256:{}", "1".repeat(64));
    let e = release_error(
        oci_source(&registry, path, Some(&pull), true, &[(&tag, &other)]),
        &tag,
    )
    .await;
    assert!(
        matches!(e, ManifestError::NotFound { .. }) && e.to_string().contains(&other),
        "a pinned digest the registry lacks is a missing release: {e}"
    );
    let e = release_error(
        oci_source(&registry, path, Some(&pull), true, &[]),
        &versions.flux_previous,
    )
    .await;
    assert!(
        matches!(&e, ManifestError::NotFound { location, .. }
            if location == &format!("oci://{}/{path}:{}", registry.host(), versions.flux_previous)),
        "{e}"
    );

    // The operator names the registry, the pull secret file, the CA and the pinned digest; no
    // release server is configured (or running for this extension).
    let source = oci_source(&registry, path, Some(&pull), true, &[(&tag, &digest)]);
    let extension = start_extension_with_config(
        bed,
        "shoot-flux-ocimanifests",
        &[],
        Some(bed.garden().kubeconfig_path()),
        &oci_config(&source),
    )
    .await;
    set_project_config(bed, "ocimanifests", &[]).await;
    let mut spec = spec("ocimanifests", "app");
    let mirror = format!("{}/fluxcd", registry.host());
    spec.provider_config = Some(json!({
        "apiVersion": API, "kind": "FluxConfig",
        "flux": {"version": tag, "componentsExtra": ["image-reflector-controller"], "registry": mirror}
    }));
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    gardenlet::apply_extension(&bed.seed().client().await.unwrap(), &spec)
        .await
        .unwrap();
    wait_ready(bed, &ns, Duration::from_secs(180)).await;
    wait_logged(
        &extension,
        &[
            "loaded Flux install manifests from the OCI artifact",
            digest.trim_start_matches("sha256:"),
        ],
    )
    .await;
    start_flux_when_installed(&mut shoot).await;

    // The shoot has Flux from the artifact: its CRDs (the extra component's too) served, its
    // controllers with the mirror's images, and only the asked-for extra component.
    let target = shoot.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "flux-system");
    let names: Vec<String> = wait_for(
        "Flux's Deployments in the shoot",
        Duration::from_secs(60),
        || async {
            let list = deployments.list(&Default::default()).await?;
            let names: Vec<String> = list
                .items
                .iter()
                .filter_map(|d| d.metadata.name.clone())
                .collect();
            Ok((names.len() >= 5).then_some(names))
        },
    )
    .await
    .unwrap();
    assert!(
        names.contains(&"image-reflector-controller".to_string())
            && !names.contains(&"image-automation-controller".to_string()),
        "{names:?}"
    );
    let reflector = deployments.get("image-reflector-controller").await.unwrap();
    let image = reflector.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap();
    assert!(
        image.starts_with(&format!("{mirror}/image-reflector-controller:")),
        "{image}"
    );
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    let crds: Api<CustomResourceDefinition> = Api::all(target);
    assert!(
        crds.get_opt("imagepolicies.image.toolkit.fluxcd.io")
            .await
            .unwrap()
            .is_some()
    );
    let log = extension.log();
    assert!(!log.contains(PASSWORD), "the extension logged the password");
    drop(extension);
}

#[tokio::test]
async fn mirror_copies_a_release_into_a_directory_and_a_registry_and_shoots_install_from_each() {
    let _serial = SERIAL.lock().await;
    testbed::paths::flux_cli().unwrap();
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = testbed::paths::versions().unwrap();
    let tag = versions.flux.clone();
    // A release server of this test's own, stopped before the shoots are installed.
    let releases = ReleaseServer::start(&tag).unwrap();
    let auth = BasicAuth::new("flux-mirror", PASSWORD);
    let registry = bed
        .start_registry(RegistryOptions {
            basic_auth: Some(auth.clone()),
        })
        .await
        .unwrap();
    let credentials = docker_config_file(&registry, "mirror-push", &auth.user, PASSWORD);
    let ca = bed.pki().ca_file.clone();
    let dir = bed.dir().join("mirrored-flux-releases");
    let path = "mirror/fluxcd/flux-manifests";

    let mirror = |args: Vec<String>| async move {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"));
        command.arg("mirror").args(&args);
        let out = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        println!("$ mirror {}\n{stdout}{stderr}", args.join(" "));
        (out.status.success(), stdout, stderr)
    };
    // `latest` through the release server's redirect, the files through its asset host.
    let (ok, out, _) = mirror(vec![
        "--version=latest".into(),
        format!("--from={}", releases.base_url()),
        format!("--to-dir={}", dir.display()),
    ])
    .await;
    assert!(ok, "{out}");
    let cached = testbed::paths::flux_release_dir(&tag).unwrap();
    for file in ["install.yaml", "manifests.tar.gz"] {
        assert_eq!(
            std::fs::read(dir.join(&tag).join(file)).unwrap(),
            std::fs::read(cached.join(file)).unwrap(),
            "{file} copied as released"
        );
        assert!(
            releases
                .asset_requests()
                .iter()
                .any(|r| r.asset.as_deref() == Some(&format!("{tag}/{file}")) && r.status == 200),
            "{file} came from the asset host, behind the release host's redirect"
        );
    }

    // Without credentials the registry refuses the push, by name.
    let to_oci = format!("--to-oci=oci://{}/{path}", registry.host());
    let (ok, _, err) = mirror(vec![
        format!("--version={tag}"),
        format!("--from={}", releases.base_url()),
        to_oci.clone(),
        format!("--ca-file={}", ca.display()),
    ])
    .await;
    assert!(!ok && err.contains("needs credentials"), "{err}");
    let (ok, out, err) = mirror(vec![
        format!("--version={tag}"),
        format!("--from={}", releases.base_url()),
        to_oci,
        format!("--ca-file={}", ca.display()),
        format!("--credentials-file={}", credentials.display()),
    ])
    .await;
    assert!(ok, "{err}");
    assert!(!out.contains(PASSWORD) && !err.contains(PASSWORD));
    let digest = out
        .split_whitespace()
        .find(|w| w.starts_with("sha256:"))
        .unwrap()
        .trim_end_matches('.')
        .to_string();

    // The shape of Flux's own artifact, read by Flux's own CLI.
    let pulled = bed.dir().join("mirror-pulled");
    std::fs::create_dir_all(&pulled).unwrap();
    flux(
        vec![
            "pull".into(),
            "artifact".into(),
            format!("oci://{}/{path}:{tag}", registry.host()),
            format!("--output={}", pulled.display()),
            format!("--creds={}:{}", auth.user, PASSWORD),
        ],
        "flux-home-pull",
    )
    .await;
    let pulled_files: Vec<String> = std::fs::read_dir(&pulled)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(pulled_files, ["gotk-components.yaml"]);

    // The same bundles from the release server, the directory and the registry: all of
    // install.yaml, selected components, extra components, the registry rewrite.
    let oci = oci_source(
        &registry,
        path,
        Some(&credentials),
        true,
        &[(&tag, &digest)],
    );
    let stores = [
        ManifestSource::BaseUrl(releases.base_url()),
        ManifestSource::Directory(dir.display().to_string()),
        ManifestSource::Oci(oci.clone()),
    ]
    .map(|s| ManifestStore::new(s, Duration::from_secs(30)).unwrap());
    let version = parse_exact(&tag).unwrap();
    for options in [
        options(None, &[], None),
        options(
            Some(&["source-controller", "kustomize-controller"]),
            &["image-reflector-controller", "image-automation-controller"],
            Some("registry.example.com/fluxcd"),
        ),
    ] {
        let mut bundles = Vec::new();
        for store in &stores {
            bundles.push(store.install_bundle(&version, &options).await.unwrap());
        }
        assert_same("directory", &bundles[0].yaml, &bundles[1].yaml, &options);
        assert_same("OCI", &bundles[0].yaml, &bundles[2].yaml, &options);
    }
    drop(stores);
    drop(releases);

    // With the release server gone, the extension installs from the directory and from the
    // registry, and each shoot gets the same Flux.
    let directory_config = format!(
        "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  manifests:\n    directory: {}\n",
        dir.display()
    );
    let mut installed = Vec::new();
    for (name, config) in [
        ("mirrordir", directory_config),
        ("mirroroci", oci_config(&oci)),
    ] {
        let extension = start_extension_with_config(
            bed,
            &format!("shoot-flux-{name}"),
            &[],
            Some(bed.garden().kubeconfig_path()),
            &config,
        )
        .await;
        set_project_config(bed, name, &[]).await;
        let mut spec = spec(name, "app");
        spec.provider_config = Some(json!({
            "apiVersion": API, "kind": "FluxConfig",
            "flux": {"version": tag, "componentsExtra": ["image-automation-controller"]}
        }));
        let shoot = bed.new_shoot(spec.clone()).await.unwrap();
        shoot.create_gardenlet_objects().await.unwrap();
        gardenlet::apply_extension(&bed.seed().client().await.unwrap(), &spec)
            .await
            .unwrap();
        wait_ready(bed, &spec.technical_id(), Duration::from_secs(180)).await;
        installed.push(installed_yaml(bed, &spec.technical_id()).await);
        drop(extension);
    }
    assert!(installed[0].contains("name: image-automation-controller"));
    assert_eq!(
        installed[0], installed[1],
        "directory and registry install the same Flux"
    );
}

/// Whether a token request's `scope` asks for exactly `actions` on repository `path`, in any
/// order: the distribution registry builds its challenge's action list from a Go map, so a push
/// challenge says `pull,push` or `push,pull` from one request to the next.
fn scope_grants(scope: &str, path: &str, actions: &[&str]) -> bool {
    let Some(listed) = scope.strip_prefix(&format!("repository:{path}:")) else {
        return false;
    };
    let mut listed: Vec<&str> = listed.split(',').collect();
    let mut wanted = actions.to_vec();
    listed.sort_unstable();
    wanted.sort_unstable();
    listed == wanted
}

#[tokio::test]
async fn release_artifacts_from_a_registry_with_token_authentication() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = testbed::paths::versions().unwrap();
    let tag = versions.flux.clone();
    let tokens = TokenService::start(
        "registry-tokens",
        bed.dir(),
        bed.pki(),
        BasicAuth::new(TOKEN_USER, PASSWORD),
    )
    .unwrap();
    let registry = Registry::start_token_auth("registry-token", bed.dir(), bed.pki(), &tokens)
        .await
        .unwrap();
    let credentials = docker_config_file(&registry, "token-pull", TOKEN_USER, PASSWORD);
    let wrong = docker_config_file(&registry, "token-wrong", TOKEN_USER, "not-the-pw");

    // mirror pushes through the token service (a push token for the repository)...
    let releases = ReleaseServer::start(&tag).unwrap();
    let path = "mirror/flux-manifests";
    let mut command = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"));
    command.args([
        "mirror".to_string(),
        format!("--version={tag}"),
        format!("--from={}", releases.base_url()),
        format!("--to-oci=oci://{}/{path}", registry.host()),
        format!("--ca-file={}", bed.pki().ca_file.display()),
        format!("--credentials-file={}", credentials.display()),
    ]);
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(releases);
    assert!(
        tokens
            .requests()
            .iter()
            .any(|r| scope_grants(&r.scope, path, &["pull", "push"]) && r.status == 200),
        "mirror asked for a push token: {:?}",
        tokens.requests()
    );

    // ... and the store reads through it (a pull token asked for with the credentials).
    let store = ManifestStore::new(
        ManifestSource::Oci(oci_source(&registry, path, Some(&credentials), true, &[])),
        Duration::from_secs(30),
    )
    .unwrap();
    let version = parse_exact(&tag).unwrap();
    let bundle = store
        .install_bundle(
            &version,
            &options(None, &["image-automation-controller"], None),
        )
        .await
        .unwrap();
    assert!(bundle.yaml.contains("name: image-automation-controller"));
    assert!(
        tokens
            .requests()
            .iter()
            .any(|r| scope_grants(&r.scope, path, &["pull"])
                && r.with_credentials
                && r.status == 200),
        "a pull token was asked for with the credentials: {:?}",
        tokens.requests()
    );
    // `latest` is the newest release tag of the repository's tag list.
    assert_eq!(
        store
            .resolve(&shoot_flux_core::fluxversion::VersionRequest::Latest)
            .await
            .unwrap(),
        version
    );

    // Without credentials the anonymous token grants nothing; wrong ones the service refuses.
    let e = release_error(oci_source(&registry, path, None, true, &[]), &tag).await;
    assert!(
        e.to_string().contains("needs credentials")
            && e.to_string().contains("flux.manifests.oci.pullSecretFile"),
        "{e}"
    );
    let e = release_error(oci_source(&registry, path, Some(&wrong), true, &[]), &tag).await;
    assert!(
        e.to_string()
            .contains("token service refused the credentials"),
        "{e}"
    );
}

/// A registry stand-in that sends blob downloads to a storage host, as registries on S3, GCS or
/// Azure storage do (and ghcr.io to its blob host): a 307 to a signed URL on another host. What
/// it reproduces of the real pair: the registry wants Basic credentials (401 with a Basic
/// challenge without them), answers the manifest by tag with its media type and
/// `Docker-Content-Digest`, and answers a blob with a 307 whose `Location` carries the
/// signature in its query; the storage host, like S3, refuses a request that carries an
/// `Authorization` header besides the query signature (400 `InvalidArgument`, "Only one auth
/// mechanism allowed"). The layer is downloaded once however much of the release is read.
/// Not reproduced: uploads, tag lists, other endpoints, expiry of the
/// signature.
#[tokio::test]
async fn blob_redirects_to_storage_carry_no_credentials() {
    use std::sync::{Arc, Mutex};
    use testbed::httpserve::{HttpServer, response};
    let bed = testbed::bed().await.unwrap();
    let versions = testbed::paths::versions().unwrap();
    let tag = versions.flux.clone();
    let install = std::fs::read_to_string(
        testbed::paths::flux_release_dir(&tag)
            .unwrap()
            .join("install.yaml"),
    )
    .unwrap();
    let layer = shoot_flux_core::flux::ociartifact::pack_layer(&[(
        "gotk-components.yaml",
        install.as_bytes(),
    )])
    .unwrap();
    let config = shoot_flux_core::flux::ociartifact::artifact_config();
    let manifest = shoot_flux_core::flux::ociartifact::artifact_manifest(
        &config,
        &layer,
        &shoot_flux_core::flux::ociartifact::ArtifactOrigin {
            created: "2026-01-01T00:00:00Z".into(),
            source: "https://github.com/fluxcd/flux2".into(),
            revision: tag.clone(),
        },
    );
    let layer_digest = shoot_flux_core::flux::ociartifact::digest_of(&layer);
    let tls = {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(&bed.pki().serving_cert_file)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(&bed.pki().serving_key_file).unwrap();
        Arc::new(
            rustls::ServerConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
        )
    };
    // Authorization headers the storage host received (None: none came).
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let storage = {
        let seen = seen.clone();
        let layer = layer.clone();
        HttpServer::start_tls(tls.clone(), move |req| {
            let auth = req
                .headers()
                .get("authorization")
                .map(|v| v.to_str().unwrap_or_default().to_string());
            seen.lock().unwrap().push(auth.clone());
            let signed = req.uri().query().is_some_and(|q| q.contains("X-Amz-Signature="));
            let layer = layer.clone();
            async move {
                match (signed, auth) {
                    (true, None) => response(200, layer),
                    (_, Some(_)) => response(
                        400,
                        "<Error><Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message></Error>",
                    ),
                    (false, None) => response(403, "<Error><Code>AccessDenied</Code></Error>"),
                }
            }
        })
        .unwrap()
    };
    let storage_host = storage.addr.to_string();
    let auth = BasicAuth::new("flux-manifests", PASSWORD);
    let registry = {
        let expected = auth.header_value();
        let manifest = manifest.clone();
        let tag = tag.clone();
        let layer_digest = layer_digest.clone();
        HttpServer::start_tls(tls, move |req| {
            let authorized = req
                .headers()
                .get("authorization")
                .is_some_and(|v| v.as_bytes() == expected.as_bytes());
            let path = req.uri().path().to_string();
            let manifest = manifest.clone();
            let manifest_path = format!("/v2/fluxcd/flux-manifests/manifests/{tag}");
            let blob_path = format!("/v2/fluxcd/flux-manifests/blobs/{layer_digest}");
            let storage_host = storage_host.clone();
            async move {
                if !authorized {
                    let mut r = response(401, r#"{"errors":[{"code":"UNAUTHORIZED"}]}"#);
                    r.headers_mut().insert(
                        "www-authenticate",
                        http::HeaderValue::from_static(r#"Basic realm="registry""#),
                    );
                    return r;
                }
                if path == manifest_path {
                    let digest = shoot_flux_core::flux::ociartifact::digest_of(&manifest);
                    let mut r = response(200, manifest);
                    r.headers_mut().insert(
                        "content-type",
                        http::HeaderValue::from_static(
                            "application/vnd.oci.image.manifest.v1+json",
                        ),
                    );
                    r.headers_mut().insert(
                        "docker-content-digest",
                        http::HeaderValue::from_str(&digest).unwrap(),
                    );
                    r
                } else if path == blob_path {
                    let mut r = response(307, "");
                    let location = format!(
                        "https://{storage_host}/docker/registry/v2/blobs/data?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc123"
                    );
                    r.headers_mut().insert(
                        "location",
                        http::HeaderValue::from_str(&location).unwrap(),
                    );
                    r
                } else {
                    response(404, r#"{"errors":[{"code":"NOT_FOUND"}]}"#)
                }
            }
        })
        .unwrap()
    };
    let dir = bed.dir().join("redirect-registry");
    std::fs::create_dir_all(&dir).unwrap();
    let pull = dir.join("pull.dockerconfigjson");
    let host = registry.addr.to_string();
    std::fs::write(
        &pull,
        json!({"auths": {&host: {"username": auth.user, "password": auth.password}}}).to_string(),
    )
    .unwrap();
    let source = OciManifestSource {
        repository: ArtifactRepository::parse(&format!("oci://{host}/fluxcd/flux-manifests"))
            .unwrap(),
        digests: BTreeMap::new(),
        pull_secret_file: Some(pull.display().to_string()),
        ca_file: Some(bed.pki().ca_file.display().to_string()),
    };
    let store = ManifestStore::new(ManifestSource::Oci(source), Duration::from_secs(30)).unwrap();
    let version = parse_exact(&tag).unwrap();
    let release = store.release(&version).await.unwrap();
    assert!(!release.docs.is_empty());
    // Read once per version: the install documents, the components and every bundle come from
    // the one layer download.
    store.components(&version).await.unwrap();
    for components in [None, Some(&["source-controller"][..])] {
        store
            .install_bundle(&version, &options(components, &[], None))
            .await
            .unwrap();
    }
    store.release(&version).await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [None],
        "the storage host got one request, without the registry's credentials"
    );
}
