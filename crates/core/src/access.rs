//! The objects of least-privilege shoot access: the `shoot-access-*` Secret the token
//! requestor fills for ServiceAccount `kube-system/extension-shoot-flux`, and the RBAC for it
//! that ships through a ManagedResource: read-only, except what a storage migration before a Flux
//! upgrade writes. `shootaccess` makes a client of them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

use crate::flux::storedversions::BundleCrd;

pub const SERVICE_ACCOUNT: &str = "extension-shoot-flux";
pub const SERVICE_ACCOUNT_NAMESPACE: &str = "kube-system";
pub const SECRET_NAME: &str = "shoot-access-extension-shoot-flux";
/// The Cluster annotation naming the current generic token kubeconfig Secret.
pub const GENERIC_KUBECONFIG_ANNOTATION: &str =
    "generic-token-kubeconfig.secret.gardener.cloud/name";
const ROLE_NAME: &str = "gardener.cloud:extension-shoot-flux:read";
const MIGRATE_ROLE_NAME: &str = "gardener.cloud:extension-shoot-flux:migrate";

/// The Secret the token requestor fills (labels and annotations only; GRM writes the data).
pub fn access_secret(namespace: &str) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(SECRET_NAME.into()),
            namespace: Some(namespace.into()),
            labels: Some(BTreeMap::from([
                (
                    "resources.gardener.cloud/purpose".to_string(),
                    "token-requestor".to_string(),
                ),
                (
                    "resources.gardener.cloud/class".to_string(),
                    "shoot".to_string(),
                ),
            ])),
            annotations: Some(BTreeMap::from([
                (
                    "serviceaccount.resources.gardener.cloud/name".to_string(),
                    SERVICE_ACCOUNT.to_string(),
                ),
                (
                    "serviceaccount.resources.gardener.cloud/namespace".to_string(),
                    SERVICE_ACCOUNT_NAMESPACE.to_string(),
                ),
            ])),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// RBAC in the shoot for the ServiceAccount: read Flux's sources and Kustomizations anywhere,
/// and the Deployments of the Flux namespace. With the CRDs of the install bundle, also what a
/// storage migration before an upgrade needs (see `flux::storedversions`): read and patch
/// exactly those CRDs and their status, list their objects and write them back. That adds no
/// power the extension lacks: it ships those very CRDs and controllers through GRM.
pub fn rbac_objects(flux_namespace: &str, crds: &[BundleCrd]) -> Vec<Value> {
    let subject = json!([{
        "kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": SERVICE_ACCOUNT_NAMESPACE
    }]);
    let read = json!(["get", "list", "watch"]);
    let mut objects = vec![
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": ROLE_NAME},
            "rules": [
                {"apiGroups": ["source.toolkit.fluxcd.io"],
                 "resources": ["gitrepositories", "ocirepositories", "buckets", "helmrepositories", "helmcharts"],
                 "verbs": read},
                {"apiGroups": ["kustomize.toolkit.fluxcd.io"], "resources": ["kustomizations"], "verbs": read}
            ]
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": ROLE_NAME},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": ROLE_NAME},
            "subjects": subject
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": ROLE_NAME, "namespace": flux_namespace},
            "rules": [{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": read}]
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
            "metadata": {"name": ROLE_NAME, "namespace": flux_namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE_NAME},
            "subjects": subject
        }),
    ];
    if crds.is_empty() {
        return objects;
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
    objects.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": MIGRATE_ROLE_NAME},
        "rules": rules
    }));
    objects.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": MIGRATE_ROLE_NAME},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": MIGRATE_ROLE_NAME},
        "subjects": subject
    }));
    objects
}

/// The field managers, other than GRM, that write Flux's own Deployments: another owner (the
/// repository carrying Flux's components, applied by kustomize-controller) in Managed mode.
pub fn other_owners(deployments: &[Value]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for d in deployments {
        let name = d["metadata"]["name"].as_str().unwrap_or_default();
        for entry in d["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let manager = entry["manager"].as_str().unwrap_or_default();
            if matches!(manager, "kustomize-controller" | "helm-controller" | "flux") {
                out.push((name.to_string(), manager.to_string()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_secret_asks_the_token_requestor_for_a_shoot_service_account() {
        let s = access_secret("shoot--dev--app");
        let labels = s.metadata.labels.unwrap();
        assert_eq!(
            labels["resources.gardener.cloud/purpose"],
            "token-requestor"
        );
        assert_eq!(labels["resources.gardener.cloud/class"], "shoot");
        let annotations = s.metadata.annotations.unwrap();
        assert_eq!(
            annotations["serviceaccount.resources.gardener.cloud/namespace"],
            "kube-system"
        );
        assert!(s.data.is_none());
    }

    #[test]
    fn rbac_only_reads_without_crds() {
        let objects = rbac_objects("flux-system", &[]);
        assert_eq!(objects.len(), 4);
        for o in &objects {
            for rule in o["rules"].as_array().into_iter().flatten() {
                assert_eq!(rule["verbs"], json!(["get", "list", "watch"]));
            }
        }
        assert_eq!(objects[2]["metadata"]["namespace"], "flux-system");
        assert_eq!(objects[2]["rules"][0]["resources"], json!(["deployments"]));
    }

    #[test]
    fn migration_rbac_names_exactly_the_bundles_crds() {
        let crd = |name: &str, group: &str, plural: &str| BundleCrd {
            name: name.into(),
            group: group.into(),
            plural: plural.into(),
            storage_version: "v1".into(),
            versions: vec!["v1".into()],
            spec_versions: vec![],
        };
        let crds = [
            crd(
                "gitrepositories.source.toolkit.fluxcd.io",
                "source.toolkit.fluxcd.io",
                "gitrepositories",
            ),
            crd(
                "kustomizations.kustomize.toolkit.fluxcd.io",
                "kustomize.toolkit.fluxcd.io",
                "kustomizations",
            ),
            crd(
                "ocirepositories.source.toolkit.fluxcd.io",
                "source.toolkit.fluxcd.io",
                "ocirepositories",
            ),
        ];
        let objects = rbac_objects("flux-system", &crds);
        let role = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == MIGRATE_ROLE_NAME)
            .unwrap();
        let rules = role["rules"].as_array().unwrap();
        assert_eq!(
            rules[0]["resourceNames"],
            json!([
                "gitrepositories.source.toolkit.fluxcd.io",
                "kustomizations.kustomize.toolkit.fluxcd.io",
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
        assert!(objects.iter().any(
            |o| o["kind"] == "ClusterRoleBinding" && o["roleRef"]["name"] == MIGRATE_ROLE_NAME
        ));
    }

    #[test]
    fn flux_applying_its_own_deployments_is_another_owner() {
        let deployments = vec![
            json!({"metadata": {"name": "source-controller", "managedFields": [
                {"manager": "gardener-resource-manager"}, {"manager": "kustomize-controller"}
            ]}}),
            json!({"metadata": {"name": "kustomize-controller", "managedFields": [
                {"manager": "gardener-resource-manager"}, {"manager": "kube-controller-manager"}
            ]}}),
        ];
        assert_eq!(
            other_owners(&deployments),
            [(
                "source-controller".to_string(),
                "kustomize-controller".to_string()
            )]
        );
    }
}
