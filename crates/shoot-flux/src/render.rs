//! The desired state of one shoot, computed from plain inputs without any server: which
//! ManagedResources and Secrets the seed should hold.

use serde_json::Value;

use crate::config::EffectiveConfig;
use crate::flux::manifests::InstallBundle;
use crate::flux::objects;
use crate::flux::transform;
use crate::gardener::shoot::ShootFacts;
use crate::managedresource::{self, CONFIG_NAME, DesiredManagedResource, INSTALL_NAME};

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub install: DesiredManagedResource,
    pub config: DesiredManagedResource,
    /// The objects inside the config MR, for `render` and tests.
    pub config_objects: Vec<Value>,
}

/// The objects of the config ManagedResource: the sync objects when the configuration has a
/// repository, and always the shoot-info ConfigMap.
pub fn config_objects(shoot: &ShootFacts, config: &EffectiveConfig) -> Vec<Value> {
    let ns = &config.namespace;
    let mut out = Vec::new();
    if let Some(sync) = &config.sync {
        // Serialising our own plain structs cannot fail.
        out.push(serde_json::to_value(objects::git_repository(ns, sync)).unwrap_or_default());
        out.push(serde_json::to_value(objects::kustomization(ns, sync)).unwrap_or_default());
    }
    out.push(objects::shoot_info(ns, shoot));
    out
}

pub fn render(
    shoot: &ShootFacts,
    config: &EffectiveConfig,
    install: &InstallBundle,
) -> Result<Desired, String> {
    let namespace = &shoot.cluster_name;
    let config_objects = config_objects(shoot, config);
    let config_yaml = transform::to_yaml(&config_objects)?;
    Ok(Desired {
        install: managedresource::build(INSTALL_NAME, namespace, &install.compressed),
        config: managedresource::build(
            CONFIG_NAME,
            namespace,
            &managedresource::brotli_compress(config_yaml.as_bytes()),
        ),
        config_objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncConfig;
    use crate::config::project::RepositoryType;
    use crate::config::version::{FluxVersion, VersionRequest};

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
            sync: sync.then(|| SyncConfig {
                url: "https://git.example.com/org/fleet.git".into(),
                branch: "main".into(),
                repository_type: RepositoryType::Public,
                path: "./".into(),
                target_namespace: "default".into(),
            }),
        }
    }

    fn bundle() -> InstallBundle {
        InstallBundle {
            version: FluxVersion(semver::Version::new(2, 9, 5)),
            yaml: "---\nkind: Namespace\n".into(),
            compressed: managedresource::brotli_compress(b"---\nkind: Namespace\n"),
            images: vec![],
        }
    }

    #[test]
    fn config_objects_snapshot() {
        insta::assert_yaml_snapshot!(config_objects(&shoot(), &config(true)));
    }

    #[test]
    fn install_only_without_a_repository() {
        let objects = config_objects(&shoot(), &config(false));
        assert_eq!(objects.len(), 1);
        assert_eq!(objects[0]["kind"], "ConfigMap");
    }

    #[test]
    fn rendering_is_deterministic_and_names_follow_content() {
        let a = render(&shoot(), &config(true), &bundle()).unwrap();
        let b = render(&shoot(), &config(true), &bundle()).unwrap();
        assert_eq!(a, b);
        let mut other = config(true);
        if let Some(s) = other.sync.as_mut() {
            s.branch = "release".into();
        }
        let c = render(&shoot(), &other, &bundle()).unwrap();
        assert_ne!(a.config.secret_name, c.config.secret_name);
        assert_eq!(a.install.secret_name, c.install.secret_name);
        assert_eq!(
            a.install.managed_resource["metadata"]["namespace"],
            "shoot--dev--app"
        );
    }
}
