//! The Helm chart and the registration objects, with the real helm (built by
//! `hack/testbed/install helm`) and the bed's real API servers: lint and template for the default
//! values and for a values file that sets every option, server-side apply to the seed, the RBAC
//! and pod security rules, the registration examples, and the controller running with exactly
//! the chart's seed RBAC (each rule removed in turn makes a reconcile fail).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::Parser;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, ValidationDirective};
use serde_json::{Value, json};
use shoot_flux::cli::Args;
use shoot_flux_core::config::operator::OperatorConfig;
use testbed::kubeutil::{dynamic_api, parse_documents, wait_for};

use common::*;

const CHART: &str = "gardener-extension-shoot-flux";
const ALL_OPTIONS: &str = "ci/all-options-values.yaml";

fn root() -> PathBuf {
    testbed::paths::repo_root()
}

fn chart_dir() -> PathBuf {
    root().join("charts").join(CHART)
}

fn helm(args: &[&str]) -> anyhow::Result<String> {
    let mut command = Command::new(testbed::paths::helm()?);
    command
        .args(args)
        .env("HELM_CACHE_HOME", helm_home())
        .env("HELM_CONFIG_HOME", helm_home());
    testbed::process::run(&mut command)
}

/// helm's own state stays out of the home directory.
fn helm_home() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("shoot-flux-chart-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `helm template` of the chart into `namespace`, with extra helm arguments (`-f`, `--set`).
fn render(namespace: &str, extra: &[&str]) -> Vec<Value> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "shoot-flux",
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
    ];
    args.extend_from_slice(extra);
    parse_documents(&helm(&args).unwrap()).unwrap()
}

fn all_options_file() -> String {
    chart_dir().join(ALL_OPTIONS).display().to_string()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found = find(docs, kind);
    assert_eq!(found.len(), 1, "exactly one {kind}");
    found[0]
}

/// The ConfigMap with the operator configuration (not the dashboard's of `monitoring.enabled`).
fn operator_config_map(docs: &[Value]) -> &Value {
    let found: Vec<&Value> = find(docs, "ConfigMap")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["dashboard.monitoring.gardener.cloud/seed"].is_null())
        .collect();
    assert_eq!(found.len(), 1, "exactly one operator ConfigMap");
    found[0]
}

fn docs_in_namespace<'a>(docs: &'a [Value], namespace: &str) -> Vec<&'a Value> {
    docs.iter()
        .filter(|d| d["metadata"]["namespace"] == namespace)
        .collect()
}

/// The chart's identity and RBAC: what the controller runs with in the seed.
fn rbac_documents(docs: &[Value]) -> Vec<Value> {
    const KINDS: [&str; 5] = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ];
    docs.iter()
        .filter(|d| KINDS.contains(&d["kind"].as_str().unwrap_or_default()))
        .cloned()
        .collect()
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter()
        .map(|d| d["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn version_flag_prints_the_crate_version_the_chart_ships() {
    let out = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.trim(),
        format!(
            "gardener-extension-shoot-flux {}",
            env!("CARGO_PKG_VERSION")
        )
    );
    let chart: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml")).unwrap())
            .unwrap();
    assert_eq!(
        chart["appVersion"],
        env!("CARGO_PKG_VERSION"),
        "the chart's appVersion (the default image tag) is the binary's version"
    );
}

/// Leaf paths of a values tree: maps are walked, anything else (lists, scalars, empty maps) is a
/// leaf.
fn leaves(value: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    match value.as_object() {
        Some(map) if !map.is_empty() => {
            for (k, v) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaves(v, &path, out);
            }
        }
        _ => out.push((prefix.to_string(), value.clone())),
    }
}

fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(value, |v, k| v.get(k))
}

#[test]
fn helm_lint_and_template_pass_for_default_values_and_every_option() {
    let chart = chart_dir();
    let chart = chart.to_str().unwrap();
    let all = all_options_file();
    helm(&["lint", "--strict", chart]).unwrap();
    helm(&["lint", "--strict", chart, "-f", &all]).unwrap();

    let default = render("extension-shoot-flux", &[]);
    let expected: BTreeSet<String> = [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "Deployment",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Service",
        "ServiceAccount",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(kinds(&default), expected);
    assert_eq!(find(&default, "Role").len(), 1);

    let everything = render("extension-shoot-flux", &["-f", &all]);
    let mut expected_all = expected.clone();
    expected_all.insert("VerticalPodAutoscaler".into());
    expected_all.insert("Secret".into());
    expected_all.insert("PrometheusRule".into());
    expected_all.remove("Service");
    assert_eq!(kinds(&everything), expected_all);
    // Nothing outside the release namespace but the dashboard, which the seed's Plutono reads
    // from its own namespace.
    let outside: Vec<String> = everything
        .iter()
        .filter(|d| {
            d["metadata"]["namespace"].is_string()
                && d["metadata"]["namespace"] != "extension-shoot-flux"
        })
        .map(|d| {
            format!(
                "{} {}/{}",
                d["kind"], d["metadata"]["namespace"], d["metadata"]["name"]
            )
        })
        .collect();
    assert_eq!(
        outside,
        ["\"ConfigMap\" \"monitoring\"/\"gardener-extension-shoot-flux-dashboard\""]
    );
    let without_pdb = render(
        "extension-shoot-flux",
        &["--set", "podDisruptionBudget.enabled=false"],
    );
    assert!(find(&without_pdb, "PodDisruptionBudget").is_empty());

    // The all-options file sets every value of values.yaml, and each one changes what is
    // rendered: set alone on the defaults, or reset to its default within the all-options file.
    let defaults: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap())
            .unwrap();
    let options: Value = serde_saphyr::from_str(&std::fs::read_to_string(&all).unwrap()).unwrap();
    let mut paths = Vec::new();
    leaves(&defaults, "", &mut paths);
    assert!(paths.len() > 30, "{paths:?}");
    let default_text = helm(&["template", "shoot-flux", chart]).unwrap();
    let all_text = helm(&["template", "shoot-flux", chart, "-f", &all]).unwrap();
    // Same as the default on purpose: false is checked above.
    let same_as_default = ["podDisruptionBudget.enabled"];
    let mut inert = Vec::new();
    for (path, default_value) in &paths {
        let value =
            at(&options, path).unwrap_or_else(|| panic!("{ALL_OPTIONS} does not set {path}"));
        if same_as_default.contains(&path.as_str()) {
            continue;
        }
        assert_ne!(
            value, default_value,
            "{ALL_OPTIONS} sets {path} to its default"
        );
        let set = format!("{path}={value}");
        let alone = helm(&["template", "shoot-flux", chart, "--set-json", &set]).unwrap();
        if alone != default_text {
            continue;
        }
        let reset = format!("{path}={default_value}");
        let without = helm(&[
            "template",
            "shoot-flux",
            chart,
            "-f",
            &all,
            "--set-json",
            &reset,
        ])
        .unwrap();
        if without == all_text {
            inert.push(path.clone());
        }
    }
    assert!(inert.is_empty(), "values that change nothing: {inert:?}");
}

/// Every way an RBAC rule could grant more than it names.
fn wildcard_violations(docs: &[Value]) -> Vec<String> {
    let mut out = Vec::new();
    for role in docs
        .iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
    {
        let name = role["metadata"]["name"].as_str().unwrap_or_default();
        if !role["aggregationRule"].is_null() {
            out.push(format!("{name}: aggregationRule"));
        }
        for rule in role["rules"].as_array().into_iter().flatten() {
            if !rule["nonResourceURLs"].is_null() {
                out.push(format!("{name}: nonResourceURLs in {rule}"));
            }
            for field in ["apiGroups", "resources", "verbs"] {
                match rule[field].as_array() {
                    Some(list) if !list.is_empty() => {}
                    _ => out.push(format!("{name}: {field} missing in {rule}")),
                }
            }
            for field in ["apiGroups", "resources", "verbs", "resourceNames"] {
                for item in rule[field].as_array().into_iter().flatten() {
                    if item.as_str().is_none_or(|s| s.contains('*')) {
                        out.push(format!("{name}: {field} {item} in {rule}"));
                    }
                }
            }
        }
    }
    out
}

fn container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1);
    &containers[0]
}

fn container_args(deployment: &Value) -> Vec<String> {
    container(deployment)["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect()
}

/// The operator configuration of the chart's ConfigMap.
fn rendered_config(docs: &[Value]) -> String {
    operator_config_map(docs)["data"]["config.yaml"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn rbac_has_no_wildcards_and_the_pod_runs_locked_down_with_the_binarys_flags() {
    assert_eq!(
        wildcard_violations(&[json!({"kind": "ClusterRole", "metadata": {"name": "bad"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]},
                      {"apiGroups": ["*"], "resources": ["pods"], "verbs": ["get"]},
                      {"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]})])
        .len(),
        5,
        "the check finds wildcards"
    );
    let all = all_options_file();
    for (label, extra) in [("default", vec![]), ("all options", vec!["-f", &all])] {
        let docs = render("extension-shoot-flux-test", &extra);
        assert_eq!(wildcard_violations(&docs), Vec::<String>::new(), "{label}");

        let deployment = one(&docs, "Deployment");
        let pod = &deployment["spec"]["template"]["spec"];
        // GRM's high availability webhook acts on the Deployment's label (replicas, topology
        // spread); it expects leader election and a PDB of maxUnavailable 1 that lets unhealthy
        // pods be evicted.
        assert_eq!(
            deployment["metadata"]["labels"]["high-availability-config.resources.gardener.cloud/type"],
            "controller",
            "{label}"
        );
        let pdb = one(&docs, "PodDisruptionBudget");
        assert_eq!(pdb["spec"]["unhealthyPodEvictionPolicy"], "AlwaysAllow");
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{label}");
        assert!(pod["securityContext"]["runAsUser"].as_u64().unwrap() > 0);
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        assert_eq!(pod["serviceAccountName"], CHART);
        assert!(pod["hostNetwork"].is_null() && pod["hostPID"].is_null());
        // Gardener's network policies: DNS, the seed's and the shoots' API servers, the internet.
        let labels = &deployment["spec"]["template"]["metadata"]["labels"];
        for label in [
            "networking.gardener.cloud/to-dns",
            "networking.gardener.cloud/to-runtime-apiserver",
            "networking.gardener.cloud/to-public-networks",
            "networking.resources.gardener.cloud/to-all-shoots-kube-apiserver-tcp-443",
        ] {
            assert_eq!(labels[label], "allowed", "{label}");
        }
        let c = container(deployment);
        assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
        assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
        assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
        assert!(c["securityContext"]["privileged"].is_null());
        assert!(!c["resources"]["requests"].is_null());
        assert!(!c["resources"]["limits"]["memory"].is_null());

        // The flags are the binary's: they parse, and the probes and ports match them.
        let args = container_args(deployment);
        let mut argv = vec!["gardener-extension-shoot-flux".to_string()];
        argv.extend(args.iter().cloned());
        let parsed = Args::try_parse_from(&argv).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert!(parsed.command.is_none());
        assert!(parsed.leader_election, "{label}");
        assert_eq!(
            parsed.config.as_deref(),
            Some(Path::new("/etc/shoot-flux/config.yaml"))
        );
        let port = |name: &str| {
            c["ports"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .unwrap()["containerPort"]
                .as_u64()
                .unwrap()
        };
        assert_eq!(
            u64::from(parsed.metrics_bind_address.port()),
            port("metrics")
        );
        assert_eq!(
            u64::from(parsed.health_bind_address.port()),
            port("healthz")
        );
        assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(c["livenessProbe"]["httpGet"]["port"], "healthz");
        assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
        assert_eq!(c["readinessProbe"]["httpGet"]["port"], "healthz");
        let env = c["env"].as_array().unwrap();
        assert!(env.iter().any(|e| e["name"] == "LEADER_ELECTION_NAMESPACE"
            && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"));
        let volumes = pod["volumes"].as_array().unwrap();
        let mounts = c["volumeMounts"].as_array().unwrap();
        assert!(volumes.iter().any(|v| v["name"] == "config"
            && v["configMap"]["name"] == operator_config_map(&docs)["metadata"]["name"]));
        assert!(mounts.iter().all(|m| m["readOnly"] == true));
        assert!(
            mounts
                .iter()
                .any(|m| m["name"] == "config" && m["mountPath"] == "/etc/shoot-flux")
        );
        OperatorConfig::parse(&rendered_config(&docs))
            .unwrap_or_else(|e| panic!("{label}: the rendered operator configuration: {e}"));

        if label == "default" {
            assert_eq!(pod["priorityClassName"], "gardener-system-900");
            assert_eq!(pdb["spec"]["maxUnavailable"], 1);
            assert_eq!(port("metrics"), 8080);
            assert_eq!(port("healthz"), 8081);
            assert_eq!(deployment["spec"]["replicas"], 1);
            assert!(parsed.gardener_version.is_none());
            assert!(!parsed.ignore_operation_annotation);
            assert_eq!(
                parsed.lifecycle_max_concurrent_reconciles,
                Args::try_parse_from(["x"])
                    .unwrap()
                    .lifecycle_max_concurrent_reconciles,
                "the chart's concurrentSyncs is the binary's default"
            );
            assert_eq!(
                parsed.reconcile_timeout,
                shoot_flux::cli::DEFAULT_RECONCILE_TIMEOUT,
                "the chart's reconcileTimeout is the binary's default"
            );
            let service = one(&docs, "Service");
            assert_eq!(service["spec"]["ports"][0]["port"], 8080);
            assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
            assert_eq!(
                service["metadata"]["annotations"]["networking.resources.gardener.cloud/from-all-seed-scrape-targets-allowed-ports"],
                r#"[{"port":8080,"protocol":"TCP"}]"#
            );
            assert!(
                deployment["metadata"]["labels"]["extensions.gardener.cloud/inject-garden-kubeconfig"]
                    .is_null(),
                "gardenlet injects its garden kubeconfig"
            );
        } else {
            assert_eq!(deployment["spec"]["replicas"], 2);
            assert_eq!(parsed.gardener_version.as_deref(), Some("v1.149.3"));
            assert_eq!(
                parsed.garden_cluster_identity.as_deref(),
                Some("garden-override")
            );
            assert!(parsed.garden_access_from_gardenlet_kubeconfig);
            assert!(parsed.ignore_operation_annotation);
            assert_eq!(
                parsed.lifecycle_max_concurrent_reconciles, 12,
                "extraArgs win"
            );
            assert_eq!(pod["priorityClassName"], "gardener-garden-system-200");
            assert!(env.iter().any(|e| e["name"] == "GARDEN_KUBECONFIG"
                && e["value"] == "/var/run/secrets/shoot-flux/garden/kubeconfig"));
            assert!(
                volumes
                    .iter()
                    .any(|v| v["secret"]["secretName"] == "garden-kubeconfig")
            );
            let config = OperatorConfig::parse(&rendered_config(&docs)).unwrap();
            assert_eq!(
                config.flux.registry.as_deref(),
                Some("registry.example.com/fluxcd")
            );
            assert_eq!(config.deploy_keys.known_hosts.len(), 1);
            // Cluster metadata is always watched (the observers' seed watches).
            let cluster_role = one(&docs, "ClusterRole");
            let clusters = cluster_role["rules"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["resources"] == json!(["clusters"]))
                .unwrap();
            assert_eq!(clusters["verbs"], json!(["get", "list", "watch"]));
            let vpa = one(&docs, "VerticalPodAutoscaler");
            assert_eq!(vpa["spec"]["targetRef"]["name"], CHART);
            assert_eq!(
                vpa["spec"]["resourcePolicy"]["containerPolicies"][0]["containerName"],
                c["name"]
            );
        }
    }
}

/// `monitoring.enabled` renders what Gardener's seed monitoring stack picks up: the pods annotated
/// for the seed Prometheus' PodMonitor of extension namespaces (`prometheus.io/scrape`, `/port`,
/// `/name`), a PrometheusRule labelled `prometheus: seed` in the release namespace, and the
/// dashboard ConfigMap labelled `dashboard.monitoring.gardener.cloud/seed: "true"` in `garden`
/// with the dashboard JSON; with the value off, none of them.
#[test]
fn monitoring_objects_render_for_the_seeds_monitoring_stack_and_only_when_enabled() {
    let off = render("extension-shoot-flux", &[]);
    assert!(find(&off, "PrometheusRule").is_empty());
    assert!(
        find(&off, "ConfigMap")
            .iter()
            .all(|c| c["metadata"]["labels"]["dashboard.monitoring.gardener.cloud/seed"].is_null())
    );
    let annotations = &one(&off, "Deployment")["spec"]["template"]["metadata"]["annotations"];
    assert!(
        annotations["prometheus.io/scrape"].is_null(),
        "{annotations}"
    );

    let on = render(
        "extension-shoot-flux",
        &[
            "--set",
            "monitoring.enabled=true",
            "--set",
            "gardener.seed.name=aws-eu1",
        ],
    );
    let template = &one(&on, "Deployment")["spec"]["template"];
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true");
    assert_eq!(annotations["prometheus.io/port"], "8080");
    assert_eq!(annotations["prometheus.io/name"], "shoot-flux");
    // The annotated port is the container's metrics port.
    let ports = &container(one(&on, "Deployment"))["ports"];
    assert!(
        ports
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "metrics" && p["containerPort"] == 8080),
        "{ports}"
    );

    let rule = one(&on, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(rule["metadata"]["namespace"], "extension-shoot-flux");
    assert_eq!(rule["metadata"]["labels"]["prometheus"], "seed");
    let alerts: Vec<&Value> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["alert"].is_string())
        .collect();
    assert_eq!(alerts.len(), 6);
    for alert in alerts {
        assert_eq!(alert["labels"]["seed"], "aws-eu1", "{alert}");
        assert_eq!(alert["labels"]["topology"], "seed", "{alert}");
    }

    let dashboards: Vec<&Value> = find(&on, "ConfigMap")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["dashboard.monitoring.gardener.cloud/seed"] == "true")
        .collect();
    assert_eq!(dashboards.len(), 1);
    assert_eq!(dashboards[0]["metadata"]["namespace"], "garden");
    let json = dashboards[0]["data"]["shoot-flux.json"].as_str().unwrap();
    let file = std::fs::read_to_string(chart_dir().join("dashboards/shoot-flux.json")).unwrap();
    let shipped: Value = serde_json::from_str(json).unwrap();
    assert_eq!(shipped, serde_json::from_str::<Value>(&file).unwrap());
    assert_eq!(shipped["uid"], "extension-shoot-flux");

    // Another Prometheus instance and the dashboard namespace are values.
    let other = render(
        "extension-shoot-flux",
        &[
            "--set",
            "monitoring.enabled=true",
            "--set",
            "monitoring.prometheus=aggregate",
            "--set",
            "monitoring.dashboardNamespace=monitoring",
        ],
    );
    assert_eq!(
        one(&other, "PrometheusRule")["metadata"]["labels"]["prometheus"],
        "aggregate"
    );
    assert!(
        find(&other, "ConfigMap")
            .iter()
            .any(|c| c["metadata"]["namespace"] == "monitoring")
    );
    // Without a seed name the alerts carry no empty seed label.
    let unnamed = render(
        "extension-shoot-flux",
        &["--set", "monitoring.enabled=true"],
    );
    let text = serde_json::to_string(one(&unnamed, "PrometheusRule")).unwrap();
    assert!(!text.contains("\"seed\":"), "{text}");
}

/// The VPA as today's Gardener writes its own: `InPlaceOrRecreate` (VPA deprecated `Auto`, and
/// GRM rewrites `Auto` and `Recreate` in seeds), requests only.
#[test]
fn the_vpa_updates_in_place_or_recreates() {
    let docs = render("extension-shoot-flux", &["--set", "vpa.enabled=true"]);
    let vpa = one(&docs, "VerticalPodAutoscaler");
    assert_eq!(
        vpa["spec"]["updatePolicy"]["updateMode"],
        "InPlaceOrRecreate"
    );
    assert_eq!(
        vpa["spec"]["resourcePolicy"]["containerPolicies"][0]["controlledValues"],
        "RequestsOnly"
    );
}

/// The values operators of the stackit extension's chart rely on, under its names: Secrets
/// created with the chart (`extraSecrets`), environment from them (`envFrom`), pod labels
/// (`extraLabels`), and here also Secrets mounted as files (`extraVolumes`,
/// `extraVolumeMounts`) and pod annotations. Each shows where it belongs, and without it
/// nothing of it is rendered.
#[test]
fn stackit_chart_values_secrets_environment_volumes_labels_and_annotations() {
    let default = render("extension-shoot-flux", &[]);
    let deployment = one(&default, "Deployment");
    let template = &deployment["spec"]["template"];
    assert!(find(&default, "Secret").is_empty());
    assert!(container(deployment)["envFrom"].is_null());
    assert!(template["metadata"]["annotations"]["checksum/extra-secrets"].is_null());
    let default_volumes = template["spec"]["volumes"].as_array().unwrap().len();
    let default_mounts = container(deployment)["volumeMounts"]
        .as_array()
        .unwrap()
        .len();
    let default_labels = template["metadata"]["labels"].as_object().unwrap().len();
    let default_annotations = template["metadata"]["annotations"]
        .as_object()
        .unwrap()
        .len();

    let secrets = r#"extraSecrets=[{"name":"proxy","stringData":{"HTTPS_PROXY":"http://proxy:3128"}},{"name":"ca","data":{"ca.crt":"Y2E="}}]"#;
    let docs = render("extension-shoot-flux", &["--set-json", secrets]);
    let created = find(&docs, "Secret");
    assert_eq!(created.len(), 2);
    assert_eq!(created[0]["metadata"]["name"], "proxy");
    assert_eq!(created[0]["metadata"]["namespace"], "extension-shoot-flux");
    assert_eq!(
        created[0]["metadata"]["labels"]["app.kubernetes.io/name"],
        CHART
    );
    assert_eq!(created[0]["stringData"]["HTTPS_PROXY"], "http://proxy:3128");
    assert_eq!(created[1]["data"]["ca.crt"], "Y2E=");
    // A changed Secret rolls the pods.
    let checksum = |docs: &[Value]| {
        one(docs, "Deployment")["spec"]["template"]["metadata"]["annotations"]
            ["checksum/extra-secrets"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let changed = render(
        "extension-shoot-flux",
        &["--set-json", &secrets.replace("3128", "8080")],
    );
    assert_ne!(checksum(&docs), checksum(&changed));

    let docs = render(
        "extension-shoot-flux",
        &["--set-json", r#"envFrom=[{"secretRef":{"name":"proxy"}}]"#],
    );
    assert_eq!(
        container(one(&docs, "Deployment"))["envFrom"],
        json!([{"secretRef": {"name": "proxy"}}])
    );

    let docs = render(
        "extension-shoot-flux",
        &[
            "--set-json",
            r#"extraVolumes=[{"name":"ca","secret":{"secretName":"ca"}}]"#,
            "--set-json",
            r#"extraVolumeMounts=[{"name":"ca","mountPath":"/etc/ca","readOnly":true}]"#,
        ],
    );
    let deployment = one(&docs, "Deployment");
    let volumes = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap();
    assert_eq!(volumes.len(), default_volumes + 1);
    assert!(volumes.contains(&json!({"name": "ca", "secret": {"secretName": "ca"}})));
    let mounts = container(deployment)["volumeMounts"].as_array().unwrap();
    assert_eq!(mounts.len(), default_mounts + 1);
    assert!(mounts.contains(&json!({"name": "ca", "mountPath": "/etc/ca", "readOnly": true})));

    let docs = render(
        "extension-shoot-flux",
        &[
            "--set-json",
            r#"extraLabels={"example.com/team":"platform"}"#,
            "--set-json",
            r#"podAnnotations={"example.com/owner":"ops"}"#,
        ],
    );
    let deployment = one(&docs, "Deployment");
    let metadata = &deployment["spec"]["template"]["metadata"];
    assert_eq!(metadata["labels"]["example.com/team"], "platform");
    assert_eq!(
        metadata["labels"].as_object().unwrap().len(),
        default_labels + 1
    );
    assert_eq!(metadata["annotations"]["example.com/owner"], "ops");
    assert_eq!(
        metadata["annotations"].as_object().unwrap().len(),
        default_annotations + 1
    );
    // Pod labels only: the selector stays what it was, so an upgrade can roll the Deployment.
    assert_eq!(
        deployment["spec"]["selector"],
        one(&default, "Deployment")["spec"]["selector"]
    );
    assert!(deployment["metadata"]["labels"]["example.com/team"].is_null());
}

/// Server-side apply with strict field validation: unknown or misplaced fields are errors.
async fn apply_strict(client: &kube::Client, docs: &[Value], manager: &str) -> anyhow::Result<()> {
    for doc in docs {
        let api = dynamic_api(
            client,
            doc["apiVersion"].as_str().unwrap(),
            doc["kind"].as_str().unwrap(),
            doc["metadata"]["namespace"].as_str(),
        )
        .await?;
        let name = doc["metadata"]["name"].as_str().unwrap();
        api.patch(
            name,
            &PatchParams::apply(manager)
                .force()
                .validation(ValidationDirective::Strict),
            &Patch::Apply(doc),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{} {name}: {e}", doc["kind"]))?;
    }
    Ok(())
}

/// One verb of one rule, as the controller's ServiceAccount (`CHART` in the release namespace)
/// uses it.
struct Access {
    user: String,
    verb: String,
    group: String,
    resource: String,
    /// A Role's namespace; a ClusterRole's rules are checked cluster-wide.
    namespace: Option<String>,
    /// The first of the rule's resourceNames, if it names any.
    name: Option<String>,
}

impl Access {
    fn of(role: &Value, rule: &Value, verb: &str, release_namespace: &str) -> Self {
        Self {
            user: format!("system:serviceaccount:{release_namespace}:{CHART}"),
            verb: verb.into(),
            group: rule["apiGroups"][0].as_str().unwrap().into(),
            resource: rule["resources"][0].as_str().unwrap().into(),
            namespace: (role["kind"] == "Role").then(|| release_namespace.to_string()),
            name: rule["resourceNames"][0].as_str().map(str::to_string),
        }
    }

    /// Waits until the API server's authorizer allows (or denies) the access. RBAC changes reach
    /// the authorizer through its informers a moment after they are written; a
    /// SubjectAccessReview is answered by the same authorizer.
    async fn wait_in_force(&self, seed: &kube::Client, allowed: bool) {
        use k8s_openapi::api::authorization::v1::SubjectAccessReview;
        let reviews: Api<SubjectAccessReview> = Api::all(seed.clone());
        let review: SubjectAccessReview = serde_json::from_value(json!({
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": self.user, "resourceAttributes": {
                "verb": self.verb, "group": self.group, "resource": self.resource,
                "namespace": self.namespace, "name": self.name,
            }}
        }))
        .unwrap();
        let what = if allowed { "allowed" } else { "denied" };
        wait_for(
            &format!(
                "{} {} on {}/{} {what}",
                self.user, self.verb, self.group, self.resource
            ),
            Duration::from_secs(60),
            || async {
                let answer = reviews.create(&Default::default(), &review).await?;
                let now = answer.status.is_some_and(|s| s.allowed);
                Ok((now == allowed).then_some(()))
            },
        )
        .await
        .unwrap();
    }
}

async fn ensure_namespace(client: &kube::Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .patch(name, &PatchParams::apply("test"), &Patch::Apply(&ns))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_rendered_objects_are_accepted_by_the_seed() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let seed = bed.seed().client().await.unwrap();
    // Every seed has the VPA CRDs; the bed's seed gets the one the chart uses.
    testbed::kubeutil::apply_file(
        &seed,
        &testbed::paths::chart_crd("verticalpodautoscalers.yaml").unwrap(),
        "test",
    )
    .await
    .unwrap();
    // Every seed has prometheus-operator's CRDs; the bed's seed gets the one the chart uses.
    testbed::kubeutil::apply_file(
        &seed,
        &testbed::paths::chart_crd("prometheusrules.yaml").unwrap(),
        "test",
    )
    .await
    .unwrap();
    let all = all_options_file();
    for (namespace, extra) in [
        ("extension-shoot-flux-default", vec![]),
        ("extension-shoot-flux-all", vec!["-f", all.as_str()]),
    ] {
        let docs = render(namespace, &extra);
        ensure_namespace(&seed, namespace).await;
        ensure_namespace(&seed, "garden").await;
        // The all-options dashboard namespace.
        ensure_namespace(&seed, "monitoring").await;
        apply_strict(&seed, &docs, "gardenlet").await.unwrap();
        // Each object is there as rendered.
        for doc in &docs {
            let api = dynamic_api(
                &seed,
                doc["apiVersion"].as_str().unwrap(),
                doc["kind"].as_str().unwrap(),
                doc["metadata"]["namespace"].as_str(),
            )
            .await
            .unwrap();
            let stored = api
                .get(doc["metadata"]["name"].as_str().unwrap())
                .await
                .unwrap();
            assert_eq!(
                stored.metadata.labels.unwrap_or_default()["app.kubernetes.io/name"],
                CHART
            );
        }
    }
    // The check is real: a misspelt field is refused.
    let mut broken = render("extension-shoot-flux-default", &[]);
    let deployment = broken
        .iter_mut()
        .find(|d| d["kind"] == "Deployment")
        .unwrap();
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] =
        json!(true);
    let err = apply_strict(&seed, &broken, "gardenlet").await.unwrap_err();
    assert!(err.to_string().contains("readOnlyRootFileSystem"), "{err}");
}

fn example(name: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(root().join("example").join(name)).unwrap();
    parse_documents(&text).unwrap()
}

/// The files of the chart in a packaged chart (.tgz), by path below the chart directory.
fn chart_files_in(tgz: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    let mut out = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        let relative = path
            .strip_prefix(&format!("{CHART}/"))
            .unwrap_or_else(|| panic!("{path} outside the chart directory"))
            .to_string();
        out.push((relative, data));
    }
    out
}

fn check_controller_resource(resource: &Value, context: &str) {
    assert_eq!(resource["kind"], "Extension", "{context}");
    assert_eq!(resource["type"], "shoot-flux", "{context}");
    assert_eq!(resource["workerlessSupported"], false, "{context}");
    assert_eq!(resource["primary"], true, "{context}");
    // gardenlet waits this long for the Extension; the controller's own deadline (the chart's
    // default) ends well before, so the status says what was pending before gardenlet gives up.
    let timeout = resource["reconcileTimeout"].as_str().unwrap();
    let timeout = shoot_flux_core::config::operator::parse_duration(timeout).unwrap();
    let values: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(chart_dir().join("values.yaml")).unwrap())
            .unwrap();
    let own = values["controller"]["reconcileTimeout"].as_str().unwrap();
    let own = shoot_flux_core::config::operator::parse_duration(own).unwrap();
    assert!(
        own + Duration::from_secs(30) <= timeout,
        "{context}: reconcileTimeout {timeout:?} leaves the controller's own {own:?} a margin"
    );
    let allowed = ["BeforeKubeAPIServer", "AfterKubeAPIServer", "AfterWorker"];
    for step in ["reconcile", "delete", "migrate"] {
        let value = resource["lifecycle"][step].as_str().unwrap();
        assert!(
            allowed.contains(&value),
            "{context}: lifecycle.{step} {value}"
        );
    }
    // Flux runs on the workers; it prunes while the API server still runs.
    assert_eq!(resource["lifecycle"]["reconcile"], "AfterWorker");
    assert_eq!(resource["lifecycle"]["delete"], "BeforeKubeAPIServer");
}

#[tokio::test]
async fn the_registration_examples_are_valid_and_carry_the_current_chart() {
    let _serial = SERIAL.lock().await;
    // ControllerDeployment (rawChart) and ControllerRegistration: gardener-apiserver types, no
    // CRDs exist for them, so structurally.
    let docs = example("controller-registration.yaml");
    let deployment = one(&docs, "ControllerDeployment");
    assert_eq!(deployment["apiVersion"], "core.gardener.cloud/v1");
    assert_eq!(deployment["injectGardenKubeconfig"], true);
    use base64::Engine;
    let tgz = base64::engine::general_purpose::STANDARD
        .decode(deployment["helm"]["rawChart"].as_str().unwrap())
        .unwrap();
    let files = chart_files_in(&tgz);
    assert!(files.iter().any(|(p, _)| p == "Chart.yaml"));
    for (path, data) in &files {
        let current = std::fs::read(chart_dir().join(path))
            .unwrap_or_else(|_| panic!("{path} is in the rawChart but not in the chart"));
        // helm package writes Chart.yaml anew (same content, its own layout).
        let same = if path == "Chart.yaml" {
            serde_saphyr::from_slice::<Value>(&current).unwrap()
                == serde_saphyr::from_slice::<Value>(data).unwrap()
        } else {
            current == *data
        };
        assert!(
            same,
            "rawChart's {path} is outdated: run hack/generate-controller-registration"
        );
    }
    let packaged: BTreeSet<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    for entry in walk(&chart_dir()) {
        let relative = entry
            .strip_prefix(chart_dir())
            .unwrap()
            .display()
            .to_string();
        assert!(
            packaged.contains(relative.as_str()),
            "{relative} missing in the rawChart: run hack/generate-controller-registration"
        );
    }
    let registration = one(&docs, "ControllerRegistration");
    assert_eq!(registration["apiVersion"], "core.gardener.cloud/v1beta1");
    let resources = registration["spec"]["resources"].as_array().unwrap();
    assert_eq!(resources.len(), 1);
    check_controller_resource(&resources[0], "ControllerRegistration");
    assert_eq!(
        registration["spec"]["deployment"]["deploymentRefs"],
        json!([{"name": deployment["metadata"]["name"]}])
    );

    let oci = example("controller-deployment-oci.yaml");
    let oci = one(&oci, "ControllerDeployment");
    assert_eq!(oci["injectGardenKubeconfig"], true);
    assert!(oci["helm"]["rawChart"].is_null());
    let reference = oci["helm"]["ociRepository"]["ref"].as_str().unwrap();
    assert!(reference.contains(&format!("/{CHART}:")), "{reference}");
    assert_eq!(oci["helm"]["values"], deployment["helm"]["values"]);

    // The operator's Extension, validated by its CRD in the bed's garden API server.
    let operator = example("extension.yaml");
    let operator = one(&operator, "Extension");
    let extension = &operator["spec"]["deployment"]["extension"];
    assert_eq!(extension["injectGardenKubeconfig"], true);
    assert_eq!(
        extension["helm"]["ociRepository"],
        oci["helm"]["ociRepository"]
    );
    assert_eq!(
        operator["spec"]["resources"], registration["spec"]["resources"],
        "the operator Extension registers what the ControllerRegistration does"
    );
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let garden = bed.garden().client().await.unwrap();
    testbed::kubeutil::apply_file(
        &garden,
        &testbed::paths::chart_crd("operator-extensions.yaml").unwrap(),
        "test",
    )
    .await
    .unwrap();
    apply_strict(&garden, std::slice::from_ref(operator), "operator")
        .await
        .unwrap();
    let mut wrong = operator.clone();
    wrong["spec"]["resources"][0]["workerlessSupported"] = json!("no");
    let err = apply_strict(&garden, &[wrong], "operator")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("workerlessSupported"), "{err}");
    let mut unknown = operator.clone();
    unknown["spec"]["deployment"]["extension"]["injectGardenKubeConfig"] = json!(true);
    let err = apply_strict(&garden, &[unknown], "operator")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("injectGardenKubeConfig"), "{err}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// The extension process as the chart's Deployment runs it: its args and env, with only what a
/// local process needs changed (config file path, loopback ports) and the kubeconfigs of the
/// chart's ServiceAccount and of a garden ServiceAccount bound to the example ClusterRole.
struct Controller {
    process: testbed::process::Process,
}

impl Controller {
    /// The process, not waited for; and its health port.
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        bed: &'static testbed::Bed,
        name: &str,
        deployment: &Value,
        config: &Path,
        namespace: &str,
        seed_kubeconfig: &Path,
        garden_kubeconfig: Option<&Path>,
    ) -> (testbed::process::Process, u16) {
        let c = container(deployment);
        let (metrics_port, health_port) = (
            testbed::ports::free_port().unwrap(),
            testbed::ports::free_port().unwrap(),
        );
        let mut command = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"));
        command.env_clear().env("KUBECONFIG", seed_kubeconfig);
        if let Some(garden) = garden_kubeconfig {
            command.env("GARDEN_KUBECONFIG", garden);
        }
        for env in c["env"].as_array().unwrap() {
            let name = env["name"].as_str().unwrap();
            let value = match env["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.namespace") => namespace.to_string(),
                Some("metadata.name") => "gardener-extension-shoot-flux-0".to_string(),
                Some(other) => panic!("env {name} from {other}"),
                None => env["value"].as_str().unwrap().to_string(),
            };
            command.env(name, value);
        }
        // Later flags win (clap's args_override_self), as the chart's extraArgs do.
        command
            .args(container_args(deployment))
            .arg(format!("--config={}", config.display()))
            .arg(format!("--metrics-bind-address=127.0.0.1:{metrics_port}"))
            .arg(format!("--health-bind-address=127.0.0.1:{health_port}"));
        let process =
            testbed::process::Process::spawn(name, command, &bed.dir().join(format!("{name}.log")))
                .unwrap();
        (process, health_port)
    }

    /// The process, not waiting for it to be ready (it cannot be while its Extension watch is
    /// denied the list).
    fn start_unready(
        bed: &'static testbed::Bed,
        name: &str,
        deployment: &Value,
        config: &Path,
        namespace: &str,
        seed_kubeconfig: &Path,
        garden_kubeconfig: Option<&Path>,
    ) -> Self {
        let (process, _) = Self::spawn(
            bed,
            name,
            deployment,
            config,
            namespace,
            seed_kubeconfig,
            garden_kubeconfig,
        );
        Self { process }
    }

    /// The process, once ready.
    #[allow(clippy::too_many_arguments)]
    async fn start(
        bed: &'static testbed::Bed,
        name: &str,
        deployment: &Value,
        config: &Path,
        namespace: &str,
        seed_kubeconfig: &Path,
        garden_kubeconfig: Option<&Path>,
    ) -> Self {
        let (mut process, health_port) = Self::spawn(
            bed,
            name,
            deployment,
            config,
            namespace,
            seed_kubeconfig,
            garden_kubeconfig,
        );
        wait_for("the extension to be ready", Duration::from_secs(90), || {
            let running = process.ensure_running();
            async move {
                running?;
                let r = testbed::plainhttp::get(&format!("http://127.0.0.1:{health_port}/readyz"))
                    .await?;
                Ok((r.status == 200).then_some(()))
            }
        })
        .await
        .unwrap();
        Self { process }
    }

    /// The log without JSON's quote escaping.
    fn log(&self) -> String {
        std::fs::read_to_string(self.process.log_path())
            .unwrap_or_default()
            .replace("\\\"", "\"")
    }
}

/// What makes the controller use one verb of its seed RBAC.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// A reconcile (`gardener.cloud/operation: reconcile`) of the steady state.
    Reconcile,
    /// A reconcile after the config ManagedResource went away (creates it).
    MissingManagedResource,
    /// A changed project ConfigMap (new content: a new secret, a patched ManagedResource).
    ProjectChange,
    /// A reconcile after someone changed the shoot access Secret's labels (patches them back).
    ChangedAccessSecret,
    /// Removing the extension (deletes ManagedResources, lists and deletes our secrets).
    Deletion,
    /// A reconcile of an Extension whose status holds no record of shoot-flux, as a predecessor
    /// leaves it (lists the namespace's ManagedResources and Secrets for its leftovers).
    Takeover,
    /// The Lease renewals (heartbeat and leader patch).
    LeaseRenewal,
    /// Missing Leases (created).
    MissingLeases,
    /// A new process (its Extension watch).
    Restart,
}

impl Trigger {
    /// The log messages of the code path that makes the request.
    fn messages(self) -> &'static [&'static str] {
        match self {
            Self::LeaseRenewal | Self::MissingLeases => &[
                "renewing the heartbeat Lease failed",
                "renewing the leader Lease failed",
            ],
            Self::Restart => &["watch failed"],
            // The reconcile logs the actuator's failures as "failed", the others as "reconcile
            // failed".
            _ => &["failed", "reconcile failed"],
        }
    }
}

/// Which request needs `verb` on `resource`; a verb without a trigger fails the test (add one, or
/// drop the verb from the chart).
fn trigger_for(resource: &str, verb: &str) -> Trigger {
    match (resource, verb) {
        ("extensions", "patch")
        | ("extensions/status", "patch")
        | ("clusters", "get")
        | ("managedresources", "get")
        | ("secrets", "get") => Trigger::Reconcile,
        // The Extension watch lists first; the health check and the sync poll read its cache,
        // and the seed watches (Cluster metadata, our ManagedResources, the access Secrets'
        // metadata) start with the process too.
        ("extensions", "list" | "watch")
        | ("clusters", "list" | "watch")
        | ("managedresources", "watch")
        | ("secrets", "watch") => Trigger::Restart,
        ("managedresources", "create") => Trigger::MissingManagedResource,
        ("managedresources", "patch") | ("secrets", "create") => Trigger::ProjectChange,
        ("secrets", "patch") => Trigger::ChangedAccessSecret,
        // The metadata patch works on the watch cache's copy; only removing the finalizer after
        // Delete (and a retry after a conflict) reads the Extension first.
        ("extensions", "get") | ("managedresources", "delete") | ("secrets", "list" | "delete") => {
            Trigger::Deletion
        }
        ("managedresources", "list") => Trigger::Takeover,
        ("leases", "patch") => Trigger::LeaseRenewal,
        // The leader renews on the resourceVersion it last wrote, unread; it reads the Lease
        // when that fails (here: the Lease is gone) and creates a missing one.
        ("leases", "get" | "create") => Trigger::MissingLeases,
        other => panic!("no trigger known for {other:?}"),
    }
}

/// The API server's words for a denied request of one of `verbs` on `resource`, in a log line
/// of one of `messages` (the reconcile's or the Lease loops', not the periodic health checks').
fn denial_in(
    log: &str,
    messages: &[&str],
    verbs: &[String],
    resource: &str,
    group: &str,
) -> Option<String> {
    log.lines()
        .find(|line| {
            messages
                .iter()
                .any(|m| line.contains(&format!("\"message\":\"{m}\"")))
                && verbs
                    .iter()
                    .any(|v| line.contains(&format!("cannot {v} resource \"{resource}\"")))
                && line.contains(&format!("in API group \"{group}\""))
        })
        .map(str::to_string)
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_controller_works_with_exactly_the_charts_seed_rbac_and_needs_every_rule() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = testbed::paths::versions().unwrap();
    let releases = bed.releases().await.unwrap();
    let seed = bed.seed().client().await.unwrap();
    let garden = bed.garden().client().await.unwrap();
    let namespace = "extension-shoot-flux-rbac";

    // What gardenlet installs from the chart (faster heartbeats and health checks so that the
    // rules they need show within seconds; the bed's Flux release assets instead of GitHub).
    let base_url = format!("config.flux.manifests.baseURL={}", releases.base_url());
    let docs = render(
        namespace,
        &[
            "--set",
            &base_url,
            "--set",
            "config.flux.manifests.timeout=10s",
            "--set",
            "controller.heartbeatRenewIntervalSeconds=2",
            "--set",
            "controller.healthCheckSyncPeriod=2s",
        ],
    );
    ensure_namespace(&seed, namespace).await;
    let rbac: Vec<Value> = rbac_documents(&docs);
    assert_eq!(rbac.len(), 5);
    apply_strict(&seed, &rbac, "gardenlet").await.unwrap();
    let seed_kubeconfig = bed
        .seed()
        .service_account_kubeconfig(namespace, CHART)
        .await
        .unwrap();
    let config = bed.dir().join("chart-operator-config.yaml");
    std::fs::write(&config, rendered_config(&docs)).unwrap();

    // The garden: the example ClusterRole, bound to the extension's garden ServiceAccount.
    testbed::kubeutil::apply_file(
        &garden,
        &root().join("example/garden-clusterrole.yaml"),
        "operator",
    )
    .await
    .unwrap();
    let garden_kubeconfig = bed
        .garden()
        .service_account_kubeconfig("seed-local", "extension-shoot-flux")
        .await
        .unwrap();
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "extension-shoot-flux-garden-access"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": "extensions.gardener.cloud:extension-shoot-flux:garden-access"},
        "subjects": [{"kind": "ServiceAccount", "name": "extension-shoot-flux", "namespace": "seed-local"}]
    });
    apply_strict(&garden, &[binding], "operator").await.unwrap();

    set_project_config(
        bed,
        "chart",
        &[
            ("fluxVersion", versions.flux_previous.as_str()),
            (
                "repositoryUrl",
                "https://git.example.com/platform/fleet.git",
            ),
        ],
    )
    .await;
    let spec = spec("chart", "app");
    let ns = spec.technical_id();
    let mut shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    shoot.start_grm().await.unwrap();
    let deployment = one(&docs, "Deployment");
    let mut controller = Controller::start(
        bed,
        "shoot-flux-chart",
        deployment,
        &config,
        namespace,
        &seed_kubeconfig,
        Some(&garden_kubeconfig),
    )
    .await;

    // Create.
    testbed::gardenlet::apply_extension(&seed, &spec)
        .await
        .unwrap();
    let ext = wait_ready(bed, &ns, Duration::from_secs(60)).await;
    assert_eq!(ext["status"]["lastOperation"]["type"], "Create");
    let install_objects = || async {
        let name = mr_secrets(bed, &ns).await[0].clone();
        let secrets: Api<Secret> = Api::namespaced(seed.clone(), &ns);
        let data = secrets.get(&name).await.unwrap().data.unwrap();
        String::from_utf8(
            testbed::managedresource::brotli_decompress(&data["data.yaml.br"].0).unwrap(),
        )
        .unwrap()
    };
    let new_image = format!(
        "ghcr.io/fluxcd/kustomize-controller:{}",
        versions.kustomize_controller
    );
    assert!(
        !install_objects().await.contains(&new_image),
        "the project's older Flux version first"
    );
    let config_objects = {
        let name = mr_secrets(bed, &ns).await[1].clone();
        let secrets: Api<Secret> = Api::namespaced(seed.clone(), &ns);
        let data = secrets.get(&name).await.unwrap().data.unwrap();
        String::from_utf8(
            testbed::managedresource::brotli_decompress(&data["data.yaml.br"].0).unwrap(),
        )
        .unwrap()
    };
    assert!(
        config_objects.contains("https://git.example.com/platform/fleet.git"),
        "the project ConfigMap was read through the garden ClusterRole"
    );

    // Upgrade: a new fluxVersion in the project ConfigMap (watched through the garden RBAC).
    let before = mr_secrets(bed, &ns).await[0].clone();
    set_project_config(
        bed,
        "chart",
        &[
            ("fluxVersion", versions.flux.as_str()),
            (
                "repositoryUrl",
                "https://git.example.com/platform/fleet.git",
            ),
        ],
    )
    .await;
    wait_for(
        "the install MR of the new version",
        Duration::from_secs(60),
        || async { Ok((mr_secrets(bed, &ns).await[0] != before).then_some(())) },
    )
    .await
    .unwrap();
    // The new install MR comes before the reconcile's outcome, and until then the Create's
    // success still stands (the reconcile was not requested): wait for the outcome itself.
    wait_extension(
        bed,
        &ns,
        "the upgrade's Reconcile to be ready for gardenlet",
        Duration::from_secs(90),
        |ext| {
            gardenlet_ready(ext).map_err(anyhow::Error::msg)?;
            Ok((ext["status"]["lastOperation"]["type"] == "Reconcile").then_some(()))
        },
    )
    .await;
    assert!(install_objects().await.contains(&new_image));

    // Delete: the finalizer goes once the ManagedResources and our secrets are gone.
    let extensions = extension_api(bed, &ns).await;
    extensions
        .delete("shoot-flux", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "the Extension to be gone",
        Duration::from_secs(120),
        || async {
            Ok(extensions
                .get_opt("shoot-flux")
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await
    .unwrap();
    let mrs = mr_api(bed, &ns).await;
    assert!(
        mrs.list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let secrets: Api<Secret> = Api::namespaced(seed.clone(), &ns);
    let left = secrets
        .list_metadata(
            &ListParams::default().labels("shoot-flux.extensions.gardener.cloud/managed-resource"),
        )
        .await
        .unwrap();
    assert!(left.items.is_empty(), "our secrets are gone");

    // Back for the rule-by-rule part.
    testbed::gardenlet::apply_extension(&seed, &spec)
        .await
        .unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    let log = controller.log();
    assert!(
        !log.contains("forbidden"),
        "nothing was denied with the chart's RBAC:\n{log}"
    );
    println!(
        "create, upgrade, delete and create again with the chart's RBAC: {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // Each verb of each rule removed in turn (so each rule, too): the request that needs it is
    // denied, seen in the log line of the code path that made it, and works again once the rule
    // is back.
    let leases: Api<Lease> = Api::namespaced(seed.clone(), namespace);
    let mut branch = 0;
    let mut restarts = 0;
    for kind in ["ClusterRole", "Role"] {
        let role = one(&rbac, kind).clone();
        let rules = role["rules"].as_array().unwrap().clone();
        for (index, rule) in rules.iter().enumerate() {
            let resource = rule["resources"][0].as_str().unwrap().to_string();
            let group = rule["apiGroups"][0].as_str().unwrap().to_string();
            for verb in strings(&rule["verbs"]) {
                let step = Instant::now();
                let trigger = trigger_for(&resource, &verb);
                let mut without = role.clone();
                let remaining: Vec<String> = strings(&rule["verbs"])
                    .into_iter()
                    .filter(|v| *v != verb)
                    .collect();
                if remaining.is_empty() {
                    without["rules"].as_array_mut().unwrap().remove(index);
                } else {
                    without["rules"][index]["verbs"] = json!(remaining);
                }
                apply_strict(&seed, &[without], "test").await.unwrap();
                let access = Access::of(&role, rule, &verb, namespace);
                access.wait_in_force(&seed, false).await;
                let mut offset = controller.log().len();
                match trigger {
                    Trigger::Reconcile | Trigger::LeaseRenewal => {}
                    Trigger::MissingManagedResource => {
                        mrs.delete("extension-shoot-flux-flux-config", &DeleteParams::default())
                            .await
                            .unwrap();
                        wait_for("the config MR gone", Duration::from_secs(60), || async {
                            Ok(mrs
                                .get_opt("extension-shoot-flux-flux-config")
                                .await?
                                .is_none()
                                .then_some(()))
                        })
                        .await
                        .unwrap();
                    }
                    Trigger::ProjectChange => {
                        branch += 1;
                        let name = format!("branch-{branch}");
                        set_project_config(
                            bed,
                            "chart",
                            &[
                                ("fluxVersion", versions.flux.as_str()),
                                (
                                    "repositoryUrl",
                                    "https://git.example.com/platform/fleet.git",
                                ),
                                ("repositoryBranch", &name),
                            ],
                        )
                        .await;
                    }
                    Trigger::ChangedAccessSecret => {
                        let access = secrets
                            .get("shoot-access-extension-shoot-flux")
                            .await
                            .unwrap();
                        let label = access.metadata.labels.unwrap().into_keys().next().unwrap();
                        secrets
                            .patch(
                                "shoot-access-extension-shoot-flux",
                                &PatchParams::default(),
                                &Patch::Merge(&json!({"metadata": {"labels": {label: null}}})),
                            )
                            .await
                            .unwrap();
                    }
                    Trigger::Deletion => {
                        extensions
                            .delete("shoot-flux", &DeleteParams::default())
                            .await
                            .unwrap();
                    }
                    Trigger::Takeover => {
                        extensions
                            .patch_status(
                                "shoot-flux",
                                &PatchParams::default(),
                                &Patch::Merge(&json!({"status": {"providerStatus": null}})),
                            )
                            .await
                            .unwrap();
                    }
                    Trigger::MissingLeases => {
                        for lease in leases.list(&ListParams::default()).await.unwrap().items {
                            leases
                                .delete(&lease.metadata.name.unwrap(), &DeleteParams::default())
                                .await
                                .unwrap();
                        }
                    }
                    Trigger::Restart => {
                        // An established watch outlives the rule; a new process starts one.
                        controller.process.kill();
                        let _ = leases
                            .delete(
                                "gardener-extension-shoot-flux-leader-election",
                                &DeleteParams::default(),
                            )
                            .await;
                        restarts += 1;
                        let name = format!("shoot-flux-chart-{restarts}");
                        controller = if verb == "list" {
                            Controller::start_unready(
                                bed,
                                &name,
                                deployment,
                                &config,
                                namespace,
                                &seed_kubeconfig,
                                Some(&garden_kubeconfig),
                            )
                        } else {
                            Controller::start(
                                bed,
                                &name,
                                deployment,
                                &config,
                                namespace,
                                &seed_kubeconfig,
                                Some(&garden_kubeconfig),
                            )
                            .await
                        };
                        offset = 0;
                    }
                }
                let since = matches!(
                    trigger,
                    Trigger::Reconcile
                        | Trigger::MissingManagedResource
                        | Trigger::ChangedAccessSecret
                        | Trigger::Takeover
                )
                .then_some(());
                let since = match since {
                    Some(()) => Some(annotate(bed, &ns, "reconcile").await),
                    None => None,
                };
                let messages = trigger.messages();
                let verbs = [verb.clone()];
                let denial = wait_for(
                    &format!("a denied {verb} on {resource} ({trigger:?})"),
                    Duration::from_secs(90),
                    || async {
                        let log = controller.log();
                        Ok(denial_in(
                            &log[offset.min(log.len())..],
                            messages,
                            &verbs,
                            &resource,
                            &group,
                        ))
                    },
                )
                .await
                .unwrap();
                // Where the actuator is denied, the reconcile reports it on the Extension (a
                // denied Extension or Cluster request stops it before any status is written).
                if let Some(since) = &since
                    && ["managedresources", "secrets"].contains(&resource.as_str())
                {
                    wait_error(bed, &ns, since, &["forbidden"]).await;
                }
                apply_strict(&seed, std::slice::from_ref(&role), "test")
                    .await
                    .unwrap();
                access.wait_in_force(&seed, true).await;
                match trigger {
                    Trigger::LeaseRenewal | Trigger::MissingLeases => {
                        wait_for("the Leases renewed", Duration::from_secs(60), || async {
                            let held = leases
                                .get_opt("gardener-extension-shoot-flux-leader-election")
                                .await?
                                .and_then(|l| l.spec)
                                .and_then(|s| s.holder_identity)
                                .is_some_and(|h| h.starts_with("gardener-extension-shoot-flux-0"));
                            let heartbeat = leases
                                .get_opt("gardener-extension-heartbeat")
                                .await?
                                .is_some();
                            Ok((held && heartbeat).then_some(()))
                        })
                        .await
                        .unwrap();
                    }
                    Trigger::Deletion => {
                        // The retried Delete finishes; then the shoot gets the extension again.
                        annotate(bed, &ns, "reconcile").await;
                        wait_for(
                            "the Extension to be gone",
                            Duration::from_secs(60),
                            || async {
                                Ok(extensions
                                    .get_opt("shoot-flux")
                                    .await?
                                    .is_none()
                                    .then_some(()))
                            },
                        )
                        .await
                        .unwrap();
                        testbed::gardenlet::apply_extension(&seed, &spec)
                            .await
                            .unwrap();
                        wait_ready(bed, &ns, Duration::from_secs(60)).await;
                    }
                    _ => {
                        annotate(bed, &ns, "reconcile").await;
                        wait_ready(bed, &ns, Duration::from_secs(90)).await;
                    }
                }
                controller.process.ensure_running().unwrap();
                println!(
                    "{kind} without {verb} on {group}/{resource} ({trigger:?}): denied and restored in {:.1}s: {}",
                    step.elapsed().as_secs_f64(),
                    denial.chars().take(240).collect::<String>()
                );
            }
        }
    }
    println!("RBAC test in {:.1}s", started.elapsed().as_secs_f64());
}

/// The opt-in for old landscapes (`gardenAccess.fromGardenletKubeconfig`): the controller reads
/// the seed Secret garden/gardenlet-kubeconfig with the chart's ClusterRole (secrets get, which
/// the shoot namespaces need anyway, so the chart adds no Role for it), and without that verb it
/// stops at start with the denial.
#[tokio::test]
async fn the_gardenlet_kubeconfig_opt_in_works_with_the_charts_rbac() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let seed = bed.seed().client().await.unwrap();
    let namespace = "extension-shoot-flux-legacy";
    let docs = render(
        namespace,
        &["--set", "gardenAccess.fromGardenletKubeconfig=true"],
    );
    assert!(docs_in_namespace(&docs, "garden").is_empty());
    ensure_namespace(&seed, namespace).await;
    ensure_namespace(&seed, "garden").await;
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "gardenlet-kubeconfig", "namespace": "garden"},
        "stringData": {"kubeconfig": bed.garden().kubeconfig_yaml()}
    });
    apply_strict(&seed, &[secret], "gardenlet").await.unwrap();
    let rbac: Vec<Value> = rbac_documents(&docs);
    apply_strict(&seed, &rbac, "gardenlet").await.unwrap();
    let seed_kubeconfig = bed
        .seed()
        .service_account_kubeconfig(namespace, CHART)
        .await
        .unwrap();
    let config = bed.dir().join("chart-legacy-operator-config.yaml");
    std::fs::write(&config, rendered_config(&docs)).unwrap();
    let deployment = one(&docs, "Deployment");
    assert!(
        container_args(deployment)
            .contains(&"--garden-access-from-gardenlet-kubeconfig=true".to_string())
    );

    let controller = Controller::start(
        bed,
        "shoot-flux-legacy",
        deployment,
        &config,
        namespace,
        &seed_kubeconfig,
        None,
    )
    .await;
    let log = controller.log();
    assert!(
        log.contains("using the garden kubeconfig of seed Secret garden/gardenlet-kubeconfig"),
        "{log}"
    );
    assert!(!log.contains("forbidden"), "{log}");
    drop(controller);

    // Without secrets get the start fails, denied reading that Secret.
    let cluster_role = one(&rbac, "ClusterRole");
    let mut without = cluster_role.clone();
    for rule in without["rules"].as_array_mut().unwrap() {
        if rule["resources"] == json!(["secrets"]) {
            rule["verbs"] = json!(["list", "create", "patch", "delete"]);
        }
    }
    apply_strict(&seed, &[without], "test").await.unwrap();
    let (mut process, _) = Controller::spawn(
        bed,
        "shoot-flux-legacy-denied",
        deployment,
        &config,
        namespace,
        &seed_kubeconfig,
        None,
    );
    wait_for("the controller to stop", Duration::from_secs(90), || {
        let stopped = process.ensure_running().is_err();
        async move { Ok(stopped.then_some(())) }
    })
    .await
    .unwrap();
    apply_strict(&seed, std::slice::from_ref(cluster_role), "gardenlet")
        .await
        .unwrap();
    let log = std::fs::read_to_string(process.log_path())
        .unwrap()
        .replace("\\\"", "\"");
    assert!(
        log.contains("garden/gardenlet-kubeconfig")
            && log.contains(
                "cannot get resource \"secrets\" in API group \"\" in the namespace \"garden\""
            ),
        "{log}"
    );
}

/// No container engine runs here, so the Dockerfile is checked for what the chart relies on: a
/// multi-stage build whose final stage is a static base with only the binary, run as the
/// non-root user the chart's securityContext names.
#[test]
fn the_dockerfile_builds_a_static_non_root_image_of_the_binary() {
    let text = std::fs::read_to_string(root().join("Dockerfile")).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("FROM "))
        .map(|(i, _)| i)
        .collect();
    assert!(stages.len() >= 2, "multi-stage");
    let build = lines[stages[0]];
    assert!(build.contains("alpine"), "musl build stage: {build}");
    let last = &lines[*stages.last().unwrap()..];
    assert!(last[0].contains("distroless/static"), "{}", last[0]);
    assert!(
        last.iter()
            .filter(|l| l.starts_with("COPY "))
            .all(|l| l.contains("gardener-extension-shoot-flux")),
        "only the binary in the final stage"
    );
    assert!(
        !last.iter().any(|l| l.starts_with("RUN ")),
        "nothing runs in the final stage"
    );
    let user = last
        .iter()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER");
    let chart = render("extension-shoot-flux", &[]);
    let pod = &one(&chart, "Deployment")["spec"]["template"]["spec"]["securityContext"];
    assert_eq!(
        user,
        format!("{}:{}", pod["runAsUser"], pod["runAsGroup"]),
        "the image's user is the chart's"
    );
    assert_eq!(
        last.iter().find(|l| l.starts_with("ENTRYPOINT")).copied(),
        Some(r#"ENTRYPOINT ["/gardener-extension-shoot-flux"]"#)
    );
    assert!(text.contains(
        "cargo build --release --locked -p shoot-flux --bin gardener-extension-shoot-flux"
    ));
    let install = std::fs::read_to_string(root().join("docs/operations/install.md")).unwrap();
    assert!(
        install.contains("docker build -t"),
        "the build command is documented"
    );
}
