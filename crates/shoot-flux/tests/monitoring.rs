//! The chart's monitoring objects with the real tools: the alert and recording rules rendered by
//! helm from the chart (so chart and tests cannot drift) are checked by `promtool check rules`
//! and unit-tested by `promtool test rules` (Debian's prometheus package, installed by
//! `hack/testbed/install debian`) with a firing and a quiet case for every alert; every metric
//! the rules and the dashboard name is one the extension started on the bed exports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use testbed::kubeutil::parse_documents;

use common::*;

const CHART: &str = "gardener-extension-shoot-flux";

fn chart_dir() -> PathBuf {
    testbed::paths::repo_root().join("charts").join(CHART)
}

fn helm(args: &[&str]) -> String {
    let home =
        std::env::temp_dir().join(format!("shoot-flux-monitoring-test-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(testbed::paths::helm().unwrap());
    command
        .args(args)
        .env("HELM_CACHE_HOME", &home)
        .env("HELM_CONFIG_HOME", &home);
    testbed::process::run(&mut command).unwrap()
}

/// The chart's objects with monitoring on, the seed name set and `extra` helm arguments.
fn render(extra: &[&str]) -> Vec<Value> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        "shoot-flux",
        chart.to_str().unwrap(),
        "--namespace",
        "extension-shoot-flux",
        "--set",
        "monitoring.enabled=true",
        "--set",
        "gardener.seed.name=test-seed",
    ];
    args.extend_from_slice(extra);
    parse_documents(&helm(&args)).unwrap()
}

/// The rule groups of the chart's PrometheusRule.
fn rule_groups(docs: &[Value]) -> Value {
    let rules: Vec<&Value> = docs
        .iter()
        .filter(|d| d["kind"] == "PrometheusRule")
        .collect();
    assert_eq!(rules.len(), 1, "one PrometheusRule");
    rules[0]["spec"]["groups"].clone()
}

fn rules(groups: &Value) -> Vec<&Value> {
    groups
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .collect()
}

fn alerts(groups: &Value) -> BTreeMap<String, &Value> {
    rules(groups)
        .into_iter()
        .filter_map(|r| r["alert"].as_str().map(|name| (name.to_string(), r)))
        .collect()
}

fn promtool(args: &[&str], dir: &Path) -> anyhow::Result<String> {
    let mut command = Command::new(testbed::paths::promtool()?);
    command.args(args).current_dir(dir);
    testbed::process::run(&mut command)
}

/// The unit cases with each expected alert's runbook added from the rendered rule.
fn unit_cases(groups: &Value) -> Value {
    let text = std::fs::read_to_string(
        testbed::paths::repo_root().join("crates/shoot-flux/tests/monitoring/rules.test.yaml"),
    )
    .unwrap();
    let mut cases: Value = serde_saphyr::from_str(&text).unwrap();
    let alerts = alerts(groups);
    for case in cases["tests"].as_array_mut().unwrap() {
        for test in case["alert_rule_test"]
            .as_array_mut()
            .map(Vec::as_mut_slice)
            .unwrap_or_default()
        {
            let name = test["alertname"].as_str().unwrap().to_string();
            let runbook = alerts[&name]["annotations"]["runbook"].clone();
            for expected in test["exp_alerts"].as_array_mut().unwrap() {
                expected["exp_annotations"]["runbook"] = runbook.clone();
            }
        }
    }
    cases
}

/// Writes the rules and the unit cases into a fresh directory (JSON is YAML to promtool).
fn write_rule_files(groups: &Value, cases: &Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("rules.yaml"),
        serde_json::to_string_pretty(&json!({ "groups": groups })).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("rules.test.yaml"),
        serde_json::to_string_pretty(cases).unwrap(),
    )
    .unwrap();
    dir
}

#[test]
fn promtool_checks_the_charts_rules_and_every_alert_fires_and_stays_quiet_in_its_cases() {
    let groups = rule_groups(&render(&[]));
    let alerts = alerts(&groups);
    let expected: BTreeSet<&str> = [
        "ShootFluxSyncFailing",
        "ShootFluxReconcileErrors",
        "ShootFluxDeployKeyNotAuthorized",
        "ShootFluxNotReconciling",
        "ShootFluxLeaderMissing",
        "ShootFluxSyncPollBehind",
    ]
    .into_iter()
    .collect();
    assert_eq!(
        alerts.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected
    );
    for (name, rule) in &alerts {
        for annotation in ["summary", "description", "runbook"] {
            let text = rule["annotations"][annotation].as_str().unwrap_or_default();
            assert!(text.len() > 20, "{name} has no {annotation}: {rule}");
        }
        assert!(
            ["warning", "critical"].contains(&rule["labels"]["severity"].as_str().unwrap()),
            "{name}: {rule}"
        );
        assert_eq!(rule["labels"]["seed"], "test-seed", "{name}");
        assert!(rule["for"].as_str().is_some(), "{name} has a for");
    }

    let cases = unit_cases(&groups);
    // Every alert has a case in which it fires and one in which it does not.
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for case in cases["tests"].as_array().unwrap() {
        for test in case["alert_rule_test"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let name = test["alertname"].as_str().unwrap().to_string();
            if test["exp_alerts"].as_array().unwrap().is_empty() {
                quiet.insert(name);
            } else {
                firing.insert(name);
            }
        }
    }
    let names: BTreeSet<String> = alerts.keys().cloned().collect();
    assert_eq!(firing, names, "alerts with a firing case");
    assert_eq!(quiet, names, "alerts with a quiet case");

    let dir = write_rule_files(&groups, &cases);
    let checked = promtool(&["check", "rules", "rules.yaml"], dir.path()).unwrap();
    assert!(checked.contains("SUCCESS"), "{checked}");
    let tested = promtool(&["test", "rules", "rules.test.yaml"], dir.path()).unwrap();
    assert!(tested.contains("SUCCESS"), "{tested}");

    // The cases bite: a threshold value changed in the chart makes them fail.
    let changed = rule_groups(&render(&["--set", "monitoring.alerts.syncFailingFor=45m"]));
    let dir = write_rule_files(&changed, &unit_cases(&changed));
    let err = promtool(&["test", "rules", "rules.test.yaml"], dir.path()).unwrap_err();
    assert!(err.to_string().contains("ShootFluxSyncFailing"), "{err}");
}

/// Metric names in a PromQL expression: identifiers of shoot-flux's series and recording rules
/// and of cAdvisor's container series, outside quoted label values.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut unquoted = String::new();
    let mut quoted = false;
    for c in expr.chars() {
        if c == '"' {
            quoted = !quoted;
        } else if !quoted {
            unquoted.push(c);
        }
    }
    unquoted
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| t.starts_with("shoot_flux") || t.starts_with("container_"))
        .map(String::from)
        .collect()
}

/// The series names an OpenMetrics exposition declares (every registered metric has its TYPE
/// line, also before its first sample), with the suffixes of their samples.
fn exported_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (Some(name), Some(kind)) = (fields.next(), fields.next()) else {
            continue;
        };
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_string());
            }
        }
    }
    names
}

fn dashboard() -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(chart_dir().join("dashboards/shoot-flux.json")).unwrap(),
    )
    .unwrap()
}

fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr") {
                    out.push(expr.clone());
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    walk(dashboard, &mut out);
    out
}

/// The extension's metrics registry with a series in every family.
fn every_series() -> shoot_flux::metrics::Metrics {
    use shoot_flux_core::gardener::operation::OperationType;
    let metrics = shoot_flux::metrics::Metrics::default();
    metrics.observe(
        OperationType::Reconcile,
        std::time::Duration::from_millis(5),
        Some("garden"),
    );
    metrics.deploy_key_created();
    metrics.deploy_key_create_conflict();
    metrics.shoot_sync("shoot--p--s", true, Some(1.0));
    metrics.shoots_in_state("ready", 1);
    metrics.shoot_connections(1);
    metrics.health_round_done();
    metrics.flux_latest_changed("v2.6.4", "v2.9.5");
    let ops = metrics.ops();
    ops.leading();
    ops.extensions_waiting(1);
    ops.poll_started(std::time::Duration::from_secs(30));
    ops.poll_round_done(std::time::Duration::from_secs(1));
    ops.keys_refused([("p", "SHA256:k")]);
    ops.request_counter("seed").connection_counter().inc();
    metrics
}

/// cAdvisor's series of the extension's container, which the seed Prometheus scrapes from the
/// kubelets of the seed (not from shoot-flux).
const CADVISOR: [&str; 2] = [
    "container_memory_working_set_bytes",
    "container_cpu_usage_seconds_total",
];

#[tokio::test]
async fn every_metric_of_the_rules_and_the_dashboard_is_exported_by_the_extension() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let extension = start_extension(bed, &[]).await;
    let served = exported_names(&extension.metrics().await);
    // A labelled family shows in the exposition only once it has a series, and an idle
    // extension has no reconcile, error or shoot yet: the same registry the binary serves, with
    // every recording method called once, shows all of them.
    let exercised = exported_names(&every_series().encode());
    let not_in_registry: Vec<&String> = served
        .iter()
        .filter(|n| !exercised.contains(*n) && n.as_str() != "shoot_flux_api_requests_total")
        .collect();
    assert!(not_in_registry.is_empty(), "{not_in_registry:?}");
    let exported: BTreeSet<String> = served.union(&exercised).cloned().collect();
    assert!(served.contains("shoot_flux_leader"), "{served:?}");

    let groups = rule_groups(&render(&[]));
    let recorded: BTreeSet<String> = rules(&groups)
        .iter()
        .filter_map(|r| r["record"].as_str().map(String::from))
        .collect();
    let mut used: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for rule in rules(&groups) {
        let label = rule["alert"]
            .as_str()
            .or(rule["record"].as_str())
            .unwrap()
            .to_string();
        for name in metric_names(rule["expr"].as_str().unwrap()) {
            used.entry(name)
                .or_default()
                .insert(format!("rule {label}"));
        }
    }
    let dashboard = dashboard();
    let exprs = dashboard_exprs(&dashboard);
    assert!(exprs.len() >= 20, "{exprs:?}");
    for expr in &exprs {
        let names = metric_names(expr);
        assert!(
            !names.is_empty(),
            "a dashboard query without a metric: {expr}"
        );
        for name in names {
            used.entry(name)
                .or_default()
                .insert(format!("dashboard: {expr}"));
        }
    }
    let missing: Vec<String> = used
        .iter()
        .filter(|(name, _)| {
            !exported.contains(*name)
                && !recorded.contains(*name)
                && !CADVISOR.contains(&name.as_str())
        })
        .map(|(name, users)| format!("{name} (used by {users:?})"))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics the extension does not export: {missing:#?}\nexported: {exported:#?}"
    );
    // The seed's and the garden's clients count their requests.
    let text = extension.metrics().await;
    for cluster in ["seed", "garden"] {
        let label = format!("cluster=\"{cluster}\"");
        assert!(
            text.lines()
                .any(|l| l.starts_with("shoot_flux_api_requests_total")
                    && l.contains(&label)
                    && l.contains("code=\"200\"")
                    && l.contains("verb=\"")
                    && l.contains("resource=\"")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with(&format!("shoot_flux_api_connections_total{{{label}}}"))),
            "{text}"
        );
    }
}

#[test]
fn metric_names_are_read_from_queries_without_label_values() {
    assert_eq!(
        metric_names(
            r#"sum by (state) (shoot_flux_shoots{state="shoot_flux_x"}) / shoot_flux:a:b"#
        ),
        ["shoot_flux:a:b", "shoot_flux_shoots"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    let exported = exported_names(
        "# TYPE shoot_flux_reconciles counter\n# TYPE shoot_flux_reconcile_duration_seconds histogram\n# TYPE shoot_flux_leader gauge\n",
    );
    assert!(exported.contains("shoot_flux_reconciles_total"));
    assert!(exported.contains("shoot_flux_reconcile_duration_seconds_bucket"));
    assert!(exported.contains("shoot_flux_leader"));
}

/// Real Prometheus (Debian's build) scraping the extension on the bed, on 127.0.0.1 only, with
/// the chart's rules; it is stopped when dropped.
struct Prometheus {
    _process: testbed::process::Process,
    port: u16,
}

impl Prometheus {
    async fn start(bed: &testbed::Bed, target_port: u16, groups: &Value) -> Self {
        let dir = bed.dir().join("prometheus");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("rules.yaml"),
            serde_json::to_string_pretty(&json!({ "groups": groups })).unwrap(),
        )
        .unwrap();
        let config = json!({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [dir.join("rules.yaml")],
            "scrape_configs": [{
                "job_name": "shoot-flux",
                // The target labels prometheus-operator's PodMonitor gives a pod: the series'
                // own namespace label becomes exported_namespace, as in a seed.
                "static_configs": [{"targets": [format!("127.0.0.1:{target_port}")],
                    "labels": {"pod": "shoot-flux-0", "namespace": "extension-shoot-flux"}}]
            }]
        });
        std::fs::write(
            dir.join("prometheus.yml"),
            serde_json::to_string_pretty(&config).unwrap(),
        )
        .unwrap();
        let port = testbed::ports::free_port().unwrap();
        let mut command = Command::new(testbed::paths::prometheus().unwrap());
        command
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"));
        let mut process = testbed::process::Process::spawn(
            "prometheus",
            command,
            &bed.dir().join("prometheus.log"),
        )
        .unwrap();
        testbed::kubeutil::wait_for(
            "Prometheus to be ready",
            std::time::Duration::from_secs(60),
            || {
                let running = process.ensure_running();
                async move {
                    running?;
                    let r = testbed::plainhttp::get(&format!("http://127.0.0.1:{port}/-/ready"))
                        .await?;
                    Ok((r.status == 200).then_some(()))
                }
            },
        )
        .await
        .unwrap();
        Self {
            _process: process,
            port,
        }
    }

    /// The firing alerts (name and labels).
    async fn firing(&self) -> anyhow::Result<Vec<Value>> {
        let r = testbed::plainhttp::get(&format!("http://127.0.0.1:{}/api/v1/alerts", self.port))
            .await?;
        anyhow::ensure!(r.status == 200, "HTTP {}", r.status);
        let body: Value = serde_json::from_slice(&r.body)?;
        Ok(body["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["state"] == "firing")
            .collect())
    }

    /// Waits until an alert named `name` with `labels` fires; returns it.
    async fn wait_firing(&self, name: &str, labels: &[(&str, &str)]) -> Value {
        let matches = |a: &Value| {
            a["labels"]["alertname"] == name && labels.iter().all(|(k, v)| a["labels"][*k] == *v)
        };
        testbed::kubeutil::wait_for(
            &format!("{name} {labels:?} to fire"),
            std::time::Duration::from_secs(300),
            || async { Ok(self.firing().await?.into_iter().find(|a| matches(a))) },
        )
        .await
        .unwrap()
    }

    /// Waits until no alert named `name` with `labels` is active.
    async fn wait_resolved(&self, name: &str, labels: &[(&str, &str)]) {
        let matches = |a: &Value| {
            a["labels"]["alertname"] == name && labels.iter().all(|(k, v)| a["labels"][*k] == *v)
        };
        testbed::kubeutil::wait_for(
            &format!("{name} {labels:?} to resolve"),
            std::time::Duration::from_secs(300),
            || async {
                let r = testbed::plainhttp::get(&format!(
                    "http://127.0.0.1:{}/api/v1/alerts",
                    self.port
                ))
                .await?;
                let body: Value = serde_json::from_slice(&r.body)?;
                let active = body["data"]["alerts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .any(|a| matches(&a));
                Ok((!active).then_some(()))
            },
        )
        .await
        .unwrap();
    }
}

/// The issue's end-to-end case: a real Prometheus scrapes the extension on the bed with the
/// chart's rules (short `for:` values); a bad commit breaks one shoot's sync and another
/// project's deploy key is not authorized on its repository; both alerts fire with the shoot's
/// project and the key's fingerprint, and resolve once the commit is fixed and the key added.
#[tokio::test]
async fn a_real_prometheus_fires_and_resolves_the_sync_and_deploy_key_alerts() {
    use k8s_openapi::api::core::v1::Secret;
    use std::time::Duration;
    use testbed::gardenlet;

    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    let versions = testbed::paths::versions().unwrap();
    git.create_repository(
        "alerts-fleet",
        &[
            ("marker.yaml", MARKER),
            ("kustomization.yaml", &kustomization(&["marker.yaml"])),
        ],
    )
    .unwrap();
    git.create_repository(
        "alerts-private",
        &[
            ("marker.yaml", MARKER),
            ("kustomization.yaml", &kustomization(&["marker.yaml"])),
        ],
    )
    .unwrap();
    // Shoot "synced" of project alerts syncs the public repository every 10s.
    let mut synced = spec("alerts", "synced");
    synced.provider_config = Some(json!({
        "apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig",
        "flux": {"version": versions.flux},
        "source": {"template": {"kind": "GitRepository",
            "spec": {"url": git.http_url("alerts-fleet"), "ref": {"branch": "main"}, "interval": "10s"}}},
        "kustomization": {"template": {"spec": {"path": "./", "prune": true, "interval": "10s"}}}
    }));
    // Project alertkey's shoots sync its private repository with the project's deploy key.
    set_project_config(
        bed,
        "alertkey",
        &[
            ("repositoryUrl", &git.ssh_url("alerts-private")),
            ("repositoryType", "private"),
        ],
    )
    .await;
    let private = spec("alertkey", "app");
    let (synced_ns, private_ns) = (synced.technical_id(), private.technical_id());
    let mut shoots = Vec::new();
    for spec in [&synced, &private] {
        let mut shoot = bed.new_shoot(spec.clone()).await.unwrap();
        shoot.create_gardenlet_objects().await.unwrap();
        shoot.start_grm().await.unwrap();
        shoot.start_node_simulator().unwrap();
        shoots.push(shoot);
    }
    let extension = start_extension(bed, &["--healthcheck-sync-period=2s"]).await;
    let seed = bed.seed().client().await.unwrap();
    for spec in [&synced, &private] {
        gardenlet::apply_extension(&seed, spec).await.unwrap();
    }
    for ns in [&synced_ns, &private_ns] {
        wait_ready(bed, ns, Duration::from_secs(120)).await;
    }
    for shoot in &mut shoots {
        start_flux_when_installed(shoot).await;
    }
    let minutes = Duration::from_secs(300);
    wait_condition(
        bed,
        &synced_ns,
        "FluxKustomizationReady",
        "True",
        minutes,
        |c| c["status"] == "True",
    )
    .await;

    let groups = rule_groups(&render(&[
        "--set",
        "monitoring.alerts.syncFailingFor=5s",
        "--set",
        "monitoring.alerts.deployKeyNotAuthorizedFor=5s",
    ]));
    let prometheus = Prometheus::start(bed, extension.metrics_port, &groups).await;

    // The key is not authorized: the alert names the project and the key's fingerprint.
    let key_secret: kube::Api<Secret> =
        kube::Api::namespaced(bed.garden().client().await.unwrap(), "garden-alertkey");
    let key = key_secret.get("flux-source").await.unwrap();
    let public = String::from_utf8(key.data.unwrap()["identity.pub"].0.clone()).unwrap();
    let fingerprint = shoot_flux_core::deploykey::fingerprint(public.trim()).unwrap();
    let alert = prometheus
        .wait_firing(
            "ShootFluxDeployKeyNotAuthorized",
            &[("project", "alertkey"), ("fingerprint", &fingerprint)],
        )
        .await;
    println!("firing: {}", alert["annotations"]["description"]);
    assert!(
        alert["annotations"]["runbook"]
            .as_str()
            .unwrap()
            .contains("shoot-flux deploy-key"),
        "{alert}"
    );
    // The synced shoot is fine meanwhile.
    let firing = prometheus.firing().await.unwrap();
    assert!(
        !firing
            .iter()
            .any(|a| a["labels"]["alertname"] == "ShootFluxSyncFailing"
                && a["labels"]["namespace"] == synced_ns.as_str()),
        "{firing:?}"
    );

    // A bad commit breaks the synced shoot: its sync alert fires with the project.
    git.commit(
        "alerts-fleet",
        "main",
        &[(
            "kustomization.yaml",
            Some(&kustomization(&["marker.yaml", "missing.yaml"])),
        )],
        "break the build",
    )
    .unwrap();
    let alert = prometheus
        .wait_firing(
            "ShootFluxSyncFailing",
            &[("namespace", &synced_ns), ("project", "alerts")],
        )
        .await;
    println!("firing: {}", alert["annotations"]["summary"]);

    // Both are fixed: the commit, and the key added to the repository.
    git.commit(
        "alerts-fleet",
        "main",
        &[("kustomization.yaml", Some(&kustomization(&["marker.yaml"])))],
        "fix the build",
    )
    .unwrap();
    git.authorize_key(public.trim()).unwrap();
    prometheus
        .wait_resolved("ShootFluxSyncFailing", &[("namespace", &synced_ns)])
        .await;
    prometheus
        .wait_resolved(
            "ShootFluxDeployKeyNotAuthorized",
            &[("project", "alertkey")],
        )
        .await;
    prometheus
        .wait_resolved("ShootFluxSyncFailing", &[("namespace", &private_ns)])
        .await;
    // Nothing else fired: a leader, no waiting Extensions, a poll on time, no errors.
    let firing = prometheus.firing().await.unwrap();
    assert!(firing.is_empty(), "{firing:#?}");
}

/// The value of an unlabelled series in an exposition (None: absent).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

/// `shoot_flux_leader` is 1 on the replica that holds the Lease and 0 on a standby, whose poll
/// and waiting-Extension series stay 0 (only the leader reads); when the leader goes, the
/// standby takes over and says so. This is what `ShootFluxLeaderMissing` reads.
#[tokio::test]
async fn the_leader_series_follows_the_lease() {
    use std::time::Duration;
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let namespace = "shoot-flux-monitoring-leader";
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(bed.seed().client().await.unwrap());
    namespaces
        .patch(
            namespace,
            &kube::api::PatchParams::apply("test").force(),
            &kube::api::Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": namespace}})),
        )
        .await
        .unwrap();
    let args = [
        "--leader-election=true",
        "--leader-election-namespace=shoot-flux-monitoring-leader",
        "--healthcheck-sync-period=1s",
    ];
    let first = start_extension_as(
        bed,
        "replica-a",
        &args,
        Some(bed.garden().kubeconfig_path()),
    )
    .await;
    testbed::kubeutil::wait_for("replica-a to lead", Duration::from_secs(60), || async {
        let text = first.metrics().await;
        Ok((sample(&text, "shoot_flux_leader") == Some(1.0)
            && sample(&text, "shoot_flux_extensions_waiting").is_some()
            && sample(&text, "shoot_flux_sync_poll_period_seconds") == Some(1.0))
        .then_some(()))
    })
    .await
    .unwrap();
    let mut second = start_extension_as(
        bed,
        "replica-b",
        &args,
        Some(bed.garden().kubeconfig_path()),
    )
    .await;
    let standby = second.metrics().await;
    assert_eq!(
        sample(&standby, "shoot_flux_leader"),
        Some(0.0),
        "{standby}"
    );
    // What a standby has not measured stays 0 (the poll alert leaves period 0 out).
    assert_eq!(
        sample(&standby, "shoot_flux_sync_poll_period_seconds"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &standby,
            "shoot_flux_sync_poll_last_round_timestamp_seconds"
        ),
        Some(0.0)
    );
    assert_eq!(sample(&standby, "shoot_flux_extensions_waiting"), Some(0.0));

    drop(first);
    let port = second.metrics_port;
    testbed::kubeutil::wait_for("replica-b to take over", Duration::from_secs(120), || {
        let running = second.process.ensure_running();
        async move {
            running?;
            let r = testbed::plainhttp::get(&format!("http://127.0.0.1:{port}/metrics")).await?;
            let text = String::from_utf8(r.body)?;
            Ok((sample(&text, "shoot_flux_leader") == Some(1.0)).then_some(()))
        }
    })
    .await
    .unwrap();
}

/// The dashboard's shape as Plutono loads it: a uid and title, the data source variable every
/// query panel uses, unique panel ids, every panel placed on the 24-column grid without
/// overlapping another, and the rows the operators' issue asks for.
#[test]
fn the_dashboard_is_well_formed_for_plutono() {
    let dashboard = dashboard();
    assert_eq!(dashboard["uid"], "extension-shoot-flux");
    assert!(dashboard["title"].as_str().unwrap().contains("shoot-flux"));
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    assert!(variables.iter().any(|v| v["name"] == "datasource"
        && v["type"] == "datasource"
        && v["query"] == "prometheus"));
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut cells: BTreeSet<(i64, i64)> = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_i64().unwrap()),
            "duplicate id: {panel}"
        );
        let grid = &panel["gridPos"];
        let (x, y, w, h) = (
            grid["x"].as_i64().unwrap(),
            grid["y"].as_i64().unwrap(),
            grid["w"].as_i64().unwrap(),
            grid["h"].as_i64().unwrap(),
        );
        assert!(x >= 0 && w > 0 && x + w <= 24 && h > 0, "{panel}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "panels overlap at {cx},{cy}: {panel}"
                );
            }
        }
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"], "${datasource}", "{panel}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{panel}");
        let refs: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "{panel}");
    }
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    for wanted in [
        "Sync state",
        "Reconciles",
        "Deploy keys",
        "Requests",
        "Resources",
    ] {
        assert!(
            rows.iter().any(|r| r.contains(wanted)),
            "no row {wanted}: {rows:?}"
        );
    }
}
