//! The operator's registry credentials for Flux's images (`flux.imagePullSecretFile`, a
//! `.dockerconfigjson`) and which image pull Secret a shoot's controllers use: the shoot's own
//! (`flux.imagePullSecret`) or the operator's. `flux::image_pull` puts it into the objects.

use serde_json::{Value, json};

use crate::api::v1alpha1::FluxInstallation;
use crate::config::operator::FluxDefaults;

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
    pub fn secret_data(&self) -> Value {
        use base64::Engine;
        json!({".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(&self.0)})
    }
}

/// Takes `text`, the content of the operator's `flux.imagePullSecretFile` (read by the shell at
/// start), into `flux.image_pull_secret`; the error names the field and the file, never the
/// content.
pub fn set_operator_secret(flux: &mut FluxDefaults, text: &str) -> Result<(), String> {
    let file = flux.image_pull_secret_file.as_deref().unwrap_or_default();
    let parsed = DockerConfigJson::parse(text)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
    fn the_operator_file_is_taken_and_its_problems_name_the_field() {
        let mut flux = defaults(Some("/etc/pull/.dockerconfigjson"));
        set_operator_secret(&mut flux, CONFIG).unwrap();
        assert_eq!(
            flux.image_pull_secret,
            Some(DockerConfigJson::parse(CONFIG).unwrap())
        );
        let mut bad = defaults(Some("/etc/pull/.dockerconfigjson"));
        let err = set_operator_secret(&mut bad, "password: hunter2-pw").unwrap_err();
        assert!(
            err.starts_with("flux.imagePullSecretFile: /etc/pull/.dockerconfigjson not JSON"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
        assert_eq!(bad.image_pull_secret, None);
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
