//! Upgrades across removed API versions. The API server refuses a CRD update that drops a
//! version still listed in the CRD's `status.storedVersions`, and Flux 2.8 and 2.9 dropped the
//! `v1beta*` versions of several CRDs. Before an install bundle reaches a shoot, every CRD of the
//! shoot whose stored versions the bundle no longer has is migrated, the way `flux migrate` does
//! it: its objects are written back (the API server stores them at the storage version) and its
//! `storedVersions` is trimmed. When the shoot still stores at a version the bundle drops (Flux
//! 0.x stored `v1beta2`), the CRD first gets a bridge: the bundle's versions with the bundle's
//! storage version, plus the shoot's old versions served as before but no longer stored.
//! This module decides what to migrate; the shell does it.

use serde_json::{Value, json};

use crate::gardener::conditions::Verdict;

/// The Extension condition that says whether a Flux upgrade waits for a storage migration.
pub const UPGRADE_CONDITION: &str = "FluxUpgradeReady";

/// A CRD of an install bundle: what it will serve and store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleCrd {
    pub name: String,
    pub group: String,
    pub plural: String,
    pub storage_version: String,
    pub versions: Vec<String>,
    /// The bundle's `spec.versions` entries, for a bridge.
    pub spec_versions: Vec<Value>,
}

/// A CRD as the shoot has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShootCrd {
    pub name: String,
    /// The version the shoot's API server stores objects at now.
    pub storage_version: Option<String>,
    pub stored_versions: Vec<String>,
    /// The shoot's `spec.versions` entries.
    pub spec_versions: Vec<Value>,
}

/// One CRD to migrate before the bundle may be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub crd: String,
    pub group: String,
    pub plural: String,
    /// The version objects are read and written at: the bundle's storage version.
    pub version: String,
    /// Stored versions the bundle does not have.
    pub dropped: Vec<String>,
    /// `status.storedVersions` after the migration.
    pub stored_versions: Vec<String>,
    /// `spec.versions` to give the shoot's CRD before its objects are written back, when the
    /// shoot stores at a version the bundle drops; None when its storage version stays.
    pub bridge: Option<Vec<Value>>,
}

fn version_names(versions: &[Value]) -> Vec<String> {
    versions
        .iter()
        .filter_map(|v| v["name"].as_str().map(str::to_string))
        .collect()
}

fn storage_of(versions: &[Value]) -> Option<String> {
    versions
        .iter()
        .find(|v| v["storage"] == true)
        .and_then(|v| v["name"].as_str())
        .map(str::to_string)
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
                storage_version: storage_of(versions)?,
                versions: version_names(versions),
                spec_versions: versions.clone(),
            })
        })
        .collect()
}

/// A CRD object read from the shoot; None when it is not one.
pub fn shoot_crd(object: &Value) -> Option<ShootCrd> {
    let versions = object["spec"]["versions"].as_array()?;
    Some(ShootCrd {
        name: object["metadata"]["name"].as_str()?.to_string(),
        storage_version: storage_of(versions),
        stored_versions: object["status"]["storedVersions"]
            .as_array()
            .map(|v| {
                v.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
        spec_versions: versions.clone(),
    })
}

/// The migrations the shoot's CRDs need before `bundle` is applied; empty when none.
pub fn migrations(bundle: &[BundleCrd], shoot: &[ShootCrd]) -> Vec<Migration> {
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
        let storage_stays = current
            .storage_version
            .as_ref()
            .is_some_and(|s| next.versions.contains(s));
        let bridge = (!storage_stays).then(|| {
            // The old versions stay served as the shoot serves them, so the controllers still
            // running (the old Flux) keep working until the bundle replaces them.
            let mut versions = next.spec_versions.clone();
            for old in &current.spec_versions {
                let name = old["name"].as_str().unwrap_or_default();
                if !next.versions.iter().any(|v| v == name) {
                    let mut old = old.clone();
                    old["storage"] = Value::Bool(false);
                    versions.push(old);
                }
            }
            versions
        });
        let version = if storage_stays {
            current.storage_version.clone().unwrap_or_default()
        } else {
            next.storage_version.clone()
        };
        out.push(Migration {
            crd: current.name.clone(),
            group: next.group.clone(),
            plural: next.plural.clone(),
            stored_versions: vec![version.clone()],
            version,
            dropped,
            bridge,
        });
    }
    out
}

/// The RBAC rules a storage migration before applying `crds` needs in the shoot: get and patch
/// exactly those CRDs and their status, list their objects and write them back (patch); no
/// create, update or delete.
pub fn migration_rules(crds: &[BundleCrd]) -> Vec<Value> {
    if crds.is_empty() {
        return vec![];
    }
    let names: Vec<&str> = crds.iter().map(|c| c.name.as_str()).collect();
    let mut groups: Vec<&str> = crds.iter().map(|c| c.group.as_str()).collect();
    groups.sort();
    groups.dedup();
    let mut rules = vec![
        json!({"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"],
               "resourceNames": names, "verbs": ["get", "patch"]}),
        json!({"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions/status"],
               "resourceNames": names, "verbs": ["patch"]}),
    ];
    for group in groups {
        let plurals: Vec<&str> = crds
            .iter()
            .filter(|c| c.group == group)
            .map(|c| c.plural.as_str())
            .collect();
        rules.push(json!({"apiGroups": [group], "resources": plurals, "verbs": ["list", "patch"]}));
    }
    rules
}

fn describe(migrations: &[Migration]) -> String {
    migrations
        .iter()
        .map(|m| format!("{} ({} to {})", m.crd, m.dropped.join(", "), m.version))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `FluxUpgradeReady` while the shoot's objects are migrated before Flux `version` is applied.
pub fn migrating(migrations: &[Migration], version: &str) -> Verdict {
    Verdict {
        status: "False",
        reason: "MigratingStoredVersions",
        message: format!(
            "Flux {version} is applied once the objects of these CustomResourceDefinitions are stored at the versions it keeps: {}",
            describe(migrations)
        ),
    }
}

/// `FluxUpgradeReady` once the migration before Flux `version` succeeded.
pub fn migrated(migrations: &[Migration], version: &str) -> Verdict {
    Verdict {
        status: "True",
        reason: "StoredVersionsMigrated",
        message: format!("migrated before Flux {version}: {}", describe(migrations)),
    }
}

/// `FluxUpgradeReady` when the migration before Flux `version` failed; `error` names the CRD.
pub fn migration_failed(error: &str, version: &str) -> Verdict {
    Verdict {
        status: "False",
        reason: "StoredVersionsMigrationFailed",
        message: format!("Flux {version} waits: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: &str = "kustomizations.kustomize.toolkit.fluxcd.io";

    fn version(name: &str, storage: bool) -> Value {
        json!({"name": name, "served": true, "storage": storage, "schema": {"openAPIV3Schema": {"type": "object", "description": name}}})
    }

    fn crd(versions: &[(&str, bool)]) -> Value {
        json!({"kind": "CustomResourceDefinition",
            "metadata": {"name": NAME},
            "spec": {"group": "kustomize.toolkit.fluxcd.io", "names": {"plural": "kustomizations"},
                "versions": versions.iter().map(|(n, s)| version(n, *s)).collect::<Vec<_>>()}})
    }

    fn shoot(versions: &[(&str, bool)], stored: &[&str]) -> Vec<ShootCrd> {
        let mut object = crd(versions);
        object["status"]["storedVersions"] = json!(stored);
        vec![shoot_crd(&object).unwrap()]
    }

    #[test]
    fn a_stored_version_the_bundle_drops_is_migrated_to_the_storage_version() {
        let bundle = bundle_crds(&[crd(&[("v1", true)]), json!({"kind": "Namespace"})]);
        assert_eq!(bundle.len(), 1);
        assert_eq!(bundle[0].storage_version, "v1");
        let plan = migrations(
            &bundle,
            &shoot(&[("v1beta2", false), ("v1", true)], &["v1beta2", "v1"]),
        );
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].crd, NAME);
        assert_eq!(plan[0].group, "kustomize.toolkit.fluxcd.io");
        assert_eq!(plan[0].plural, "kustomizations");
        assert_eq!(plan[0].version, "v1");
        assert_eq!(plan[0].dropped, ["v1beta2"]);
        assert_eq!(plan[0].stored_versions, ["v1"]);
        assert_eq!(plan[0].bridge, None, "the storage version stays: no bridge");
    }

    #[test]
    fn nothing_to_do_when_the_bundle_keeps_every_stored_version_or_the_crd_is_new() {
        let keeps = bundle_crds(&[crd(&[("v1", true), ("v1beta2", false)])]);
        let current = shoot(&[("v1beta2", false), ("v1", true)], &["v1beta2", "v1"]);
        assert!(migrations(&keeps, &current).is_empty());
        let drops = bundle_crds(&[crd(&[("v1", true)])]);
        assert!(migrations(&drops, &shoot(&[("v1", true)], &["v1"])).is_empty());
        assert!(migrations(&drops, &[]).is_empty());
    }

    #[test]
    fn a_dropped_storage_version_gets_a_bridge_serving_old_and_new() {
        // Flux 0.x: v1beta1 and v1beta2 served, v1beta2 stored; the bundle has only v1.
        let bundle = bundle_crds(&[crd(&[("v1", true)])]);
        let current = shoot(
            &[("v1beta1", false), ("v1beta2", true)],
            &["v1beta1", "v1beta2"],
        );
        let plan = migrations(&bundle, &current);
        assert_eq!(plan.len(), 1);
        assert_eq!(
            plan[0].version, "v1",
            "objects are written at the bundle's storage"
        );
        assert_eq!(plan[0].dropped, ["v1beta1", "v1beta2"]);
        assert_eq!(plan[0].stored_versions, ["v1"]);
        let bridge = plan[0].bridge.as_ref().unwrap();
        let names: Vec<_> = bridge.iter().map(|v| v["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["v1", "v1beta1", "v1beta2"]);
        let stored: Vec<_> = bridge.iter().filter(|v| v["storage"] == true).collect();
        assert_eq!(stored.len(), 1, "exactly one storage version");
        assert_eq!(stored[0]["name"], "v1");
        assert!(bridge.iter().all(|v| v["served"] == true));
        // The old versions keep the shoot's own schemas.
        assert_eq!(
            bridge[2]["schema"]["openAPIV3Schema"]["description"],
            "v1beta2"
        );
    }

    #[test]
    fn the_upgrade_condition_names_each_crd_and_its_versions() {
        let bundle = bundle_crds(&[crd(&[("v1", true)])]);
        let plan = migrations(&bundle, &shoot(&[("v1beta2", true)], &["v1beta2"]));
        let running = migrating(&plan, "v2.9.5");
        assert_eq!(running.status, "False");
        assert!(
            running.message.contains("v2.9.5 is applied once")
                && running.message.contains(&format!("{NAME} (v1beta2 to v1)")),
            "{}",
            running.message
        );
        assert_eq!(migrated(&plan, "v2.9.5").status, "True");
        let failed = migration_failed(
            "migrating the objects of CustomResourceDefinition x: 500",
            "v2.9.5",
        );
        assert_eq!(failed.status, "False");
        assert!(failed.message.contains("CustomResourceDefinition x"));
    }

    #[test]
    fn migration_rules_name_exactly_the_bundles_crds() {
        let crd = |name: &str, group: &str, plural: &str| BundleCrd {
            name: name.into(),
            group: group.into(),
            plural: plural.into(),
            storage_version: "v1".into(),
            versions: vec!["v1".into()],
            spec_versions: vec![],
        };
        let rules = migration_rules(&[
            crd(
                "gitrepositories.source.toolkit.fluxcd.io",
                "source.toolkit.fluxcd.io",
                "gitrepositories",
            ),
            crd(NAME, "kustomize.toolkit.fluxcd.io", "kustomizations"),
            crd(
                "ocirepositories.source.toolkit.fluxcd.io",
                "source.toolkit.fluxcd.io",
                "ocirepositories",
            ),
        ]);
        assert_eq!(
            rules[0]["resourceNames"],
            json!([
                "gitrepositories.source.toolkit.fluxcd.io",
                NAME,
                "ocirepositories.source.toolkit.fluxcd.io"
            ])
        );
        assert_eq!(rules[0]["verbs"], json!(["get", "patch"]));
        assert_eq!(
            rules[1]["resources"],
            json!(["customresourcedefinitions/status"])
        );
        assert_eq!(
            rules[2]["apiGroups"],
            json!(["kustomize.toolkit.fluxcd.io"])
        );
        assert_eq!(
            rules[3]["resources"],
            json!(["gitrepositories", "ocirepositories"])
        );
        assert_eq!(rules[3]["verbs"], json!(["list", "patch"]));
        assert!(
            rules.iter().all(|r| r["verbs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|v| v != "delete" && v != "create" && v != "update")),
            "a migration neither creates nor deletes"
        );
        assert!(migration_rules(&[]).is_empty());
    }

    #[test]
    fn a_crd_object_without_versions_is_not_a_shoot_crd() {
        assert_eq!(shoot_crd(&json!({"metadata": {"name": NAME}})), None);
        let no_status = shoot_crd(&crd(&[("v1", true)])).unwrap();
        assert!(no_status.stored_versions.is_empty());
        assert_eq!(no_status.storage_version.as_deref(), Some("v1"));
    }
}
