//! Flux's images from a registry mirror that needs credentials: every controller Deployment
//! names an image pull Secret of the Flux namespace (as `flux install --image-pull-secret`
//! does), and that Secret must be one kubelet can read.

use serde_json::{Value, json};

use super::source_secret::REGISTRY_SECRET_TYPES;
use crate::config::{EffectiveConfig, SecretCopy};
use crate::render::SecretPayload;

/// Adds `secret` to the `imagePullSecrets` of a Deployment's pod template (once); other
/// documents, and Deployments without a pod spec object, stay as they are.
pub fn add_to_deployment(doc: &mut Value, secret: &str) {
    if doc["kind"] != "Deployment" {
        return;
    }
    let Some(pod) = doc
        .pointer_mut("/spec/template/spec")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let list = pod
        .entry("imagePullSecrets")
        .or_insert_with(|| Value::Array(Vec::new()));
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    if let Some(list) = list.as_array_mut()
        && !list.iter().any(|s| s["name"] == secret)
    {
        list.push(json!({ "name": secret }));
    }
}

/// Err ("<field>: <what is wrong>") when `copy` is the shoot's image pull Secret and its seed
/// copy is not of a type kubelet reads credentials from.
pub fn check_copy(
    config: &EffectiveConfig,
    copy: &SecretCopy,
    payload: &SecretPayload,
) -> Result<(), String> {
    if config.image_pull_secret.as_deref() != Some(copy.target_name.as_str()) {
        return Ok(());
    }
    let type_ = payload.type_.as_deref().unwrap_or("Opaque");
    if REGISTRY_SECRET_TYPES.contains(&type_) {
        return Ok(());
    }
    Err(format!(
        "{}: the Secret {} is Flux's image pull secret (providerConfig.flux.imagePullSecret) and of type {type_}, but kubelet reads image pull credentials only from a Secret of type {} (kubectl create secret docker-registry)",
        copy.field, copy.seed_name, REGISTRY_SECRET_TYPES[0]
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "source-controller", "namespace": "flux-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "manager", "image": "ghcr.io/fluxcd/source-controller:v1.9.5"}]}}}})
    }

    #[test]
    fn deployments_get_the_secret_once_and_keep_their_own() {
        let mut doc = deployment();
        add_to_deployment(&mut doc, "flux-pull");
        add_to_deployment(&mut doc, "flux-pull");
        assert_eq!(
            doc["spec"]["template"]["spec"]["imagePullSecrets"],
            json!([{"name": "flux-pull"}])
        );
        let mut own = deployment();
        own["spec"]["template"]["spec"]["imagePullSecrets"] = json!([{"name": "theirs"}]);
        add_to_deployment(&mut own, "flux-pull");
        assert_eq!(
            own["spec"]["template"]["spec"]["imagePullSecrets"],
            json!([{"name": "theirs"}, {"name": "flux-pull"}])
        );
    }

    #[test]
    fn other_objects_and_malformed_deployments_stay() {
        let mut account =
            json!({"kind": "ServiceAccount", "metadata": {"name": "source-controller"}});
        let before = account.clone();
        add_to_deployment(&mut account, "flux-pull");
        assert_eq!(account, before);
        let mut no_pod = json!({"kind": "Deployment", "spec": {"template": 5}});
        let before = no_pod.clone();
        add_to_deployment(&mut no_pod, "flux-pull");
        assert_eq!(no_pod, before);
        let mut odd = deployment();
        odd["spec"]["template"]["spec"]["imagePullSecrets"] = json!("theirs");
        add_to_deployment(&mut odd, "flux-pull");
        assert_eq!(
            odd["spec"]["template"]["spec"]["imagePullSecrets"],
            json!([{"name": "flux-pull"}])
        );
    }
}
