//! Defaulting of a decoded `FluxConfig`, as stackit's extension defaults it: the Flux objects
//! get what the templates leave out, and the management fields get their mode-dependent
//! defaults. Fields that are set (also invalid ones) are never touched.

use serde_json::{Map, Value, json};

use super::{
    DeletionPolicy, FluxConfig, KUSTOMIZATION_API_VERSION, KustomizationTemplate, ManagementMode,
    SOURCE_API_VERSION, Source,
};

/// Name of the source and the Kustomization when the templates name none.
pub const DEFAULT_OBJECT_NAME: &str = "flux-system";
/// `spec.secretRef.name` of a source whose Secret comes from `secretResourceName`.
pub const DEFAULT_SECRET_NAME: &str = "flux-system";
pub const DEFAULT_INTERVAL: &str = "1m";

/// The source object to create: the template with apiVersion, kind, name, namespace (the
/// effective Flux `namespace`), interval and, with `secret_resource_name`, the secretRef.
pub fn source_object(source: &Source, namespace: &str) -> Value {
    let mut object = as_map(&source.template);
    object.insert("apiVersion".into(), json!(SOURCE_API_VERSION));
    object.insert("kind".into(), json!(source.kind.as_str()));
    default_metadata(&mut object, namespace);
    let mut spec = take_map(&mut object, "spec");
    set_default(&mut spec, "interval", json!(DEFAULT_INTERVAL));
    if source.secret_resource_name.is_some() {
        set_default(
            &mut spec,
            "secretRef",
            json!({ "name": DEFAULT_SECRET_NAME }),
        );
    }
    object.insert("spec".into(), Value::Object(spec));
    Value::Object(object)
}

/// The Kustomization to create; `source` is the defaulted source object (`source_object`),
/// whose kind, name and namespace fill what `spec.sourceRef` leaves out.
pub fn kustomization_object(
    kustomization: &KustomizationTemplate,
    source: &Value,
    namespace: &str,
) -> Value {
    let mut object = as_map(&kustomization.template);
    object.insert("apiVersion".into(), json!(KUSTOMIZATION_API_VERSION));
    object.insert("kind".into(), json!("Kustomization"));
    default_metadata(&mut object, namespace);
    let mut spec = take_map(&mut object, "spec");
    set_default(&mut spec, "interval", json!(DEFAULT_INTERVAL));
    // Flux requires prune; stackit's Go types always send it, false unless set.
    set_default(&mut spec, "prune", json!(false));
    let mut source_ref = take_map(&mut spec, "sourceRef");
    let from_source = [
        ("kind", source.pointer("/kind")),
        ("name", source.pointer("/metadata/name")),
        ("namespace", source.pointer("/metadata/namespace")),
    ];
    for (key, value) in from_source {
        if let Some(value) = value.filter(|v| v.is_string()) {
            set_default(&mut source_ref, key, value.clone());
        }
    }
    spec.insert("sourceRef".into(), Value::Object(source_ref));
    object.insert("spec".into(), Value::Object(spec));
    Value::Object(object)
}

/// The name of the source's Secret in the shoot after defaulting; None when the source has no
/// `secretResourceName` (then the extension creates no Secret for it).
pub fn source_secret_name(source: &Source) -> Option<String> {
    source.secret_resource_name.as_ref()?;
    let written = source
        .template
        .pointer("/spec/secretRef/name")
        .and_then(Value::as_str)
        .filter(|name| !name.is_empty());
    Some(written.unwrap_or(DEFAULT_SECRET_NAME).to_string())
}

/// Explicit fields win; otherwise a config with a source or Kustomization (stackit's style)
/// is bootstrapped and orphaned, and any other config is managed and deleted.
pub fn default_management(config: &FluxConfig) -> (ManagementMode, DeletionPolicy) {
    let syncs = config.source.is_some() || config.kustomization.is_some();
    let mode = config.management_mode.unwrap_or(if syncs {
        ManagementMode::Bootstrap
    } else {
        ManagementMode::Managed
    });
    let policy = config.deletion_policy.unwrap_or(if syncs {
        DeletionPolicy::Orphan
    } else {
        DeletionPolicy::Delete
    });
    (mode, policy)
}

fn default_metadata(object: &mut Map<String, Value>, namespace: &str) {
    let mut metadata = take_map(object, "metadata");
    set_default(&mut metadata, "name", json!(DEFAULT_OBJECT_NAME));
    set_default(&mut metadata, "namespace", json!(namespace));
    object.insert("metadata".into(), Value::Object(metadata));
}

fn as_map(value: &Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

/// Removes `key` to be filled and put back; a non-object there (decode refuses those) becomes
/// an empty object.
fn take_map(object: &mut Map<String, Value>, key: &str) -> Map<String, Value> {
    match object.remove(key) {
        Some(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Sets `key` when it is missing or null (Kubernetes treats null as unset).
fn set_default(map: &mut Map<String, Value>, key: &str, value: Value) {
    if map.get(key).is_none_or(Value::is_null) {
        map.insert(key.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::v1alpha1::{API_VERSION, KIND, ShootResource, SourceKind, decode};

    fn resources() -> Vec<ShootResource> {
        vec![ShootResource {
            name: "git-credentials".into(),
            api_version: "v1".into(),
            kind: "Secret".into(),
            resource_name: "team-git".into(),
        }]
    }

    fn decoded(input: Value) -> FluxConfig {
        match decode(Some(&input), &resources()) {
            Ok(config) => config,
            Err(errors) => panic!("{errors}"),
        }
    }

    /// The defaulted source and Kustomization of a config, in namespace `namespace`.
    fn objects(config: &FluxConfig, namespace: &str) -> (Value, Value) {
        let source = source_object(config.source.as_ref().unwrap(), namespace);
        let kustomization =
            kustomization_object(config.kustomization.as_ref().unwrap(), &source, namespace);
        (source, kustomization)
    }

    #[test]
    fn git_repository_with_secret_resource_name() {
        // stackit's README: a GitRepository whose credentials come from Shoot.spec.resources.
        let config = decoded(json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "source": {
                "template": {
                    "apiVersion": "source.toolkit.fluxcd.io/v1",
                    "kind": "GitRepository",
                    "spec": {"url": "https://github.com/example/repo", "ref": {"branch": "main"}}
                },
                "secretResourceName": "git-credentials"
            },
            "kustomization": {"template": {"spec": {"path": "clusters/production"}}}
        }));
        let (source, kustomization) = objects(&config, "flux-system");
        insta::assert_yaml_snapshot!("git_source", source);
        insta::assert_yaml_snapshot!("git_kustomization", kustomization);
        assert_eq!(
            source_secret_name(config.source.as_ref().unwrap()).as_deref(),
            Some(DEFAULT_SECRET_NAME)
        );
        assert_eq!(
            default_management(&config),
            (ManagementMode::Bootstrap, DeletionPolicy::Orphan)
        );
    }

    #[test]
    fn oci_repository_with_semver_ref_in_another_namespace() {
        let config = decoded(json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "flux": {"namespace": "gitops"},
            "source": {
                "template": {
                    "kind": "OCIRepository",
                    "metadata": {"name": "manifests", "labels": {"team": "a"}},
                    "spec": {
                        "url": "oci://ghcr.io/example/manifests",
                        "ref": {"semver": ">=1.0.0"},
                        "interval": "10m",
                        "secretRef": {"name": "registry-auth"}
                    }
                },
                "secretResourceName": "git-credentials"
            },
            "kustomization": {"template": {
                "metadata": {"name": "apps"},
                "spec": {"path": "./", "prune": true, "sourceRef": {"name": "manifests"}}
            }}
        }));
        let (source, kustomization) = objects(&config, "gitops");
        insta::assert_yaml_snapshot!("oci_source", source);
        insta::assert_yaml_snapshot!("oci_kustomization", kustomization);
        assert_eq!(
            source_secret_name(config.source.as_ref().unwrap()).as_deref(),
            Some("registry-auth")
        );
    }

    #[test]
    fn written_fields_are_kept() {
        let source = Source {
            kind: SourceKind::GitRepository,
            template: json!({
                "kind": "GitRepository",
                "metadata": {"name": "fleet", "namespace": "apps"},
                "spec": {"url": "https://h/o/r", "ref": {"tag": "v1"}, "interval": "5m", "secretRef": null}
            }),
            secret_resource_name: None,
        };
        let object = source_object(&source, "flux-system");
        assert_eq!(
            object["metadata"],
            json!({"name": "fleet", "namespace": "apps"})
        );
        assert_eq!(object["spec"]["interval"], "5m");
        // Without secretResourceName no Secret is added; a null secretRef stays as written.
        assert_eq!(object["spec"]["secretRef"], Value::Null);
        assert_eq!(source_secret_name(&source), None);
        let kustomization = KustomizationTemplate {
            template: json!({"spec": {"path": "x", "interval": null, "prune": true, "sourceRef": {"namespace": "elsewhere"}}}),
        };
        let k = kustomization_object(&kustomization, &object, "flux-system");
        assert_eq!(
            k["metadata"],
            json!({"name": "flux-system", "namespace": "flux-system"})
        );
        assert_eq!(
            k["spec"]["interval"], DEFAULT_INTERVAL,
            "null counts as unset"
        );
        assert_eq!(k["spec"]["prune"], true);
        assert_eq!(
            k["spec"]["sourceRef"],
            json!({"kind": "GitRepository", "name": "fleet", "namespace": "elsewhere"})
        );
    }

    #[test]
    fn templates_that_are_not_objects_do_not_panic() {
        let source = Source {
            kind: SourceKind::OciRepository,
            template: json!("not an object"),
            secret_resource_name: Some("x".into()),
        };
        let object = source_object(&source, "ns");
        assert_eq!(object["kind"], "OCIRepository");
        assert_eq!(object["spec"]["secretRef"]["name"], DEFAULT_SECRET_NAME);
        let k = kustomization_object(
            &KustomizationTemplate {
                template: json!([1]),
            },
            &json!(null),
            "ns",
        );
        assert_eq!(k["spec"]["sourceRef"], json!({}));
        assert_eq!(
            source_secret_name(&source).as_deref(),
            Some(DEFAULT_SECRET_NAME)
        );
    }

    #[test]
    fn management_defaults_are_decided_field_by_field() {
        let syncing = decoded(json!({
            "apiVersion": API_VERSION, "kind": KIND,
            "source": {"template": {"kind": "GitRepository", "spec": {"url": "https://h/o/r", "ref": {"branch": "main"}}}},
            "kustomization": {"template": {"spec": {"path": "x"}}}
        }));
        let install_only = FluxConfig::default();
        let cases = [
            (
                install_only.clone(),
                ManagementMode::Managed,
                DeletionPolicy::Delete,
            ),
            (
                syncing.clone(),
                ManagementMode::Bootstrap,
                DeletionPolicy::Orphan,
            ),
            (
                FluxConfig {
                    management_mode: Some(ManagementMode::Managed),
                    ..syncing.clone()
                },
                ManagementMode::Managed,
                DeletionPolicy::Orphan,
            ),
            (
                FluxConfig {
                    deletion_policy: Some(DeletionPolicy::Delete),
                    ..syncing.clone()
                },
                ManagementMode::Bootstrap,
                DeletionPolicy::Delete,
            ),
            (
                FluxConfig {
                    deletion_policy: Some(DeletionPolicy::Orphan),
                    ..install_only.clone()
                },
                ManagementMode::Managed,
                DeletionPolicy::Orphan,
            ),
            (
                FluxConfig {
                    management_mode: Some(ManagementMode::Bootstrap),
                    ..install_only
                },
                ManagementMode::Bootstrap,
                DeletionPolicy::Delete,
            ),
            (
                FluxConfig {
                    source: None,
                    ..syncing
                },
                ManagementMode::Bootstrap,
                DeletionPolicy::Orphan,
            ),
        ];
        for (config, mode, policy) in cases {
            assert_eq!(default_management(&config), (mode, policy), "{config:?}");
        }
    }
}
