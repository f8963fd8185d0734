//! The admission charts (charts/gardener-extension-admission-shoot-flux) with the real helm:
//! lint, what the parent chart renders for a garden without gardener-operator (Service mode) and
//! what the sub-charts render with gardener-operator's values (URL mode, priority class), the
//! rendered objects accepted by a real API server (dry run, which also compiles the
//! matchConditions), and the Deployment's arguments understood by the binary's own parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;

use clap::Parser;
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};
use shoot_flux::cli::{Args, Command as Subcommand};
use testbed::kubeutil::{dynamic_api, parse_documents};

fn chart() -> PathBuf {
    testbed::paths::repo_root().join("charts/gardener-extension-admission-shoot-flux")
}

const CERTIFICATE_VALUES: [&str; 3] = [
    "--set=global.webhook.caBundle=CA",
    "--set=global.webhook.tls.crt=CRT",
    "--set=global.webhook.tls.key=KEY",
];

fn helm(args: &[&str]) -> String {
    let home =
        std::env::temp_dir().join(format!("shoot-flux-admission-chart-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let mut command = Command::new(testbed::paths::helm().unwrap());
    command
        .args(args)
        .env("HELM_CACHE_HOME", &home)
        .env("HELM_CONFIG_HOME", &home);
    testbed::process::run(&mut command).unwrap()
}

fn render(chart: &std::path::Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["template", "shoot-flux-admission", chart.to_str().unwrap()];
    args.extend(["--namespace", "garden"]);
    args.extend(extra);
    parse_documents(&helm(&args)).unwrap()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} in {docs:#?}");
    found[0]
}

#[tokio::test]
async fn the_admission_charts_render_what_gardener_expects_and_the_api_accepts_it() {
    let dir = chart();
    let mut lint = vec!["lint", dir.to_str().unwrap()];
    lint.extend(CERTIFICATE_VALUES);
    helm(&lint);
    // The certificate is required.
    let mut args = vec!["template", "x", dir.to_str().unwrap()];
    args.push("--set=global.webhook.caBundle=CA");
    let mut command = Command::new(testbed::paths::helm().unwrap());
    let refused = command.args(&args).output().unwrap();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("global.webhook.tls.crt"),
        "{refused:?}"
    );

    // A garden without gardener-operator: both parts, the webhook called through the Service.
    let docs = render(&dir, &CERTIFICATE_VALUES);
    let deployment = one(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    let service = one(&docs, "Service");
    assert_eq!(
        service["metadata"]["annotations"]["networking.resources.gardener.cloud/from-all-webhook-targets-allowed-ports"],
        r#"[{"protocol":"TCP","port":10250}]"#
    );
    assert_eq!(service["spec"]["ports"][0]["targetPort"], 10250);
    let configuration = one(&docs, "ValidatingWebhookConfiguration");
    let webhooks = configuration["webhooks"].as_array().unwrap();
    assert_eq!(webhooks.len(), 2);
    for webhook in webhooks {
        assert_eq!(webhook["failurePolicy"], "Fail");
        assert_eq!(
            webhook["clientConfig"]["service"],
            json!({"name": "gardener-extension-admission-shoot-flux", "namespace": "garden", "path": "/validate", "port": 443})
        );
        assert_eq!(webhook["clientConfig"]["caBundle"], "Q0E=");
    }
    assert_eq!(
        webhooks[0]["objectSelector"]["matchLabels"],
        json!({"extensions.extensions.gardener.cloud/shoot-flux": "true"})
    );
    assert_eq!(webhooks[0]["rules"][0]["resources"], json!(["shoots"]));
    assert_eq!(
        webhooks[1]["matchConditions"][0]["expression"],
        "object.metadata.name == 'flux-config'"
    );

    // The container's arguments are what the binary parses as the admission command.
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mut argv = vec!["gardener-extension-shoot-flux".to_string()];
    argv.extend(
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    );
    let parsed = Args::try_parse_from(&argv).unwrap();
    match parsed.command {
        Some(Subcommand::Admission {
            webhook_bind_address,
            tls_cert_file,
            tls_private_key_file,
        }) => {
            assert_eq!(webhook_bind_address.port(), 10250);
            assert_eq!(tls_cert_file, PathBuf::from("/tls/tls.crt"));
            assert_eq!(tls_private_key_file, PathBuf::from("/tls/tls.key"));
        }
        other => panic!("{argv:?} parsed as {other:?}"),
    }
    assert_eq!(parsed.health_bind_address.port(), 8081);

    // gardener-operator's values: the application chart in the virtual garden calls the
    // runtime cluster's Service by URL; the runtime chart gets the garden's priority class.
    let application = render(
        &dir.join("charts/application"),
        &[
            "--set=global.webhook.caBundle=CA",
            "--set=gardener.virtualCluster.serviceAccount.name=extension-admission-shoot-flux",
            "--set=gardener.virtualCluster.serviceAccount.namespace=kube-system",
        ],
    );
    let operator_configuration = one(&application, "ValidatingWebhookConfiguration");
    assert_eq!(
        operator_configuration["webhooks"][0]["clientConfig"]["url"],
        "https://gardener-extension-admission-shoot-flux.garden/validate"
    );
    let runtime = render(
        &dir.join("charts/runtime"),
        &[
            CERTIFICATE_VALUES[1],
            CERTIFICATE_VALUES[2],
            "--set=gardener.runtimeCluster.priorityClassName=gardener-garden-system-400",
            "--set=gardener.virtualCluster.enabled=true",
        ],
    );
    assert_eq!(
        one(&runtime, "Deployment")["spec"]["template"]["spec"]["priorityClassName"],
        "gardener-garden-system-400"
    );

    // A real API server accepts every object (server-side dry run, strict fields).
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let garden = bed.garden().client().await.unwrap();
    let params = PatchParams {
        dry_run: true,
        field_validation: Some(kube::api::ValidationDirective::Strict),
        ..PatchParams::apply("chart-admission").force()
    };
    let namespace =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "garden"}});
    let namespaces = dynamic_api(&garden, "v1", "Namespace", None).await.unwrap();
    namespaces
        .patch(
            "garden",
            &PatchParams::apply("chart-admission"),
            &Patch::Apply(&namespace),
        )
        .await
        .unwrap();
    for doc in docs.iter().chain(&application) {
        let kind = doc["kind"].as_str().unwrap();
        let api_version = doc["apiVersion"].as_str().unwrap();
        let namespace = doc["metadata"]["namespace"].as_str();
        let api = dynamic_api(&garden, api_version, kind, namespace)
            .await
            .unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap();
        api.patch(name, &params, &Patch::Apply(doc))
            .await
            .unwrap_or_else(|e| panic!("{kind} {name}: {e}"));
    }
}
