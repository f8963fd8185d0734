//! Flux's images from a registry mirror that needs credentials: every controller Deployment
//! names an image pull Secret of the Flux namespace (as `flux install --image-pull-secret`
//! does), and that Secret must be one kubelet can read.

use serde_json::{Value, json};

use super::source_secret::REGISTRY_SECRET_TYPES;
use crate::api::v1alpha1::FluxInstallation;
use crate::config::operator::FluxDefaults;
use crate::config::{EffectiveConfig, SecretCopy};
use crate::render::SecretPayload;

/// The Secret in the Flux namespace that carries the operator's registry credentials.
pub const OPERATOR_SECRET_NAME: &str = "shoot-flux-image-pull";

/// The content of a `.dockerconfigjson` (`{"auths": {...}}`); its Debug form never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct DockerConfigJson(String);

impl std::fmt::Debug for DockerConfigJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DockerConfigJson(<redacted>)")
    }
}

impl DockerConfigJson {
    /// Checks that `text` is a `.dockerconfigjson`: a JSON object whose `auths` maps at least
    /// one registry to an object. The error never quotes the content.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| format!("not JSON (line {}, column {})", e.line(), e.column()))?;
        let auths = value["auths"]
            .as_object()
            .ok_or("has no \"auths\" object, as a .dockerconfigjson has")?;
        if auths.is_empty() {
            return Err("\"auths\" names no registry".into());
        }
        if let Some((registry, _)) = auths.iter().find(|(_, entry)| !entry.is_object()) {
            return Err(format!("\"auths\" entry {registry:?} is not an object"));
        }
        Ok(Self(text.to_string()))
    }

    /// Stands in for the operator's file where it is not read (the `render` command).
    pub fn placeholder() -> Self {
        Self("{\"auths\": {\"<the registries of flux.imagePullSecretFile>\": {}}}".into())
    }

    /// The `data` of a Secret holding it.
    fn secret_data(&self) -> Value {
        use base64::Engine;
        json!({".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(&self.0)})
    }
}

/// Reads the operator's `flux.imagePullSecretFile` (if set) into `flux.image_pull_secret`.
pub fn load_operator_secret(flux: &mut FluxDefaults) -> Result<(), String> {
    let Some(file) = &flux.image_pull_secret_file else {
        return Ok(());
    };
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("flux.imagePullSecretFile: reading {file}: {e}"))?;
    let parsed = DockerConfigJson::parse(&text)
        .map_err(|e| format!("flux.imagePullSecretFile: {file} {e}"))?;
    flux.image_pull_secret = Some(parsed);
    Ok(())
}

/// A placeholder for the operator's file where it is not read (the `render` command), so that
/// the output shows the Secret and the Deployments' `imagePullSecrets` without its content.
pub fn placeholder_operator_secret(flux: &mut FluxDefaults) {
    if flux.image_pull_secret_file.is_some() {
        flux.image_pull_secret = Some(DockerConfigJson::placeholder());
    }
}

/// Which Secret the controllers pull with: the shoot's own (`flux.imagePullSecret`), else the
/// operator's, but only with the operator's registry: a shoot with a registry of its own does
/// not get the operator's credentials. Returns the Secret's name and, for the operator's, its
/// content.
pub fn choose(
    shoot: &FluxInstallation,
    operator: &FluxDefaults,
) -> (Option<String>, Option<DockerConfigJson>) {
    if let Some(name) = &shoot.image_pull_secret {
        return (Some(name.clone()), None);
    }
    match (&shoot.registry, &operator.image_pull_secret) {
        (None, Some(credentials)) => (
            Some(OPERATOR_SECRET_NAME.to_string()),
            Some(credentials.clone()),
        ),
        _ => (None, None),
    }
}

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

/// Err ("<field>: <what is wrong>") when `copy` is the shoot's image pull Secret and its seed
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

    const CONFIG: &str =
        r#"{"auths": {"mirror.example.com": {"username": "reader", "password": "hunter2-pw"}}}"#;

    fn defaults(file: Option<&str>) -> FluxDefaults {
        let mut flux = crate::config::operator::OperatorConfig::default().flux;
        flux.image_pull_secret_file = file.map(str::to_string);
        flux
    }

    #[test]
    fn a_docker_config_is_checked_and_never_shown() {
        let parsed = DockerConfigJson::parse(CONFIG).unwrap();
        assert_eq!(format!("{parsed:?}"), "DockerConfigJson(<redacted>)");
        for (bad, expected) in [
            (r#"{"auths": {"r": {"password": "hunter2-pw""#, "not JSON"),
            (r#"{"credHelpers": {}}"#, "no \"auths\" object"),
            (r#"{"auths": {}}"#, "names no registry"),
            (
                r#"{"auths": {"r": "hunter2-pw"}}"#,
                "\"r\" is not an object",
            ),
        ] {
            let err = DockerConfigJson::parse(bad).unwrap_err();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn the_operator_file_is_read_and_its_problems_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".dockerconfigjson");
        std::fs::write(&file, CONFIG).unwrap();
        let mut flux = defaults(Some(file.to_str().unwrap()));
        load_operator_secret(&mut flux).unwrap();
        assert_eq!(
            flux.image_pull_secret,
            Some(DockerConfigJson::parse(CONFIG).unwrap())
        );
        let mut none = defaults(None);
        load_operator_secret(&mut none).unwrap();
        assert_eq!(none.image_pull_secret, None);
        let mut missing = defaults(Some("/nonexistent/.dockerconfigjson"));
        let err = load_operator_secret(&mut missing).unwrap_err();
        assert!(
            err.starts_with("flux.imagePullSecretFile: reading /nonexistent"),
            "{err}"
        );
        std::fs::write(&file, "password: hunter2-pw").unwrap();
        let err = load_operator_secret(&mut defaults(Some(file.to_str().unwrap()))).unwrap_err();
        assert!(err.starts_with("flux.imagePullSecretFile: "), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let mut render = defaults(Some("/only/on/the/seed"));
        placeholder_operator_secret(&mut render);
        assert!(render.image_pull_secret.is_some());
    }

    #[test]
    fn the_shoots_secret_wins_and_the_operators_goes_only_with_its_registry() {
        let mut operator = defaults(Some("/f"));
        operator.registry = Some("mirror.example.com/fluxcd".into());
        operator.image_pull_secret = Some(DockerConfigJson::parse(CONFIG).unwrap());
        let own = FluxInstallation {
            image_pull_secret: Some("mine".into()),
            ..Default::default()
        };
        assert_eq!(choose(&own, &operator), (Some("mine".into()), None));
        assert_eq!(
            choose(&FluxInstallation::default(), &operator),
            (
                Some(OPERATOR_SECRET_NAME.into()),
                operator.image_pull_secret.clone()
            )
        );
        let elsewhere = FluxInstallation {
            registry: Some("other.example.com/flux".into()),
            ..Default::default()
        };
        assert_eq!(choose(&elsewhere, &operator), (None, None));
        assert_eq!(
            choose(&FluxInstallation::default(), &defaults(None)),
            (None, None)
        );
    }
}
