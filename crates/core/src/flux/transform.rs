//! Adapts Flux's upstream install manifests to a shoot: the Flux namespace and an image registry
//! mirror. Pure functions over parsed documents.

use serde_json::Value;

pub const UPSTREAM_NAMESPACE: &str = "flux-system";
pub const UPSTREAM_REGISTRY: &str = "ghcr.io/fluxcd";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstallOptions {
    pub namespace: String,
    pub registry: Option<String>,
    /// Components to keep (by `app.kubernetes.io/component`); None keeps all.
    pub components: Option<Vec<String>>,
    /// Extra components added from the release's manifests.tar.gz.
    pub components_extra: Vec<String>,
    /// Bootstrap mode: GRM creates each object once and then leaves it to Flux.
    pub ignore_updates: bool,
    /// A Secret in the Flux namespace that every controller's pods pull their images with.
    pub image_pull_secret: Option<String>,
}

/// GRM creates an object carrying this annotation once and never updates it afterwards.
pub const IGNORE_ANNOTATION: &str = "resources.gardener.cloud/ignore";

/// Kinds without a namespace among Flux's manifests.
fn cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "CustomResourceDefinition"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "PriorityClass"
    )
}

/// Puts a component file of manifests.tar.gz (written without namespaces, for kustomize) into
/// Flux's upstream namespace, as install.yaml has it.
pub fn namespace_component(docs: &mut [Value]) {
    for doc in docs {
        let kind = doc["kind"].as_str().unwrap_or_default().to_string();
        if !cluster_scoped(&kind) && doc["metadata"]["namespace"].is_null() {
            doc["metadata"]["namespace"] = Value::String(UPSTREAM_NAMESPACE.into());
        }
    }
}

/// The object's annotations, made a map if they are missing or (in a malformed document) not
/// one, so that setting one never panics; None for a document that is no object.
pub fn annotations_mut(doc: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let Value::Object(object) = doc else {
        return None;
    };
    let metadata = object
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    if !metadata.is_object() {
        *metadata = Value::Object(Default::default());
    }
    let annotations = metadata
        .as_object_mut()?
        .entry("annotations")
        .or_insert_with(|| Value::Object(Default::default()));
    if !annotations.is_object() {
        *annotations = Value::Object(Default::default());
    }
    annotations.as_object_mut()
}

/// Marks an object for Bootstrap mode.
pub fn ignore_updates(doc: &mut Value) {
    if let Some(annotations) = annotations_mut(doc) {
        annotations.insert(IGNORE_ANNOTATION.into(), Value::String("true".into()));
    }
}

const COMPONENT_LABEL: &str = "app.kubernetes.io/component";

/// True when the document belongs to no component (namespace, RBAC, policies) or to a kept one.
fn kept(doc: &Value, components: Option<&Vec<String>>) -> bool {
    match (
        components,
        doc["metadata"]["labels"][COMPONENT_LABEL].as_str(),
    ) {
        (Some(keep), Some(component)) => keep.iter().any(|c| c == component),
        _ => true,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("install.yaml is not valid YAML: {0}")]
    Yaml(String),
    #[error("install.yaml document {index} has no {field}")]
    Missing { index: usize, field: &'static str },
    #[error("install.yaml document {index}: {field} is not a map")]
    NotAMap { index: usize, field: &'static str },
}

/// Parses a multi-document manifest, dropping empty documents and checking each has a kind and
/// a name.
pub fn parse_documents(yaml: &str) -> Result<Vec<Value>, ParseError> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple(yaml).map_err(|e| ParseError::Yaml(e.to_string()))?;
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    for (index, doc) in docs.iter().enumerate() {
        if doc["kind"].as_str().is_none() {
            return Err(ParseError::Missing {
                index,
                field: "kind",
            });
        }
        if doc["metadata"]["name"].as_str().is_none() {
            return Err(ParseError::Missing {
                index,
                field: "metadata.name",
            });
        }
        for field in ["labels", "annotations"] {
            if !matches!(doc["metadata"][field], Value::Null | Value::Object(_)) {
                return Err(ParseError::NotAMap {
                    index,
                    field: if field == "labels" {
                        "metadata.labels"
                    } else {
                        "metadata.annotations"
                    },
                });
            }
        }
    }
    Ok(docs)
}

fn rewrite_string(value: &mut Value, from: &str, to: &str) {
    if let Value::String(s) = value
        && s.contains(from)
    {
        *s = s.replace(from, to);
    }
}

fn containers_mut(doc: &mut Value) -> Vec<&mut Value> {
    let Some(spec) = doc
        .pointer_mut("/spec/template/spec")
        .and_then(Value::as_object_mut)
    else {
        return Vec::new();
    };
    spec.iter_mut()
        .filter(|(key, _)| matches!(key.as_str(), "initContainers" | "containers"))
        .filter_map(|(_, list)| list.as_array_mut())
        .flat_map(|list| list.iter_mut())
        .collect()
}

/// Applies the namespace and registry to every document.
pub fn transform(docs: &[Value], options: &InstallOptions) -> Vec<Value> {
    let namespace = options.namespace.as_str();
    let svc_from = format!(".{UPSTREAM_NAMESPACE}.svc");
    let svc_to = format!(".{namespace}.svc");
    docs.iter()
        .filter(|doc| {
            kept(doc, options.components.as_ref())
                || doc["metadata"]["labels"][COMPONENT_LABEL]
                    .as_str()
                    .is_some_and(|c| options.components_extra.iter().any(|e| e == c))
        })
        .cloned()
        .map(|mut doc| {
            if doc["kind"] == "Namespace" && doc["metadata"]["name"] == UPSTREAM_NAMESPACE {
                // A namespace stuck in deletion must not block removing the extension forever.
                let (key, value) = super::objects::FINALIZE_DELETION_AFTER;
                if let Some(annotations) = annotations_mut(&mut doc) {
                    annotations.insert(key.into(), Value::String(value.to_string()));
                }
            }
            if namespace != UPSTREAM_NAMESPACE {
                if doc["kind"] == "Namespace" && doc["metadata"]["name"] == UPSTREAM_NAMESPACE {
                    doc["metadata"]["name"] = Value::String(namespace.to_string());
                }
                if doc["metadata"]["namespace"] == UPSTREAM_NAMESPACE {
                    doc["metadata"]["namespace"] = Value::String(namespace.to_string());
                }
                if let Some(subjects) = doc.get_mut("subjects").and_then(Value::as_array_mut) {
                    for subject in subjects {
                        if subject["namespace"] == UPSTREAM_NAMESPACE {
                            subject["namespace"] = Value::String(namespace.to_string());
                        }
                    }
                }
                for container in containers_mut(&mut doc) {
                    if let Some(args) = container.get_mut("args").and_then(Value::as_array_mut) {
                        args.iter_mut()
                            .for_each(|a| rewrite_string(a, &svc_from, &svc_to));
                    }
                }
            }
            if options.ignore_updates {
                ignore_updates(&mut doc);
            }
            if let Some(secret) = &options.image_pull_secret {
                super::image_pull::add_to_deployment(&mut doc, secret);
            }
            if let Some(registry) = &options.registry {
                for container in containers_mut(&mut doc) {
                    if let Some(image) = container.get_mut("image") {
                        rewrite_string(
                            image,
                            &format!("{UPSTREAM_REGISTRY}/"),
                            &format!("{registry}/"),
                        );
                    }
                }
            }
            doc
        })
        .collect()
}

/// The labels `flux install` puts on every object it installs. `flux check` and `flux version`
/// find Flux's Deployments and CRDs by part-of and name the distribution `<part-of>-<version>`
/// from the GitRepository CRD's labels.
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
pub const VERSION_LABEL: &str = "app.kubernetes.io/version";
const PART_OF_FLUX: &str = "flux";

/// The object's labels, made a map if missing; None for a document that is no object or whose
/// labels are something else (parse_documents rejects those).
fn labels_mut(object: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    let labels = object
        .as_object_mut()?
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()));
    labels.as_object_mut()
}

fn label(labels: &mut serde_json::Map<String, Value>, version: &str, namespace: &str) {
    labels
        .entry(PART_OF_LABEL)
        .or_insert_with(|| Value::String(PART_OF_FLUX.into()));
    // The release's own instance is its default namespace; Flux installed elsewhere is that
    // namespace's instance, as `flux install --namespace` labels it.
    let instance = labels
        .entry(INSTANCE_LABEL)
        .or_insert_with(|| Value::String(namespace.into()));
    if instance == UPSTREAM_NAMESPACE {
        *instance = Value::String(namespace.into());
    }
    labels
        .entry(VERSION_LABEL)
        .or_insert_with(|| Value::String(version.into()));
}

/// Labels every object as `flux install` does (part-of `flux`, instance the Flux namespace,
/// version the release's tag), on the metadata and on Deployments' pod templates. A release's
/// install.yaml is built without the version label (only `flux install` adds it), so without
/// this `flux check` reports the distribution as `flux-`. Labels the release sets are kept.
pub fn label_as_flux_install(docs: &mut [Value], version: &str, namespace: &str) {
    for doc in docs {
        let is_deployment = doc["kind"] == "Deployment";
        if let Some(metadata) = doc.get_mut("metadata")
            && let Some(labels) = labels_mut(metadata)
        {
            label(labels, version, namespace);
        }
        if is_deployment
            && let Some(template) = doc.pointer_mut("/spec/template")
            && template.is_object()
        {
            let metadata = template.as_object_mut().map(|t| {
                t.entry("metadata")
                    .or_insert_with(|| Value::Object(Default::default()))
            });
            if let Some(labels) = metadata.and_then(labels_mut) {
                label(labels, version, namespace);
            }
        }
    }
}

/// The container images of all Deployments.
pub fn images(docs: &[Value]) -> Vec<String> {
    docs.iter()
        .filter(|d| d["kind"] == "Deployment")
        .flat_map(|d| {
            d["spec"]["template"]["spec"]["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|c| c["image"].as_str().map(str::to_string))
        .collect()
}

/// The controller Deployments with the image of their first container, sorted by name.
pub fn controllers(docs: &[Value]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = docs
        .iter()
        .filter(|d| d["kind"] == "Deployment")
        .filter_map(|d| {
            let name = d["metadata"]["name"].as_str()?;
            let image = d["spec"]["template"]["spec"]["containers"][0]["image"].as_str()?;
            Some((name.to_string(), image.to_string()))
        })
        .collect();
    out.sort();
    out
}

/// Serialises documents as one YAML stream.
pub fn to_yaml(docs: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(doc).map_err(|e| e.to_string())?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "---
apiVersion: v1
kind: Namespace
metadata:
  name: flux-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: cluster-reconciler-flux-system
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- kind: ServiceAccount
  name: kustomize-controller
  namespace: flux-system
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: source-controller
  namespace: flux-system
spec:
  template:
    spec:
      containers:
      - name: manager
        image: ghcr.io/fluxcd/source-controller:v1.9.5
        args:
        - --events-addr=http://notification-controller.flux-system.svc.cluster.local./
";

    #[test]
    fn namespace_and_registry_are_applied_everywhere() {
        let docs = parse_documents(SAMPLE).unwrap();
        let out = transform(
            &docs,
            &InstallOptions {
                namespace: "gitops".into(),
                registry: Some("mirror.local/flux".into()),
                components: None,
                components_extra: Vec::new(),
                ignore_updates: false,
                image_pull_secret: None,
            },
        );
        assert_eq!(out[0]["metadata"]["name"], "gitops");
        assert_eq!(out[1]["subjects"][0]["namespace"], "gitops");
        assert_eq!(out[2]["metadata"]["namespace"], "gitops");
        let container = &out[2]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["image"],
            "mirror.local/flux/source-controller:v1.9.5"
        );
        assert_eq!(
            container["args"][0],
            "--events-addr=http://notification-controller.gitops.svc.cluster.local./"
        );
        assert_eq!(images(&out), ["mirror.local/flux/source-controller:v1.9.5"]);
    }

    #[test]
    fn defaults_leave_upstream_untouched_but_for_the_namespace_finalize_annotation() {
        let docs = parse_documents(SAMPLE).unwrap();
        let out = transform(
            &docs,
            &InstallOptions {
                namespace: "flux-system".into(),
                registry: None,
                components: None,
                components_extra: Vec::new(),
                ignore_updates: false,
                image_pull_secret: None,
            },
        );
        assert_eq!(
            out[0]["metadata"]["annotations"]["resources.gardener.cloud/finalize-deletion-after"],
            "5m"
        );
        assert_eq!(out[1..], docs[1..]);
        let yaml = to_yaml(&out).unwrap();
        assert_eq!(
            parse_documents(&yaml).unwrap(),
            out,
            "serialisation round-trips"
        );
    }

    #[test]
    fn bootstrap_marks_every_object_and_extras_survive_the_component_filter() {
        let mut extra = parse_documents(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: image-reflector-controller\n  labels:\n    app.kubernetes.io/component: image-reflector-controller\n---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: imagepolicies.image.toolkit.fluxcd.io\n  labels:\n    app.kubernetes.io/component: image-reflector-controller\n",
        )
        .unwrap();
        namespace_component(&mut extra);
        assert_eq!(extra[0]["metadata"]["namespace"], "flux-system");
        assert!(extra[1]["metadata"]["namespace"].is_null());
        let out = transform(
            &extra,
            &InstallOptions {
                namespace: "gitops".into(),
                registry: None,
                components: Some(vec!["source-controller".into()]),
                components_extra: vec!["image-reflector-controller".into()],
                ignore_updates: true,
                image_pull_secret: None,
            },
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0]["metadata"]["namespace"], "gitops");
        assert!(
            out.iter()
                .all(|d| d["metadata"]["annotations"][IGNORE_ANNOTATION] == "true")
        );
    }

    #[test]
    fn components_select_their_objects_and_keep_shared_ones() {
        let mut docs = parse_documents(SAMPLE).unwrap();
        docs[2]["metadata"]["labels"][COMPONENT_LABEL] = "source-controller".into();
        let mut helm = docs[2].clone();
        helm["metadata"]["name"] = "helm-controller".into();
        helm["metadata"]["labels"][COMPONENT_LABEL] = "helm-controller".into();
        docs.push(helm);
        let options = InstallOptions {
            namespace: "flux-system".into(),
            registry: None,
            components: Some(vec!["source-controller".into()]),
            components_extra: Vec::new(),
            ignore_updates: false,
            image_pull_secret: None,
        };
        let out = transform(&docs, &options);
        let names: Vec<&str> = out
            .iter()
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "flux-system",
                "cluster-reconciler-flux-system",
                "source-controller"
            ]
        );
    }

    /// A GitRepository CRD and a Deployment labelled as a release's install.yaml labels them
    /// (its LabelTransformer sets part-of and instance, no version).
    const RELEASE_LABELLED: &str = "---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gitrepositories.source.toolkit.fluxcd.io
  labels:
    app.kubernetes.io/component: source-controller
    app.kubernetes.io/instance: flux-system
    app.kubernetes.io/part-of: flux
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: source-controller
  namespace: flux-system
  labels:
    app.kubernetes.io/instance: flux-system
    app.kubernetes.io/part-of: flux
spec:
  selector:
    matchLabels:
      app: source-controller
  template:
    metadata:
      labels:
        app: source-controller
    spec:
      containers:
      - name: manager
        image: ghcr.io/fluxcd/source-controller:v1.9.5
";

    fn flux_labels(labels: &Value) -> [&Value; 3] {
        [
            &labels[PART_OF_LABEL],
            &labels[INSTANCE_LABEL],
            &labels[VERSION_LABEL],
        ]
    }

    #[test]
    fn objects_are_labelled_as_flux_install_labels_them() {
        let docs = parse_documents(RELEASE_LABELLED).unwrap();
        for (namespace, instance) in [("flux-system", "flux-system"), ("gitops", "gitops")] {
            let mut out = transform(
                &docs,
                &InstallOptions {
                    namespace: namespace.into(),
                    registry: None,
                    components: None,
                    components_extra: Vec::new(),
                    ignore_updates: false,
                    image_pull_secret: None,
                },
            );
            label_as_flux_install(&mut out, "v2.9.5", namespace);
            let want = ["flux", instance, "v2.9.5"];
            let crd = &out[0]["metadata"]["labels"];
            assert_eq!(flux_labels(crd), want, "the CRD flux check reads");
            assert_eq!(crd["app.kubernetes.io/component"], "source-controller");
            assert_eq!(flux_labels(&out[1]["metadata"]["labels"]), want);
            let template = &out[1]["spec"]["template"]["metadata"]["labels"];
            assert_eq!(flux_labels(template), want, "pods carry them too");
            assert_eq!(template["app"], "source-controller");
            assert_eq!(
                out[1]["spec"]["selector"], docs[1]["spec"]["selector"],
                "the immutable selector is never touched"
            );
        }
    }

    #[test]
    fn unlabelled_objects_get_every_label_and_the_release_s_own_are_kept() {
        // Component files of manifests.tar.gz carry no instance; SAMPLE carries no labels at all.
        let mut docs = parse_documents(SAMPLE).unwrap();
        docs[0]["metadata"]["labels"] = serde_json::json!({
            VERSION_LABEL: "v2.10.0", PART_OF_LABEL: "flux", INSTANCE_LABEL: "elsewhere"
        });
        label_as_flux_install(&mut docs, "v2.9.5", "flux-system");
        assert_eq!(
            flux_labels(&docs[0]["metadata"]["labels"]),
            ["flux", "elsewhere", "v2.10.0"],
            "labels the release sets win"
        );
        for doc in &docs[1..] {
            assert_eq!(
                flux_labels(&doc["metadata"]["labels"]),
                ["flux", "flux-system", "v2.9.5"],
                "{doc}"
            );
        }
        assert_eq!(
            flux_labels(&docs[2]["spec"]["template"]["metadata"]["labels"]),
            ["flux", "flux-system", "v2.9.5"]
        );
        // Malformed documents are left alone without panicking.
        let mut odd = vec![
            serde_json::json!([1]),
            serde_json::json!({"kind": "A", "metadata": "a"}),
            serde_json::json!({"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": 3}}),
        ];
        label_as_flux_install(&mut odd, "v2.9.5", "flux-system");
        assert_eq!(odd[0], serde_json::json!([1]));
        assert_eq!(odd[1]["metadata"], "a");
        assert_eq!(odd[2]["spec"]["template"], 3);
    }

    #[test]
    fn malformed_manifests_are_errors() {
        assert!(matches!(
            parse_documents("a: [\n"),
            Err(ParseError::Yaml(_))
        ));
        assert!(matches!(
            parse_documents("metadata: {name: x}\n"),
            Err(ParseError::Missing { field: "kind", .. })
        ));
    }

    #[test]
    fn malformed_annotations_never_panic() {
        // Found by fuzzing: annotations that are no map made the Bootstrap mark panic.
        assert!(matches!(
            parse_documents("kind: A\nmetadata: {name: a, annotations: true}\n"),
            Err(ParseError::NotAMap { index: 0, .. })
        ));
        assert!(matches!(
            parse_documents("kind: A\nmetadata: {name: a, labels: [x]}\n"),
            Err(ParseError::NotAMap { index: 0, .. })
        ));
        for mut doc in [
            serde_json::json!({"kind": "A", "metadata": {"name": "a", "annotations": true}}),
            serde_json::json!({"kind": "A", "metadata": "a"}),
            serde_json::json!({"kind": "A"}),
        ] {
            ignore_updates(&mut doc);
            assert_eq!(doc["metadata"]["annotations"][IGNORE_ANNOTATION], "true");
        }
        let mut not_an_object = serde_json::json!([1]);
        ignore_updates(&mut not_an_object);
        assert_eq!(not_an_object, serde_json::json!([1]));
    }
}
