//! `status`: one line per shoot of the seed, from the Extensions alone (their lastOperation,
//! providerStatus and sync conditions), so it needs only the seed kubeconfig.

use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use shoot_flux_core::gardener::types::Extension;
use shoot_flux_core::syncstatus::{INSTALLED, Installed, KUSTOMIZATION, SOURCE, revision_in};

const HEADER: [&str; 7] = [
    "SHOOT",
    "OPERATION",
    "FLUX",
    "SOURCE",
    "KUSTOMIZATION",
    "AGE",
    "MESSAGE",
];

fn condition<'a>(extension: &'a Value, kind: &str) -> Option<&'a Value> {
    extension["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// `90s`, `12m`, `5h`, `3d`: how long ago `since` was.
pub fn age(since: &str, now: Timestamp) -> String {
    let Ok(then) = since.parse::<Timestamp>() else {
        return "-".into();
    };
    let seconds = now.as_second().saturating_sub(then.as_second()).max(0);
    match seconds {
        s if s < 120 => format!("{s}s"),
        s if s < 2 * 3600 => format!("{}m", s / 60),
        s if s < 2 * 86400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// The cells of one Extension's line.
fn row(extension: &Value, now: Timestamp) -> Option<[String; 7]> {
    let ext = Extension::from_json(extension).ok()?;
    if !ext.is_ours() {
        return None;
    }
    let operation = ext
        .status
        .last_operation
        .as_ref()
        .map(|l| format!("{} {}", l.type_, l.state))
        .unwrap_or_else(|| "Pending".into());
    let flux = Installed::from_extension(extension)
        .map(|i| i.flux.version)
        .unwrap_or_else(|| "-".into());
    let source = match condition(extension, SOURCE) {
        Some(c) if c["status"] == "True" => revision_in(c["message"].as_str().unwrap_or_default())
            .unwrap_or("Ready")
            .to_string(),
        Some(c) => c["status"].as_str().unwrap_or("Unknown").to_string(),
        None => "-".into(),
    };
    let kustomization = condition(extension, KUSTOMIZATION);
    let ready = kustomization
        .and_then(|c| c["status"].as_str())
        .unwrap_or("-")
        .to_string();
    let since = kustomization
        .and_then(|c| c["lastTransitionTime"].as_str())
        .map(|t| age(t, now))
        .unwrap_or_else(|| "-".into());
    // The first thing that is not fine, in the order an owner would fix it.
    let message = [INSTALLED, SOURCE, KUSTOMIZATION]
        .iter()
        .filter_map(|kind| condition(extension, kind))
        .find(|c| c["status"] != "True")
        .and_then(|c| c["message"].as_str())
        .or_else(|| {
            ext.status
                .last_error
                .as_ref()
                .map(|e| e.description.as_str())
        })
        .unwrap_or_default()
        .to_string();
    Some([
        ext.namespace,
        operation,
        flux,
        source,
        ready,
        since,
        message,
    ])
}

/// The table for `extensions` (JSON objects), sorted by shoot namespace, columns aligned.
pub fn table(extensions: &[Value], now: Timestamp) -> String {
    let mut rows: Vec<[String; 7]> = extensions.iter().filter_map(|e| row(e, now)).collect();
    rows.sort();
    let header = HEADER.map(str::to_string);
    let mut widths = [0usize; 7];
    for r in std::iter::once(&header).chain(rows.iter()) {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(rows.iter()) {
        let line: Vec<String> = r
            .iter()
            .zip(widths.iter())
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn extension(ns: &str, conditions: Value) -> Value {
        json!({
            "metadata": {"name": "shoot-flux", "namespace": ns, "generation": 1},
            "spec": {"type": "shoot-flux"},
            "status": {
                "lastOperation": {"type": "Reconcile", "state": "Succeeded", "progress": 100,
                    "description": "", "lastUpdateTime": "2026-11-25T10:00:00Z"},
                "providerStatus": {"apiVersion": "shoot-flux.extensions.gardener.cloud/v1alpha1",
                    "kind": "FluxStatus", "managementMode": "Managed",
                    "flux": {"version": "v2.9.5", "namespace": "flux-system", "controllers": []},
                    "source": null, "kustomization": null, "deployKey": null},
                "conditions": conditions
            }
        })
    }

    #[test]
    fn one_line_per_shoot_with_revision_readiness_age_and_what_is_wrong() {
        let now: Timestamp = "2026-11-25T10:05:00Z".parse().unwrap();
        let synced = extension(
            "shoot--dev--b",
            json!([
                {"type": SOURCE, "status": "True", "reason": "Ready", "lastTransitionTime": "2026-11-25T10:00:00Z",
                 "lastUpdateTime": "2026-11-25T10:00:00Z",
                 "message": "GitRepository main-gitrepo is ready at revision main@sha1:abc"},
                {"type": KUSTOMIZATION, "status": "True", "reason": "Ready", "lastTransitionTime": "2026-11-25T10:04:00Z",
                 "lastUpdateTime": "2026-11-25T10:04:00Z",
                 "message": "Kustomization main-ks is ready at revision main@sha1:abc"}
            ]),
        );
        let failing = extension(
            "shoot--dev--a",
            json!([
                {"type": KUSTOMIZATION, "status": "False", "reason": "NotReady", "lastTransitionTime": "2026-11-24T10:00:00Z",
                 "lastUpdateTime": "2026-11-24T10:00:00Z",
                 "message": "Kustomization main-ks: kustomize build failed"}
            ]),
        );
        let other = json!({"metadata": {"name": "x", "namespace": "n"}, "spec": {"type": "other"}});
        let text = table(&[synced, failing, other], now);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("SHOOT"));
        assert!(lines[1].starts_with("shoot--dev--a"), "sorted: {text}");
        assert!(lines[1].contains("False") && lines[1].contains("24h"));
        assert!(lines[1].ends_with("Kustomization main-ks: kustomize build failed"));
        let fields: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            fields,
            [
                "shoot--dev--b",
                "Reconcile",
                "Succeeded",
                "v2.9.5",
                "main@sha1:abc",
                "True",
                "60s"
            ]
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        let now: Timestamp = "2026-11-25T10:00:00Z".parse().unwrap();
        assert_eq!(age("2026-11-25T09:59:30Z", now), "30s");
        assert_eq!(age("2026-11-25T09:00:00Z", now), "60m");
        assert_eq!(age("2026-11-22T10:00:00Z", now), "3d");
        assert_eq!(age("not a time", now), "-");
    }
}
