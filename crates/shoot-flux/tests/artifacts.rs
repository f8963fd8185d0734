//! The extension as artifacts, the way a landscape gets them: `hack/build-image` builds the
//! image without a container engine (the Dockerfile's static musl binary, user 65532, entrypoint
//! the binary), `hack/push-artifacts` pushes it and the Helm chart to the bed's registry (the
//! distribution registry, TLS from the bed's CA, basic auth from the environment, as a CI job
//! would), and the test pulls them back as a seed would: the chart by the OCI reference of
//! `example/extension.yaml` and `example/controller-deployment-oci.yaml` (as gardenlet's helm
//! registry client does: the manifest, the layer of the helm chart media type), rendered with
//! the examples' values; the image by the reference the rendered Deployment names, by digest,
//! its config and its only layer checked, the binary extracted and run.
//!
//! Cold, the image build compiles the whole extension for x86_64-unknown-linux-musl in release
//! mode; it needs `hack/testbed/install debian rust-musl crane helm`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use testbed::kubeutil::parse_documents;
use testbed::paths;
use testbed::pki::Pki;
use testbed::plainhttp::Response;
use testbed::registry::{BasicAuth, Registry, RegistryHttp, RegistryOptions};

const BINARY: &str = "gardener-extension-shoot-flux";
const EXAMPLE_REGISTRY: &str = "registry.example.com";
const PREFIX: &str = "gardener/extensions";
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// What go-containerregistry (gardenlet's, kubelet's runtimes') asks a registry for.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json";

fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Runs a hack/ command with output captured; a failure shows both streams.
async fn run(mut command: Command) -> String {
    let shown = format!("{command:?}");
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{shown} failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    stdout
}

/// The value of a `key: value` line of a hack/ command's output.
fn field<'a>(output: &'a str, key: &str) -> &'a str {
    output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` line in:\n{output}"))
}

/// A client of the registry's distribution API with the pusher's credentials, pulling the way
/// go-containerregistry does: manifests by tag or digest with its Accept list, blobs by digest,
/// every digest checked against the bytes received.
struct Puller {
    http: RegistryHttp,
    base: String,
    authorization: String,
}

impl Puller {
    async fn request(&self, method: http::Method, path: &str, accept: &str) -> Response {
        let url = format!("{}/v2/{path}", self.base);
        let response = self
            .http
            .send(
                method.clone(),
                &url,
                &[("authorization", &self.authorization), ("accept", accept)],
                Vec::new(),
            )
            .await
            .unwrap();
        assert_eq!(response.status, 200, "{method} {url}: {response:?}");
        response
    }

    /// `HEAD` of a manifest: the digest the tag points at (gardenlet's cache key).
    async fn resolve(&self, repository: &str, tag: &str) -> String {
        let response = self
            .request(
                http::Method::HEAD,
                &format!("{repository}/manifests/{tag}"),
                MANIFEST_ACCEPT,
            )
            .await;
        response
            .header("docker-content-digest")
            .expect("Docker-Content-Digest")
            .to_string()
    }

    /// The manifest with `digest`, checked against it.
    async fn manifest(&self, repository: &str, digest: &str) -> Value {
        let response = self
            .request(
                http::Method::GET,
                &format!("{repository}/manifests/{digest}"),
                MANIFEST_ACCEPT,
            )
            .await;
        assert_eq!(sha256(&response.body), digest, "manifest bytes");
        serde_json::from_slice(&response.body).unwrap()
    }

    /// The blob a descriptor names, checked against its digest and size.
    async fn blob(&self, repository: &str, descriptor: &Value) -> Vec<u8> {
        let digest = descriptor["digest"].as_str().unwrap();
        let response = self
            .request(
                http::Method::GET,
                &format!("{repository}/blobs/{digest}"),
                "*/*",
            )
            .await;
        assert_eq!(sha256(&response.body), digest, "blob bytes");
        assert_eq!(
            Some(response.body.len() as u64),
            descriptor["size"].as_u64(),
            "blob size"
        );
        response.body
    }
}

/// `host/repository:tag` split into the repository and the tag.
fn split_reference(reference: &str, host: &str) -> (String, String) {
    let path = reference
        .strip_prefix(&format!("{host}/"))
        .unwrap_or_else(|| panic!("{reference} is not on {host}"));
    let (repository, tag) = path.rsplit_once(':').unwrap();
    (repository.to_string(), tag.to_string())
}

fn example(file: &str) -> Value {
    let path = paths::repo_root().join("example").join(file);
    let docs = parse_documents(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.into_iter().next().unwrap()
}

/// The example's registry replaced by the bed's, in a string or in every string of a value.
fn on_bed(value: &Value, host: &str) -> Value {
    serde_json::from_str(&value.to_string().replace(EXAMPLE_REGISTRY, host)).unwrap()
}

/// Whether an ELF executable names an interpreter (PT_INTERP), i.e. needs a dynamic loader and
/// libc that the image does not have.
fn elf_is_dynamic(binary: &[u8]) -> bool {
    assert_eq!(&binary[..4], b"\x7fELF", "an ELF executable");
    assert_eq!(binary[4], 2, "64-bit ELF");
    let u16_at = |o: usize| u16::from_le_bytes(binary[o..o + 2].try_into().unwrap()) as usize;
    let phoff = u64::from_le_bytes(binary[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(binary[at..at + 4].try_into().unwrap()) == 3
    })
}

fn helm(home: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(paths::helm().unwrap());
    command
        .args(args)
        .env("HELM_CACHE_HOME", home)
        .env("HELM_CONFIG_HOME", home)
        .env("HELM_DATA_HOME", home);
    command
}

#[tokio::test]
async fn image_and_chart_are_pushed_and_pulled_back_as_a_seed_would() {
    // Missing, these name the installer command that provides them.
    let (crane, helm_binary) = (paths::binary("crane").unwrap(), paths::helm().unwrap());
    let root = paths::repo_root();
    let dir = paths::new_run_dir("artifacts").unwrap();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let pki = Pki::generate(&dir.join("pki")).unwrap();
    let auth = BasicAuth::new("ci-pusher", "artifacts-push-password");
    let registry = Registry::start(
        "registry",
        &dir,
        &pki,
        RegistryOptions {
            basic_auth: Some(auth.clone()),
        },
    )
    .await
    .unwrap();
    let host = registry.host().to_string();

    // The image, from this checkout's sources.
    let layout = dir.join("image");
    let started = Instant::now();
    let mut build = Command::new(root.join("hack/build-image"));
    build.arg("--output").arg(&layout);
    let built = run(build).await;
    println!(
        "hack/build-image in {:.1}s:\n{built}",
        started.elapsed().as_secs_f64()
    );
    let layout_digest = field(&built, "digest").to_string();

    let pull = Puller {
        http: registry.http().unwrap(),
        base: registry.url(),
        authorization: auth.header_value(),
    };
    // Pushed as a CI job would: credentials from the environment, the registry's CA by flag, no
    // network beyond loopback (the proxy variables point at a closed port).
    let closed = format!("http://127.0.0.1:{}", testbed::ports::free_port().unwrap());
    let push_command = |password: &str| {
        let mut push = Command::new(root.join("hack/push-artifacts"));
        push.arg("--image-layout")
            .arg(&layout)
            .arg("--ca-file")
            .arg(&pki.ca_file)
            .arg(format!("oci://{host}/{PREFIX}"))
            .env("REGISTRY_USERNAME", &auth.user)
            .env("REGISTRY_PASSWORD", password)
            .env("CRANE", &crane)
            .env("HELM", &helm_binary)
            .env("HOME", &home)
            .env("HTTPS_PROXY", &closed)
            .env("HTTP_PROXY", &closed)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .env_remove("DOCKER_CONFIG");
        push
    };
    // A wrong password: the push fails, says where, and never prints the password.
    let wrong = "not-the-push-password";
    let mut refused = push_command(wrong);
    let refused = tokio::task::spawn_blocking(move || refused.output())
        .await
        .unwrap()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(!refused.status.success(), "{said}");
    assert!(said.contains("401"), "{said}");
    assert!(
        said.contains(&format!(
            "hack/push-artifacts: helm registry login {host} failed"
        )),
        "{said}"
    );
    assert!(!said.contains(wrong), "{said}");
    // Nothing was pushed before the login failed: the repository does not exist.
    let tags = pull
        .http
        .send(
            http::Method::GET,
            &format!("{}/v2/{PREFIX}/shoot-flux/tags/list", registry.url()),
            &[("authorization", &pull.authorization)],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(tags.status, 404, "{tags:?}");

    let started = Instant::now();
    let pushed = run(push_command(&auth.password)).await;
    println!(
        "hack/push-artifacts in {:.1}s:\n{pushed}",
        started.elapsed().as_secs_f64()
    );
    // The registry keeps the layout's manifest byte for byte: the pushed digest is the built one.
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        field(&pushed, "image"),
        format!("{host}/{PREFIX}/shoot-flux:{version}@{layout_digest}")
    );
    let (chart_pushed, chart_digest) = field(&pushed, "chart").split_once('@').unwrap();
    let chart_digest = chart_digest.to_string();
    assert!(
        !pushed.contains(&auth.password),
        "the password stays out of the output"
    );

    // The registry is private: what follows works only with the pusher's credentials.
    let anonymous = pull
        .http
        .send(
            http::Method::GET,
            &format!("{}/v2/{PREFIX}/shoot-flux/tags/list", registry.url()),
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401);

    // The chart by the reference both examples give gardenlet, moved to the bed's registry.
    let extension = example("extension.yaml");
    let deployment = example("controller-deployment-oci.yaml");
    let extension_helm = &extension["spec"]["deployment"]["extension"];
    let chart_ref = extension_helm["helm"]["ociRepository"]["ref"]
        .as_str()
        .unwrap();
    assert_eq!(
        deployment["helm"]["ociRepository"]["ref"].as_str(),
        Some(chart_ref),
        "both examples name the same chart"
    );
    assert_eq!(
        deployment["helm"]["values"], extension_helm["values"],
        "both examples give the same values"
    );
    let chart_ref = chart_ref.replace(EXAMPLE_REGISTRY, &host);
    assert_eq!(chart_ref, chart_pushed, "the example names what was pushed");
    let (chart_repository, chart_tag) = split_reference(&chart_ref, &host);
    let resolved = pull.resolve(&chart_repository, &chart_tag).await;
    assert_eq!(resolved, chart_digest);
    let manifest = pull.manifest(&chart_repository, &resolved).await;
    assert_eq!(manifest["config"]["mediaType"], HELM_CONFIG, "{manifest}");
    let chart_config: Value =
        serde_json::from_slice(&pull.blob(&chart_repository, &manifest["config"]).await).unwrap();
    assert_eq!(chart_config["name"], BINARY);
    assert_eq!(chart_config["version"], chart_tag);
    assert_eq!(chart_config["appVersion"], version);
    let layer = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["mediaType"] == HELM_CHART_LAYER)
        .unwrap_or_else(|| panic!("no helm chart layer in {manifest}"));
    let chart_tgz = pull.blob(&chart_repository, layer).await;

    // The archive holds the repository's chart, every template byte for byte.
    let chart_dir = root.join("charts").join(BINARY);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&chart_tgz[..]));
    let mut templates = BTreeSet::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().into_owned();
        let relative = path.strip_prefix(BINARY).unwrap().to_path_buf();
        if relative.starts_with("templates") {
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            assert_eq!(
                content,
                std::fs::read(chart_dir.join(&relative)).unwrap(),
                "{}",
                relative.display()
            );
            templates.insert(relative);
        }
    }
    let in_repository: BTreeSet<PathBuf> = std::fs::read_dir(chart_dir.join("templates"))
        .unwrap()
        .map(|e| Path::new("templates").join(e.unwrap().file_name()))
        .collect();
    assert_eq!(templates, in_repository);

    // Rendered from the pulled archive with the examples' values, as gardenlet renders it.
    let chart_file = dir.join("pulled-chart.tgz");
    std::fs::write(&chart_file, &chart_tgz).unwrap();
    let values_file = dir.join("example-values.json");
    std::fs::write(
        &values_file,
        on_bed(&extension_helm["values"], &host).to_string(),
    )
    .unwrap();
    let rendered = run(helm(
        &home,
        &[
            "template",
            "shoot-flux",
            chart_file.to_str().unwrap(),
            "--namespace",
            "extension-shoot-flux",
            "-f",
            values_file.to_str().unwrap(),
        ],
    ))
    .await;
    let docs = parse_documents(&rendered).unwrap();
    let pod = &docs
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("a Deployment")["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let image_ref = container["image"].as_str().unwrap();
    assert_eq!(image_ref, format!("{host}/{PREFIX}/shoot-flux:{version}"));
    assert_eq!(pod["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["securityContext"]["runAsGroup"], 65532);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);

    // The image the Deployment names, by digest, as a container runtime pulls it.
    let (repository, tag) = split_reference(image_ref, &host);
    let digest = pull.resolve(&repository, &tag).await;
    assert_eq!(digest, layout_digest);
    let manifest = pull.manifest(&repository, &digest).await;
    assert_eq!(manifest["mediaType"], OCI_MANIFEST, "{manifest}");
    assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG, "{manifest}");
    let config: Value =
        serde_json::from_slice(&pull.blob(&repository, &manifest["config"]).await).unwrap();
    println!("image config: {config}");
    assert_eq!(config["os"], "linux");
    assert_eq!(config["architecture"], "amd64");
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        json!([format!("/{BINARY}")])
    );
    assert!(
        config["config"]["Cmd"].is_null(),
        "no command besides the entrypoint"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "one layer: {manifest}");
    assert_eq!(layers[0]["mediaType"], OCI_LAYER);
    let compressed = pull.blob(&repository, &layers[0]).await;
    let mut layer = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut layer)
        .unwrap();
    assert_eq!(config["rootfs"]["diff_ids"], json!([sha256(&layer)]));
    println!(
        "image: layer {} bytes compressed, {} bytes uncompressed",
        compressed.len(),
        layer.len()
    );

    // Nothing but the binary and what it reads: the CA bundle, and the user 65532 by name.
    let mut entries = BTreeSet::new();
    let (mut binary, mut passwd, mut ca_bundle) = (Vec::new(), String::new(), String::new());
    for entry in tar::Archive::new(&layer[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().to_string_lossy().into_owned();
        let header = entry.header().clone();
        match path.as_str() {
            BINARY => {
                assert_eq!(header.mode().unwrap() & 0o7777, 0o755);
                assert_eq!(header.uid().unwrap(), 0, "root owns the binary");
                entry.read_to_end(&mut binary).unwrap();
            }
            "etc/passwd" => {
                entry.read_to_string(&mut passwd).unwrap();
            }
            "etc/ssl/certs/ca-certificates.crt" => {
                entry.read_to_string(&mut ca_bundle).unwrap();
            }
            "home/nonroot/" | "home/nonroot" => assert_eq!(header.uid().unwrap(), 65532),
            _ => {}
        }
        entries.insert(path.trim_end_matches('/').to_string());
    }
    let expected: BTreeSet<String> = [
        BINARY,
        "etc",
        "etc/group",
        "etc/passwd",
        "etc/ssl",
        "etc/ssl/certs",
        "etc/ssl/certs/ca-certificates.crt",
        "home",
        "home/nonroot",
        "tmp",
    ]
    .map(String::from)
    .into();
    assert_eq!(entries, expected);
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with("nonroot:x:65532:65532:")),
        "{passwd}"
    );
    assert!(ca_bundle.contains("-----BEGIN CERTIFICATE-----"));
    assert!(!elf_is_dynamic(&binary), "a static executable");

    // The pulled binary runs.
    let pulled = dir.join("pulled").join(BINARY);
    std::fs::create_dir_all(pulled.parent().unwrap()).unwrap();
    std::fs::write(&pulled, &binary).unwrap();
    std::fs::set_permissions(&pulled, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut command = Command::new(&pulled);
    command.arg("--version").env_clear();
    let printed = run(command).await;
    assert_eq!(printed.trim(), format!("{BINARY} {version}"));
    println!("pulled binary: {}", printed.trim());
}
