//! `status`: one line per shoot of the seed, from the Extensions alone (their lastOperation,
//! providerStatus and sync conditions), so it needs only the seed kubeconfig. As a table (also
//! `wide`), or as JSON or YAML for scripts; `--watch` prints it again whenever it changes.

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use shoot_flux_core::gardener::conditions;
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
/// `-o wide` adds these, before MESSAGE.
const WIDE_HEADER: [&str; 3] = ["MODE", "SOURCE-OBJECT", "DEPLOY-KEY"];

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Wide,
    Json,
    Yaml,
}

/// One shoot's state, as the Extension tells it; the fields of `-o json` and `-o yaml`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ShootStatus {
    /// The shoot's seed namespace (its technical ID).
    pub shoot: String,
    /// `<type> <state>` of the last operation, or `Pending`.
    pub operation: String,
    pub flux_version: Option<String>,
    /// The fetched revision when the source is ready, else the condition's status.
    pub source: Option<String>,
    /// The main Kustomization's Ready status.
    pub kustomization: Option<String>,
    /// How long the Kustomization condition has had its status (`90s`, `12m`, `5h`, `3d`).
    pub age: Option<String>,
    pub management_mode: Option<String>,
    /// `<kind> <namespace>/<name>` of the source shoot-flux applied.
    pub source_object: Option<String>,
    /// The project's deploy key fingerprint, for a private repository.
    pub deploy_key: Option<String>,
    /// The first thing that is not fine, in the order an owner would fix it.
    pub message: String,
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

/// The state of one Extension of ours; None for other Extensions.
fn shoot_status(extension: &Value, now: Timestamp) -> Option<ShootStatus> {
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
    let installed = Installed::from_extension(extension);
    let source = conditions::in_object(extension, SOURCE).map(|c| {
        if c["status"] == "True" {
            revision_in(c["message"].as_str().unwrap_or_default())
                .unwrap_or("Ready")
                .to_string()
        } else {
            c["status"].as_str().unwrap_or("Unknown").to_string()
        }
    });
    let kustomization = conditions::in_object(extension, KUSTOMIZATION);
    let message = [INSTALLED, SOURCE, KUSTOMIZATION]
        .iter()
        .filter_map(|kind| conditions::in_object(extension, kind))
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
    Some(ShootStatus {
        shoot: ext.namespace,
        operation,
        flux_version: installed.as_ref().map(|i| i.flux.version.clone()),
        source,
        kustomization: kustomization.and_then(|c| c["status"].as_str().map(str::to_string)),
        age: kustomization
            .and_then(|c| c["lastTransitionTime"].as_str())
            .map(|t| age(t, now)),
        management_mode: installed.as_ref().map(|i| i.management_mode.clone()),
        source_object: installed
            .as_ref()
            .and_then(|i| i.source.as_ref())
            .map(|r| format!("{} {}/{}", r.kind, r.namespace, r.name)),
        deploy_key: installed
            .as_ref()
            .and_then(|i| i.deploy_key.as_ref())
            .map(|k| k.fingerprint.clone()),
        message,
    })
}

/// Every shoot of ours in `extensions` (JSON objects), sorted by seed namespace.
pub fn shoots<'a>(
    extensions: impl IntoIterator<Item = &'a Value>,
    now: Timestamp,
) -> Vec<ShootStatus> {
    let mut out: Vec<ShootStatus> = extensions
        .into_iter()
        .filter_map(|e| shoot_status(e, now))
        .collect();
    out.sort();
    out
}

fn cell(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".into())
}

fn columns(status: &ShootStatus, output: Output) -> Vec<String> {
    let mut cells = vec![
        status.shoot.clone(),
        status.operation.clone(),
        cell(&status.flux_version),
        cell(&status.source),
        cell(&status.kustomization),
        cell(&status.age),
    ];
    if output == Output::Wide {
        cells.extend([
            cell(&status.management_mode),
            cell(&status.source_object),
            cell(&status.deploy_key),
        ]);
    }
    cells.push(status.message.clone());
    cells
}

/// The aligned table of `-o table` and `-o wide`.
fn aligned(shoots: &[ShootStatus], output: Output) -> String {
    let mut header: Vec<String> = HEADER[..6].iter().map(|h| h.to_string()).collect();
    if output == Output::Wide {
        header.extend(WIDE_HEADER.iter().map(|h| h.to_string()));
    }
    header.push(HEADER[6].to_string());
    let rows: Vec<Vec<String>> = std::iter::once(header)
        .chain(shoots.iter().map(|s| columns(s, output)))
        .collect();
    let mut widths = vec![0usize; rows[0].len()];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `shoots` printed as `output` asks.
pub fn print(shoots: &[ShootStatus], output: Output) -> Result<String, String> {
    match output {
        Output::Table | Output::Wide => Ok(aligned(shoots, output)),
        Output::Json => serde_json::to_string_pretty(shoots)
            .map(|mut text| {
                text.push('\n');
                text
            })
            .map_err(|e| e.to_string()),
        Output::Yaml => serde_saphyr::to_string(&shoots).map_err(|e| e.to_string()),
    }
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
        let text = print(&shoots(&[synced, failing, other], now), Output::Table).unwrap();
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
    fn wide_json_and_yaml_carry_the_same_facts() {
        let now: Timestamp = "2026-11-25T10:05:00Z".parse().unwrap();
        let mut private = extension(
            "shoot--dev--c",
            json!([{"type": KUSTOMIZATION, "status": "True", "reason": "Ready",
                "lastTransitionTime": "2026-11-25T10:00:00Z", "lastUpdateTime": "2026-11-25T10:00:00Z",
                "message": "ready"}]),
        );
        private["status"]["providerStatus"]["source"] =
            json!({"kind": "GitRepository", "namespace": "flux-system", "name": "flux-system"});
        private["status"]["providerStatus"]["deployKey"] =
            json!({"project": "dev", "fingerprint": "SHA256:abc"});
        let list = shoots(&[private], now);
        let wide = print(&list, Output::Wide).unwrap();
        let header: Vec<&str> = wide.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "SHOOT",
                "OPERATION",
                "FLUX",
                "SOURCE",
                "KUSTOMIZATION",
                "AGE",
                "MODE",
                "SOURCE-OBJECT",
                "DEPLOY-KEY",
                "MESSAGE"
            ]
        );
        let row = wide.lines().nth(1).unwrap();
        assert!(row.contains("Managed"), "{row}");
        assert!(
            row.contains("GitRepository flux-system/flux-system"),
            "{row}"
        );
        assert!(row.contains("SHA256:abc"), "{row}");
        let json: Value = serde_json::from_str(&print(&list, Output::Json).unwrap()).unwrap();
        assert_eq!(json[0]["shoot"], "shoot--dev--c");
        assert_eq!(json[0]["fluxVersion"], "v2.9.5");
        assert_eq!(json[0]["kustomization"], "True");
        assert_eq!(json[0]["age"], "5m");
        assert_eq!(json[0]["deployKey"], "SHA256:abc");
        assert_eq!(json[0]["source"], Value::Null);
        let yaml: Value = serde_saphyr::from_str(&print(&list, Output::Yaml).unwrap()).unwrap();
        assert_eq!(yaml, json);
        // The plain table is unchanged by the wide columns.
        assert!(!print(&list, Output::Table).unwrap().contains("SHA256:abc"));
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
