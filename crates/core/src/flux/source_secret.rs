//! The Secret type a source needs for its `spec.secretRef`. source-controller reads an
//! OCIRepository's registry credentials only from a docker-registry Secret and silently ignores
//! any other type: it then pulls anonymously and the registry's refusal hides the real mistake.
//! So shoot-flux refuses such a `source.secretResourceName` Secret with an error naming the field.

use crate::api::v1alpha1::SourceKind;
use crate::config::{EffectiveConfig, SecretCopy, Sync};
use crate::flux::objects::SecretPayload;

/// The Secret types source-controller reads registry credentials from (those of `kubectl create
/// secret docker-registry` and its older `.dockercfg` form).
pub const REGISTRY_SECRET_TYPES: [&str; 2] =
    ["kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"];

/// Err (what is wrong, without the field) when a source of `kind` cannot read credentials from a
/// Secret of type `type_`. None is a type not known (the `render` command's placeholders; the
/// API server always reports one) and passes.
pub fn check_type(kind: SourceKind, type_: Option<&str>) -> Result<(), String> {
    let Some(type_) = type_ else {
        return Ok(());
    };
    match kind {
        // Git credentials are read by key, whatever the type.
        SourceKind::GitRepository => Ok(()),
        SourceKind::OciRepository if REGISTRY_SECRET_TYPES.contains(&type_) => Ok(()),
        SourceKind::OciRepository => Err(format!(
            "the Secret is of type {type_}, but an OCIRepository reads registry credentials only from a Secret of type {} (kubectl create secret docker-registry); source-controller would ignore it and pull anonymously",
            REGISTRY_SECRET_TYPES[0]
        )),
    }
}

/// Err (`"<field>: <what is wrong>"`) when `copy` is the Secret of the shoot's source (its
/// `spec.secretRef`) and `payload`, the seed's copy, has a type that source cannot use.
pub fn check_copy(
    config: &EffectiveConfig,
    copy: &SecretCopy,
    payload: &SecretPayload,
) -> Result<(), String> {
    let Some(Sync::Shoot { kind, source, .. }) = &config.sync else {
        return Ok(());
    };
    if source["spec"]["secretRef"]["name"].as_str() != Some(copy.target_name.as_str()) {
        return Ok(());
    }
    check_type(*kind, payload.type_.as_deref())
        .map_err(|why| format!("{}: {why} (Secret {})", copy.field, copy.seed_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oci_repository_needs_a_docker_registry_secret() {
        for ok in REGISTRY_SECRET_TYPES {
            assert_eq!(check_type(SourceKind::OciRepository, Some(ok)), Ok(()));
        }
        for wrong in ["Opaque", "kubernetes.io/basic-auth"] {
            let err = check_type(SourceKind::OciRepository, Some(wrong)).unwrap_err();
            assert!(err.contains(&format!("of type {wrong}")), "{err}");
            assert!(err.contains("kubernetes.io/dockerconfigjson"), "{err}");
        }
        // A type not known (the render command's placeholders) is not judged.
        assert_eq!(check_type(SourceKind::OciRepository, None), Ok(()));
    }

    #[test]
    fn a_git_repository_takes_any_type() {
        for any in [Some("Opaque"), None, Some("kubernetes.io/ssh-auth")] {
            assert_eq!(check_type(SourceKind::GitRepository, any), Ok(()));
        }
    }
}
