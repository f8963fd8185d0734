//! Flux releases as OCI artifacts (`flux.manifests.oci`), the pure half: the repository
//! reference, which manifest reference a version is read by (its tag, or a pinned digest), the
//! distribution API's URLs, auth challenges and token answers, the artifact manifest, and the
//! layer turned into a release (and back, for the `mirror` command). The HTTP exchange itself
//! is the shell's (`manifests::oci`).
//!
//! The shape is the one Flux publishes every release in (`ghcr.io/fluxcd/flux-manifests:<tag>`,
//! pushed by `flux push artifact`): an OCI image manifest whose config has the media type
//! `application/vnd.cncf.flux.config.v1+json` and whose one layer
//! (`application/vnd.cncf.flux.content.v1.tar+gzip`) is a tarball of one file,
//! `gotk-components.yaml`: `flux install --export` with the default components and the extra
//! ones (image automation).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::bundle::ManifestError;
use super::transform;
use crate::fielderrors::DEFAULT_COMPONENTS;
use crate::fluxversion::{self, FluxVersion};
pub use crate::ocireference::{
    ArtifactRepository, ManifestReference, OciManifestSource, check_digest_syntax,
};

pub const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST_LIST_MEDIA_TYPE: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
pub const FLUX_CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.flux.config.v1+json";
pub const FLUX_CONTENT_MEDIA_TYPE: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";
/// The file of Flux's release artifact.
pub const COMPONENTS_FILE: &str = "gotk-components.yaml";
/// What a manifest request accepts: the OCI manifest, and the lists a wrong reference may name
/// (so that the error can say so instead of a 404 or a converted manifest).
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
/// The most a layer may unpack to: Flux's release is about 0.4 MB.
pub const MAX_UNPACKED_BYTES: u64 = 64 << 20;

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Whether `bytes` are what `digest` names (only sha256 is spoken).
pub fn verify_digest(bytes: &[u8], digest: &str) -> Result<(), String> {
    let actual = digest_of(bytes);
    if actual == digest {
        Ok(())
    } else {
        Err(format!("content hashes to {actual}, not {digest}"))
    }
}

/// An authentication challenge (`WWW-Authenticate`) of a registry's 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// Send the credentials with every request.
    Basic,
    /// Get a token at `realm` and send it as `Bearer`.
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Reads a `WWW-Authenticate` header: `Basic realm="..."` or `Bearer realm="...",service=...`.
pub fn parse_challenge(header: &str) -> Result<Challenge, String> {
    let header = header.trim();
    let (scheme, params) = header.split_once(' ').unwrap_or((header, ""));
    let params = parse_auth_params(params);
    match scheme.to_ascii_lowercase().as_str() {
        "basic" => Ok(Challenge::Basic),
        "bearer" => {
            let realm = params
                .get("realm")
                .ok_or_else(|| format!("Bearer challenge without a realm: {header:?}"))?;
            // Credentials go to the realm: never in the clear (go-containerregistry refuses too).
            if !realm.to_ascii_lowercase().starts_with("https://") {
                return Err(format!(
                    "Bearer realm {realm:?} is not https; the credentials would travel in the clear"
                ));
            }
            Ok(Challenge::Bearer {
                realm: realm.clone(),
                service: params.get("service").cloned(),
                scope: params.get("scope").cloned(),
            })
        }
        other => Err(format!("unsupported authentication scheme {other:?}")),
    }
}

/// `a="x, y",b=z` -> {a: "x, y", b: z} (keys lowercased).
fn parse_auth_params(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(escaped) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        out.insert(key, value);
    }
}

/// The token request of a Bearer challenge: `realm?service=...&scope=...`, with our scope when
/// the challenge names none.
pub fn token_url(realm: &str, service: Option<&str>, scope: &str) -> String {
    let mut url = realm.to_string();
    let mut separator = if realm.contains('?') { '&' } else { '?' };
    if let Some(service) = service {
        url.push_str(&format!("{separator}service={}", percent_encode(service)));
        separator = '&';
    }
    url.push_str(&format!("{separator}scope={}", percent_encode(scope)));
    url
}

fn percent_encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token of a token service's answer (`token`, or OAuth2's `access_token`).
pub fn token_from_answer(body: &[u8]) -> Result<String, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the token answer is not JSON: {e}"))?;
    value["token"]
        .as_str()
        .or_else(|| value["access_token"].as_str())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .ok_or_else(|| "the token answer has no token".into())
}

/// The one content layer of a Flux artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentLayer {
    pub digest: String,
    pub size: u64,
}

/// Reads an artifact manifest: an OCI image manifest with exactly one Flux content layer.
pub fn content_layer(manifest: &[u8]) -> Result<ContentLayer, String> {
    let value: Value =
        serde_json::from_slice(manifest).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    match value["mediaType"].as_str() {
        Some(OCI_MANIFEST_MEDIA_TYPE) | None => {}
        Some(t @ (OCI_INDEX_MEDIA_TYPE | DOCKER_MANIFEST_LIST_MEDIA_TYPE)) => {
            return Err(format!(
                "the reference names an image index ({t}), not a Flux artifact"
            ));
        }
        Some(other) => {
            return Err(format!(
                "manifest media type {other}, not {OCI_MANIFEST_MEDIA_TYPE}"
            ));
        }
    }
    if value["schemaVersion"] != 2 {
        return Err("the manifest is not schemaVersion 2".into());
    }
    let layers = value["layers"]
        .as_array()
        .ok_or("the manifest has no layers")?;
    let content: Vec<&Value> = layers
        .iter()
        .filter(|l| l["mediaType"] == FLUX_CONTENT_MEDIA_TYPE)
        .collect();
    let [layer] = content.as_slice() else {
        let types: Vec<&str> = layers
            .iter()
            .filter_map(|l| l["mediaType"].as_str())
            .collect();
        return Err(format!(
            "a Flux artifact has one layer of {FLUX_CONTENT_MEDIA_TYPE}; this one has {} (layers: {types:?})",
            content.len()
        ));
    };
    let digest = layer["digest"]
        .as_str()
        .ok_or("the content layer has no digest")?
        .to_string();
    check_digest_syntax(&digest)?;
    let size = layer["size"]
        .as_u64()
        .ok_or("the content layer has no size")?;
    Ok(ContentLayer { digest, size })
}

/// A release read from an artifact: the documents of install.yaml's components (and those of
/// no component) and every component's documents for `componentsExtra`.
#[derive(Debug)]
pub struct ArtifactRelease {
    pub install: Vec<Value>,
    pub components: HashMap<String, Vec<Value>>,
}

/// Unpacks the content layer (a tar.gz of YAML files) into a release. Documents are split by
/// their `app.kubernetes.io/component` label: those of Flux's default components and those of
/// none are the install manifests; every component's are available as an extra. A
/// `kustomization.yaml` of kustomize itself is not a manifest and is skipped.
pub fn release_from_layer(
    version: &FluxVersion,
    gzipped: &[u8],
) -> Result<ArtifactRelease, ManifestError> {
    let malformed = |message: String| ManifestError::Malformed {
        version: format!("{} OCI artifact", version.tag()),
        message,
    };
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(gzipped).take(MAX_UNPACKED_BYTES + 1));
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut unpacked: u64 = 0;
    for entry in archive.entries().map_err(|e| malformed(e.to_string()))? {
        let mut entry = entry.map_err(|e| malformed(format!("reading the layer: {e}")))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| malformed(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            continue;
        }
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| malformed(format!("{path}: {e}")))?;
        unpacked += text.len() as u64;
        if unpacked > MAX_UNPACKED_BYTES {
            return Err(malformed(format!(
                "unpacks to more than {MAX_UNPACKED_BYTES} bytes"
            )));
        }
        files.insert(path, text);
    }
    let mut install = Vec::new();
    let mut components: HashMap<String, Vec<Value>> = HashMap::new();
    for (path, text) in &files {
        let docs =
            transform::parse_documents(text).map_err(|e| malformed(format!("{path}: {e}")))?;
        for doc in docs {
            if doc["apiVersion"]
                .as_str()
                .is_some_and(|v| v.starts_with("kustomize.config.k8s.io/"))
            {
                continue;
            }
            let component = doc["metadata"]["labels"]["app.kubernetes.io/component"]
                .as_str()
                .map(str::to_string);
            match component {
                None => install.push(doc),
                Some(name) => {
                    if DEFAULT_COMPONENTS.contains(&name.as_str()) {
                        install.push(doc.clone());
                    }
                    components.entry(name).or_default().push(doc);
                }
            }
        }
    }
    if install.is_empty() {
        return Err(malformed(format!(
            "the layer holds no Kubernetes objects (files: {:?})",
            files.keys().collect::<Vec<_>>()
        )));
    }
    Ok(ArtifactRelease {
        install,
        components,
    })
}

/// `gotk-components.yaml` for a release read from install.yaml and manifests.tar.gz: install.yaml
/// as it is, then every component of the tarball that install.yaml lacks (sorted by name), so
/// that `release_from_layer` gives back the same install documents and extras.
pub fn components_file(
    install_yaml: &str,
    extras: &HashMap<String, Vec<Value>>,
) -> Result<String, String> {
    let mut out = install_yaml.trim_end().to_string();
    out.push('\n');
    let mut names: Vec<&String> = extras
        .keys()
        .filter(|n| !DEFAULT_COMPONENTS.contains(&n.as_str()))
        .collect();
    names.sort();
    for name in names {
        // Only the component's own objects: shared ones (RBAC, policies) are in install.yaml.
        let own: Vec<Value> = extras[name]
            .iter()
            .filter(|d| d["metadata"]["labels"]["app.kubernetes.io/component"] == name.as_str())
            .cloned()
            .collect();
        out.push_str(&transform::to_yaml(&own)?);
    }
    Ok(out)
}

/// A layer as `flux push artifact` packs a directory: a gzipped tarball with the directory
/// entry `.` and the files, owner 0, mtime 0, no gzip name or time (reproducible).
pub fn pack_layer(files: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_mtime(0);
    dir.set_uid(0);
    dir.set_gid(0);
    dir.set_size(0);
    builder
        .append_data(&mut dir, ".", std::io::empty())
        .map_err(|e| e.to_string())?;
    for (name, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        header.set_size(content.len() as u64);
        builder
            .append_data(&mut header, name, *content)
            .map_err(|e| e.to_string())?;
    }
    let tar = builder.into_inner().map_err(|e| e.to_string())?;
    let mut gz = flate2::GzBuilder::new()
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &tar).map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}

/// The config blob `flux push artifact` writes (an empty image config).
pub fn artifact_config() -> Vec<u8> {
    br#"{"architecture":"","created":"0001-01-01T00:00:00Z","os":"","rootfs":{"type":"layers","diff_ids":null},"config":{}}"#.to_vec()
}

/// What the artifact's annotations say (`org.opencontainers.image.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactOrigin {
    pub created: String,
    pub source: String,
    pub revision: String,
}

/// The artifact's manifest for a config and a layer, as `flux push artifact` writes it.
pub fn artifact_manifest(config: &[u8], layer: &[u8], origin: &ArtifactOrigin) -> Vec<u8> {
    json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": FLUX_CONFIG_MEDIA_TYPE, "size": config.len(), "digest": digest_of(config)},
        "layers": [{"mediaType": FLUX_CONTENT_MEDIA_TYPE, "size": layer.len(), "digest": digest_of(layer)}],
        "annotations": {
            "org.opencontainers.image.created": origin.created,
            "org.opencontainers.image.revision": origin.revision,
            "org.opencontainers.image.source": origin.source,
        }
    })
    .to_string()
    .into_bytes()
}

/// The newest release among a repository's tags (`/v2/<path>/tags/list`); tags that are not
/// releases (`latest`, pre-releases) are ignored.
pub fn newest_release(tags_answer: &[u8]) -> Result<FluxVersion, String> {
    let value: Value = serde_json::from_slice(tags_answer)
        .map_err(|e| format!("the tag list is not JSON: {e}"))?;
    value["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|t| fluxversion::parse_exact(t).ok())
        .filter(|v| v.0.pre.is_empty())
        .max()
        .ok_or_else(|| "the repository has no release tag (vX.Y.Z)".into())
}

/// A location header of a blob redirect, or a URL of an upload, resolved against the request.
/// (The shell resolves; this names what an upload's `Location` must give.)
pub fn upload_put_url(location: &str, digest: &str) -> String {
    let separator = if location.contains('?') { '&' } else { '?' };
    format!("{location}{separator}digest={}", percent_encode(digest))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn v(tag: &str) -> FluxVersion {
        fluxversion::parse_exact(tag).unwrap()
    }

    #[test]
    fn digests_are_verified() {
        let d = digest_of(b"hello");
        assert!(verify_digest(b"hello", &d).is_ok());
        let e = verify_digest(b"hellO", &d).unwrap_err();
        assert!(e.contains(&d), "{e}");
    }

    #[test]
    fn challenges() {
        assert_eq!(
            parse_challenge(r#"Basic realm="shoot-flux-testbed""#).unwrap(),
            Challenge::Basic
        );
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:fluxcd/flux-manifests:pull""#
            )
            .unwrap(),
            Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
                scope: Some("repository:fluxcd/flux-manifests:pull".into()),
            }
        );
        // Unquoted values and a comma inside quotes.
        assert_eq!(
            parse_challenge(r#"bearer realm=https://auth.example/t, scope="a:b:pull,push""#)
                .unwrap(),
            Challenge::Bearer {
                realm: "https://auth.example/t".into(),
                service: None,
                scope: Some("a:b:pull,push".into()),
            }
        );
        assert!(parse_challenge(r#"Bearer service="x""#).is_err());
        let e = parse_challenge(r#"Bearer realm="http://auth.example/t""#).unwrap_err();
        assert!(e.contains("not https"), "{e}");
        assert!(parse_challenge("Negotiate").is_err());
    }

    #[test]
    fn token_requests_and_answers() {
        assert_eq!(
            token_url(
                "https://ghcr.io/token",
                Some("ghcr.io"),
                "repository:fluxcd/flux-manifests:pull"
            ),
            "https://ghcr.io/token?service=ghcr.io&scope=repository%3Afluxcd%2Fflux-manifests%3Apull"
        );
        assert_eq!(
            token_url("https://a/t?x=1", None, "s"),
            "https://a/t?x=1&scope=s"
        );
        assert_eq!(token_from_answer(br#"{"token":"abc"}"#).unwrap(), "abc");
        assert_eq!(
            token_from_answer(br#"{"access_token":"def","expires_in":300}"#).unwrap(),
            "def"
        );
        assert!(token_from_answer(br#"{"token":""}"#).is_err());
        assert!(token_from_answer(b"<html>").is_err());
    }

    /// The manifest `flux push artifact` wrote for Flux v2.9.5's manifests in the bed.
    const FLUX_PUSHED: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.cncf.flux.config.v1+json","size":115,"digest":"sha256:5b943e2b943f6c81dbbd4e2eca5121f4fcc39139e3d1219d6d89bd925b77d9fe"},"layers":[{"mediaType":"application/vnd.cncf.flux.content.v1.tar+gzip","size":45756,"digest":"sha256:85be18eef6425fe780ca59843eca5cc20ad8848530888a003cb682091449e222"}],"annotations":{"org.opencontainers.image.created":"2026-12-05T08:42:36Z","org.opencontainers.image.revision":"v2.9.5@sha1:abc","org.opencontainers.image.source":"https://github.com/fluxcd/flux2"}}"#;

    #[test]
    fn the_content_layer_of_a_flux_artifact() {
        assert_eq!(
            content_layer(FLUX_PUSHED.as_bytes()).unwrap(),
            ContentLayer {
                digest: "sha256:85be18eef6425fe780ca59843eca5cc20ad8848530888a003cb682091449e222"
                    .into(),
                size: 45756
            }
        );
        // What flux push writes as config is ours too, byte for byte (115 bytes, that digest).
        let config = artifact_config();
        assert_eq!(config.len(), 115);
        assert_eq!(
            digest_of(&config),
            "sha256:5b943e2b943f6c81dbbd4e2eca5121f4fcc39139e3d1219d6d89bd925b77d9fe"
        );
        let index = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(
            content_layer(index.as_bytes())
                .unwrap_err()
                .contains("image index")
        );
        let image = FLUX_PUSHED.replace(
            "application/vnd.cncf.flux.content.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        );
        let e = content_layer(image.as_bytes()).unwrap_err();
        assert!(e.contains("has 0"), "{e}");
        assert!(content_layer(b"{}").is_err());
    }

    const SHARED: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n";
    fn labelled(kind: &str, name: &str, component: &str) -> String {
        format!(
            "apiVersion: v1\nkind: {kind}\nmetadata:\n  name: {name}\n  namespace: flux-system\n  labels:\n    app.kubernetes.io/component: {component}\n"
        )
    }

    #[test]
    fn a_layer_splits_into_install_and_extras_and_mirrors_back() {
        let gotk = [
            SHARED.to_string(),
            labelled("ServiceAccount", "source-controller", "source-controller"),
            labelled(
                "ServiceAccount",
                "image-reflector-controller",
                "image-reflector-controller",
            ),
        ]
        .join("---\n");
        let layer = pack_layer(&[(COMPONENTS_FILE, gotk.as_bytes())]).unwrap();
        let release = release_from_layer(&v("v2.9.5"), &layer).unwrap();
        let names = |docs: &[Value]| -> Vec<String> {
            docs.iter()
                .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            names(&release.install),
            ["flux-system", "source-controller"]
        );
        assert_eq!(
            names(&release.components["image-reflector-controller"]),
            ["image-reflector-controller"]
        );
        assert!(release.components.contains_key("source-controller"));

        // The mirror's file gives back install.yaml's documents and the extras.
        let install_yaml = [
            SHARED.to_string(),
            labelled("ServiceAccount", "source-controller", "source-controller"),
        ]
        .join("---\n");
        let extras = HashMap::from([(
            "image-reflector-controller".to_string(),
            transform::parse_documents(&labelled(
                "ServiceAccount",
                "image-reflector-controller",
                "image-reflector-controller",
            ))
            .unwrap(),
        )]);
        let file = components_file(&install_yaml, &extras).unwrap();
        let layer = pack_layer(&[(COMPONENTS_FILE, file.as_bytes())]).unwrap();
        let back = release_from_layer(&v("v2.9.5"), &layer).unwrap();
        assert_eq!(
            back.install,
            transform::parse_documents(&install_yaml).unwrap()
        );
        assert_eq!(
            back.components["image-reflector-controller"],
            extras["image-reflector-controller"]
        );
    }

    #[test]
    fn packing_is_reproducible_like_flux_push() {
        let a = pack_layer(&[(COMPONENTS_FILE, b"x: 1\n")]).unwrap();
        assert_eq!(a, pack_layer(&[(COMPONENTS_FILE, b"x: 1\n")]).unwrap());
        // gzip without a time and OS "unknown", as Go's gzip writes it.
        assert_eq!(&a[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(a.as_slice()));
        let paths: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(paths, [".", COMPONENTS_FILE]);
    }

    #[test]
    fn bad_layers_are_malformed_releases() {
        let empty = pack_layer(&[("README.md", b"hi")]).unwrap();
        let e = release_from_layer(&v("v2.9.5"), &empty).unwrap_err();
        assert!(e.to_string().contains("no Kubernetes objects"), "{e}");
        let e = release_from_layer(&v("v2.9.5"), b"not gzip").unwrap_err();
        assert!(matches!(e, ManifestError::Malformed { .. }), "{e}");
        let broken = pack_layer(&[(COMPONENTS_FILE, b"a: [")]).unwrap();
        let e = release_from_layer(&v("v2.9.5"), &broken).unwrap_err();
        assert!(e.to_string().contains(COMPONENTS_FILE), "{e}");
    }

    #[test]
    fn the_newest_release_tag() {
        let tags = br#"{"name":"fluxcd/flux-manifests","tags":["latest","v2.6.4","v2.10.0-rc.1","v2.9.5","main"]}"#;
        assert_eq!(newest_release(tags).unwrap(), v("v2.9.5"));
        assert!(newest_release(br#"{"tags":["latest"]}"#).is_err());
        assert!(newest_release(br#"{"tags":null}"#).is_err());
    }
}
