//! A source that the registry or Git host refuses with the user's own credentials (the
//! `spec.secretRef` Secret that shoot-flux copies from `providerConfig.source.secretResourceName`):
//! name the Secret and where it comes from, so that the user knows what to fix.

use serde_json::Value;

use crate::gardener::conditions::Verdict;

/// Signs of a refused login beyond those of Git hosts: an OCI registry's `UNAUTHORIZED` (401)
/// and `DENIED` (403) error codes, as source-controller quotes them.
fn is_refused(message: &str) -> bool {
    let lower = message.to_lowercase();
    super::is_auth_failure(message) || lower.contains("unauthorized") || lower.contains("denied:")
}

/// Turns a failing source `verdict` into `AuthenticationFailed` naming its credentials Secret,
/// when the observed `source` has a `spec.secretRef` and its failure is a refused login. Leaves
/// every other verdict alone, also those another hint already explained.
pub fn secret_hint(verdict: Verdict, source: Option<&Value>) -> Verdict {
    let Some(source) = source else {
        return verdict;
    };
    let Some(secret) = source["spec"]["secretRef"]["name"].as_str() else {
        return verdict;
    };
    if verdict.status != "False" || verdict.reason != "NotReady" || !is_refused(&verdict.message) {
        return verdict;
    }
    let kind = source["kind"].as_str().unwrap_or("source");
    let name = source["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = source["metadata"]["namespace"].as_str().unwrap_or_default();
    let server = match kind {
        "OCIRepository" => "the registry",
        "GitRepository" => "the Git host",
        _ => "the server",
    };
    Verdict {
        status: "False",
        reason: "AuthenticationFailed",
        message: format!(
            "authentication failed: {server} refused the credentials in Secret {namespace}/{secret} ({kind} {name} spec.secretRef; shoot-flux copies it from the Shoot.spec.resources Secret named by providerConfig.source.secretResourceName): correct that Secret and reconcile the Shoot. {}",
            verdict.message
        ),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    const UNAUTHORIZED: &str = "OCIRepository fleet: failed to determine the artifact tag for 'oci://registry.example.com/fleet': GET https://registry.example.com/v2/fleet/tags/list?n=1000: UNAUTHORIZED: authentication required; [map[Action:pull Class: Name:fleet Type:repository]]";

    fn failing(message: &str) -> Verdict {
        Verdict {
            status: "False",
            reason: "NotReady",
            message: message.into(),
        }
    }

    fn oci(secret_ref: Option<&str>) -> Value {
        let mut source = json!({
            "kind": "OCIRepository",
            "metadata": {"name": "fleet", "namespace": "flux-system"},
            "spec": {"url": "oci://registry.example.com/fleet"}
        });
        if let Some(name) = secret_ref {
            source["spec"]["secretRef"] = json!({ "name": name });
        }
        source
    }

    #[test]
    fn a_refused_registry_login_names_the_secret_and_the_field() {
        let v = secret_hint(failing(UNAUTHORIZED), Some(&oci(Some("flux-system"))));
        assert_eq!((v.status, v.reason), ("False", "AuthenticationFailed"));
        assert!(
            v.message.starts_with(
                "authentication failed: the registry refused the credentials in Secret flux-system/flux-system (OCIRepository fleet spec.secretRef;"
            ),
            "{}",
            v.message
        );
        assert!(
            v.message
                .contains("providerConfig.source.secretResourceName"),
            "{}",
            v.message
        );
        assert!(v.message.ends_with(UNAUTHORIZED), "Flux's words stay");
    }

    #[test]
    fn a_registry_denial_and_a_git_host_refusal_count_too() {
        let denied = "OCIRepository fleet: GET https://r.example.com/v2/fleet/manifests/1.0.0: DENIED: requested access to the resource is denied";
        assert_eq!(
            secret_hint(failing(denied), Some(&oci(Some("pull")))).reason,
            "AuthenticationFailed"
        );
        let git = json!({
            "kind": "GitRepository",
            "metadata": {"name": "fleet", "namespace": "flux-system"},
            "spec": {"secretRef": {"name": "https-auth"}}
        });
        let refused = "GitRepository fleet: failed to checkout and determine revision: unable to clone 'https://git.example.com/fleet.git': authentication required: Invalid username or password";
        let v = secret_hint(failing(refused), Some(&git));
        assert_eq!(v.reason, "AuthenticationFailed");
        assert!(
            v.message
                .contains("the Git host refused the credentials in Secret flux-system/https-auth"),
            "{}",
            v.message
        );
    }

    #[test]
    fn other_failures_sources_without_a_secret_and_explained_verdicts_stay() {
        let untrusted = "OCIRepository fleet: Get \"https://r.example.com/v2/\": tls: failed to verify certificate: x509: certificate signed by unknown authority";
        assert_eq!(
            secret_hint(failing(untrusted), Some(&oci(Some("pull")))),
            failing(untrusted)
        );
        // Without credentials of the user's there is no Secret to blame.
        assert_eq!(
            secret_hint(failing(UNAUTHORIZED), Some(&oci(None))),
            failing(UNAUTHORIZED)
        );
        assert_eq!(
            secret_hint(failing(UNAUTHORIZED), None),
            failing(UNAUTHORIZED)
        );
        // The deploy-key hint already said what to do.
        let explained = Verdict {
            reason: "AuthenticationFailed",
            ..failing(UNAUTHORIZED)
        };
        assert_eq!(
            secret_hint(explained.clone(), Some(&oci(Some("flux-system")))),
            explained
        );
        let ready = Verdict {
            status: "True",
            reason: "Ready",
            message: "OCIRepository fleet is ready at revision 1.0.0@sha256:ab".into(),
        };
        assert_eq!(
            secret_hint(ready.clone(), Some(&oci(Some("flux-system")))),
            ready
        );
    }

    #[test]
    fn the_source_condition_of_a_shoot_carries_the_hint() {
        use crate::syncstatus::{Installed, InstalledFlux, ObjectRef, Observation, SOURCE, decide};
        let reference = |kind: &str, name: &str| ObjectRef {
            kind: kind.into(),
            namespace: "flux-system".into(),
            name: name.into(),
        };
        let installed = Installed {
            api_version: crate::syncstatus::PROVIDER_STATUS_API_VERSION.into(),
            kind: crate::syncstatus::PROVIDER_STATUS_KIND.into(),
            flux: InstalledFlux {
                version: "v2.9.5".into(),
                namespace: "flux-system".into(),
                controllers: vec![],
            },
            management_mode: "Managed".into(),
            source: Some(reference("OCIRepository", "fleet")),
            kustomization: Some(reference("Kustomization", "flux-system")),
            deploy_key: None,
        };
        let mut source = oci(Some("flux-system"));
        source["status"] = json!({"conditions": [
            {"type": "Ready", "status": "False", "message": "failed to determine the artifact tag: UNAUTHORIZED: authentication required"}
        ]});
        let report = decide(
            &installed,
            &Observation::Seen {
                deployments: vec![],
                source: Some(source),
                kustomization: None,
            },
        );
        let (_, verdict) = report
            .conditions
            .iter()
            .find(|(kind, _)| *kind == SOURCE)
            .unwrap();
        assert_eq!(
            verdict.reason, "AuthenticationFailed",
            "{}",
            verdict.message
        );
    }
}
