//! Input generators: real objects with mutations (structure-aware), and text from the tokens of
//! the formats (JSON, YAML) or raw.
// The byte functions take `&S::Value` of their strategy (`&String`, `&Vec<Value>`).
#![allow(clippy::ptr_arg)]

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};
use testbed::gardenlet::ShootSpec;

use super::json_of;

// ---------------------------------------------------------------------------------------------
// Leaves and values.

/// Strings that have broken parsers before: empty, blank, huge, unicode, control characters,
/// YAML and JSON look-alikes, overflowing numbers and durations, paths and URLs.
fn interesting_string() -> BoxedStrategy<String> {
    let fixed = vec![
        "",
        " ",
        "\t\n",
        "\u{0}",
        "µ",
        "💥",
        "\u{202e}gnp.exe",
        "\u{feff}",
        "é\u{301}",
        "null",
        "~",
        "yes",
        "no",
        "on",
        "0x10",
        "1e400",
        "-0",
        ".inf",
        "NaN",
        "0o17",
        "true",
        "- a",
        "a: b",
        "{a: b}",
        "[a, b]",
        "&a",
        "*a",
        "!!binary",
        "#",
        "'",
        "\"",
        "---",
        "...",
        "%YAML 1.2",
        "flux-system",
        "shoot-flux",
        "shoot",
        "garden",
        "garden-",
        "garden-dev",
        "ghcr.io/fluxcd/",
        "ghcr.io/fluxcd/source-controller:v1.6.0",
        "source-controller",
        "kustomize-controller",
        "https://",
        "https://host",
        "https://host/org/repo",
        "http://host/r",
        "ssh://git@host/org/repo",
        "git@host:org/repo",
        "git@host:",
        "@:",
        "main",
        "-main",
        "a..b",
        "x.lock",
        "./",
        "../x",
        "/abs",
        "v2.9.5",
        "2.9.5",
        "v2.0.0-rc.1",
        "latest",
        "v99999999999999999999.0.0",
        "1m",
        "30s",
        "1h30m",
        "0s",
        "18446744073709551615s",
        "18446744073709551615h",
        "99999999999999999999999h",
        "5124095576030431h",
        "1.5h",
        "-1s",
        "Managed",
        "Bootstrap",
        "Delete",
        "Orphan",
        "GitRepository",
        "OCIRepository",
        "Kustomization",
        "Secret",
        "ConfigMap",
        "Namespace",
        "Deployment",
        "public",
        "private",
        "Succeeded",
        "Error",
        "Failed",
        "reconcile",
        "migrate",
        "restore",
        "wait-for-state",
        "2026-11-25T00:00:00Z",
    ];
    prop_oneof![
        6 => select(fixed).prop_map(String::from),
        2 => "\\PC{0,16}",
        1 => any::<String>(),
        1 => (select(vec!["a", "é", "💥", "-", ".", "/", "0"]), 200usize..20_000)
            .prop_map(|(s, n)| s.repeat(n)),
    ]
    .boxed()
}

fn leaf() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            select(vec![0i64, 1, -1, 100, i64::from(i32::MAX) + 1, i64::MIN]).prop_map(Value::from),
        ],
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        5 => interesting_string().prop_map(Value::String),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    let names = vec![
        "apiVersion",
        "kind",
        "metadata",
        "name",
        "namespace",
        "labels",
        "annotations",
        "spec",
        "status",
        "type",
        "class",
        "providerConfig",
        "flux",
        "version",
        "registry",
        "components",
        "componentsExtra",
        "source",
        "template",
        "secretResourceName",
        "kustomization",
        "additionalSecretResources",
        "targetName",
        "managementMode",
        "deletionPolicy",
        "url",
        "ref",
        "branch",
        "tag",
        "semver",
        "secretRef",
        "interval",
        "path",
        "prune",
        "sourceRef",
        "postBuild",
        "substituteFrom",
        "decryption",
        "lastOperation",
        "lastError",
        "conditions",
        "shoot",
        "seed",
        "cloudProfile",
        "resources",
        "resourceRef",
        "hibernation",
        "enabled",
        "workers",
        "provider",
        "fluxVersion",
        "repositoryUrl",
        "repositoryBranch",
        "repositoryType",
        "kustomizationPath",
        "targetNamespace",
        "manifests",
        "baseURL",
        "directory",
        "timeout",
        "defaultVersion",
        "latestRefreshInterval",
        "deployKeys",
        "knownHosts",
        "syncStatus",
        "concurrency",
        "containers",
        "image",
        "args",
        "subjects",
        "confirmation.gardener.cloud/force-deletion",
        "gardener.cloud/operation",
        "app.kubernetes.io/component",
        "resources.gardener.cloud/ignore",
    ];
    prop_oneof![
        4 => select(names).prop_map(String::from),
        1 => "\\PC{0,8}",
    ]
    .boxed()
}

/// Any JSON value, a few levels deep.
pub fn json_value() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::btree_map(key(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
        .boxed()
}

/// A value wrapped `depth` times in lists or objects (below serde_json's limit of 128).
fn deep(value: Value, depth: usize, objects: bool) -> Value {
    (0..depth).fold(value, |v, _| {
        if objects {
            json!({"spec": v})
        } else {
            json!([v])
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Mutations of real objects.

#[derive(Debug, Clone)]
pub enum Mutation {
    Replace(usize, Value),
    Remove(usize),
    Insert(usize, String, Value),
    /// The same content under another JSON type (a string as a number, an object as a list).
    Retype(usize),
    Deep(usize, usize, bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let at = any::<usize>();
    prop_oneof![
        4 => (at, json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        2 => at.prop_map(Mutation::Remove),
        2 => (at, key(), json_value()).prop_map(|(i, k, v)| Mutation::Insert(i, k, v)),
        3 => at.prop_map(Mutation::Retype),
        1 => (at, 1usize..100, any::<bool>()).prop_map(|(i, d, o)| Mutation::Deep(i, d, o)),
    ]
}

/// JSON pointers of every node of `value`, root first.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                pointers(v, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

fn retype(value: Value) -> Value {
    match value {
        Value::Null => json!({}),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Number(n) => Value::String(n.to_string()),
        Value::String(s) => s
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::Array(vec![Value::String(s)])),
        Value::Array(items) => Value::Object(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
        ),
        Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
    }
}

pub fn apply(mut value: Value, mutations: &[Mutation]) -> Value {
    for m in mutations {
        let mut all = Vec::new();
        pointers(&value, String::new(), &mut all);
        let pick = |i: usize| all[i % all.len()].clone();
        match m {
            Mutation::Replace(i, v) => {
                if let Some(slot) = value.pointer_mut(&pick(*i)) {
                    *slot = v.clone();
                }
            }
            Mutation::Remove(i) => {
                let pointer = pick(*i);
                if let Some((parent, last)) = pointer.rsplit_once('/') {
                    let last = last.replace("~1", "/").replace("~0", "~");
                    match value.pointer_mut(parent) {
                        Some(Value::Object(map)) => {
                            map.remove(&last);
                        }
                        Some(Value::Array(items)) => {
                            if let Ok(i) = last.parse::<usize>()
                                && i < items.len()
                            {
                                items.remove(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
            Mutation::Insert(i, k, v) => match value.pointer_mut(&pick(*i)) {
                Some(Value::Object(map)) => {
                    map.insert(k.clone(), v.clone());
                }
                Some(Value::Array(items)) => items.push(v.clone()),
                _ => {}
            },
            Mutation::Retype(i) => {
                if let Some(slot) = value.pointer_mut(&pick(*i)) {
                    *slot = retype(slot.take());
                }
            }
            Mutation::Deep(i, depth, objects) => {
                if let Some(slot) = value.pointer_mut(&pick(*i)) {
                    *slot = deep(slot.take(), *depth, *objects);
                }
            }
        }
    }
    value
}

/// One of `seeds`, mutated 0 to 5 times.
pub fn mutated(seeds: Vec<Value>) -> impl Strategy<Value = Value> {
    (select(seeds), prop::collection::vec(mutation(), 0..6))
        .prop_map(|(seed, mutations)| apply(seed, &mutations))
}

// ---------------------------------------------------------------------------------------------
// Seeds: the real shapes.

pub fn provider_configs() -> Vec<Value> {
    let root =
        json!({"apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig"});
    let with = |patch: Value| {
        let mut v = root.clone();
        if let (Value::Object(m), Value::Object(p)) = (&mut v, patch) {
            m.extend(p);
        }
        v
    };
    vec![
        root.clone(),
        with(
            json!({"flux": {"version": "v2.9.5", "registry": "registry.example.com/fluxcd/",
                             "namespace": "gitops", "components": ["source-controller", "kustomize-controller"],
                             "componentsExtra": ["image-reflector-controller"]}}),
        ),
        with(json!({
            "flux": {"version": "v2.9.5"},
            "source": {"template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                                    "metadata": {"name": "fleet", "namespace": "flux-system", "labels": {"a": "b"}},
                                    "spec": {"url": "https://git.example.com/platform/fleet.git", "ref": {"branch": "main"},
                                             "interval": "1m"}},
                       "secretResourceName": "git-credentials"},
            "kustomization": {"template": {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                                           "metadata": {"annotations": {"x": "y"}},
                                           "spec": {"path": "./clusters/app", "prune": true,
                                                    "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
                                                    "postBuild": {"substituteFrom": [{"kind": "ConfigMap", "name": "shoot-info"}]}}}},
            "additionalSecretResources": [{"name": "sops-age"}, {"name": "vault", "targetName": "vault-token"}],
            "managementMode": "Bootstrap",
            "deletionPolicy": "Orphan"
        })),
        with(json!({
            "flux": {"version": "v2.9.5", "componentsExtra": ["image-reflector-controller", "image-automation-controller"]},
            "source": {"template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                                    "metadata": {"name": "platform"},
                                    "spec": {"url": "oci://registry.example.com/platform/manifests", "ref": {"semver": ">=1.0.0"}}}},
            "kustomization": {"template": {"spec": {"path": "./", "prune": true}}},
            "managementMode": "Managed",
            "deletionPolicy": "Delete"
        })),
    ]
}

pub fn extensions() -> Vec<Value> {
    let configs = provider_configs();
    vec![
        json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
            "metadata": {"name": "shoot-flux", "namespace": "shoot--dev--app", "generation": 3,
                         "resourceVersion": "42", "uid": "u-1", "creationTimestamp": "2026-11-25T00:00:00Z",
                         "annotations": {"gardener.cloud/operation": "reconcile", "gardener.cloud/timestamp": "2026-11-25T00:00:00Z"},
                         "finalizers": ["extensions.gardener.cloud/shoot-flux"]},
            "spec": {"type": "shoot-flux", "providerConfig": configs[2]},
            "status": {
                "lastOperation": {"description": "d", "lastUpdateTime": "2026-11-25T00:00:00Z", "progress": 100,
                                  "state": "Succeeded", "type": "Reconcile"},
                "lastError": {"description": "e", "codes": ["ERR_CONFIGURATION_PROBLEM"], "taskID": "t",
                              "lastUpdateTime": "2026-11-25T00:00:00Z"},
                "observedGeneration": 3,
                "conditions": [{"type": "FluxInstalled", "status": "True", "lastTransitionTime": "2026-11-25T00:00:00Z",
                                "lastUpdateTime": "2026-11-25T00:00:00Z", "reason": "r", "message": "m"}],
                "providerStatus": {"kind": "FluxStatus", "flux": {"version": "v2.9.5"}}
            }
        }),
        json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
            "metadata": {"name": "shoot-flux", "namespace": "shoot--dev--two", "deletionTimestamp": "2026-11-25T00:00:00Z"},
            "spec": {"type": "shoot-flux", "class": "shoot"}
        }),
        json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
            "metadata": {"name": "dns", "namespace": "shoot--dev--app"},
            "spec": {"type": "shoot-dns-service", "providerConfig": {"a": 1}}
        }),
    ]
}

pub fn clusters() -> Vec<Value> {
    let cluster = |spec: &ShootSpec| {
        json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Cluster",
            "metadata": {"name": spec.technical_id()},
            "spec": {"shoot": spec.shoot_json(), "seed": spec.seed_json(), "cloudProfile": spec.cloud_profile_json()}
        })
    };
    let plain = ShootSpec::new("dev", "app");
    let mut special = ShootSpec::new("garden", "ops");
    special.hibernated = true;
    special.workers = false;
    special.domain = None;
    special.last_operation = Some(("Create".into(), "Failed".into()));
    special.resources = vec![("git".into(), Default::default())];
    let mut deleting = ShootSpec::new("dev", "gone");
    deleting.deleting = true;
    let mut forced = cluster(&deleting);
    forced["spec"]["shoot"]["metadata"]["annotations"]["confirmation.gardener.cloud/force-deletion"] =
        json!("true");
    vec![cluster(&plain), cluster(&special), forced]
}

pub fn project_configmaps() -> Vec<Value> {
    vec![
        json!({}),
        json!({"fluxVersion": "v2.9.5", "repositoryUrl": "https://git.example.com/platform/fleet.git",
               "repositoryBranch": "main", "repositoryType": "public"}),
        json!({"repositoryUrl": "git@github.com:org/fleet.git", "repositoryType": "private",
               "kustomizationPath": "./clusters/dev", "targetNamespace": "apps"}),
        json!({"fluxVersion": "latest"}),
    ]
}

pub fn operator_configs() -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "shoot-flux.extensions.gardener.cloud/v1alpha1", "kind": "OperatorConfiguration",
            "flux": {"defaultVersion": "v2.9.5", "namespace": "flux-system", "registry": "registry.example.com/fluxcd/",
                     "components": ["source-controller", "kustomize-controller"],
                     "manifests": {"baseURL": "https://github.com/fluxcd/flux2/releases", "timeout": "30s", "latestRefreshInterval": "1h"}},
            "gardenClusterIdentity": "garden",
            "deployKeys": {"knownHosts": ["github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"],
                           "hostKeyScanTimeout": "10s"},
            "syncStatus": {"concurrency": 16, "timeout": "10s", "failHealthCheck": false}
        }),
        json!({"flux": {"manifests": {"directory": "/var/lib/shoot-flux/releases"}}}),
        json!({}),
    ]
}

/// Documents shaped like Flux's install.yaml.
pub fn install_documents() -> Vec<Value> {
    let deployment = |name: &str| {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "flux-system",
                         "labels": {"app.kubernetes.io/component": name, "app.kubernetes.io/instance": "flux-system"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"serviceAccountName": name,
                                           "initContainers": [{"name": "init", "image": format!("ghcr.io/fluxcd/{name}:v1.0.0")}],
                                           "containers": [{"name": "manager", "image": format!("ghcr.io/fluxcd/{name}:v1.6.0"),
                                                           "args": ["--events-addr=http://notification-controller.flux-system.svc.cluster.local./",
                                                                    "--watch-all-namespaces=true", "--log-level=info"],
                                                           "ports": [{"containerPort": 8080, "name": "http-prom"}]}]}}}
        })
    };
    vec![
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "flux-system", "labels": {"app.kubernetes.io/instance": "flux-system"}}}),
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
               "metadata": {"name": "gitrepositories.source.toolkit.fluxcd.io",
                            "labels": {"app.kubernetes.io/component": "source-controller"}},
               "spec": {"group": "source.toolkit.fluxcd.io", "names": {"kind": "GitRepository", "plural": "gitrepositories"},
                        "scope": "Namespaced", "versions": [{"name": "v1", "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "cluster-reconciler-flux-system"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "ServiceAccount", "name": "kustomize-controller", "namespace": "flux-system"}]}),
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "source-controller", "namespace": "flux-system",
                            "labels": {"app.kubernetes.io/component": "source-controller"}},
               "spec": {"ports": [{"name": "http", "port": 80, "targetPort": "http"}], "type": "ClusterIP"}}),
        deployment("source-controller"),
        deployment("kustomize-controller"),
        deployment("image-reflector-controller"),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
               "metadata": {"name": "allow-egress", "namespace": "flux-system"},
               "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
    ]
}

/// A stream of install-like documents, each mutated.
pub fn mutated_stream() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(mutated(install_documents()), 0..8)
}

// ---------------------------------------------------------------------------------------------
// Text.

/// Text from JSON's tokens and the objects' field names and values.
pub fn json_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        3 => select(vec![
            "{", "}", "[", "]", ":", ",", "null", "true", "false", "0", "-1", "1e999", "1.5",
            "18446744073709551616", "\"", "\\u0000", "\\ud800", " ",
            "\"apiVersion\":", "\"kind\":", "\"metadata\":", "\"spec\":", "\"status\":",
            "\"shoot\":", "\"name\":", "\"namespace\":", "\"type\":", "\"providerConfig\":",
            "\"flux.extensions.gardener.cloud/v1alpha1\"", "\"FluxConfig\"", "\"shoot-flux\"",
            "\"garden-dev\"", "\"repositoryUrl\":", "\"https://h/o/r\"",
        ]).prop_map(String::from),
        1 => interesting_string().prop_map(|s| serde_json::to_string(&s).unwrap_or_default()),
    ];
    prop::collection::vec(token, 0..48).prop_map(|tokens| tokens.concat())
}

/// Text from YAML's tokens: documents, indentation, flow and block collections, anchors and
/// aliases (alias bombs included), tags, and the fields of the formats.
pub fn yaml_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => select(vec![
            "---\n", "...\n", "\n", "  ", "- ", ": ", "{", "}", "[", "]", ", ", "? ", "|\n", ">\n",
            "&a ", "*a", "&b [*a, *a, *a, *a, *a, *a, *a, *a, *a]", "*b", "<<: *a\n", "!!str ",
            "!!int ", "!!map ", "!custom ", "'", "\"", "#c\n", "%YAML 1.2\n", "\t", "~", "null",
            "kind: Deployment\n", "kind: Namespace\n", "metadata:\n", "  name: x\n",
            "  namespace: flux-system\n", "  annotations: ", "  labels:\n",
            "    app.kubernetes.io/component: source-controller\n", "spec:\n  template:\n    spec:\n",
            "      containers:\n      - image: ghcr.io/fluxcd/x:v1\n", "subjects:\n- namespace: flux-system\n",
            "apiVersion: v1\n", "flux:\n", "  manifests:\n", "    timeout: ", "syncStatus:\n",
            "  concurrency: ", "99999999999999999999", "-1", "0", "1.5", "30s",
        ]).prop_map(String::from),
        1 => interesting_string(),
    ];
    prop::collection::vec(token, 0..64).prop_map(|tokens| tokens.concat())
}

pub fn raw_text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "\\PC{0,256}"]
}

// ---------------------------------------------------------------------------------------------
// Inputs as the bytes a target reads.

pub fn json_bytes(value: &Value) -> Vec<u8> {
    json_of(value)
}

pub fn text_bytes(text: &String) -> Vec<u8> {
    text.as_bytes().to_vec()
}

pub fn yaml_bytes(value: &Value) -> Vec<u8> {
    serde_saphyr::to_string(value)
        .map(String::into_bytes)
        .unwrap_or_else(|_| json_of(value))
}

pub fn yaml_stream_bytes(docs: &Vec<Value>) -> Vec<u8> {
    let mut out = Vec::new();
    for doc in docs {
        out.extend_from_slice(b"---\n");
        out.extend(yaml_bytes(doc));
        out.push(b'\n');
    }
    out
}

/// A manifests.tar.gz with the documents split over two component files.
pub fn tarball_bytes(docs: &Vec<Value>) -> Vec<u8> {
    let (first, second) = docs.split_at(docs.len() / 2);
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, part) in [
        ("source-controller", first),
        ("kustomize-controller", second),
    ] {
        let content = yaml_stream_bytes(&part.to_vec());
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        let _ = builder.append_data(
            &mut header,
            format!("manifests/{name}/{name}.yaml"),
            content.as_slice(),
        );
    }
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .unwrap_or_default()
}
