//! The objects of least-privilege shoot access: the `shoot-access-*` Secret the token
//! requestor fills for ServiceAccount `kube-system/extension-shoot-flux`, and the RBAC for it
//! that ships through a ManagedResource: read-only, except what a storage migration before a Flux
//! upgrade writes. `shootaccess` makes a client of them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::{Value, json};

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
/// and the Deployments of the Flux namespace. `migration_rules` (from
/// `flux::storedversions::migration_rules`) go into a ClusterRole of their own: what a storage
/// migration before an upgrade writes. That adds no power the extension lacks: it ships those
/// very CRDs and controllers through GRM.
pub fn rbac_objects(flux_namespace: &str, migration_rules: Vec<Value>) -> Vec<Value> {
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
    if migration_rules.is_empty() {
        return objects;
    }
    objects.push(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": MIGRATE_ROLE_NAME},
        "rules": migration_rules
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
        let objects = rbac_objects("flux-system", vec![]);
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
    fn migration_rules_get_a_cluster_role_of_their_own() {
        let rule = json!({"apiGroups": ["x"], "resources": ["y"], "verbs": ["patch"]});
        let objects = rbac_objects("flux-system", vec![rule.clone()]);
        let role = objects
            .iter()
            .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == MIGRATE_ROLE_NAME)
            .unwrap();
        assert_eq!(role["rules"], json!([rule]));
        assert!(objects.iter().any(|o| o["kind"] == "ClusterRoleBinding"
            && o["roleRef"]["name"] == MIGRATE_ROLE_NAME
            && o["subjects"][0]["name"] == SERVICE_ACCOUNT));
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
