//! AdmissionReview (`admission.k8s.io/v1`) in and out: decodes the request, asks the core
//! (`shoot_flux_core::admission`) for the verdict and encodes the response. Which object kind
//! goes to which check is decided by the request's `kind`, so one URL serves both webhooks.

use serde::Deserialize;
use serde_json::{Value, json};

use shoot_flux_core::admission::{self, Operation, Request, Verdict};

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Review {
    api_version: Option<String>,
    kind: Option<String>,
    request: Option<AdmissionRequest>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmissionRequest {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    name: Option<String>,
    operation: String,
    #[serde(default)]
    object: Option<Value>,
    #[serde(default)]
    old_object: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct GroupVersionKind {
    #[serde(default)]
    group: String,
    kind: String,
}

/// What one review was about and what was answered, for the log (no object content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub uid: String,
    pub kind: String,
    pub object: String,
    pub operation: String,
    pub allowed: bool,
    pub problems: usize,
    pub warnings: usize,
}

/// Why a body is not an AdmissionReview this webhook can answer (HTTP 400).
#[derive(Debug, thiserror::Error)]
#[error("not an {API_VERSION} {KIND} request: {0}")]
pub struct BadReview(String);

/// Answers one AdmissionReview body: the response body and what was decided.
pub fn answer(body: &[u8]) -> Result<(Value, Outcome), BadReview> {
    let review: Review = serde_json::from_slice(body).map_err(|e| BadReview(e.to_string()))?;
    if review.api_version.as_deref() != Some(API_VERSION) || review.kind.as_deref() != Some(KIND) {
        return Err(BadReview(format!(
            "apiVersion {:?}, kind {:?}",
            review.api_version, review.kind
        )));
    }
    let request = review
        .request
        .ok_or_else(|| BadReview("no request".into()))?;
    let empty = Value::Null;
    let object = request.object.as_ref().unwrap_or(&empty);
    let core_request = Request {
        operation: Operation::parse(&request.operation),
        object,
        old_object: request.old_object.as_ref(),
    };
    let display = match (&request.namespace, &request.name) {
        (Some(ns), Some(name)) if !ns.is_empty() => format!("{ns}/{name}"),
        (_, Some(name)) => name.clone(),
        _ => object
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
    };
    let verdict = match (request.kind.group.as_str(), request.kind.kind.as_str()) {
        ("core.gardener.cloud", "Shoot") => admission::review_shoot(&core_request),
        ("", "ConfigMap") => admission::review_flux_config(&core_request),
        // Registered for nothing else: answer, but do not judge what is not ours.
        _ => Verdict::Allowed {
            warnings: Vec::new(),
        },
    };
    let what = format!("{} {display}", request.kind.kind);
    let response = response(&request.uid, &verdict, &what);
    let outcome = Outcome {
        uid: request.uid,
        kind: request.kind.kind,
        object: display,
        operation: request.operation,
        allowed: matches!(verdict, Verdict::Allowed { .. }),
        problems: match &verdict {
            Verdict::Denied { errors } => errors.0.len(),
            Verdict::Allowed { .. } => 0,
        },
        warnings: match &verdict {
            Verdict::Allowed { warnings } => warnings.len(),
            Verdict::Denied { .. } => 0,
        },
    };
    Ok((response, outcome))
}

/// The AdmissionReview response: a denial is a 422 `Invalid` status whose message lists every
/// problem with its path. No `details.causes`: with them kubectl prints only the causes, and
/// the user would not learn that shoot-flux's webhook refused.
fn response(uid: &str, verdict: &Verdict, what: &str) -> Value {
    let body = match verdict {
        Verdict::Allowed { warnings } if warnings.is_empty() => {
            json!({"uid": uid, "allowed": true})
        }
        Verdict::Allowed { warnings } => {
            json!({"uid": uid, "allowed": true, "warnings": warnings})
        }
        Verdict::Denied { .. } => json!({
            "uid": uid,
            "allowed": false,
            "status": {
                "status": "Failure",
                "code": 422,
                "reason": "Invalid",
                "message": verdict.message(what).unwrap_or_default(),
            },
        }),
    };
    json!({"apiVersion": API_VERSION, "kind": KIND, "response": body})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn review(kind: Value, operation: &str, object: Value, old: Option<Value>) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "request": {
                "uid": "u-1",
                "kind": kind,
                "resource": {"group": "", "version": "v1", "resource": "configmaps"},
                "namespace": "garden-dev",
                "name": "flux-config",
                "operation": operation,
                "object": object,
                "oldObject": old,
                "userInfo": {"username": "someone"},
            },
        }))
        .unwrap()
    }

    #[test]
    fn a_denial_carries_the_uid_every_problem_and_a_422_status() {
        let body = review(
            json!({"group": "", "version": "v1", "kind": "ConfigMap"}),
            "CREATE",
            json!({"metadata": {"name": "flux-config", "namespace": "garden-dev"},
                   "data": {"fluxVersion": "x", "colour": "blue"}}),
            None,
        );
        let (response, outcome) = answer(&body).unwrap();
        assert_eq!(response["apiVersion"], API_VERSION);
        assert_eq!(response["kind"], KIND);
        let r = &response["response"];
        assert_eq!(r["uid"], "u-1");
        assert_eq!(r["allowed"], false);
        assert_eq!(r["status"]["code"], 422);
        let message = r["status"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "shoot-flux: ConfigMap garden-dev/flux-config is invalid (2 problems): data.colour: unknown key"
            ),
            "{message}"
        );
        assert!(message.contains("data.fluxVersion: "), "{message}");
        assert!(r["status"].get("details").is_none());
        assert_eq!(
            outcome,
            Outcome {
                uid: "u-1".into(),
                kind: "ConfigMap".into(),
                object: "garden-dev/flux-config".into(),
                operation: "CREATE".into(),
                allowed: false,
                problems: 2,
                warnings: 0,
            }
        );
    }

    #[test]
    fn shoots_are_judged_as_shoots_and_warnings_are_passed_on() {
        let shoot = json!({
            "metadata": {"name": "app", "namespace": "garden-dev"},
            "spec": {"kubernetes": {"version": "1.35.0"}, "provider": {"workers": [{"name": "a"}]},
                     "extensions": [{"type": "shoot-flux", "providerConfig": {
                         "apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig",
                         "flux": {"version": "v2.3.0"}}}]},
        });
        let body = review(
            json!({"group": "core.gardener.cloud", "version": "v1beta1", "kind": "Shoot"}),
            "CREATE",
            shoot.clone(),
            None,
        );
        let (response, _) = answer(&body).unwrap();
        assert_eq!(response["response"]["allowed"], true);
        assert_eq!(
            response["response"]["warnings"].as_array().unwrap().len(),
            1
        );
        // The same object sent as another kind is not judged.
        let body = review(
            json!({"group": "apps", "version": "v1", "kind": "Deployment"}),
            "CREATE",
            shoot,
            None,
        );
        let (response, _) = answer(&body).unwrap();
        assert_eq!(response["response"], json!({"uid": "u-1", "allowed": true}));
    }

    #[test]
    fn what_is_not_an_admission_review_is_a_bad_request() {
        assert!(answer(b"{").is_err());
        assert!(answer(br#"{"apiVersion": "admission.k8s.io/v1beta1", "kind": "AdmissionReview", "request": {}}"#).is_err());
        assert!(
            answer(br#"{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}"#).is_err()
        );
    }
}
