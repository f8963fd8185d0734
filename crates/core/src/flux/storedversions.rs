//! Upgrades across removed API versions. The API server refuses a CRD update that drops a
//! version still listed in the CRD's `status.storedVersions`, and Flux 2.8 and 2.9 dropped the
//! `v1beta*` versions of several CRDs. Before an install bundle reaches a shoot, every CRD of the
//! shoot whose stored versions the bundle no longer has is migrated, the way `flux migrate` does
//! it: its objects are written back (the API server stores them at the storage version) and its
//! `storedVersions` is trimmed. This module decides what to migrate; the shell does it.

use serde_json::Value;

/// A CRD of an install bundle: what it will serve and store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleCrd {
    pub name: String,
    pub group: String,
    pub plural: String,
    pub storage_version: String,
    pub versions: Vec<String>,
}

/// A CRD as the shoot has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShootCrd {
    pub name: String,
    /// The version the shoot's API server stores objects at now.
    pub storage_version: Option<String>,
    pub stored_versions: Vec<String>,
}

/// One CRD to migrate before the bundle may be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub crd: String,
    pub group: String,
    pub plural: String,
    /// The version objects are read and written at (the shoot's storage version, which the
    /// bundle keeps).
    pub version: String,
    /// Stored versions the bundle does not have.
    pub dropped: Vec<String>,
    /// `status.storedVersions` after the migration.
    pub stored_versions: Vec<String>,
}

/// Why a shoot cannot be migrated by rewriting its objects.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "CustomResourceDefinition {crd}: the shoot stores it at {storage}, which the new Flux release no longer serves ({versions}); upgrade through a Flux release that serves both first"
    )]
    StorageVersionDropped {
        crd: String,
        storage: String,
        versions: String,
    },
}

/// The CRDs of install-bundle documents.
pub fn bundle_crds(docs: &[Value]) -> Vec<BundleCrd> {
    docs.iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .filter_map(|d| {
            let versions = d["spec"]["versions"].as_array()?;
            Some(BundleCrd {
                name: d["metadata"]["name"].as_str()?.to_string(),
                group: d["spec"]["group"].as_str()?.to_string(),
                plural: d["spec"]["names"]["plural"].as_str()?.to_string(),
                storage_version: versions
                    .iter()
                    .find(|v| v["storage"] == true)?
                    .get("name")?
                    .as_str()?
                    .to_string(),
                versions: versions
                    .iter()
                    .filter_map(|v| v["name"].as_str().map(str::to_string))
                    .collect(),
            })
        })
        .collect()
}

/// The migrations the shoot's CRDs need before `bundle` is applied; empty when none.
pub fn migrations(
    bundle: &[BundleCrd],
    shoot: &[ShootCrd],
) -> Result<Vec<Migration>, MigrationError> {
    let mut out = Vec::new();
    for current in shoot {
        let Some(next) = bundle.iter().find(|b| b.name == current.name) else {
            continue;
        };
        let dropped: Vec<String> = current
            .stored_versions
            .iter()
            .filter(|v| !next.versions.contains(v))
            .cloned()
            .collect();
        if dropped.is_empty() {
            continue;
        }
        let storage = current
            .storage_version
            .clone()
            .unwrap_or_else(|| next.storage_version.clone());
        if !next.versions.contains(&storage) {
            return Err(MigrationError::StorageVersionDropped {
                crd: current.name.clone(),
                storage,
                versions: next.versions.join(", "),
            });
        }
        out.push(Migration {
            crd: current.name.clone(),
            group: next.group.clone(),
            plural: next.plural.clone(),
            stored_versions: vec![storage.clone()],
            version: storage,
            dropped,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn crd(versions: &[(&str, bool)]) -> Value {
        json!({"kind": "CustomResourceDefinition",
            "metadata": {"name": "kustomizations.kustomize.toolkit.fluxcd.io"},
            "spec": {"group": "kustomize.toolkit.fluxcd.io", "names": {"plural": "kustomizations"},
                "versions": versions.iter().map(|(n, s)| json!({"name": n, "served": true, "storage": s})).collect::<Vec<_>>()}})
    }

    fn shoot(storage: &str, stored: &[&str]) -> Vec<ShootCrd> {
        vec![ShootCrd {
            name: "kustomizations.kustomize.toolkit.fluxcd.io".into(),
            storage_version: Some(storage.into()),
            stored_versions: stored.iter().map(|s| s.to_string()).collect(),
        }]
    }

    #[test]
    fn a_stored_version_the_bundle_drops_is_migrated_to_the_storage_version() {
        let bundle = bundle_crds(&[crd(&[("v1", true)]), json!({"kind": "Namespace"})]);
        assert_eq!(bundle.len(), 1);
        assert_eq!(bundle[0].storage_version, "v1");
        let plan = migrations(&bundle, &shoot("v1", &["v1beta2", "v1"])).unwrap();
        assert_eq!(
            plan,
            [Migration {
                crd: "kustomizations.kustomize.toolkit.fluxcd.io".into(),
                group: "kustomize.toolkit.fluxcd.io".into(),
                plural: "kustomizations".into(),
                version: "v1".into(),
                dropped: vec!["v1beta2".into()],
                stored_versions: vec!["v1".into()],
            }]
        );
    }

    #[test]
    fn nothing_to_do_when_the_bundle_keeps_every_stored_version_or_the_crd_is_new() {
        let keeps = bundle_crds(&[crd(&[("v1", true), ("v1beta2", false)])]);
        assert!(
            migrations(&keeps, &shoot("v1", &["v1beta2", "v1"]))
                .unwrap()
                .is_empty()
        );
        let drops = bundle_crds(&[crd(&[("v1", true)])]);
        assert!(
            migrations(&drops, &shoot("v1", &["v1"]))
                .unwrap()
                .is_empty()
        );
        assert!(migrations(&drops, &[]).unwrap().is_empty());
    }

    #[test]
    fn a_dropped_storage_version_cannot_be_migrated_by_rewriting() {
        let bundle = bundle_crds(&[crd(&[("v1", true)])]);
        let e = migrations(&bundle, &shoot("v1beta2", &["v1beta2"])).unwrap_err();
        assert!(e.to_string().contains("stores it at v1beta2"), "{e}");
    }
}
