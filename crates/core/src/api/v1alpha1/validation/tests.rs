//! Unit tests that are not tables: decoded values, special setups, the formats and random JSON.
//! The table cases (input -> errors or accepted) are data files under
//! `crates/core/tests/cases/validation/`, run by `tests/validation_cases.rs`.

use proptest::prelude::*;
use serde_json::json;

use super::shape::edit_distance;
use super::*;
use crate::api::v1alpha1::reference::OBJECTS;
use crate::api::v1alpha1::{
    AdditionalSecretResource, KUSTOMIZATION_API_VERSION, SOURCE_API_VERSION, SourceKind, defaults,
};
use crate::fluxversion::{self, VersionRequest};

fn resource(name: &str, kind: &str, resource_name: &str) -> ShootResource {
    ShootResource {
        name: name.into(),
        api_version: "v1".into(),
        kind: kind.into(),
        resource_name: resource_name.into(),
    }
}

fn resources() -> Vec<ShootResource> {
    vec![
        resource("git-credentials", "Secret", "team-git"),
        resource("vault", "Secret", "project-vault"),
        resource("settings", "ConfigMap", "team-settings"),
        resource("flux-creds", "Secret", "flux-system"),
    ]
}

/// JSON merge patch (RFC 7386): objects merge, null removes, anything else replaces.
fn merge(base: Value, patch: Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch;
    };
    let mut map = match base {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(&key);
        } else {
            let current = map.remove(&key).unwrap_or(Value::Null);
            map.insert(key, merge(current, value));
        }
    }
    Value::Object(map)
}

fn root() -> Value {
    json!({"apiVersion": API_VERSION, "kind": KIND})
}

fn with(patch: Value) -> Value {
    merge(root(), patch)
}

/// stackit's example: a GitRepository and a Kustomization.
fn git() -> Value {
    with(json!({
        "source": {"template": {
            "apiVersion": SOURCE_API_VERSION,
            "kind": "GitRepository",
            "spec": {
                "url": "https://github.com/fluxcd/flux2-kustomize-helm-example",
                "ref": {"branch": "main"}
            }
        }},
        "kustomization": {"template": {
            "apiVersion": KUSTOMIZATION_API_VERSION,
            "kind": "Kustomization",
            "spec": {"path": "clusters/production"}
        }}
    }))
}

fn git_with(patch: Value) -> Value {
    merge(git(), patch)
}

fn oci() -> Value {
    git_with(json!({"source": {"template": {
        "kind": "OCIRepository",
        "spec": {"url": "oci://ghcr.io/example/manifests", "ref": {"branch": null, "tag": "latest"}}
    }}}))
}

fn oci_spec(patch: Value) -> Value {
    merge(oci(), json!({"source": {"template": {"spec": patch}}}))
}

fn paths_of(errors: &FieldErrors) -> Vec<String> {
    errors.0.iter().map(|e| e.path.clone()).collect()
}

#[test]
fn no_resources_says_the_list_is_empty() {
    let errors = decode(
        Some(&git_with(
            json!({"source": {"secretResourceName": "git-credentials"}}),
        )),
        &[],
    )
    .unwrap_err();
    assert_eq!(
        paths_of(&errors),
        ["providerConfig.source.secretResourceName"]
    );
    assert!(errors.0[0].message.contains("which is empty"), "{errors}");
}

fn decoded(input: Value) -> FluxConfig {
    match decode(Some(&input), &resources()) {
        Ok(config) => config,
        Err(errors) => panic!("{input}: {errors}"),
    }
}

#[test]
fn no_provider_config_is_the_empty_config() {
    assert_eq!(decode(None, &[]).unwrap(), FluxConfig::default());
    assert_eq!(
        decode(Some(&Value::Null), &[]).unwrap(),
        FluxConfig::default()
    );
    assert_eq!(decoded(root()), FluxConfig::default());
}

#[test]
fn stackit_example_shoot_is_accepted() {
    // example/shoot.yaml of the stackit extension.
    let config = decoded(json!({
        "apiVersion": "flux.extensions.gardener.cloud/v1alpha1",
        "kind": "FluxConfig",
        "flux": {"version": "v2.6.1", "registry": "ghcr.io/fluxcd", "namespace": "flux-system"},
        "source": {"template": {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "spec": {"ref": {"branch": "main"}, "url": "https://github.com/fluxcd/flux2-kustomize-helm-example"}
        }},
        "kustomization": {"template": {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "spec": {"path": "clusters/production"}
        }}
    }));
    assert_eq!(
        config.flux.version,
        Some(fluxversion::parse("v2.6.1").unwrap())
    );
    assert_eq!(config.flux.registry.as_deref(), Some("ghcr.io/fluxcd"));
    assert_eq!(config.flux.namespace.as_deref(), Some("flux-system"));
    let source = config.source.unwrap();
    assert_eq!(source.kind, SourceKind::GitRepository);
    assert_eq!(source.secret_resource_name, None);
    assert_eq!(source.template["spec"]["ref"]["branch"], "main");
    assert!(
        source.template.get("metadata").is_none(),
        "no defaults in decode"
    );
    let kustomization = config.kustomization.unwrap();
    assert_eq!(
        kustomization.template["spec"],
        json!({"path": "clusters/production"})
    );
    assert_eq!(config.management_mode, None);
    assert_eq!(config.deletion_policy, None);
}

#[test]
fn git_repository_with_secret_resource_name() {
    // With and without spec.secretRef (defaulting adds it), as stackit's tests show.
    for secret_ref in [json!({"name": "flux-secret"}), Value::Null] {
        let config = decoded(git_with(json!({"source": {
            "secretResourceName": "git-credentials",
            "template": {"spec": {"secretRef": secret_ref}}
        }})));
        let source = config.source.unwrap();
        assert_eq!(
            source.secret_resource_name.as_deref(),
            Some("git-credentials")
        );
    }
}

#[test]
fn oci_repository_with_semver_ref() {
    let config = decoded(oci_spec(json!({
        "ref": {"tag": null, "semver": ">=1.0.0", "semverFilter": ".*-rc.*"},
        "interval": "10m",
        "layerSelector": {"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip"},
        "provider": "aws"
    })));
    let source = config.source.unwrap();
    assert_eq!(source.kind, SourceKind::OciRepository);
    assert_eq!(
        source.template["spec"]["ref"],
        json!({"semver": ">=1.0.0", "semverFilter": ".*-rc.*"})
    );
    let digest = format!("sha256:{}", "0123456789abcdef".repeat(4));
    decoded(oci_spec(json!({"ref": {"tag": null, "digest": digest}})));
}

#[test]
fn install_only() {
    let config = decoded(with(
        json!({"flux": {"version": "latest", "registry": " mirror.local/flux/ ", "namespace": "gitops"}}),
    ));
    assert_eq!(config.flux.version, Some(VersionRequest::Latest));
    assert_eq!(config.flux.registry.as_deref(), Some("mirror.local/flux"));
    assert_eq!(config.flux.namespace.as_deref(), Some("gitops"));
    assert_eq!(config.source, None);
    assert_eq!(config.kustomization, None);
}

#[test]
fn components_and_components_extra_are_sorted_and_deduplicated() {
    let config = decoded(git_with(json!({"flux": {
        "components": ["source-controller", "kustomize-controller", "source-controller"],
        "componentsExtra": ["source-watcher", "image-reflector-controller", "source-watcher"]
    }})));
    assert_eq!(
        config.flux.components,
        Some(vec![
            "kustomize-controller".to_string(),
            "source-controller".to_string()
        ])
    );
    assert_eq!(
        config.flux.components_extra,
        Some(vec![
            "image-reflector-controller".to_string(),
            "source-watcher".to_string()
        ])
    );
    // Install-only needs no kustomize-controller.
    let config = decoded(with(json!({"flux": {"components": ["source-controller"]}})));
    assert_eq!(
        config.flux.components,
        Some(vec!["source-controller".to_string()])
    );
}

#[test]
fn additional_secret_resources_with_target_name() {
    // stackit's example: shoot-vault-secret becomes "vault" in the shoot.
    let input = with(json!({"additionalSecretResources": [
        {"name": "shoot-vault-secret", "targetName": "vault"},
        {"name": "git-credentials"}
    ]}));
    let resources = [
        resource("shoot-vault-secret", "Secret", "project-vault-secret"),
        resource("git-credentials", "Secret", "team-git"),
    ];
    let config = decode(Some(&input), &resources).unwrap();
    assert_eq!(
        config.additional_secret_resources,
        [
            AdditionalSecretResource {
                name: "shoot-vault-secret".into(),
                target_name: Some("vault".into())
            },
            AdditionalSecretResource {
                name: "git-credentials".into(),
                target_name: None
            },
        ]
    );
    // Without secretResourceName the source has no Secret to collide with.
    decoded(git_with(
        json!({"additionalSecretResources": [{"name": "flux-creds"}]}),
    ));
}

#[test]
fn explicit_management_mode_and_deletion_policy() {
    let config = decoded(git_with(
        json!({"managementMode": "Managed", "deletionPolicy": "Delete"}),
    ));
    assert_eq!(config.management_mode, Some(ManagementMode::Managed));
    assert_eq!(config.deletion_policy, Some(DeletionPolicy::Delete));
    let config = decoded(with(
        json!({"managementMode": "Bootstrap", "deletionPolicy": "Orphan"}),
    ));
    assert_eq!(config.management_mode, Some(ManagementMode::Bootstrap));
    assert_eq!(config.deletion_policy, Some(DeletionPolicy::Orphan));
}

#[test]
fn go_durations() {
    for ok in [
        "1m",
        "30s",
        "1h30m",
        "500ms",
        "1.5h",
        "10ns",
        "10us",
        "10µs",
        "10μs",
        "2h45m30.5s",
        "0s",
    ] {
        assert!(is_go_duration(ok), "{ok}");
    }
    for bad in [
        "", "1", "m", "1 m", "1.m", ".5s", "-1s", "+1s", "1d", "1mm", "1m30", "1H", "1e3s",
    ] {
        assert!(!is_go_duration(bad), "{bad}");
    }
}

#[test]
fn names() {
    assert!(is_dns_subdomain("flux-system.example"));
    assert!(is_dns_subdomain(&"a".repeat(253)));
    assert!(!is_dns_subdomain(&"a".repeat(254)));
    for bad in ["", "A", "a..b", ".a", "a.", "-a", "a-", "a_b", "a b"] {
        assert!(!is_dns_subdomain(bad), "{bad}");
    }
    assert_eq!(child("p", "a.b"), "p[\"a.b\"]");
    assert_eq!(child("p", "9"), "p[\"9\"]");
    assert_eq!(child("p", "spec"), "p.spec");
    assert_eq!(either(&["a"]), "a");
    assert_eq!(either(&["a", "b", "c"]), "a, b or c");
    assert_eq!(edit_distance("uri", "url"), 1);
    assert_eq!(edit_distance("", "abc"), 3);
    assert!(shown(&json!("x".repeat(100))).ends_with('…'));
}

// Random JSON: no panic, and every problem is rooted at providerConfig with a message.
fn key() -> impl Strategy<Value = String> {
    let mut names: Vec<&'static str> = OBJECTS
        .iter()
        .flat_map(|object| object.fields.iter().map(|f| f.name))
        .collect();
    names.sort_unstable();
    names.dedup();
    prop_oneof![
        4 => proptest::sample::select(names).prop_map(String::from),
        1 => "[a-zA-Z0-9./\\-\"]{0,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    let interesting = vec![
        API_VERSION,
        KIND,
        SOURCE_API_VERSION,
        KUSTOMIZATION_API_VERSION,
        "GitRepository",
        "OCIRepository",
        "Kustomization",
        "Bucket",
        "Secret",
        "ConfigMap",
        "Managed",
        "Bootstrap",
        "Delete",
        "Orphan",
        "v2.6.4",
        "latest",
        "1m",
        "1.5h",
        "oci://ghcr.io/x",
        "https://host/org/repo",
        "git@host:org/repo",
        "main",
        "clusters/x",
        "/abs",
        "../x",
        "flux-system",
        "git-credentials",
        "vault",
        "settings",
        "flux-creds",
        "source-controller",
        "kustomize-controller",
        "source-watcher",
        "",
        " ",
        "sha256:0123",
        "µ",
    ];
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        proptest::sample::select(interesting).prop_map(Value::from),
        ".{0,10}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(key(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn assert_well_formed(input: &Value) -> Result<(), TestCaseError> {
    let resources = resources();
    let first = decode(Some(input), &resources);
    prop_assert_eq!(
        &first,
        &decode(Some(input), &resources),
        "not deterministic"
    );
    match first {
        Ok(config) => {
            let namespace = config.flux.namespace.as_deref().unwrap_or("flux-system");
            if let Some(source) = &config.source {
                let object = defaults::source_object(source, namespace);
                prop_assert_eq!(&object["apiVersion"], SOURCE_API_VERSION);
                if let Some(kustomization) = &config.kustomization {
                    let k = defaults::kustomization_object(kustomization, &object, namespace);
                    prop_assert!(k["spec"]["sourceRef"]["name"].is_string());
                }
                defaults::source_secret_name(source);
            }
            defaults::default_management(&config);
        }
        Err(errors) => {
            prop_assert!(!errors.0.is_empty());
            for error in &errors.0 {
                prop_assert!(error.path.starts_with(ROOT), "{}", error);
                prop_assert!(!error.message.trim().is_empty(), "{}", error);
            }
        }
    }
    Ok(())
}

/// Places of the valid Git config where random JSON goes.
const POINTERS: [&str; 10] = [
    "/flux",
    "/source",
    "/source/template",
    "/source/template/metadata",
    "/source/template/spec",
    "/source/template/spec/ref",
    "/kustomization/template/spec",
    "/kustomization/template/spec/postBuild",
    "/kustomization/template/spec/sourceRef",
    "/additionalSecretResources",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_json_at_the_root(input in json_value()) {
        assert_well_formed(&input)?;
    }

    #[test]
    fn random_fields_under_a_valid_root(
        fields in proptest::collection::btree_map(key(), json_value(), 0..6)
    ) {
        let mut input = root();
        if let Value::Object(map) = &mut input {
            map.extend(fields);
        }
        assert_well_formed(&input)?;
    }

    #[test]
    fn random_json_inside_a_valid_config(
        pointer in proptest::sample::select(POINTERS.to_vec()),
        value in json_value(),
        merge_into in any::<bool>(),
    ) {
        let mut input = git_with(json!({"source": {"secretResourceName": "git-credentials"}}));
        if let Some(slot) = input.pointer_mut(pointer) {
            *slot = if merge_into { merge(slot.take(), value) } else { value };
        }
        assert_well_formed(&input)?;
    }
}
