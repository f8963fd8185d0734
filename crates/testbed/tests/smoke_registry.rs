//! The bed's OCI registry is the real distribution registry: TLS with the bed's CA, basic auth
//! when asked for, and an OCI artifact pushed with the plain distribution API (blob uploads,
//! an OCI image manifest) reads back by tag and by digest.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::Method;
use serde_json::json;
use sha2::{Digest, Sha256};
use testbed::plainhttp::Response;
use testbed::registry::{BasicAuth, Registry, RegistryHttp, RegistryOptions};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
// Flux's artifact media types, as `flux push artifact` writes them.
const FLUX_CONFIG: &str = "application/vnd.cncf.flux.config.v1+json";
const FLUX_CONTENT: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";

fn digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A gzipped tarball with one file, the shape of a Flux artifact layer.
fn tar_gz(path: &str, content: &[u8]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder.append_data(&mut header, path, content).unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

struct Api<'a> {
    http: RegistryHttp,
    registry: &'a Registry,
    auth: Option<String>,
}

impl Api<'_> {
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Response {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(auth) = &self.auth {
            all.push(("authorization", auth));
        }
        self.http.send(method, url, &all, body).await.unwrap()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.registry.url())
    }

    /// Uploads a blob in two steps (POST starts the upload, PUT with the digest completes it)
    /// and returns its digest.
    async fn push_blob(&self, repository: &str, blob: &[u8]) -> String {
        let started = self
            .send(
                Method::POST,
                &self.url(&format!("/v2/{repository}/blobs/uploads/")),
                &[],
                Vec::new(),
            )
            .await;
        assert_eq!(
            started.status,
            202,
            "{}",
            String::from_utf8_lossy(&started.body)
        );
        let location = started
            .header("location")
            .expect("upload Location")
            .to_string();
        let location = if location.starts_with('/') {
            self.url(&location)
        } else {
            location
        };
        let digest = digest(blob);
        let separator = if location.contains('?') { '&' } else { '?' };
        let length = blob.len().to_string();
        let done = self
            .send(
                Method::PUT,
                &format!("{location}{separator}digest={digest}"),
                &[
                    ("content-type", "application/octet-stream"),
                    ("content-length", &length),
                ],
                blob.to_vec(),
            )
            .await;
        assert_eq!(done.status, 201, "{}", String::from_utf8_lossy(&done.body));
        assert_eq!(done.header("docker-content-digest"), Some(digest.as_str()));
        digest
    }
}

/// Pushes a one-layer Flux-style artifact as `repository:tag` and reads it back by tag, by
/// digest, and its layer by digest.
async fn push_and_pull_artifact(api: &Api<'_>, repository: &str, tag: &str) {
    let layer = tar_gz(
        "deploy/configmap.yaml",
        b"apiVersion: v1\nkind: ConfigMap\n",
    );
    let config = b"{}".to_vec();
    let layer_digest = api.push_blob(repository, &layer).await;
    let config_digest = api.push_blob(repository, &config).await;
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": FLUX_CONFIG, "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": FLUX_CONTENT, "digest": layer_digest, "size": layer.len()}],
        "annotations": {"org.opencontainers.image.source": "https://example.invalid/sample"}
    }))
    .unwrap();
    let manifest_digest = digest(&manifest);

    let put = api
        .send(
            Method::PUT,
            &api.url(&format!("/v2/{repository}/manifests/{tag}")),
            &[("content-type", OCI_MANIFEST)],
            manifest.clone(),
        )
        .await;
    assert_eq!(put.status, 201, "{}", String::from_utf8_lossy(&put.body));
    assert_eq!(
        put.header("docker-content-digest"),
        Some(manifest_digest.as_str())
    );

    for reference in [tag, manifest_digest.as_str()] {
        let got = api
            .send(
                Method::GET,
                &api.url(&format!("/v2/{repository}/manifests/{reference}")),
                &[("accept", OCI_MANIFEST)],
                Vec::new(),
            )
            .await;
        assert_eq!(got.status, 200, "manifest {reference}");
        assert_eq!(got.header("content-type"), Some(OCI_MANIFEST));
        assert_eq!(
            got.header("docker-content-digest"),
            Some(manifest_digest.as_str())
        );
        assert_eq!(
            got.body, manifest,
            "manifest {reference} reads back unchanged"
        );
    }
    let blob = api
        .send(
            Method::GET,
            &api.url(&format!("/v2/{repository}/blobs/{layer_digest}")),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(blob.status, 200);
    assert_eq!(blob.body, layer);
    let tags = api
        .send(
            Method::GET,
            &api.url(&format!("/v2/{repository}/tags/list")),
            &[],
            Vec::new(),
        )
        .await;
    assert_eq!(tags.status, 200);
    let tags: serde_json::Value = serde_json::from_slice(&tags.body).unwrap();
    assert_eq!(tags["tags"], json!([tag]));
    // A tag that was never pushed is the registry's own MANIFEST_UNKNOWN.
    let missing = api
        .send(
            Method::GET,
            &api.url(&format!("/v2/{repository}/manifests/never-pushed")),
            &[("accept", OCI_MANIFEST)],
            Vec::new(),
        )
        .await;
    assert_eq!(missing.status, 404);
    assert!(String::from_utf8_lossy(&missing.body).contains("MANIFEST_UNKNOWN"));
}

#[tokio::test]
async fn registry_over_tls_with_the_bed_ca_stores_an_oci_artifact() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let registry = bed
        .start_registry(RegistryOptions::default())
        .await
        .unwrap();
    eprintln!(
        "registry {} (pid {}) answered /v2/ after {:?}",
        registry.host(),
        registry.pid(),
        registry.started_in()
    );
    let http = registry.http().unwrap();
    let v2 = http
        .send(
            Method::GET,
            &format!("{}/v2/", registry.url()),
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(v2.status, 200);
    assert_eq!(
        v2.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );

    // A client without the bed's CA does not get past the TLS handshake.
    let stranger = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let untrusting = RegistryHttp::new(&stranger.cert.pem()).unwrap();
    let refused = untrusting
        .send(
            Method::GET,
            &format!("{}/v2/", registry.url()),
            &[],
            Vec::new(),
        )
        .await;
    assert!(refused.is_err(), "TLS without the bed CA must fail");

    let api = Api {
        http,
        registry: &registry,
        auth: None,
    };
    push_and_pull_artifact(&api, "fluxcd/sample", "v1.0.0").await;
    assert!(
        registry
            .storage_dir()
            .join("docker/registry/v2/repositories/fluxcd/sample")
            .is_dir(),
        "the artifact lives in the bed's directory"
    );
}

#[tokio::test]
async fn registry_with_basic_auth_needs_the_chosen_credentials() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let credentials = BasicAuth::new("flux-puller", "pull-me-if-you-can");
    let registry = bed
        .start_registry(RegistryOptions {
            basic_auth: Some(credentials.clone()),
        })
        .await
        .unwrap();
    let http = registry.http().unwrap();
    let v2 = format!("{}/v2/", registry.url());

    let anonymous = http.send(Method::GET, &v2, &[], Vec::new()).await.unwrap();
    assert_eq!(anonymous.status, 401);
    let challenge = anonymous.header("www-authenticate").expect("a challenge");
    assert!(challenge.starts_with("Basic "), "{challenge}");
    assert!(challenge.contains("realm="), "{challenge}");

    let wrong = BasicAuth::new("flux-puller", "not-the-password").header_value();
    let denied = http
        .send(Method::GET, &v2, &[("authorization", &wrong)], Vec::new())
        .await
        .unwrap();
    assert_eq!(denied.status, 401);

    let right = credentials.header_value();
    let allowed = http
        .send(Method::GET, &v2, &[("authorization", &right)], Vec::new())
        .await
        .unwrap();
    assert_eq!(allowed.status, 200);

    // Pushing needs the credentials too.
    let unauthenticated_push = http
        .send(
            Method::POST,
            &format!("{}/v2/private/app/blobs/uploads/", registry.url()),
            &[],
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(unauthenticated_push.status, 401);

    let api = Api {
        http,
        registry: &registry,
        auth: Some(right),
    };
    push_and_pull_artifact(&api, "private/app", "1.2.3").await;
    let htpasswd =
        std::fs::read_to_string(bed.dir().join(format!("{}.htpasswd", registry.name()))).unwrap();
    assert!(
        !htpasswd.contains("pull-me-if-you-can"),
        "only a hash is stored"
    );
}
