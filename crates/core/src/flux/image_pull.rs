//! Flux's images from a registry mirror that needs credentials: every controller Deployment
//! names an image pull Secret of the Flux namespace (as `flux install --image-pull-secret`
//! does), and that Secret must be one kubelet can read.

use serde_json::{Value, json};

use super::source_secret::REGISTRY_SECRET_TYPES;
use crate::config::pullsecret::OPERATOR_SECRET_NAME;
use crate::config::{EffectiveConfig, SecretCopy};
use crate::flux::objects::SecretPayload;

/// The Secret with the operator's credentials, when this shoot gets them; Err names the
/// additionalSecretResources entry that would take its name in the shoot.
pub fn operator_secret(config: &EffectiveConfig) -> Result<Option<Value>, String> {
    let Some(credentials) = &config.operator_image_pull_secret else {
        return Ok(None);
    };
    if let Some(copy) = config
        .secret_copies
        .iter()
        .find(|c| c.target_name == OPERATOR_SECRET_NAME)
    {
        return Err(format!(
            "{}: the Secret name {OPERATOR_SECRET_NAME} in the shoot is taken by the operator's image pull secret for Flux's images; set another targetName",
            copy.field
        ));
    }
    Ok(Some(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": OPERATOR_SECRET_NAME,
            "namespace": config.namespace,
            "labels": {"app.kubernetes.io/managed-by": "gardener-extension-shoot-flux"}
        },
        "type": REGISTRY_SECRET_TYPES[0],
        "data": credentials.secret_data()
    })))
}

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

/// Err (`"<field>: <what is wrong>"`) when `copy` is the shoot's image pull Secret and its seed
/// copy is not of a type kubelet reads credentials from.
pub fn check_copy(
    config: &EffectiveConfig,
    copy: &SecretCopy,
    payload: &SecretPayload,
) -> Result<(), String> {
    // The operator's own Secret is rendered, not copied (see `operator_secret`).
    if config.operator_image_pull_secret.is_some()
        || config.image_pull_secret.as_deref() != Some(copy.target_name.as_str())
    {
        return Ok(());
    }
    // No type is one not known (the render command's placeholders): not judged.
    let Some(type_) = payload.type_.as_deref() else {
        return Ok(());
    };
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
