//! Flux's own CLI (`flux`, built from the flux2 tag the bed tests) as an independent client of a
//! shoot that shoot-flux prepared: `flux check` passes every check it makes (Kubernetes version
//! constraint, the distribution, controller Deployments, CRDs with stored versions), `flux
//! version` and `flux check` name the distribution as for a `flux install`, and `flux get` shows
//! the main GitRepository and Kustomization Ready at the repository's commit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testbed::gardenlet;

use common::*;

/// Runs `flux <args>` against the shoot behind `kubeconfig`; returns (stdout, stderr) and fails
/// the test, with both, when it exits non-zero.
///
/// `flux check` also asks api.github.com for the newest CLI release (only to print a hint, never
/// a failed check). The bed's traffic stays on loopback: the proxy variables point at a closed
/// loopback port, so that request fails at once, while Go never proxies requests to loopback
/// addresses such as the shoot's API server. HOME is the bed's, for the CLI's discovery cache.
async fn flux(home: &Path, kubeconfig: &Path, args: &[&str]) -> (String, String) {
    let binary = testbed::paths::flux_cli().unwrap();
    let closed = format!("http://127.0.0.1:{}", testbed::ports::free_port().unwrap());
    let mut command = Command::new(binary);
    command
        .args(args)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .arg("--timeout=3m")
        .env("HOME", home)
        .env("HTTPS_PROXY", &closed)
        .env("HTTP_PROXY", &closed)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("KUBECONFIG");
    let what = format!("flux {}", args.join(" "));
    // Off the runtime's thread: the bed's node simulator runs on it meanwhile.
    let out = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    println!("$ {what}\n{stdout}{stderr}");
    assert!(
        out.status.success(),
        "{what} exited {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    (stdout, stderr)
}

/// The row of `flux get ... -A` for namespace/name, split into its columns NAMESPACE NAME
/// REVISION SUSPENDED READY and the MESSAGE (which has spaces) as the rest.
fn row(table: &str, namespace: &str, name: &str) -> (String, String, String, String) {
    let mut lines = table.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAMESPACE",
            "NAME",
            "REVISION",
            "SUSPENDED",
            "READY",
            "MESSAGE"
        ],
        "{table}"
    );
    let line = lines
        .find(|l| {
            let mut fields = l.split_whitespace();
            fields.next() == Some(namespace) && fields.next() == Some(name)
        })
        .unwrap_or_else(|| panic!("no row for {namespace}/{name} in\n{table}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    assert!(fields.len() >= 6, "{line}");
    (
        fields[2].to_string(),
        fields[3].to_string(),
        fields[4].to_string(),
        fields[5..].join(" "),
    )
}

#[tokio::test]
async fn flux_cli_checks_and_lists_what_shoot_flux_installed() {
    let _serial = common::SERIAL.lock().await;
    // Missing, this names the installer command that builds it.
    testbed::paths::flux_cli().unwrap();
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = testbed::paths::versions().unwrap();
    let git = bed.git().await.unwrap();
    let commit = marker_repository(git, "cli-fleet");
    let spec = managed_synced_spec(git, "cli", "cli-fleet");
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let _extension = start_extension(bed, &["--healthcheck-sync-period=2s"]).await;
    gardenlet::apply_extension(&bed.seed().client().await.unwrap(), &spec)
        .await
        .unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    start_flux_when_installed(&mut shoot).await;
    // shoot-flux's own view first: synced at the commit.
    for kind in ["FluxSourceReady", "FluxKustomizationReady"] {
        wait_condition(
            bed,
            &ns,
            kind,
            "True at the commit",
            Duration::from_secs(120),
            is("True", &commit),
        )
        .await;
    }

    let home = bed.dir().join(format!("flux-cli-home-{ns}"));
    std::fs::create_dir_all(&home).unwrap();
    let kubeconfig = shoot.api().kubeconfig_path().to_path_buf();
    let flux_version = versions.flux.as_str();
    let distribution = format!("distribution: flux-{flux_version}");

    // flux check: every check passes, and it names what it checked.
    let (_, check) = flux(&home, &kubeconfig, &["check"]).await;
    let kubernetes = versions.kubernetes.trim_start_matches('v');
    for expected in [
        format!("✔ Kubernetes {kubernetes} >="),
        format!("✔ {distribution}"),
        "✔ source-controller: deployment ready".to_string(),
        "✔ kustomize-controller: deployment ready".to_string(),
        format!(
            "► ghcr.io/fluxcd/source-controller:{}",
            versions.source_controller
        ),
        format!(
            "► ghcr.io/fluxcd/kustomize-controller:{}",
            versions.kustomize_controller
        ),
        "✔ gitrepositories.source.toolkit.fluxcd.io/v1".to_string(),
        "✔ kustomizations.kustomize.toolkit.fluxcd.io/v1".to_string(),
        "✔ all checks passed".to_string(),
    ] {
        assert!(check.contains(&expected), "no {expected:?} in\n{check}");
    }
    assert!(!check.contains('✗'), "a failed check in\n{check}");

    // flux version: the CLI's version and the cluster's distribution and controllers.
    let (version, _) = flux(&home, &kubeconfig, &["version"]).await;
    for expected in [
        format!("flux: {flux_version}"),
        distribution.clone(),
        format!("source-controller: {}", versions.source_controller),
        format!("kustomize-controller: {}", versions.kustomize_controller),
    ] {
        assert!(
            version.lines().any(|l| l.trim() == expected),
            "no {expected:?} in\n{version}"
        );
    }

    // The Flux namespace is labelled as `flux install` labels it, too.
    let namespace =
        kube::Api::<k8s_openapi::api::core::v1::Namespace>::all(shoot.client().await.unwrap())
            .get("flux-system")
            .await
            .unwrap();
    let labels = namespace.metadata.labels.unwrap_or_default();
    for (key, value) in [
        ("app.kubernetes.io/part-of", "flux"),
        ("app.kubernetes.io/instance", "flux-system"),
        ("app.kubernetes.io/version", flux_version),
    ] {
        assert_eq!(
            labels.get(key).map(String::as_str),
            Some(value),
            "{labels:?}"
        );
    }

    // flux get: the main source and Kustomization are Ready at the repository's commit.
    let short = &commit[..8];
    let (sources, _) = flux(&home, &kubeconfig, &["get", "sources", "git", "-A"]).await;
    let (revision, suspended, ready, message) = row(&sources, "flux-system", "flux-system");
    assert_eq!(revision, format!("main@sha1:{short}"), "{sources}");
    assert_eq!((suspended.as_str(), ready.as_str()), ("False", "True"));
    assert!(message.contains(short), "{sources}");
    let (kustomizations, _) = flux(&home, &kubeconfig, &["get", "kustomizations", "-A"]).await;
    let (revision, suspended, ready, message) = row(&kustomizations, "flux-system", "flux-system");
    assert_eq!(revision, format!("main@sha1:{short}"), "{kustomizations}");
    assert_eq!((suspended.as_str(), ready.as_str()), ("False", "True"));
    assert!(message.starts_with("Applied revision"), "{kustomizations}");
}
