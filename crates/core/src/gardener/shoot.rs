//! The facts about a shoot that shoot-flux needs, decoded from the `Cluster` object, where
//! gardenlet keeps the whole Shoot, Seed and CloudProfile. Only these fields are kept, so a large
//! Cluster costs nothing after decoding.

use serde_json::Value;

use super::types::DecodeError;
use crate::api::v1alpha1::ShootResource;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShootFacts {
    /// The Cluster's name, equal to the shoot namespace in the seed.
    pub cluster_name: String,
    pub name: String,
    /// The Shoot's namespace in the garden, where the project's `flux-config` and deploy key
    /// live: `garden` or `garden-<anything>` (a Project's `spec.namespace` need not be
    /// `garden-<project>`).
    pub project_namespace: String,
    /// The project's name, from the technical ID.
    pub project: String,
    /// `status.technicalID` (else the Cluster's name): `shoot--<project>--<shoot>`.
    pub technical_id: String,
    pub uid: Option<String>,
    pub cluster_identity: Option<String>,
    pub deleting: bool,
    pub force_deletion: bool,
    /// `spec.hibernation.enabled`.
    pub hibernation_enabled: bool,
    /// `status.hibernated`.
    pub hibernated: bool,
    pub last_operation_type: Option<String>,
    pub last_operation_state: Option<String>,
    pub worker_count: usize,
    pub purpose: Option<String>,
    pub region: Option<String>,
    pub provider_type: Option<String>,
    pub kubernetes_version: Option<String>,
    pub domain: Option<String>,
    pub seed_name: Option<String>,
    pub garden_cluster_identity: Option<String>,
    /// `spec.resources[]`: objects gardenlet copies into the shoot namespace as `ref-<name>`.
    pub resources: Vec<ShootResource>,
}

impl ShootFacts {
    /// `IsShootFailed`.
    pub fn is_failed(&self) -> bool {
        self.last_operation_state.as_deref() == Some("Failed")
    }

    /// `IsHibernationEnabled`: the shoot is (going to be) hibernated; no shoot API requests.
    pub fn is_hibernation_enabled(&self) -> bool {
        self.hibernation_enabled
    }

    /// Workerless shoots cannot run Flux.
    pub fn is_workerless(&self) -> bool {
        self.worker_count == 0
    }
}

fn opt_str(value: &Value, pointer: &str) -> Result<Option<String>, DecodeError> {
    match value.pointer(pointer) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(DecodeError {
            path: format!("spec.shoot{}", pointer.replace('/', ".")),
            message: format!("expected a string, found {other}"),
        }),
    }
}

fn opt_bool(value: &Value, pointer: &str) -> Result<bool, DecodeError> {
    match value.pointer(pointer) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(DecodeError {
            path: format!("spec.shoot{}", pointer.replace('/', ".")),
            message: format!("expected a boolean, found {other}"),
        }),
    }
}

/// The parts of a Cluster shoot-flux reads: its metadata, and of its spec the Shoot. The
/// CloudProfile (often hundreds of KiB in a real landscape), the Seed and every `managedFields`
/// (a few KiB per object, naming each field its writers set) are skipped while parsing, never
/// built as values.
pub struct SlimCluster {
    pub metadata: Value,
    spec: SlimClusterSpec,
}

impl<'de> serde::Deserialize<'de> for SlimCluster {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SlimCluster;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Cluster object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                use serde::de::Error;
                let (mut metadata, mut spec) = (None, None);
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "metadata" if metadata.is_some() => {
                            return Err(A::Error::duplicate_field("metadata"));
                        }
                        "metadata" => metadata = Some(map.next_value_seed(WITHOUT_MANAGED_FIELDS)?),
                        "spec" if spec.is_some() => return Err(A::Error::duplicate_field("spec")),
                        "spec" => spec = Some(map.next_value::<SlimClusterSpec>()?),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(SlimCluster {
                    metadata: metadata.unwrap_or_default(),
                    spec: spec.unwrap_or_default(),
                })
            }
        }
        // An object only: a derived struct would also read a JSON array, field by position,
        // where the whole-object decoding sees no spec at all.
        deserializer.deserialize_map(Visitor)
    }
}

/// `spec.shoot` of an object spec; a spec of another JSON type is kept as a value of that type
/// (an empty list for a list), for `decode_cluster` to report.
#[derive(Default)]
enum SlimClusterSpec {
    #[default]
    Missing,
    Object {
        shoot: Option<Value>,
    },
    Other(Value),
}

impl<'de> serde::Deserialize<'de> for SlimClusterSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SlimClusterSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Cluster spec")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut shoot = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "shoot" => shoot = Some(map.next_value_seed(SHOOT)?),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(SlimClusterSpec::Object { shoot })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(SlimClusterSpec::Other(Value::Array(Vec::new())))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(SlimClusterSpec::Missing)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(SlimClusterSpec::Other(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(SlimClusterSpec::Other(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(SlimClusterSpec::Other(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(SlimClusterSpec::Other(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(SlimClusterSpec::Other(Value::String(v.to_string())))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A JSON value read as `Value` reads it, except that the members of an object named in `skip`
/// are passed over, and its member `metadata`, where `metadata` is set, is read with that `Pruned`.
#[derive(Clone, Copy)]
struct Pruned {
    skip: &'static [&'static str],
    metadata: Option<&'static Pruned>,
}

/// An object's metadata without its `managedFields`.
const WITHOUT_MANAGED_FIELDS: Pruned = Pruned {
    skip: &["managedFields"],
    metadata: None,
};

/// A Shoot as the Cluster holds it, without its metadata's `managedFields`.
const SHOOT: Pruned = Pruned {
    skip: &[],
    metadata: Some(&WITHOUT_MANAGED_FIELDS),
};

impl<'de> serde::de::DeserializeSeed<'de> for Pruned {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Pruned {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if self.skip.contains(&key.as_str()) {
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
            let value = match self.metadata {
                Some(metadata) if key == "metadata" => map.next_value_seed(*metadata)?,
                _ => map.next_value::<Value>()?,
            };
            // A repeated member replaces the one before, as in `Value`.
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        serde::Deserialize::deserialize(deserializer)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
}

/// Decodes a Cluster's JSON text into the shape `decode_cluster` reads: its metadata, and of its
/// spec only the Shoot (without `managedFields`). Fails only on text that is not JSON or not an
/// object.
pub fn slim_cluster(text: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str::<SlimCluster>(text).map(slim_to_value)
}

/// The metadata of a metadata-only read (`PartialObjectMetadata`).
#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct SlimMeta {
    #[serde(default)]
    pub resource_version: Option<String>,
}

/// The slim Cluster as one JSON value. Its parts are moved in: `json!` would copy each of them
/// through serialization (2.5 % of the controller's CPU while converging).
pub fn slim_to_value(cluster: SlimCluster) -> Value {
    let mut object = serde_json::Map::new();
    object.insert("metadata".into(), cluster.metadata);
    let spec = match cluster.spec {
        SlimClusterSpec::Missing => return Value::Object(object),
        SlimClusterSpec::Object { shoot } => {
            let mut spec = serde_json::Map::new();
            if let Some(shoot) = shoot {
                spec.insert("shoot".into(), shoot);
            }
            Value::Object(spec)
        }
        SlimClusterSpec::Other(value) => value,
    };
    object.insert("spec".into(), spec);
    Value::Object(object)
}

/// What shoot-flux keeps of one Cluster: the decoded facts (or why they do not decode) and the
/// name of the generic token kubeconfig Secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterInfo {
    pub facts: Result<ShootFacts, DecodeError>,
    pub generic_kubeconfig: Option<String>,
}

impl ClusterInfo {
    /// From a Cluster as JSON (its metadata, and of its spec the Shoot).
    pub fn from_value(cluster: &Value) -> Self {
        Self {
            facts: decode_cluster(cluster),
            generic_kubeconfig: cluster["metadata"]["annotations"]
                [crate::access::GENERIC_KUBECONFIG_ANNOTATION]
                .as_str()
                .map(str::to_string),
        }
    }
}

/// The project's name in a shoot's technical ID (also its seed namespace and Cluster name):
/// `shoot--<project>--<shoot>`, or `shoot-<project>--<shoot>` that Gardener keeps for shoots
/// created before the double hyphen. Gardener forbids `--` in project and shoot names, so the
/// first `--` ends the project.
pub fn project_of(technical_id: &str) -> Option<&str> {
    let rest = technical_id
        .strip_prefix("shoot--")
        .or_else(|| technical_id.strip_prefix("shoot-"))?;
    let (project, shoot) = rest.split_once("--")?;
    (is_name(project) && is_name(shoot)).then_some(project)
}

/// The project a namespace was named after (`garden-<project>`, and `garden` for the `garden`
/// project): the fallback for a technical ID that cannot be split, as Gardener's oldest shoots
/// have (`shoot-<project>-<shoot>`, ambiguous); such shoots keep what they had before shoot-flux
/// read the technical ID. `namespace` is a project namespace (`is_project_namespace`).
pub fn project_of_namespace(namespace: &str) -> String {
    namespace
        .strip_prefix("garden-")
        .unwrap_or(namespace)
        .to_string()
}

/// A project or shoot name as Gardener admits it: a DNS label without `--`.
pub fn is_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// What Gardener accepts as a Project's namespace: `garden`, or `garden-` and more.
pub fn is_project_namespace(namespace: &str) -> bool {
    namespace == "garden"
        || namespace
            .strip_prefix("garden-")
            .is_some_and(|r| !r.is_empty())
}

/// The namespace a project has by convention: `garden-<project>`, and `garden` for the project
/// `garden`. Only a guess: a Project may set any other `garden-` namespace.
pub fn conventional_namespace(project: &str) -> String {
    if project == "garden" {
        "garden".into()
    } else {
        format!("garden-{project}")
    }
}

/// Whether a change in garden namespace `project_namespace` concerns the shoot in seed
/// namespace `shoot_namespace`, given what is known of its Cluster (None: not read yet). A
/// decoded Cluster says it exactly; one that does not decode is an error no garden change fixes.
/// An unread one is matched by convention (`garden-<project>`): a new shoot needs no event (its
/// first reconcile reads the Cluster, then the project), and right after a restart, until the
/// health check and the sync status poll have read the Clusters, the convention is all there is.
pub fn concerns(
    known: Option<&Result<ShootFacts, DecodeError>>,
    shoot_namespace: &str,
    project_namespace: &str,
) -> bool {
    match known {
        Some(Ok(facts)) => facts.project_namespace == project_namespace,
        Some(Err(_)) => false,
        None => project_of(shoot_namespace)
            .is_some_and(|p| conventional_namespace(p) == project_namespace),
    }
}

/// Decodes the facts from a Cluster object (as JSON). Every problem names its field.
pub fn decode_cluster(cluster: &Value) -> Result<ShootFacts, DecodeError> {
    let cluster_name = cluster["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    match cluster.get("spec") {
        None | Some(Value::Null | Value::Object(_)) => {}
        Some(other) => {
            return Err(DecodeError {
                path: "spec".into(),
                message: format!("expected an object, found {}", kind_of(other)),
            });
        }
    }
    let shoot = match cluster.pointer("/spec/shoot") {
        Some(s @ Value::Object(_)) => s,
        Some(other) => {
            return Err(DecodeError {
                path: "spec.shoot".into(),
                message: format!("expected the Shoot object, found {}", kind_of(other)),
            });
        }
        None => {
            return Err(DecodeError {
                path: "spec.shoot".into(),
                message: "missing".into(),
            });
        }
    };
    let name = opt_str(shoot, "/metadata/name")?.ok_or_else(|| DecodeError {
        path: "spec.shoot.metadata.name".into(),
        message: "missing".into(),
    })?;
    let project_namespace = opt_str(shoot, "/metadata/namespace")?.ok_or_else(|| DecodeError {
        path: "spec.shoot.metadata.namespace".into(),
        message: "missing".into(),
    })?;
    if !is_project_namespace(&project_namespace) {
        return Err(DecodeError {
            path: "spec.shoot.metadata.namespace".into(),
            message: format!(
                "{project_namespace:?} is not a project namespace (garden or garden-<name>)"
            ),
        });
    }
    // Gardener sets the technical ID once and never changes it; the Cluster is named after it.
    let technical_id = match opt_str(shoot, "/status/technicalID")? {
        Some(id) if !id.is_empty() => id,
        _ => cluster_name.clone(),
    };
    let project = project_of(&technical_id)
        .map(str::to_string)
        .unwrap_or_else(|| project_of_namespace(&project_namespace));
    let workers = match shoot.pointer("/spec/provider/workers") {
        None | Some(Value::Null) => 0,
        Some(Value::Array(a)) => a.len(),
        Some(other) => {
            return Err(DecodeError {
                path: "spec.shoot.spec.provider.workers".into(),
                message: format!("expected a list, found {}", kind_of(other)),
            });
        }
    };
    let force_deletion = shoot
        .pointer("/metadata/annotations/confirmation.gardener.cloud~1force-deletion")
        .and_then(Value::as_str)
        .is_some_and(|v| matches!(v, "true" | "True" | "TRUE" | "1" | "t" | "T"));
    Ok(ShootFacts {
        technical_id,
        cluster_name,
        name,
        project_namespace,
        project,
        uid: opt_str(shoot, "/status/uid")?.or(opt_str(shoot, "/metadata/uid")?),
        cluster_identity: opt_str(shoot, "/status/clusterIdentity")?,
        deleting: shoot
            .pointer("/metadata/deletionTimestamp")
            .is_some_and(|v| !v.is_null()),
        force_deletion,
        hibernation_enabled: opt_bool(shoot, "/spec/hibernation/enabled")?,
        hibernated: opt_bool(shoot, "/status/hibernated")?,
        last_operation_type: opt_str(shoot, "/status/lastOperation/type")?,
        last_operation_state: opt_str(shoot, "/status/lastOperation/state")?,
        worker_count: workers,
        purpose: opt_str(shoot, "/spec/purpose")?,
        region: opt_str(shoot, "/spec/region")?,
        provider_type: opt_str(shoot, "/spec/provider/type")?,
        kubernetes_version: opt_str(shoot, "/spec/kubernetes/version")?,
        domain: opt_str(shoot, "/spec/dns/domain")?,
        seed_name: opt_str(shoot, "/spec/seedName")?,
        garden_cluster_identity: None,
        resources: decode_resources(shoot)?,
    })
}

/// `spec.resources[]` of a Shoot (the Cluster's `spec.shoot`, or a Shoot in an admission
/// request); paths are named as the Cluster holds the Shoot (`spec.shoot.spec.resources`).
pub fn decode_resources(shoot: &Value) -> Result<Vec<ShootResource>, DecodeError> {
    let items = match shoot.pointer("/spec/resources") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(DecodeError {
                path: "spec.shoot.spec.resources".into(),
                message: format!("expected a list, found {}", kind_of(other)),
            });
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let field = |pointer: &str| -> Result<String, DecodeError> {
            item.pointer(pointer)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| DecodeError {
                    path: format!(
                        "spec.shoot.spec.resources[{i}]{}",
                        pointer.replace('/', ".")
                    ),
                    message: "missing or not a string".into(),
                })
        };
        out.push(ShootResource {
            name: field("/name")?,
            api_version: field("/resourceRef/apiVersion")?,
            kind: field("/resourceRef/kind")?,
            resource_name: field("/resourceRef/name")?,
        });
    }
    Ok(out)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(shoot: Value) -> Value {
        json!({"metadata": {"name": "shoot--dev--app"}, "spec": {"shoot": shoot, "seed": {}, "cloudProfile": {}}})
    }

    #[test]
    fn decodes_the_facts_we_need() {
        let facts = decode_cluster(&cluster(json!({
            "metadata": {"name": "app", "namespace": "garden-dev", "uid": "u1"},
            "spec": {"hibernation": {"enabled": true}, "purpose": "production", "region": "eu",
                     "provider": {"type": "aws", "workers": [{"name": "a"}, {"name": "b"}]},
                     "kubernetes": {"version": "1.36.3"}, "dns": {"domain": "app.dev.example.com"},
                     "seedName": "seed-1",
                     "resources": [{"name": "git", "resourceRef": {"apiVersion": "v1", "kind": "Secret", "name": "git-creds"}}]},
            "status": {"technicalID": "shoot--dev--app", "hibernated": true, "clusterIdentity": "ci",
                       "lastOperation": {"type": "Reconcile", "state": "Failed"}}
        })))
        .unwrap();
        assert_eq!(facts.project, "dev");
        assert_eq!(facts.worker_count, 2);
        assert!(facts.is_failed());
        assert!(facts.is_hibernation_enabled() && facts.hibernated);
        assert_eq!(facts.domain.as_deref(), Some("app.dev.example.com"));
        assert_eq!(facts.uid.as_deref(), Some("u1"));
        assert_eq!(facts.resources[0].name, "git");
        assert_eq!(facts.resources[0].resource_name, "git-creds");
    }

    /// A fuzz finding: `[null, false]` was read as metadata `null` and spec `false`, where the
    /// whole-object decoding of an array finds no spec.
    #[test]
    fn the_slim_path_refuses_what_is_not_an_object() {
        assert!(slim_cluster("[null, false]").is_err());
        assert!(slim_cluster("false").is_err());
        assert!(slim_cluster(r#"{"spec": {}, "spec": {}}"#).is_err());
        assert!(slim_cluster(r#"{"metadata": null, "spec": false}"#).is_ok());
    }

    #[test]
    fn the_slim_path_reads_what_the_full_object_says() {
        let full = cluster(json!({
            "metadata": {"name": "app", "namespace": "garden-dev"},
            "spec": {"provider": {"workers": [{"name": "a"}]}}
        }));
        let slim = slim_cluster(&full.to_string()).unwrap();
        assert!(slim["spec"].get("cloudProfile").is_none(), "{slim}");
        assert_eq!(decode_cluster(&slim), decode_cluster(&full));
        // A spec of the wrong type, or none, is the decoder's error naming the field.
        for (text, path) in [
            (r#"{"metadata": {"name": "c"}, "spec": "x"}"#, "spec"),
            (
                r#"{"metadata": {"name": "c"}, "spec": [1, {"shoot": {}}]}"#,
                "spec",
            ),
            (r#"{"metadata": {"name": "c"}, "spec": 7}"#, "spec"),
            (r#"{"metadata": {"name": "c"}, "spec": null}"#, "spec.shoot"),
            (r#"{"metadata": {"name": "c"}}"#, "spec.shoot"),
            (
                r#"{"metadata": {"name": "c"}, "spec": {"shoot": "x"}}"#,
                "spec.shoot",
            ),
        ] {
            let slim = slim_cluster(text).unwrap();
            assert_eq!(decode_cluster(&slim).unwrap_err().path, path, "{text}");
            let full: Value = serde_json::from_str(text).unwrap();
            assert_eq!(decode_cluster(&full).unwrap_err().path, path, "{text}");
        }
        assert!(slim_cluster("7").is_err());
        assert!(slim_cluster("{").is_err());
    }

    /// What the slim path leaves out is what nobody reads: the CloudProfile, the Seed and every
    /// `managedFields`; the Shoot and the Cluster's own metadata stay whole otherwise.
    #[test]
    fn the_slim_path_leaves_out_the_cloud_profile_the_seed_and_managed_fields() {
        let managed = json!([{"manager": "gardenlet", "fieldsV1": {"f:spec": {"f:shoot": {}}}}]);
        let full = json!({
            "metadata": {"name": "shoot--dev--app", "resourceVersion": "7",
                "annotations": {"a": "b"}, "managedFields": managed},
            "spec": {
                "shoot": {"metadata": {"name": "app", "namespace": "garden-dev",
                    "managedFields": managed, "labels": {"l": "v"}},
                    "spec": {"resources": [], "managedFields": "kept: not metadata"},
                    "status": {"technicalID": "shoot--dev--app", "list": [1, 2.5, null, true]}},
                "seed": {"metadata": {"name": "seed-1"}},
                "cloudProfile": {"spec": {"kubernetes": {}}}
            }
        });
        let slim = slim_cluster(&full.to_string()).unwrap();
        let mut expected = full.clone();
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        let spec = expected["spec"].as_object_mut().unwrap();
        spec.remove("seed");
        spec.remove("cloudProfile");
        expected["spec"]["shoot"]["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(slim, expected);
        assert_eq!(decode_cluster(&slim), decode_cluster(&full));
        // Metadata of another JSON type is kept as it is, as before.
        let odd = slim_cluster(r#"{"metadata": [1, {"managedFields": 2}], "spec": {}}"#).unwrap();
        assert_eq!(odd["metadata"], json!([1, {"managedFields": 2}]));
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (json!({"metadata": {"name": "c"}, "spec": {}}), "spec.shoot"),
            (cluster(json!("nope")), "spec.shoot"),
            (
                cluster(json!({"metadata": {"namespace": "garden-x"}})),
                "spec.shoot.metadata.name",
            ),
            (
                cluster(json!({"metadata": {"name": "a", "namespace": "kube-system"}})),
                "spec.shoot.metadata.namespace",
            ),
            (
                cluster(json!({"metadata": {"name": "a", "namespace": "garden-"}})),
                "spec.shoot.metadata.namespace",
            ),
            (
                cluster(
                    json!({"metadata": {"name": "a", "namespace": "garden-x"}, "spec": {"hibernation": {"enabled": "yes"}}}),
                ),
                "spec.shoot.spec.hibernation.enabled",
            ),
            (
                cluster(
                    json!({"metadata": {"name": "a", "namespace": "garden-x"}, "spec": {"provider": {"workers": {}}}}),
                ),
                "spec.shoot.spec.provider.workers",
            ),
            (
                cluster(
                    json!({"metadata": {"name": "a", "namespace": "garden-x"}, "spec": {"purpose": 3}}),
                ),
                "spec.shoot.spec.purpose",
            ),
            (
                cluster(
                    json!({"metadata": {"name": "a", "namespace": "garden-x"}, "spec": {"resources": [{"name": "x", "resourceRef": {"kind": "Secret", "name": "y"}}]}}),
                ),
                "spec.shoot.spec.resources[0].resourceRef.apiVersion",
            ),
        ];
        for (input, path) in cases {
            assert_eq!(decode_cluster(&input).unwrap_err().path, path, "{input}");
        }
    }

    #[test]
    fn the_project_comes_from_the_technical_id_and_its_namespace_from_the_shoot() {
        // Project alpha whose Project sets spec.namespace garden-team-a.
        let facts = decode_cluster(&json!({
            "metadata": {"name": "shoot--alpha--app"},
            "spec": {"shoot": {
                "metadata": {"name": "app", "namespace": "garden-team-a"},
                "status": {"technicalID": "shoot--alpha--app"}
            }}
        }))
        .unwrap();
        assert_eq!(facts.project, "alpha");
        assert_eq!(facts.project_namespace, "garden-team-a");
        assert_eq!(facts.technical_id, "shoot--alpha--app");
        // Without status.technicalID, the Cluster's name (the seed namespace) says it.
        let facts = decode_cluster(&json!({
            "metadata": {"name": "shoot--alpha--app"},
            "spec": {"shoot": {"metadata": {"name": "app", "namespace": "garden-team-a"},
                               "status": {"technicalID": ""}}}
        }))
        .unwrap();
        assert_eq!(
            (facts.project.as_str(), facts.technical_id.as_str()),
            ("alpha", "shoot--alpha--app")
        );
        // The garden project lives in namespace garden.
        let facts = decode_cluster(&json!({
            "metadata": {"name": "shoot--garden--ops"},
            "spec": {"shoot": {"metadata": {"name": "ops", "namespace": "garden"}}}
        }))
        .unwrap();
        assert_eq!(
            (facts.project.as_str(), facts.project_namespace.as_str()),
            ("garden", "garden")
        );
        // An ID that does not split (Gardener's oldest shoots: `shoot-<project>-<shoot>`) keeps
        // the project its namespace was named after, as before: never an error for a shoot
        // that worked.
        let facts = decode_cluster(&json!({
            "metadata": {"name": "shoot-dev-app"},
            "spec": {"shoot": {"metadata": {"name": "app", "namespace": "garden-dev"},
                               "status": {"technicalID": "shoot-dev-app"}}}
        }))
        .unwrap();
        assert_eq!(
            (facts.project.as_str(), facts.technical_id.as_str()),
            ("dev", "shoot-dev-app")
        );
        assert_eq!(project_of_namespace("garden"), "garden");
        assert_eq!(project_of_namespace("garden-team-a"), "team-a");
    }

    #[test]
    fn technical_ids() {
        for (id, project) in [
            ("shoot--alpha--app", Some("alpha")),
            ("shoot--garden--ops", Some("garden")),
            ("shoot--my-proj--my-shoot", Some("my-proj")),
            // Shoots from before the double hyphen keep their ID.
            ("shoot-alpha--app", Some("alpha")),
            ("shoot--alpha", None),
            ("shoot--alpha--", None),
            ("shoot----app", None),
            ("shoot---x--app", None),
            ("shoot--Alpha--app", None),
            ("shoot-alpha-app", None),
            ("garden-alpha", None),
            ("", None),
        ] {
            assert_eq!(project_of(id), project, "{id}");
        }
        assert!(is_project_namespace("garden"));
        assert!(is_project_namespace("garden-team-a"));
        assert!(!is_project_namespace("garden-"));
        assert!(!is_project_namespace("gardener"));
        assert!(!is_project_namespace("kube-system"));
        assert_eq!(conventional_namespace("alpha"), "garden-alpha");
        assert_eq!(conventional_namespace("garden"), "garden");
    }

    fn facts_in(project: &str, project_namespace: &str, shoot: &str) -> ShootFacts {
        ShootFacts {
            cluster_name: format!("shoot--{project}--{shoot}"),
            name: shoot.into(),
            project: project.into(),
            project_namespace: project_namespace.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_garden_change_concerns_the_shoots_its_clusters_put_in_that_namespace() {
        let alpha = Ok(facts_in("alpha", "garden-team-a", "app"));
        assert!(concerns(Some(&alpha), "shoot--alpha--app", "garden-team-a"));
        // Not by name: garden-alpha is not alpha's namespace, and a project named team-a is not
        // the one in garden-team-a.
        assert!(!concerns(Some(&alpha), "shoot--alpha--app", "garden-alpha"));
        let team_a = Ok(facts_in("team-a", "garden-other", "x"));
        assert!(!concerns(
            Some(&team_a),
            "shoot--team-a--x",
            "garden-team-a"
        ));
        // A Cluster that does not decode waits for its own fix.
        let broken = Err(DecodeError {
            path: "spec.shoot".into(),
            message: "missing".into(),
        });
        assert!(!concerns(
            Some(&broken),
            "shoot--alpha--app",
            "garden-alpha"
        ));
        // A Cluster not read yet: by convention.
        assert!(concerns(None, "shoot--beta--web", "garden-beta"));
        assert!(concerns(None, "shoot--garden--ops", "garden"));
        assert!(!concerns(None, "shoot--beta--web", "garden-team-a"));
        assert!(!concerns(None, "not-a-shoot", "garden-not"));
    }
}
