//! `flux.imagePullSecret`: the Secret Flux's controllers pull their images with must be one the
//! config itself puts into the Flux namespace, so that it cannot be missing in the shoot.

use super::{AdditionalSecretResource, ShootResource};

/// Ok when `name` is the name in the shoot of one of `additional` (its `targetName`, or the
/// resource's `resourceRef.name`); Err says what to write instead.
pub fn check(
    name: &str,
    additional: &[AdditionalSecretResource],
    resources: &[ShootResource],
) -> Result<(), String> {
    let copied: Vec<&str> = additional
        .iter()
        .filter_map(|entry| {
            entry.target_name.as_deref().or_else(|| {
                resources
                    .iter()
                    .find(|r| r.name == entry.name)
                    .map(|r| r.resource_name.as_str())
            })
        })
        .collect();
    if copied.contains(&name) {
        return Ok(());
    }
    let known = if copied.is_empty() {
        "it copies none".to_string()
    } else {
        format!("it copies {}", copied.join(", "))
    };
    Err(format!(
        "{name:?} is not a Secret that additionalSecretResources copies into the Flux namespace ({known}): add the registry's docker-registry Secret of Shoot.spec.resources there with targetName {name}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(name: &str, resource_name: &str) -> ShootResource {
        ShootResource {
            name: name.into(),
            api_version: "v1".into(),
            kind: "Secret".into(),
            resource_name: resource_name.into(),
        }
    }

    fn entry(name: &str, target: Option<&str>) -> AdditionalSecretResource {
        AdditionalSecretResource {
            name: name.into(),
            target_name: target.map(str::to_string),
        }
    }

    #[test]
    fn the_secret_must_be_copied_by_target_name_or_resource_name() {
        let resources = [
            resource("mirror", "mirror-pull"),
            resource("vault", "vault"),
        ];
        let additional = [entry("mirror", Some("flux-pull")), entry("vault", None)];
        assert_eq!(check("flux-pull", &additional, &resources), Ok(()));
        assert_eq!(check("vault", &additional, &resources), Ok(()));
        // The resource's own name counts only without a targetName.
        let err = check("mirror-pull", &additional, &resources).unwrap_err();
        assert!(err.contains("it copies flux-pull, vault"), "{err}");
        let err = check("flux-pull", &[], &resources).unwrap_err();
        assert!(err.contains("it copies none"), "{err}");
        assert!(err.contains("targetName flux-pull"), "{err}");
    }

    #[test]
    fn decode_reports_the_field_and_keeps_a_valid_name() {
        use serde_json::json;
        let resources = [resource("mirror", "mirror-pull")];
        let config = |flux: serde_json::Value| {
            json!({"apiVersion": crate::api::v1alpha1::API_VERSION, "kind": "FluxConfig",
                "flux": flux,
                "additionalSecretResources": [{"name": "mirror", "targetName": "flux-pull"}]})
        };
        let ok = crate::api::v1alpha1::decode(
            Some(&config(
                json!({"registry": "mirror.example.com/fluxcd", "imagePullSecret": "flux-pull"}),
            )),
            &resources,
        )
        .unwrap();
        assert_eq!(ok.flux.image_pull_secret.as_deref(), Some("flux-pull"));
        let errors = crate::api::v1alpha1::decode(
            Some(&config(json!({"imagePullSecret": "elsewhere"}))),
            &resources,
        )
        .unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors:?}");
        assert_eq!(errors.0[0].path, "providerConfig.flux.imagePullSecret");
        let errors =
            crate::api::v1alpha1::decode(Some(&config(json!({"imagePullSecret": 5}))), &resources)
                .unwrap_err();
        assert_eq!(errors.0[0].path, "providerConfig.flux.imagePullSecret");
    }
}
