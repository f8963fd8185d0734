//! The operator's registry credentials for Flux's images (`flux.imagePullSecretFile`, a
//! `.dockerconfigjson`) and which image pull Secret a shoot's controllers use: the shoot's own
//! (`flux.imagePullSecret`) or the operator's. `flux::image_pull` puts it into the objects.

use serde_json::{Value, json};

use crate::api::v1alpha1::FluxInstallation;

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

    /// The user and password it holds for `registry` (`host[:port]`), from the entry keyed by
    /// the host or a URL of it (`https://host`, Docker Hub's `https://index.docker.io/v1/`),
    /// as `auth` (base64 `user:password`) or as `username` and `password`.
    pub fn credentials_for(&self, registry: &str) -> Option<RegistryCredentials> {
        use base64::Engine;
        let value: Value = serde_json::from_str(&self.0).ok()?;
        let auths = value["auths"].as_object()?;
        let hub = matches!(
            registry,
            "docker.io" | "index.docker.io" | "registry-1.docker.io"
        );
        let entry = auths.iter().find_map(|(key, entry)| {
            let host = key
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap_or_default();
            let same = host == registry
                || (hub
                    && matches!(
                        host,
                        "docker.io" | "index.docker.io" | "registry-1.docker.io"
                    ));
            same.then_some(entry)
        })?;
        if let Some(auth) = entry["auth"].as_str().filter(|a| !a.is_empty()) {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(auth)
                .ok()?;
            let text = String::from_utf8(decoded).ok()?;
            let (user, password) = text.split_once(':')?;
            return Some(RegistryCredentials {
                user: user.to_string(),
                password: password.to_string(),
            });
        }
        Some(RegistryCredentials {
            user: entry["username"].as_str()?.to_string(),
            password: entry["password"].as_str()?.to_string(),
        })
    }

    /// The `data` of a Secret holding it.
    pub fn secret_data(&self) -> Value {
        use base64::Engine;
        json!({".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(&self.0)})
    }
}

/// A registry user and password; its Debug form never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryCredentials {
    pub user: String,
    pub password: String,
}

impl std::fmt::Debug for RegistryCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

impl RegistryCredentials {
    /// `Basic <base64 user:password>`.
    pub fn basic_header(&self) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", self.user, self.password))
        )
    }
}

/// Which Secret the controllers pull with: the shoot's own (`flux.imagePullSecret`), else the
/// operator's (`operator_secret`), but only with the operator's registry: a shoot with a registry
/// of its own does not get the operator's credentials. Returns the Secret's name and, for the
/// operator's, its content.
pub fn choose(
    shoot: &FluxInstallation,
    operator_secret: Option<&DockerConfigJson>,
) -> (Option<String>, Option<DockerConfigJson>) {
    if let Some(name) = &shoot.image_pull_secret {
        return (Some(name.clone()), None);
    }
    match (&shoot.registry, operator_secret) {
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

    #[test]
    fn credentials_for_a_registry() {
        let parsed = DockerConfigJson::parse(CONFIG).unwrap();
        let c = parsed.credentials_for("mirror.example.com").unwrap();
        assert_eq!(
            (c.user.as_str(), c.password.as_str()),
            ("reader", "hunter2-pw")
        );
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.basic_header(), "Basic cmVhZGVyOmh1bnRlcjItcHc=");
        assert!(parsed.credentials_for("other.example.com").is_none());
        // `auth` (base64 user:password) under a URL key, as docker login writes Docker Hub's.
        let hub = DockerConfigJson::parse(
            r#"{"auths": {"https://index.docker.io/v1/": {"auth": "dTpwOnc="}, "https://127.0.0.1:5000": {"auth": "YTpi"}}}"#,
        )
        .unwrap();
        let c = hub.credentials_for("docker.io").unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("u", "p:w"));
        assert_eq!(hub.credentials_for("127.0.0.1:5000").unwrap().user, "a");
        assert!(hub.credentials_for("127.0.0.1").is_none());
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
    fn the_shoots_secret_wins_and_the_operators_goes_only_with_its_registry() {
        let operator = DockerConfigJson::parse(CONFIG).unwrap();
        let own = FluxInstallation {
            image_pull_secret: Some("mine".into()),
            ..Default::default()
        };
        assert_eq!(choose(&own, Some(&operator)), (Some("mine".into()), None));
        assert_eq!(
            choose(&FluxInstallation::default(), Some(&operator)),
            (Some(OPERATOR_SECRET_NAME.into()), Some(operator.clone()))
        );
        let elsewhere = FluxInstallation {
            registry: Some("other.example.com/flux".into()),
            ..Default::default()
        };
        assert_eq!(choose(&elsewhere, Some(&operator)), (None, None));
        assert_eq!(choose(&FluxInstallation::default(), None), (None, None));
    }
}
