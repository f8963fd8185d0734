//! ManagedResources as Gardener writes them for a shoot: no class
//! (target is the shoot), an origin label, and an immutable, content-named Secret whose one key
//! `data.yaml.br` holds the brotli-compressed objects. Old secrets are left to GRM's garbage
//! collector through the `garbage-collectable-reference` label and the MR's reference
//! annotations.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use base64::Engine;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const DATA_KEY: &str = "data.yaml.br";
pub const ORIGIN: &str = "shoot-flux";
pub const INSTALL_NAME: &str = "extension-shoot-flux-flux-install";
pub const CONFIG_NAME: &str = "extension-shoot-flux-flux-config";
/// RBAC in the shoot for shoot-flux's own read access (`shootaccess`).
pub const ACCESS_NAME: &str = "extension-shoot-flux-shoot-access";
pub const GC_LABEL: &str = "resources.gardener.cloud/garbage-collectable-reference";
pub const REFERENCE_PREFIX: &str = "reference.resources.gardener.cloud/";
/// Marks the secrets we wrote, for cleanup after the MR is gone.
pub const OWNER_LABEL: &str = "shoot-flux.extensions.gardener.cloud/managed-resource";
pub const IGNORE_ANNOTATION: &str = "resources.gardener.cloud/ignore";

pub const API_VERSION: &str = "resources.gardener.cloud/v1alpha1";
pub const KIND: &str = "ManagedResource";

/// A ManagedResource of `resources.gardener.cloud/v1alpha1`, with the fields shoot-flux writes
/// and reads (others are left to merge patches and never dropped).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedResource {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: ManagedResourceSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ManagedResourceStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedResourceSpec {
    #[serde(default)]
    pub secret_refs: Vec<SecretRef>,
    /// Unset: the objects go to the shoot (set: a seed class, which is not ours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_objects: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretRef {
    pub name: String,
}

/// What GRM reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManagedResourceStatus {
    #[serde(default)]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub conditions: Vec<ReportedCondition>,
}

/// A condition as GRM reports it; read leniently, since only type, status and message matter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportedCondition {
    #[serde(rename = "type", default)]
    pub type_: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub message: String,
}

impl ManagedResource {
    /// The condition of type `kind` GRM reports.
    pub fn condition(&self, kind: &str) -> Option<&ReportedCondition> {
        self.status
            .as_ref()?
            .conditions
            .iter()
            .find(|c| c.type_ == kind)
    }

    /// Whether `spec.secretRefs` names the Secret.
    pub fn references(&self, secret: &str) -> bool {
        self.spec.secret_refs.iter().any(|r| r.name == secret)
    }

    fn annotations(&self) -> impl Iterator<Item = (&String, &String)> {
        self.metadata.annotations.iter().flatten()
    }
}

/// Brotli for the shared install bundle, once per Flux version and option set: quality 6 with a
/// window just large enough for the input. Measured on Flux v2.9.5's install.yaml (262 KiB):
/// 27.7 KB in 5 ms with 4.5 MiB allocated at the peak; the 4 MiB window used before gave the
/// same bytes with 11.5 MiB, the largest allocation of a restart; quality 9 gave 26.7 KB with
/// 37 MiB.
pub fn brotli_compress(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4);
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 64 * 1024, 6, window_bits(data));
        // Writing into a Vec cannot fail.
        let _ = writer.write_all(data);
    }
    out
}

/// The smallest brotli window (in bits, 16 to 24) that holds all of `data`: a larger one only
/// costs memory.
fn window_bits(data: &[u8]) -> u32 {
    (usize::BITS - data.len().max(1).leading_zeros()).clamp(16, 24)
}

/// Brotli for the small per-shoot contents (the config and access ManagedResources, a few KiB):
/// quality 3 with a window as large as the input. Measured on a 5.4 KiB config (release build):
/// quality 3 takes 0.06 ms and yields 674 bytes; quality 5 yields 632 bytes but takes 3.3 ms,
/// almost all of it zeroing its 1 MiB hash table, and was half the controller's CPU per shoot.
pub fn brotli_compress_small(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 3 + 64);
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 3, window_bits(data));
        // Writing into a Vec cannot fail.
        let _ = writer.write_all(data);
    }
    out
}

pub fn brotli_decompress(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    brotli::Decompressor::new(data, 64 * 1024).read_to_end(&mut out)?;
    Ok(out)
}

fn short_sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))[..8].to_string()
}

/// The compressed objects of a ManagedResource's Secret, hashed and encoded once. The install
/// bundle's (27.7 KB compressed, 37 KB in base64) is the same for every shoot of a Flux version:
/// hashing, base64-encoding and JSON-escaping it per shoot took 2 to 3 % of the controller's CPU
/// while converging.
#[derive(Debug, Clone)]
pub struct SecretContent {
    /// The first 8 hex digits of the compressed bytes' SHA-256: the Secret's name ends in them.
    digest: String,
    /// The Secret's `data` as JSON text: `{"data.yaml.br": "<base64>"}`.
    data: Arc<RawValue>,
}

impl SecretContent {
    /// Hashes and encodes `compressed` (the brotli-compressed objects).
    pub fn new(compressed: &[u8]) -> Result<Self, String> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(compressed);
        // Base64 has nothing to escape in a JSON string.
        let data = RawValue::from_string(format!("{{\"{DATA_KEY}\":\"{encoded}\"}}"))
            .map_err(|e| format!("encoding the ManagedResource content: {e}"))?;
        Ok(Self {
            digest: short_sha(compressed),
            data: Arc::from(data),
        })
    }
}

impl PartialEq for SecretContent {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest && self.data.get() == other.data.get()
    }
}

/// A ManagedResource's objects with their Secret's content.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedObjects {
    pub objects: Arc<Vec<Value>>,
    pub content: SecretContent,
}

/// The immutable, content-named Secret a ManagedResource references; it serializes as the
/// core/v1 Secret the API server receives.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentSecret {
    pub metadata: ObjectMeta,
    pub content: SecretContent,
}

impl Serialize for ContentSecret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(6))?;
        map.serialize_entry("apiVersion", "v1")?;
        map.serialize_entry("kind", "Secret")?;
        map.serialize_entry("metadata", &self.metadata)?;
        map.serialize_entry("type", "Opaque")?;
        map.serialize_entry("immutable", &true)?;
        map.serialize_entry("data", &*self.content.data)?;
        map.end()
    }
}

/// One ManagedResource and the Secret it references.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredManagedResource {
    pub name: String,
    pub namespace: String,
    pub secret_name: String,
    pub secret: ContentSecret,
    pub managed_resource: ManagedResource,
}

fn labels(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, String>> {
    Some(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Builds the MR `name` in `namespace` over its Secret's `content`.
pub fn build(name: &str, namespace: &str, content: &SecretContent) -> DesiredManagedResource {
    let secret_name = format!("managedresource-{name}-{}", content.digest);
    let secret = ContentSecret {
        metadata: ObjectMeta {
            name: Some(secret_name.clone()),
            namespace: Some(namespace.into()),
            labels: labels(&[(GC_LABEL, "true"), (OWNER_LABEL, name)]),
            ..Default::default()
        },
        content: content.clone(),
    };
    let managed_resource = ManagedResource {
        api_version: API_VERSION.into(),
        kind: KIND.into(),
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            labels: labels(&[("origin", ORIGIN)]),
            annotations: labels(&[(&reference_key(&secret_name), &secret_name)]),
            ..Default::default()
        },
        spec: ManagedResourceSpec {
            secret_refs: vec![SecretRef {
                name: secret_name.clone(),
            }],
            class: None,
            keep_objects: Some(false),
        },
        status: None,
    };
    DesiredManagedResource {
        name: name.to_string(),
        namespace: namespace.to_string(),
        secret_name,
        secret,
        managed_resource,
    }
}

/// The MR annotation that tells GRM's garbage collector a secret is still in use.
pub fn reference_key(secret_name: &str) -> String {
    format!(
        "{REFERENCE_PREFIX}secret-{}",
        short_sha(secret_name.as_bytes())
    )
}

/// The merge patch that turns an existing MR (or nothing) into the desired one: spec and our
/// labels replaced, stale reference annotations and a predecessor's `ignore` annotation removed.
/// None when nothing would change; with no existing MR, the whole desired object.
pub fn merge_patch(
    existing: Option<&ManagedResource>,
    desired: &DesiredManagedResource,
) -> Option<Value> {
    let want = &desired.managed_resource;
    let Some(existing) = existing else {
        return serde_json::to_value(want).ok();
    };
    let mut annotations: serde_json::Map<String, Value> = want
        .annotations()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    for (key, _) in existing.annotations() {
        let stale_reference = key.starts_with(REFERENCE_PREFIX) && !annotations.contains_key(key);
        if stale_reference || key == IGNORE_ANNOTATION {
            annotations.insert(key.clone(), Value::Null);
        }
    }
    let origin = |mr: &ManagedResource| {
        mr.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("origin"))
            .cloned()
    };
    let existing_annotation = |key: &str| {
        existing
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .map_or(Value::Null, |v| Value::String(v.clone()))
    };
    let unchanged = existing.spec.secret_refs == want.spec.secret_refs
        && existing.spec.keep_objects == want.spec.keep_objects
        && existing.spec.class.is_none()
        && origin(existing) == origin(want)
        && annotations
            .iter()
            .all(|(k, v)| existing_annotation(k) == *v);
    if unchanged {
        return None;
    }
    Some(json!({
        "metadata": {"labels": want.metadata.labels, "annotations": annotations},
        "spec": {"secretRefs": want.spec.secret_refs, "keepObjects": want.spec.keep_objects, "class": null}
    }))
}

/// Whether GRM reports the ManagedResource's objects as applied (`ResourcesApplied` True).
pub fn resources_applied(managed_resource: &ManagedResource) -> bool {
    managed_resource
        .condition("ResourcesApplied")
        .is_some_and(|c| c.status == "True")
}

/// Whether writing `desired` over `existing` may meet CRD versions the shoot still stores, so
/// that the shoot's CRDs must be looked at first: GRM once applied `existing` (the shoot may have
/// its CRDs, from shoot-flux or a predecessor), and the shoot does not have `desired` applied
/// (it changes, or GRM has not applied it yet: a shoot woken up, a refused CRD update).
pub fn may_meet_stored_versions(
    existing: &ManagedResource,
    desired: &DesiredManagedResource,
) -> bool {
    existing.condition("ResourcesApplied").is_some()
        && (merge_patch(Some(existing), desired).is_some() || !resources_applied(existing))
}

/// The name gardener's `managedresources.CreateForShoot` gave the one secret of a shoot
/// ManagedResource: the predecessors (the 23technologies extension, and the stackit one before it
/// dropped ManagedResources) wrote `extension-shoot-flux-flux-install` and `-flux-config` that
/// way, mutable and without any label, so GRM's garbage collector never removes them.
pub fn predecessor_secret_name(managed_resource: &str) -> String {
    format!("managedresource-{managed_resource}")
}

/// The Secrets a predecessor left behind that nothing uses any more, given the ManagedResources
/// and the Secrets (metadata) of one shoot namespace; sorted. A Secret qualifies only if it has
/// the name a predecessor gave its install or config MR's secret, carries neither the garbage
/// collector's label nor ours (those are GRM's or ours to clean up), the MR of that name is ours
/// again (shoot-flux has replaced the predecessor's reference), and no MR of the namespace,
/// whoever owns it, references it in `secretRefs` or a reference annotation.
pub fn predecessor_leftovers(
    managed_resources: &[ManagedResource],
    secrets: &[ObjectMeta],
) -> Vec<String> {
    let referenced = |secret: &str| {
        managed_resources.iter().any(|mr| {
            mr.references(secret)
                || mr
                    .annotations()
                    .any(|(k, v)| k.starts_with(REFERENCE_PREFIX) && v == secret)
        })
    };
    let ours_again = |name: &str| {
        managed_resources.iter().any(|mr| {
            mr.metadata.name.as_deref() == Some(name)
                && mr
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("origin"))
                    .is_some_and(|o| o == ORIGIN)
        })
    };
    let mut out: Vec<String> = secrets
        .iter()
        .filter(|meta| meta.deletion_timestamp.is_none())
        .filter(|meta| {
            meta.labels
                .as_ref()
                .is_none_or(|l| !l.contains_key(GC_LABEL) && !l.contains_key(OWNER_LABEL))
        })
        .filter_map(|meta| meta.name.clone())
        .filter(|name| {
            [INSTALL_NAME, CONFIG_NAME]
                .iter()
                .any(|mr| *name == predecessor_secret_name(mr) && ours_again(mr))
        })
        .filter(|name| !referenced(name))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(compressed: &[u8]) -> SecretContent {
        SecretContent::new(compressed).unwrap()
    }

    /// The install ManagedResource of shoot namespace `shoot--p--s` over `yaml`.
    fn install_of(yaml: &[u8]) -> DesiredManagedResource {
        build(
            INSTALL_NAME,
            "shoot--p--s",
            &content(&brotli_compress(yaml)),
        )
    }

    /// A ManagedResource decoded from the API's JSON.
    fn typed(value: Value) -> ManagedResource {
        serde_json::from_value(value).unwrap()
    }

    fn secret_meta(name: &str, labels: &[(&str, &str)]) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            labels: (!labels.is_empty()).then(|| {
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }),
            ..Default::default()
        }
    }

    /// The namespace of a 23technologies shoot after shoot-flux took over its two MRs, plus what
    /// others keep there.
    #[test]
    fn predecessor_leftovers_are_exactly_the_unreferenced_unlabelled_predecessor_secrets() {
        let install = build(INSTALL_NAME, "ns", &content(&brotli_compress(b"install")));
        let config = build(
            CONFIG_NAME,
            "ns",
            &content(&brotli_compress_small(b"config")),
        );
        let other_mr = typed(json!({
            "metadata": {"name": "extension-shoot-dns-service-shoot", "labels": {"origin": "shoot-dns-service"}},
            "spec": {"secretRefs": [{"name": "managedresource-extension-shoot-dns-service-shoot"}]}
        }));
        let mrs = vec![
            install.managed_resource.clone(),
            config.managed_resource.clone(),
            other_mr.clone(),
        ];
        let old_install = predecessor_secret_name(INSTALL_NAME);
        let old_config = predecessor_secret_name(CONFIG_NAME);
        assert_eq!(
            old_install,
            "managedresource-extension-shoot-flux-flux-install"
        );
        let secrets = vec![
            secret_meta(&old_install, &[]),
            secret_meta(&old_config, &[]),
            secret_meta(
                &install.secret_name,
                &[(GC_LABEL, "true"), (OWNER_LABEL, INSTALL_NAME)],
            ),
            secret_meta(
                &config.secret_name,
                &[(GC_LABEL, "true"), (OWNER_LABEL, CONFIG_NAME)],
            ),
            // Another extension's MR secret, unlabelled the same way: never ours to delete.
            secret_meta("managedresource-extension-shoot-dns-service-shoot", &[]),
            // An old secret of ours: the garbage collector's business.
            secret_meta(
                &format!("managedresource-{INSTALL_NAME}-0badc0de"),
                &[(GC_LABEL, "true"), (OWNER_LABEL, INSTALL_NAME)],
            ),
            secret_meta("gardener-internal", &[]),
            secret_meta("ref-git-credentials", &[]),
        ];
        assert_eq!(
            predecessor_leftovers(&mrs, &secrets),
            vec![old_config.clone(), old_install.clone()]
        );
        // Idempotent: once they are gone, nothing is left to delete.
        assert!(predecessor_leftovers(&mrs, &secrets[2..]).is_empty());

        // Before the takeover the predecessor's MRs still reference them.
        let theirs = |name: &str, secret: &str| {
            typed(
                json!({"metadata": {"name": name, "labels": {"origin": "gardener"}},
                   "spec": {"secretRefs": [{"name": secret}]}}),
            )
        };
        let before = vec![
            theirs(INSTALL_NAME, &old_install),
            theirs(CONFIG_NAME, &old_config),
        ];
        assert!(predecessor_leftovers(&before, &secrets).is_empty());
        // Half way: the install MR is ours, the config MR is not yet.
        let half = vec![
            install.managed_resource.clone(),
            theirs(CONFIG_NAME, &old_config),
        ];
        assert_eq!(
            predecessor_leftovers(&half, &secrets),
            vec![old_install.clone()]
        );
        // No MR of that name (ours not created yet, or gone): kept.
        assert!(predecessor_leftovers(std::slice::from_ref(&other_mr), &secrets).is_empty());
        // Any other MR that still references one keeps it, in secretRefs or in an annotation.
        let by_ref = typed(json!({"metadata": {"name": "someone-else"},
            "spec": {"secretRefs": [{"name": old_install}]}}));
        let by_annotation = typed(json!({"metadata": {"name": "someone-else",
            "annotations": {reference_key(&old_config): old_config}}, "spec": {}}));
        let mut with_users = mrs.clone();
        with_users.extend([by_ref, by_annotation]);
        assert!(predecessor_leftovers(&with_users, &secrets).is_empty());
        // A secret of that name carrying the garbage collector's label is not the predecessor's.
        let labelled = vec![secret_meta(&old_install, &[(GC_LABEL, "true")])];
        assert!(predecessor_leftovers(&mrs, &labelled).is_empty());
        // A secret already being deleted is not deleted again.
        let mut deleting = secret_meta(&old_install, &[]);
        deleting.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::UNIX_EPOCH,
        ));
        assert!(predecessor_leftovers(&mrs, &[deleting]).is_empty());
    }

    #[test]
    fn applied_only_when_grm_says_so() {
        let mr = |conditions: Value| typed(json!({"status": {"conditions": conditions}}));
        assert!(resources_applied(&mr(
            json!([{"type": "ResourcesApplied", "status": "True"}])
        )));
        assert!(!resources_applied(&mr(json!([
            {"type": "ResourcesHealthy", "status": "True"},
            {"type": "ResourcesApplied", "status": "False", "message": "secret not found"}
        ]))));
        assert!(!resources_applied(&typed(json!({}))));
    }

    #[test]
    fn the_shoots_crds_are_looked_at_only_when_an_applied_install_changes_or_is_not_applied() {
        let old = install_of(b"kind: A");
        let new = install_of(b"kind: B");
        let with_status = |desired: &DesiredManagedResource, status: Value| {
            let mut object = serde_json::to_value(&desired.managed_resource).unwrap();
            object["status"] = status;
            typed(object)
        };
        let applied = json!({"conditions": [{"type": "ResourcesApplied", "status": "True"}]});
        let refused = json!({"conditions": [{"type": "ResourcesApplied", "status": "False"}]});
        // An upgrade of what GRM applied.
        assert!(may_meet_stored_versions(
            &with_status(&old, applied.clone()),
            &new
        ));
        // Steady: applied and unchanged.
        assert!(!may_meet_stored_versions(&with_status(&new, applied), &new));
        // Written before, refused or not applied yet since (a woken shoot, a refused CRD).
        assert!(may_meet_stored_versions(&with_status(&new, refused), &new));
        // GRM never applied it: nothing of it is in the shoot.
        assert!(!may_meet_stored_versions(
            &with_status(&old, json!({})),
            &new
        ));
    }

    /// The content is encoded once, and the Secret still reaches the API server as the core/v1
    /// Secret it was when built per shoot (same name, same bytes), so no shoot's secret is
    /// renamed or rewritten.
    #[test]
    fn a_content_secret_is_the_secret_it_stands_for() {
        let compressed = brotli_compress(b"kind: A\n".repeat(500).as_slice());
        let desired = build(INSTALL_NAME, "shoot--p--s", &content(&compressed));
        let core = k8s_openapi::api::core::v1::Secret {
            metadata: ObjectMeta {
                name: Some(format!(
                    "managedresource-{INSTALL_NAME}-{}",
                    &hex::encode(Sha256::digest(&compressed))[..8]
                )),
                namespace: Some("shoot--p--s".into()),
                labels: labels(&[(GC_LABEL, "true"), (OWNER_LABEL, INSTALL_NAME)]),
                ..Default::default()
            },
            type_: Some("Opaque".into()),
            immutable: Some(true),
            data: Some(BTreeMap::from([(
                DATA_KEY.to_string(),
                k8s_openapi::ByteString(compressed.clone()),
            )])),
            ..Default::default()
        };
        assert_eq!(desired.secret.metadata.name, core.metadata.name);
        assert_eq!(
            serde_json::to_value(&desired.secret).unwrap(),
            serde_json::to_value(&core).unwrap()
        );
        assert_ne!(content(&compressed), content(b"other"));
    }

    #[test]
    fn content_named_secret_and_reference_annotation() {
        let a = install_of(b"kind: A");
        let b = install_of(b"kind: B");
        assert_ne!(a.secret_name, b.secret_name, "content changes the name");
        assert!(
            a.secret_name
                .starts_with("managedresource-extension-shoot-flux-flux-install-")
        );
        // As the API server receives them.
        let (secret, mr) = (
            serde_json::to_value(&a.secret).unwrap(),
            serde_json::to_value(&a.managed_resource).unwrap(),
        );
        assert_eq!(secret["immutable"], true);
        assert_eq!(secret["metadata"]["labels"][GC_LABEL], "true");
        assert_eq!(secret["type"], "Opaque");
        assert!(secret["data"][DATA_KEY].is_string());
        assert_eq!(mr["apiVersion"], API_VERSION);
        assert_eq!(mr["kind"], KIND);
        assert_eq!(
            mr["metadata"]["annotations"][reference_key(&a.secret_name)],
            a.secret_name
        );
        assert_eq!(mr["metadata"]["labels"]["origin"], ORIGIN);
        assert_eq!(mr["spec"]["secretRefs"][0]["name"], a.secret_name);
        assert_eq!(mr["spec"]["keepObjects"], false);
        assert!(mr["spec"].get("class").is_none());
        assert!(mr.get("status").is_none());
    }

    #[test]
    fn merge_patch_is_none_when_unchanged_and_cleans_up_otherwise() {
        let a = build(CONFIG_NAME, "ns", &content(&brotli_compress(b"1")));
        let b = build(CONFIG_NAME, "ns", &content(&brotli_compress(b"2")));
        assert_eq!(merge_patch(Some(&a.managed_resource), &a), None);
        let patch = merge_patch(Some(&a.managed_resource), &b).unwrap();
        assert_eq!(
            patch["metadata"]["annotations"][reference_key(&a.secret_name)],
            Value::Null
        );
        assert_eq!(patch["spec"]["secretRefs"][0]["name"], b.secret_name);
        // A predecessor's MR marked ignore is taken over.
        let mut theirs = a.managed_resource.clone();
        theirs
            .metadata
            .annotations
            .get_or_insert_default()
            .insert(IGNORE_ANNOTATION.into(), "true".into());
        let patch = merge_patch(Some(&theirs), &a).unwrap();
        assert_eq!(
            patch["metadata"]["annotations"][IGNORE_ANNOTATION],
            Value::Null
        );
    }

    #[test]
    fn brotli_round_trips() {
        let text = b"apiVersion: v1\nkind: ConfigMap\n".repeat(100);
        assert_eq!(brotli_decompress(&brotli_compress(&text)).unwrap(), text);
        assert_eq!(
            brotli_decompress(&brotli_compress_small(&text)).unwrap(),
            text
        );
        assert_eq!(brotli_decompress(&brotli_compress_small(b"")).unwrap(), b"");
    }
}
