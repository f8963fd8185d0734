//! The desired state of one shoot, computed from plain inputs without any server: which
//! ManagedResources and Secrets the seed should hold.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::access;
use crate::api::v1alpha1::ManagementMode;
use crate::config::project::RepositoryType;
use crate::config::{EffectiveConfig, Sync};
use crate::deploykey::DeployKey;
use crate::flux::bundle::InstallBundle;
use crate::flux::objects::{self, SecretPayload};
use crate::flux::transform;
use crate::flux::{image_pull, source_secret, storedversions};
use crate::gardener::shoot::ShootFacts;
use crate::managedresource::{
    self, ACCESS_NAME, CONFIG_NAME, DesiredManagedResource, INSTALL_NAME,
};

/// The ManagedResources of one shoot, with the objects inside them.
#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    /// Flux's installation; None when no release was given (`render` without manifests).
    pub install: Option<DesiredManagedResource>,
    pub config: DesiredManagedResource,
    /// RBAC for shoot-flux's read access to the shoot.
    pub access: DesiredManagedResource,
    /// The objects inside the config MR.
    pub config_objects: Vec<Value>,
    /// The objects inside the access MR.
    pub access_objects: Arc<Vec<Value>>,
}

/// What rendering needs besides the configuration: the project's deploy key (private project
/// repositories) and the seed copies of `Shoot.spec.resources` Secrets, by seed name.
#[derive(Debug, Clone, Default)]
pub struct Inputs<'a> {
    pub deploy_key: Option<&'a DeployKey>,
    pub secrets: BTreeMap<String, SecretPayload>,
}

fn annotate(object: &mut Value, key: &str, value: &str) {
    if let Some(annotations) = transform::annotations_mut(object)
        && annotations.get(key).is_none_or(Value::is_null)
    {
        annotations.insert(key.into(), Value::String(value.to_string()));
    }
}

/// The objects of the config ManagedResource: the source and Kustomization (from the project or
/// the shoot), their Secrets, the additional Secrets, and always the shoot-info ConfigMap.
pub fn config_objects(
    shoot: &ShootFacts,
    config: &EffectiveConfig,
    inputs: &Inputs<'_>,
) -> Result<Vec<Value>, String> {
    let ns = &config.namespace;
    let mut out = Vec::new();
    match &config.sync {
        None => {}
        Some(Sync::Project(sync)) => {
            // Serialising our own plain structs cannot fail.
            out.push(serde_json::to_value(objects::git_repository(ns, sync)).unwrap_or_default());
            out.push(serde_json::to_value(objects::kustomization(ns, sync)).unwrap_or_default());
        }
        Some(Sync::Shoot {
            source,
            kustomization,
            ..
        }) => {
            for object in [source, kustomization] {
                let mut object = object.clone();
                let (key, value) = objects::FINALIZE_DELETION_AFTER;
                annotate(&mut object, key, value);
                out.push(object);
            }
        }
    }
    if config.management == ManagementMode::Bootstrap {
        // Created once, then Flux's own business (stackit's model); Secrets and shoot-info stay
        // up to date.
        for object in &mut out {
            transform::ignore_updates(object);
        }
    }
    if let Some(Sync::Project(sync)) = &config.sync
        && sync.repository_type == RepositoryType::Private
    {
        let key = inputs
            .deploy_key
            .ok_or("a private repository needs the project's deploy key")?;
        out.push(objects::source_secret(ns, key));
    }
    for copy in &config.secret_copies {
        let payload = inputs.secrets.get(&copy.seed_name).ok_or_else(|| {
            format!(
                "{}: the seed has no Secret {} (gardenlet copies Shoot.spec.resources into the shoot namespace)",
                copy.field, copy.seed_name
            )
        })?;
        source_secret::check_copy(config, copy, payload)?;
        image_pull::check_copy(config, copy, payload)?;
        out.push(objects::copied_secret(ns, &copy.target_name, payload));
    }
    out.extend(image_pull::operator_secret(config)?);
    out.push(objects::shoot_info(ns, shoot));
    Ok(out)
}

/// The shoot-access ManagedResource's objects for Flux in `flux_namespace` with `crds`: the
/// same for every shoot of an install bundle, which therefore carries them prepared.
pub fn access_objects(
    flux_namespace: &str,
    crds: &[storedversions::BundleCrd],
) -> Result<managedresource::EncodedObjects, String> {
    let objects = access::rbac_objects(flux_namespace, storedversions::migration_rules(crds));
    let content = small_content(&transform::to_yaml(&objects)?)?;
    Ok(managedresource::EncodedObjects {
        objects: Arc::new(objects),
        content,
    })
}

/// A shoot's own (small) ManagedResource content.
fn small_content(yaml: &str) -> Result<managedresource::SecretContent, String> {
    managedresource::SecretContent::new(&managedresource::brotli_compress_small(yaml.as_bytes()))
}

/// The ManagedResources of one shoot from its effective configuration and fetched inputs.
pub fn render(
    shoot: &ShootFacts,
    config: &EffectiveConfig,
    install: Option<&InstallBundle>,
    inputs: &Inputs<'_>,
) -> Result<Desired, String> {
    let namespace = &shoot.cluster_name;
    let config_objects = config_objects(shoot, config, inputs)?;
    let config_yaml = transform::to_yaml(&config_objects)?;
    let access = match install {
        Some(bundle) => match &bundle.access {
            Some(prepared) if bundle.namespace == config.namespace => prepared.clone(),
            _ => access_objects(&config.namespace, &bundle.crds)?,
        },
        None => access_objects(&config.namespace, &[])?,
    };
    Ok(Desired {
        install: install
            .map(|bundle| managedresource::build(INSTALL_NAME, namespace, &bundle.content)),
        config: managedresource::build(CONFIG_NAME, namespace, &small_content(&config_yaml)?),
        access: managedresource::build(ACCESS_NAME, namespace, &access.content),
        config_objects,
        access_objects: access.objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::{self, DeletionPolicy, ShootResource};
    use crate::config::operator::OperatorConfig;
    use crate::config::{SyncConfig, merge};
    use crate::fluxversion::VersionRequest;
    use serde_json::json;

    fn shoot() -> ShootFacts {
        ShootFacts {
            cluster_name: "shoot--dev--app".into(),
            name: "app".into(),
            project_namespace: "garden-dev".into(),
            project: "dev".into(),
            technical_id: "shoot--dev--app".into(),
            cluster_identity: Some("shoot--dev--app-garden".into()),
            worker_count: 1,
            region: Some("eu-de-1".into()),
            provider_type: Some("local".into()),
            kubernetes_version: Some("1.36.3".into()),
            purpose: Some("evaluation".into()),
            seed_name: Some("local".into()),
            domain: Some("app.dev.example.com".into()),
            garden_cluster_identity: Some("garden".into()),
            resources: vec![
                ShootResource {
                    name: "git".into(),
                    api_version: "v1".into(),
                    kind: "Secret".into(),
                    resource_name: "git-credentials".into(),
                },
                ShootResource {
                    name: "sops".into(),
                    api_version: "v1".into(),
                    kind: "Secret".into(),
                    resource_name: "sops-age".into(),
                },
            ],
            ..Default::default()
        }
    }

    fn config(sync: bool) -> EffectiveConfig {
        EffectiveConfig {
            flux_version: VersionRequest::Latest,
            flux_version_field: "the latest Flux release",
            namespace: "flux-system".into(),
            registry: None,
            components: None,
            components_extra: vec![],
            sync: sync.then(|| {
                Sync::Project(SyncConfig {
                    url: "https://git.example.com/org/fleet.git".into(),
                    branch: "main".into(),
                    repository_type: RepositoryType::Public,
                    path: "./".into(),
                    target_namespace: "default".into(),
                })
            }),
            image_pull_secret: None,
            operator_image_pull_secret: None,
            secret_copies: vec![],
            management: ManagementMode::Managed,
            deletion: DeletionPolicy::Delete,
        }
    }

    /// The shoot's providerConfig merged over no project, as the actuator does it.
    fn from_provider_config(value: serde_json::Value) -> EffectiveConfig {
        let facts = shoot();
        let shoot_layer = v1alpha1::decode(Some(&value), &facts.resources).unwrap();
        merge(
            &OperatorConfig::default(),
            None,
            &shoot_layer,
            &facts,
            false,
        )
        .unwrap()
    }

    fn secrets() -> BTreeMap<String, SecretPayload> {
        BTreeMap::from([
            (
                "ref-git-credentials".to_string(),
                SecretPayload {
                    type_: Some("Opaque".into()),
                    data: BTreeMap::from([("username".into(), "Zmx1eA==".into())]),
                    ..Default::default()
                },
            ),
            (
                "ref-sops-age".to_string(),
                SecretPayload {
                    type_: Some("kubernetes.io/ssh-auth".into()),
                    data: BTreeMap::from([("ssh-privatekey".into(), "PHJlZGFjdGVkPg==".into())]),
                    ..Default::default()
                },
            ),
        ])
    }

    fn bundle() -> InstallBundle {
        InstallBundle::minimal()
    }

    #[test]
    fn config_objects_snapshot() {
        insta::assert_yaml_snapshot!(
            config_objects(&shoot(), &config(true), &Inputs::default()).unwrap()
        );
    }

    #[test]
    fn stackit_git_repository_with_secret_resource_name_snapshot() {
        let config = from_provider_config(json!({
            "apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig",
            "source": {
                "template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                    "spec": {"url": "https://github.com/org/fleet", "ref": {"branch": "main"}}},
                "secretResourceName": "git"
            },
            "kustomization": {"template": {"spec": {"path": "./clusters/app"}}},
            "additionalSecretResources": [{"name": "sops", "targetName": "sops-age"}]
        }));
        let inputs = Inputs {
            deploy_key: None,
            secrets: secrets(),
        };
        let objects = config_objects(&shoot(), &config, &inputs).unwrap();
        insta::assert_yaml_snapshot!(objects);
        // Bootstrap (stackit's style): the sync objects are created once, the Secrets and
        // shoot-info stay managed.
        let ignored =
            |o: &Value| o["metadata"]["annotations"][transform::IGNORE_ANNOTATION] == "true";
        assert!(ignored(&objects[0]) && ignored(&objects[1]));
        assert!(objects[2..].iter().all(|o| !ignored(o)));
        assert_eq!(objects[3]["type"], "kubernetes.io/ssh-auth");
    }

    /// The stackit extension's `copy-labels` annotation on a seed copy: its labels go to the
    /// shoot Secret (winning over managed-by), for the source secret and additional secrets
    /// alike; without it, or with a value Go does not read as true, only managed-by.
    #[test]
    fn copy_labels_carries_the_seed_secrets_labels_to_the_shoot_secret() {
        let config = from_provider_config(json!({
            "apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig",
            "source": {
                "template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                    "spec": {"url": "https://github.com/org/fleet", "ref": {"branch": "main"}}},
                "secretResourceName": "git"
            },
            "kustomization": {"template": {"spec": {"path": "./"}}},
            "additionalSecretResources": [{"name": "sops", "targetName": "sops-age"}]
        }));
        let labelled = |copy: Option<&str>| {
            let mut secrets = secrets();
            for payload in secrets.values_mut() {
                payload.labels = BTreeMap::from([
                    ("team".to_string(), "payments".to_string()),
                    (
                        "app.kubernetes.io/managed-by".to_string(),
                        "secrets-operator".to_string(),
                    ),
                ]);
                payload.copy_labels = copy.map(str::to_string);
            }
            secrets
        };
        let labels_of = |secrets: BTreeMap<String, SecretPayload>| {
            let inputs = Inputs {
                deploy_key: None,
                secrets,
            };
            config_objects(&shoot(), &config, &inputs)
                .unwrap()
                .into_iter()
                .filter(|o| o["kind"] == "Secret")
                .map(|o| {
                    (
                        o["metadata"]["name"].as_str().unwrap().to_string(),
                        o["metadata"]["labels"].clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let copied =
            json!({"team": "payments", "app.kubernetes.io/managed-by": "secrets-operator"});
        let ours = json!({"app.kubernetes.io/managed-by": "gardener-extension-shoot-flux"});
        for yes in ["true", "True", "TRUE", "t", "T", "1"] {
            let got = labels_of(labelled(Some(yes)));
            assert_eq!(got.len(), 2, "{got:?}");
            assert!(got.iter().all(|(_, l)| *l == copied), "{yes}: {got:?}");
        }
        for no in [None, Some("false"), Some("yes"), Some(""), Some(" true")] {
            let got = labels_of(labelled(no));
            assert!(got.iter().all(|(_, l)| *l == ours), "{no:?}: {got:?}");
        }
        // Only the annotated Secret's labels travel.
        let mut mixed = labelled(None);
        if let Some(git) = mixed.get_mut("ref-git-credentials") {
            git.copy_labels = Some("true".into());
        }
        let got = labels_of(mixed);
        assert_eq!(got[0], ("flux-system".to_string(), copied.clone()));
        assert_eq!(got[1], ("sops-age".to_string(), ours.clone()));
    }

    #[test]
    fn stackit_oci_repository_with_semver_snapshot() {
        let config = from_provider_config(json!({
            "apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig",
            "flux": {"version": "v2.6.4"},
            "source": {"template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                "spec": {"url": "oci://ghcr.io/org/manifests", "ref": {"semver": ">=1.0.0"}}}},
            "kustomization": {"template": {"spec": {"path": "./", "prune": true}}},
            "managementMode": "Managed"
        }));
        let objects = config_objects(&shoot(), &config, &Inputs::default()).unwrap();
        insta::assert_yaml_snapshot!(objects);
        assert_eq!(objects[1]["spec"]["sourceRef"]["kind"], "OCIRepository");
    }

    #[test]
    fn install_only_without_a_repository() {
        let config = from_provider_config(json!({
            "apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig",
            "flux": {"components": ["source-controller", "kustomize-controller"],
                     "componentsExtra": ["image-reflector-controller"]}
        }));
        assert_eq!(config.components_extra, ["image-reflector-controller"]);
        let objects = config_objects(&shoot(), &config, &Inputs::default()).unwrap();
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0]["kind"], "ConfigMap");
    }

    #[test]
    fn a_missing_seed_secret_names_the_field() {
        let config = from_provider_config(json!({
            "apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig",
            "additionalSecretResources": [{"name": "sops"}]
        }));
        let err = config_objects(&shoot(), &config, &Inputs::default()).unwrap_err();
        assert!(
            err.starts_with("providerConfig.additionalSecretResources[0].name"),
            "{err}"
        );
        assert!(err.contains("ref-sops-age"), "{err}");
    }

    #[test]
    fn a_private_repository_gets_the_deploy_key_secret() {
        let mut private = config(true);
        if let Some(Sync::Project(s)) = private.sync.as_mut() {
            s.url = "ssh://git@git.example.com:2222/org/fleet.git".into();
            s.repository_type = RepositoryType::Private;
        }
        let key =
            DeployKey::generate("k", "[git.example.com]:2222 ssh-ed25519 AAAA\n".into()).unwrap();
        let redacted = key.redacted();
        let inputs = Inputs {
            deploy_key: Some(&redacted),
            secrets: BTreeMap::new(),
        };
        let objects = config_objects(&shoot(), &private, &inputs).unwrap();
        assert_eq!(objects[0]["spec"]["secretRef"]["name"], "flux-source");
        let secret = &objects[2];
        assert_eq!(secret["kind"], "Secret");
        assert_eq!(secret["metadata"]["namespace"], "flux-system");
        let decode = |k: &str| {
            use base64::Engine;
            String::from_utf8(
                base64::engine::general_purpose::STANDARD
                    .decode(secret["data"][k].as_str().unwrap())
                    .unwrap(),
            )
            .unwrap()
        };
        assert_eq!(decode("identity"), crate::deploykey::REDACTED);
        assert_eq!(decode("identity.pub").trim(), key.public_key());
        assert!(decode("known_hosts").starts_with("[git.example.com]:2222 "));
        // A public repository never carries a key, even when one is at hand.
        let inputs = Inputs {
            deploy_key: Some(&key),
            secrets: BTreeMap::new(),
        };
        let public = config_objects(&shoot(), &config(true), &inputs).unwrap();
        assert!(public.iter().all(|o| o["kind"] != "Secret"));
    }

    #[test]
    fn rendering_is_deterministic_and_names_follow_content() {
        let none = Inputs::default();
        let bundle = bundle();
        let a = render(&shoot(), &config(true), Some(&bundle), &none).unwrap();
        let b = render(&shoot(), &config(true), Some(&bundle), &none).unwrap();
        assert_eq!(a, b);
        let mut other = config(true);
        if let Some(Sync::Project(s)) = other.sync.as_mut() {
            s.branch = "release".into();
        }
        let c = render(&shoot(), &other, Some(&bundle), &none).unwrap();
        assert_ne!(a.config.secret_name, c.config.secret_name);
        let (a_install, c_install) = (a.install.unwrap(), c.install.unwrap());
        assert_eq!(a_install.secret_name, c_install.secret_name);
        assert_eq!(
            a_install.managed_resource.metadata.namespace.as_deref(),
            Some("shoot--dev--app")
        );
    }

    /// A bundle's prepared access objects are what each shoot would get rendered on its own,
    /// and are used only for the namespace they were prepared for.
    #[test]
    fn a_bundles_prepared_access_objects_are_the_shoots_own() {
        let none = Inputs::default();
        let mut bundle = bundle();
        bundle.crds = vec![storedversions::BundleCrd {
            name: "gitrepositories.source.toolkit.fluxcd.io".into(),
            group: "source.toolkit.fluxcd.io".into(),
            plural: "gitrepositories".into(),
            storage_version: "v1".into(),
            versions: vec!["v1".into()],
            spec_versions: vec![],
        }];
        let alone = render(&shoot(), &config(true), Some(&bundle), &none).unwrap();
        bundle.access = Some(access_objects(&bundle.namespace, &bundle.crds).unwrap());
        let prepared = render(&shoot(), &config(true), Some(&bundle), &none).unwrap();
        assert_eq!(alone, prepared);
        assert!(!prepared.access_objects.is_empty());
        // They are taken as prepared, not rendered again.
        let mut marked = access_objects(&bundle.namespace, &[]).unwrap();
        marked.objects = Arc::new(vec![json!({"kind": "Marked"})]);
        bundle.access = Some(marked.clone());
        let taken = render(&shoot(), &config(true), Some(&bundle), &none).unwrap();
        assert_eq!(taken.access_objects, marked.objects);

        // Prepared for another namespace: not this shoot's.
        bundle.namespace = "other".into();
        bundle.access = Some(access_objects("other", &bundle.crds).unwrap());
        let elsewhere = render(&shoot(), &config(true), Some(&bundle), &none).unwrap();
        assert_eq!(elsewhere, alone);
    }

    /// An OCIRepository's `source.secretResourceName` Secret must be a docker-registry Secret:
    /// source-controller would ignore any other type and pull anonymously.
    #[test]
    fn an_oci_source_secret_of_another_type_is_refused_naming_the_field() {
        let config = from_provider_config(json!({
            "apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig",
            "source": {
                "template": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                    "spec": {"url": "oci://registry.example.com/fleet", "ref": {"tag": "1.0.0"}}},
                "secretResourceName": "git"
            },
            "kustomization": {"template": {"spec": {"path": "./"}}},
            "additionalSecretResources": [{"name": "sops", "targetName": "sops-age"}]
        }));
        // ref-git-credentials is Opaque; the additional Secret's type does not matter.
        let inputs = Inputs {
            deploy_key: None,
            secrets: secrets(),
        };
        let err = config_objects(&shoot(), &config, &inputs).unwrap_err();
        assert!(
            err.starts_with(
                "providerConfig.source.secretResourceName: the Secret is of type Opaque"
            ),
            "{err}"
        );
        assert!(err.contains("kubernetes.io/dockerconfigjson"), "{err}");
        assert!(err.contains("ref-git-credentials"), "{err}");

        let mut secrets = secrets();
        if let Some(pull) = secrets.get_mut("ref-git-credentials") {
            pull.type_ = Some("kubernetes.io/dockerconfigjson".into());
        }
        let objects = config_objects(
            &shoot(),
            &config,
            &Inputs {
                deploy_key: None,
                secrets,
            },
        )
        .unwrap();
        let pull = objects
            .iter()
            .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "flux-system")
            .unwrap();
        assert_eq!(pull["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(objects[0]["spec"]["secretRef"]["name"], "flux-system");
    }

    /// Flux's image pull secret is a copied Secret that kubelet can read; the controllers'
    /// Deployments name it (see flux::image_pull).
    #[test]
    fn the_image_pull_secret_must_be_a_docker_registry_secret() {
        let config = from_provider_config(json!({
            "apiVersion": v1alpha1::API_VERSION, "kind": "FluxConfig",
            "flux": {"registry": "mirror.example.com/fluxcd", "imagePullSecret": "flux-pull"},
            "additionalSecretResources": [{"name": "git", "targetName": "flux-pull"}]
        }));
        assert_eq!(config.image_pull_secret.as_deref(), Some("flux-pull"));
        let inputs = Inputs {
            deploy_key: None,
            secrets: secrets(),
        };
        let err = config_objects(&shoot(), &config, &inputs).unwrap_err();
        assert!(
            err.starts_with("providerConfig.additionalSecretResources[0].name: the Secret ref-git-credentials is Flux's image pull secret (providerConfig.flux.imagePullSecret) and of type Opaque"),
            "{err}"
        );
        let mut secrets = secrets();
        if let Some(pull) = secrets.get_mut("ref-git-credentials") {
            pull.type_ = Some("kubernetes.io/dockerconfigjson".into());
        }
        let objects = config_objects(
            &shoot(),
            &config,
            &Inputs {
                deploy_key: None,
                secrets,
            },
        )
        .unwrap();
        assert!(objects.iter().any(|o| o["kind"] == "Secret"
            && o["metadata"]["name"] == "flux-pull"
            && o["type"] == "kubernetes.io/dockerconfigjson"));
    }

    /// The operator's registry credentials become a docker-registry Secret in the Flux
    /// namespace; an additional Secret may not take its name.
    #[test]
    fn the_operators_image_pull_secret_is_rendered_and_its_name_kept_free() {
        use crate::config::pullsecret::{DockerConfigJson, OPERATOR_SECRET_NAME};
        let credentials = r#"{"auths": {"mirror.example.com": {"auth": "cmVhZGVyOnB3"}}}"#;
        let mut config = config(false);
        config.image_pull_secret = Some(OPERATOR_SECRET_NAME.into());
        config.operator_image_pull_secret = Some(DockerConfigJson::parse(credentials).unwrap());
        let objects = config_objects(&shoot(), &config, &Inputs::default()).unwrap();
        let secret = objects
            .iter()
            .find(|o| o["metadata"]["name"] == OPERATOR_SECRET_NAME)
            .unwrap();
        assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(secret["metadata"]["namespace"], config.namespace.as_str());
        use base64::Engine;
        let data = base64::engine::general_purpose::STANDARD
            .decode(secret["data"][".dockerconfigjson"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, credentials.as_bytes());

        config.secret_copies = vec![crate::config::SecretCopy {
            seed_name: "ref-sops-age".into(),
            target_name: OPERATOR_SECRET_NAME.into(),
            field: "providerConfig.additionalSecretResources[0].targetName".into(),
        }];
        let inputs = Inputs {
            deploy_key: None,
            secrets: secrets(),
        };
        let err = config_objects(&shoot(), &config, &inputs).unwrap_err();
        assert!(
            err.starts_with("providerConfig.additionalSecretResources[0].targetName: the Secret name shoot-flux-image-pull"),
            "{err}"
        );
    }
}
