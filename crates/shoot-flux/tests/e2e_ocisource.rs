//! OCIRepository sources synced for real: the sample app, pushed with the real flux CLI (`flux
//! push artifact`) to the bed's private registry (the distribution registry, TLS from the bed's
//! CA, htpasswd basic auth), is pulled by the shoot's real source-controller and applied by its
//! kustomize-controller. Everything the shoot needs comes the way a user gives it: the pull
//! credentials as a docker-registry Secret of `Shoot.spec.resources` named by
//! `source.secretResourceName`, the registry's private CA as another Secret of
//! `Shoot.spec.resources` copied by `additionalSecretResources` and named by the
//! OCIRepository's `certSecretRef`. The bed's Flux controllers trust no private CA of their own:
//! without `certSecretRef` the pull fails on the certificate. A wrong password shows up as a
//! named failure in the Extension's sync conditions and heals once the Secret is fixed; a newly
//! pushed version reaches the shoot.
//!
//! The same registry as a mirror of Flux's images that needs credentials, with the shoot's own
//! image pull Secret and with the operator's: what kubelet would do is done by the tests (the
//! bed has no kubelet), see `mirror_pulls_work`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use serde_json::{Value, json};
use testbed::gardenlet;
use testbed::kubeutil::wait_for;
use testbed::registry::{BasicAuth, Registry, RegistryOptions};

use common::*;

const API: &str = "flux.extensions.gardener.cloud/v1alpha1";
const REPOSITORY: &str = "fleet/podinfo";
const PULL_SECRET: &str = "registry-pull";
const CA_SECRET: &str = "registry-ca";

/// Pushes the sample app with `message` as `<registry>/<REPOSITORY>:<tag>` with `flux push
/// artifact`, as a user or CI job would; returns the artifact's manifest digest.
///
/// The CLI trusts the bed's CA through `SSL_CERT_FILE` (Go's standard way on Linux) and logs in
/// with `--creds`; its traffic stays on loopback (the proxy variables point at a closed port).
async fn push(registry: &Registry, tag: &str, message: &str) -> String {
    let bed = testbed::bed().await.unwrap();
    let dir = bed
        .dir()
        .join(format!("{}-artifact-{tag}", registry.name()));
    for (path, content) in testbed::sample::podinfo_files(message) {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, content).unwrap();
    }
    let auth = registry.basic_auth().expect("a private registry");
    let closed = format!("http://127.0.0.1:{}", testbed::ports::free_port().unwrap());
    let home = bed.dir().join(format!("{}-flux-home", registry.name()));
    std::fs::create_dir_all(&home).unwrap();
    let url = format!("oci://{}/{REPOSITORY}:{tag}", registry.host());
    let mut command = Command::new(testbed::paths::flux_cli().unwrap());
    command
        .args(["push", "artifact", &url])
        .arg(format!("--path={}", dir.display()))
        .arg("--source=https://git.example.invalid/team/fleet")
        .arg(format!("--revision={tag}"))
        .arg(format!("--creds={}:{}", auth.user, auth.password))
        .arg("--output=json")
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
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    println!("$ flux push artifact {url}\n{stdout}{stderr}");
    assert!(
        out.status.success(),
        "flux push artifact exited {}\n{stdout}\n{stderr}",
        out.status
    );
    let pushed: Value = serde_json::from_str(&stdout).unwrap();
    let digest = pushed["digest"].as_str().unwrap().to_string();
    assert!(digest.starts_with("sha256:"), "{pushed}");
    digest
}

/// A `kubernetes.io/dockerconfigjson` Secret's data for one registry, as `kubectl create secret
/// docker-registry` writes it.
fn docker_config(host: &str, auth: &BasicAuth) -> BTreeMap<String, String> {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{}:{}", auth.user, auth.password));
    let config = json!({"auths": {host: {
        "username": auth.user, "password": auth.password, "auth": basic
    }}});
    BTreeMap::from([(".dockerconfigjson".to_string(), config.to_string())])
}

/// The shoot's FluxConfig: the registry's repository as an OCIRepository following every
/// version `>=1.0.0`, its pull Secret from `source.secretResourceName`, its CA copied by
/// `additionalSecretResources` and, `with_ca`, named by `certSecretRef`.
fn flux_config(registry: &Registry, with_ca: bool) -> Value {
    let mut source = json!({
        "url": format!("oci://{}/{REPOSITORY}", registry.host()),
        "ref": {"semver": ">=1.0.0"},
        "interval": "10s"
    });
    if with_ca {
        source["certSecretRef"] = json!({"name": CA_SECRET});
    }
    json!({
        "apiVersion": API, "kind": "FluxConfig",
        "managementMode": "Managed",
        "source": {
            "template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository", "spec": source},
            "secretResourceName": PULL_SECRET
        },
        "kustomization": {"template": {"spec": {
            "path": "./", "prune": true, "targetNamespace": "default", "interval": "10s"
        }}},
        "additionalSecretResources": [{"name": CA_SECRET, "targetName": CA_SECRET}]
    })
}

/// The podinfo Deployment's UI message, once Flux has applied it.
async fn podinfo_message(shoot: &kube::Client) -> Option<String> {
    let deployments: Api<Deployment> = Api::namespaced(shoot.clone(), "default");
    let d = deployments.get_opt("podinfo").await.ok()??;
    let env = d.spec?.template.spec?.containers[0].env.clone()?;
    env.into_iter()
        .find(|e| e.name == "PODINFO_UI_MESSAGE")
        .and_then(|e| e.value)
}

/// Waits until Flux applied the artifact with `message`. The deadline covers source-controller's
/// retry delay after failed pulls: it does not watch its Secrets, and its per-object backoff
/// doubles from 750 ms with every failure (about as long as the object has been failing).
async fn wait_podinfo(shoot: &kube::Client, message: &str) {
    wait_for(
        &format!("podinfo with message {message:?} in the shoot"),
        Duration::from_secs(480),
        || async {
            let current = podinfo_message(shoot).await;
            if current.as_deref() == Some(message) {
                Ok(Some(()))
            } else {
                anyhow::bail!("podinfo message {current:?}")
            }
        },
    )
    .await
    .unwrap();
}

/// Fails the test if `secret` appears in `text` (what) in any form a leak would take.
fn assert_no_secret(what: &str, text: &str, secret: &str) {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(secret);
    assert!(
        !text.contains(secret) && !text.contains(&encoded),
        "{what} contains a registry password"
    );
}

#[tokio::test]
async fn oci_source_from_a_private_registry_syncs_heals_and_follows_new_versions() {
    let _serial = SERIAL.lock().await;
    // Missing, this names the installer command that builds it.
    testbed::paths::flux_cli().unwrap();
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let right = BasicAuth::new("fleet-puller", "correct-horse-battery-staple");
    let wrong = BasicAuth::new("fleet-puller", "not-the-registry-password");
    let registry = bed
        .start_registry(RegistryOptions {
            basic_auth: Some(right.clone()),
        })
        .await
        .unwrap();
    let first = push(&registry, "1.0.0", "oci one").await;

    // The user's Shoot: a docker-registry Secret with a mistyped password, and the CA.
    let mut spec = spec("ocisync", "app");
    spec.resources = vec![
        (PULL_SECRET.into(), docker_config(registry.host(), &wrong)),
        (
            CA_SECRET.into(),
            BTreeMap::from([("ca.crt".to_string(), registry.ca_pem().to_string())]),
        ),
    ];
    spec.resource_types
        .insert(PULL_SECRET.into(), "kubernetes.io/dockerconfigjson".into());
    // First without certSecretRef: the shoot's source-controller does not trust the private CA.
    spec.provider_config = Some(flux_config(&registry, false));
    let ns = spec.technical_id();
    let mut shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    shoot.start_grm().await.unwrap();
    shoot.start_node_simulator().unwrap();
    let extension = start_extension(bed, &["--healthcheck-sync-period=2s"]).await;
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    start_flux_when_installed(&mut shoot).await;
    let target = shoot.client().await.unwrap();

    // The pull Secret reaches the shoot as the docker-registry Secret it is.
    let secrets: Api<Secret> = Api::namespaced(target.clone(), "flux-system");
    let pull = wait_for(
        "the pull Secret in the shoot",
        Duration::from_secs(60),
        || async { Ok(secrets.get_opt("flux-system").await?) },
    )
    .await
    .unwrap();
    assert_eq!(
        pull.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );

    let untrusted = wait_condition(
        bed,
        &ns,
        "FluxSourceReady",
        "False: the registry's certificate is not trusted",
        Duration::from_secs(120),
        is("False", "x509"),
    )
    .await;
    println!("without certSecretRef: {untrusted}");
    assert!(
        untrusted["message"]
            .as_str()
            .unwrap()
            .contains("OCIRepository flux-system"),
        "{untrusted}"
    );

    // With the CA: TLS passes, and the registry refuses the wrong password, by name.
    spec.provider_config = Some(flux_config(&registry, true));
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    let refused = wait_condition(
        bed,
        &ns,
        "FluxSourceReady",
        "False: the registry refused the credentials",
        Duration::from_secs(120),
        |c| c["status"] == "False" && !c["message"].as_str().unwrap_or_default().contains("x509"),
    )
    .await;
    println!("with a wrong password: {refused}");
    assert_eq!(refused["reason"], "AuthenticationFailed", "{refused}");
    let message = refused["message"].as_str().unwrap();
    for fragment in [
        "Secret flux-system/flux-system",
        "providerConfig.source.secretResourceName",
        "UNAUTHORIZED",
    ] {
        assert!(message.contains(fragment), "no {fragment:?} in {message}");
    }
    assert!(podinfo_message(&target).await.is_none());

    // The user fixes the Secret in the project; the next Shoot reconcile copies it and annotates
    // the Extension, as gardenlet does.
    spec.resources[0].1 = docker_config(registry.host(), &right);
    shoot.spec = spec.clone();
    shoot.create_gardenlet_objects().await.unwrap();
    annotate(bed, &ns, "reconcile").await;
    wait_podinfo(&target, "oci one").await;
    wait_condition(
        bed,
        &ns,
        "FluxSourceReady",
        "True at the first artifact",
        Duration::from_secs(120),
        is("True", &format!("1.0.0@{first}")),
    )
    .await;
    wait_condition(
        bed,
        &ns,
        "FluxKustomizationReady",
        "True at the first artifact",
        Duration::from_secs(120),
        is("True", &format!("1.0.0@{first}")),
    )
    .await;

    // A new version pushed to the registry reaches the shoot by itself.
    let second = push(&registry, "1.1.0", "oci two").await;
    assert_ne!(first, second);
    wait_podinfo(&target, "oci two").await;
    wait_condition(
        bed,
        &ns,
        "FluxKustomizationReady",
        "True at the second artifact",
        Duration::from_secs(120),
        is("True", &format!("1.1.0@{second}")),
    )
    .await;

    // No password in the Extension (status, conditions) or in the extension's log.
    let ext = serde_json::to_string(
        &extension_api(bed, &ns)
            .await
            .get("shoot-flux")
            .await
            .unwrap(),
    )
    .unwrap();
    let log = extension.log();
    for password in [&right.password, &wrong.password] {
        assert_no_secret("the Extension", &ext, password);
        assert_no_secret("the extension's log", &log, password);
    }
    drop(registry);
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// Uploads one blob to `repository` (POST starts the upload, PUT with the digest completes it).
async fn push_blob(registry: &Registry, auth: &str, repository: &str, blob: &[u8]) -> String {
    let http = registry.http().unwrap();
    let started = http
        .send(
            http::Method::POST,
            &format!("{}/v2/{repository}/blobs/uploads/", registry.url()),
            &[("authorization", auth)],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(started.status, 202, "{:?}", started.body);
    let location = started.header("location").unwrap().to_string();
    let location = if location.starts_with('/') {
        format!("{}{location}", registry.url())
    } else {
        location
    };
    let digest = sha256(blob);
    let separator = if location.contains('?') { '&' } else { '?' };
    let done = http
        .send(
            http::Method::PUT,
            &format!("{location}{separator}digest={digest}"),
            &[
                ("authorization", auth),
                ("content-type", "application/octet-stream"),
            ],
            blob.to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(done.status, 201, "{:?}", done.body);
    digest
}

/// Pushes a minimal OCI container image (one gzipped layer with one file, an image config for
/// linux/amd64) as `reference` (`<registry>/<repository>:<tag>`); returns its manifest digest.
/// It stands in for a mirrored Flux image: pullable like one, not runnable.
async fn push_stand_in_image(registry: &Registry, reference: &str) -> String {
    let auth = registry.basic_auth().unwrap().header_value();
    let path = reference
        .strip_prefix(&format!("{}/", registry.host()))
        .unwrap();
    let (repository, tag) = path.rsplit_once(':').unwrap();
    let mut tar = tar::Builder::new(Vec::new());
    let content = format!("stand-in for {reference}\n");
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "stand-in.txt", content.as_bytes())
        .unwrap();
    let layer_tar = tar.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &layer_tar).unwrap();
    let layer = gz.finish().unwrap();
    let config = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"User": "65534"},
        "rootfs": {"type": "layers", "diff_ids": [sha256(&layer_tar)]}
    }))
    .unwrap();
    let layer_digest = push_blob(registry, &auth, repository, &layer).await;
    let config_digest = push_blob(registry, &auth, repository, &config).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer.len()}]
    }))
    .unwrap();
    let put = registry
        .http()
        .unwrap()
        .send(
            http::Method::PUT,
            &format!("{}/v2/{repository}/manifests/{tag}", registry.url()),
            &[("authorization", &auth), ("content-type", OCI_MANIFEST)],
            manifest.clone(),
        )
        .await
        .unwrap();
    assert_eq!(put.status, 201, "{:?}", put.body);
    sha256(&manifest)
}

/// What kubelet does first for an image of a pod with `imagePullSecrets`: pick the credentials
/// for the image's registry host from the `.dockerconfigjson` (its `auth`, else
/// username/password) and fetch the manifest by tag with them. Returns the HTTP status and the
/// manifest digest the registry reports.
async fn kubelet_manifest_fetch(
    registry: &Registry,
    image: &str,
    docker_config: Option<&Value>,
) -> (u16, Option<String>) {
    use base64::Engine;
    let (host, path) = image.split_once('/').unwrap();
    let (repository, tag) = path.rsplit_once(':').unwrap();
    let mut headers = vec![(
        "accept".to_string(),
        format!("{OCI_MANIFEST}, application/vnd.docker.distribution.manifest.v2+json"),
    )];
    if let Some(entry) = docker_config
        .map(|c| &c["auths"][host])
        .filter(|e| e.is_object())
    {
        let basic = match entry["auth"].as_str() {
            Some(auth) => auth.to_string(),
            None => base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                entry["username"].as_str().unwrap_or_default(),
                entry["password"].as_str().unwrap_or_default()
            )),
        };
        headers.push(("authorization".into(), format!("Basic {basic}")));
    }
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let got = registry
        .http()
        .unwrap()
        .send(
            http::Method::GET,
            &format!("https://{host}/v2/{repository}/manifests/{tag}"),
            &headers,
            Vec::new(),
        )
        .await
        .unwrap();
    (
        got.status,
        got.header("docker-content-digest").map(str::to_string),
    )
}

/// Flux's images from a registry mirror that needs credentials, configured by the shoot: the
/// docker-registry Secret of `Shoot.spec.resources` is copied by `additionalSecretResources`
/// and named by `flux.imagePullSecret`; every controller Deployment in the shoot runs its image
/// from the mirror and names that Secret in `imagePullSecrets`.
///
/// The bed has no kubelet, so no image is pulled by a node here. What the test does instead is
/// kubelet's registry step for each controller image: with the credentials from the Secret as
/// it is in the shoot, the mirror (the bed's htpasswd registry, holding a stand-in image at
/// each reference) serves the manifest; without them it answers 401. Not proven: that kubelet
/// and the container runtime pull and start the real Flux images.
#[tokio::test]
async fn flux_images_from_a_private_mirror_with_the_shoots_pull_secret() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let credentials = BasicAuth::new("mirror-reader", "mirror-pull-password");
    let registry = bed
        .start_registry(RegistryOptions {
            basic_auth: Some(credentials.clone()),
        })
        .await
        .unwrap();
    let mirror = format!("{}/fluxcd", registry.host());

    let mut spec = spec("mirrorpull", "app");
    spec.resources = vec![(
        "mirror-pull".into(),
        docker_config(registry.host(), &credentials),
    )];
    spec.resource_types.insert(
        "mirror-pull".into(),
        "kubernetes.io/dockerconfigjson".into(),
    );
    spec.provider_config = Some(json!({
        "apiVersion": API, "kind": "FluxConfig",
        "flux": {
            "registry": mirror,
            "imagePullSecret": "flux-mirror-pull",
            "components": ["source-controller", "kustomize-controller"]
        },
        "additionalSecretResources": [{"name": "mirror-pull", "targetName": "flux-mirror-pull"}]
    }));
    let ns = spec.technical_id();
    let mut shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    shoot.start_grm().await.unwrap();
    shoot.start_node_simulator().unwrap();
    let _extension = start_extension(bed, &[]).await;
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    let target = shoot.client().await.unwrap();

    mirror_pulls_work(&registry, &target, &mirror, "flux-mirror-pull").await;
}

/// Every Flux controller Deployment in the shoot (source- and kustomize-controller) runs its
/// image from `mirror` and names the Secret `secret` of the Flux namespace, a docker-registry
/// Secret whose credentials get each image's manifest from the registry (kubelet's step, with
/// a stand-in image pushed at each reference), while without credentials the registry answers
/// 401.
async fn mirror_pulls_work(registry: &Registry, target: &kube::Client, mirror: &str, secret: &str) {
    let deployments: Api<Deployment> = Api::namespaced(target.clone(), "flux-system");
    let listed = wait_for(
        "Flux's controller Deployments in the shoot",
        Duration::from_secs(90),
        || async {
            let list = deployments.list(&Default::default()).await?.items;
            Ok((list.len() == 2).then_some(list))
        },
    )
    .await
    .unwrap();
    let secrets: Api<Secret> = Api::namespaced(target.clone(), "flux-system");
    let pull = wait_for(
        "the image pull Secret in the shoot",
        Duration::from_secs(60),
        || async { Ok(secrets.get_opt(secret).await?) },
    )
    .await
    .unwrap();
    assert_eq!(
        pull.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    let docker_config: Value =
        serde_json::from_slice(&pull.data.unwrap()[".dockerconfigjson"].0).unwrap();

    for deployment in listed {
        let name = deployment.metadata.name.clone().unwrap();
        let pod = deployment.spec.unwrap().template.spec.unwrap();
        let secrets: Vec<String> = pod
            .image_pull_secrets
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(secrets, [secret], "{name}");
        for container in pod.containers {
            let image = container.image.unwrap();
            assert!(image.starts_with(&format!("{mirror}/")), "{name}: {image}");
            let pushed = push_stand_in_image(registry, &image).await;
            let (status, digest) =
                kubelet_manifest_fetch(registry, &image, Some(&docker_config)).await;
            assert_eq!(status, 200, "{image} with the shoot's pull secret");
            assert_eq!(digest.as_deref(), Some(pushed.as_str()), "{image}");
            let (status, _) = kubelet_manifest_fetch(registry, &image, None).await;
            assert_eq!(status, 401, "{image} without credentials");
        }
    }
}

/// The operator's mirror with credentials: `flux.registry` and `flux.imagePullSecretFile` (a
/// `.dockerconfigjson`, as the chart would mount it from a Secret) in the operator
/// configuration. A shoot without a registry of its own gets the credentials as the Secret
/// `shoot-flux-image-pull` in its Flux namespace, and every controller pulls with it. Same
/// limits as above: kubelet's registry step is done by the test, no node pulls an image.
#[tokio::test]
async fn flux_images_from_the_operators_private_mirror() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let credentials = BasicAuth::new("seed-mirror", "operator-mirror-password");
    let registry = bed
        .start_registry(RegistryOptions {
            basic_auth: Some(credentials.clone()),
        })
        .await
        .unwrap();
    let mirror = format!("{}/fluxcd", registry.host());
    let file = bed.dir().join("operator-mirror.dockerconfigjson");
    std::fs::write(
        &file,
        &docker_config(registry.host(), &credentials)[".dockerconfigjson"],
    )
    .unwrap();

    let mut spec = spec("operatormirror", "app");
    spec.provider_config = Some(json!({
        "apiVersion": API, "kind": "FluxConfig",
        "flux": {"components": ["source-controller", "kustomize-controller"]}
    }));
    let ns = spec.technical_id();
    let mut shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    shoot.start_grm().await.unwrap();
    shoot.start_node_simulator().unwrap();
    let releases = bed.releases().await.unwrap();
    let config = format!(
        "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  registry: {mirror}\n  imagePullSecretFile: {}\n  manifests:\n    baseURL: {}\n    timeout: 10s\n",
        file.display(),
        releases.base_url()
    );
    let extension = start_extension_with_config(
        bed,
        "shoot-flux-operator-mirror",
        &[],
        Some(bed.garden().kubeconfig_path()),
        &config,
    )
    .await;
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    let target = shoot.client().await.unwrap();

    mirror_pulls_work(&registry, &target, &mirror, "shoot-flux-image-pull").await;
    assert_no_secret(
        "the extension's log",
        &extension.log(),
        &credentials.password,
    );
}
