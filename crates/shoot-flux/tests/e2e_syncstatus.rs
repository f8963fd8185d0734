//! The Flux sync status where the cluster is managed: shoot-flux's own read access to the shoot
//! (token requestor, least-privilege RBAC through a ManagedResource), the Extension conditions
//! `FluxInstalled`, `FluxSourceReady`, `FluxKustomizationReady` and `FluxComponentsOwnership`
//! following commits, failures and a second owner of Flux's components, the per-shoot metrics,
//! the `status` command, the health option, an unreachable shoot among reachable ones, and
//! `FluxKubernetesCompatible` for shoots inside and outside their Flux release's range.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, ListParams};
use serde_json::json;
use testbed::gardenlet;
use testbed::kubeutil::wait_for;

use common::*;

const POLL: &str = "--healthcheck-sync-period=2s";

/// The `status` command's line for `namespace`, run as an operator would with the seed
/// kubeconfig.
fn status_line(bed: &testbed::Bed, namespace: &str) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"))
        .arg("status")
        .env("KUBECONFIG", bed.seed().kubeconfig_path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("SHOOT"), "{stdout}");
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("{namespace} ")))
        .unwrap_or_else(|| panic!("no line for {namespace}: {stdout}"))
        .to_string()
}

/// The value of a per-shoot metric line, e.g. `shoot_flux_sync_ready{namespace="x"} 1`.
/// How long our status may trail the shoot's Kustomization: the poll period (2 s) and a read of
/// the shoot, with room for a loaded machine. Without the poll it would trail by the resync
/// (10 minutes).
const OUR_LAG: Duration = Duration::from_secs(20);

/// Waits until Flux in the shoot has applied `commit` (its Kustomization is Ready at it) and
/// returns when it saw that: how fast Flux is on a loaded machine is not ours to assert, how
/// soon our status follows is.
async fn flux_applied(shoot: &kube::Client, commit: &str) -> Instant {
    let kustomizations = flux_kustomizations(shoot).await;
    wait_for(
        &format!("the shoot's Kustomization Ready at {commit}"),
        Duration::from_secs(120),
        || async {
            let ks = serde_json::to_value(kustomizations.get("flux-system").await?)?;
            Ok(
                is("True", commit)(condition(&ks, "Ready").unwrap_or(&json!(null)))
                    .then(Instant::now),
            )
        },
    )
    .await
    .unwrap()
}

fn metric(text: &str, name: &str, label: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(&format!("{name}{{{label}}} ")))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn sync_status_follows_commits_failures_and_a_second_owner() {
    let _serial = common::SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let versions = testbed::paths::versions().unwrap();
    let git = bed.git().await.unwrap();
    let first_commit = marker_repository(git, "owners-fleet");
    let spec = managed_synced_spec(git, "owners", "owners-fleet");
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let extension = start_extension(bed, &[POLL]).await;
    gardenlet::apply_extension(&bed.seed().client().await.unwrap(), &spec)
        .await
        .unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    start_flux_when_installed(&mut shoot).await;
    let target = shoot.client().await.unwrap();

    // The token requestor serves the access Secret; the ServiceAccount and its read-only RBAC
    // are in the shoot.
    let seed_secrets: Api<Secret> = Api::namespaced(bed.seed().client().await.unwrap(), &ns);
    let token = wait_for(
        "a token in the access Secret",
        Duration::from_secs(60),
        || async {
            Ok(seed_secrets
                .get_opt("shoot-access-extension-shoot-flux")
                .await?
                .and_then(|s| s.data)
                .and_then(|d| {
                    d.get("token")
                        .map(|t| String::from_utf8(t.0.clone()).unwrap())
                }))
        },
    )
    .await
    .unwrap();
    assert!(
        Api::<ServiceAccount>::namespaced(target.clone(), "kube-system")
            .get_opt("extension-shoot-flux")
            .await
            .unwrap()
            .is_some()
    );
    wait_for(
        "the read-only ClusterRole",
        Duration::from_secs(60),
        || async {
            Ok(Api::<ClusterRole>::all(target.clone())
                .get_opt("gardener.cloud:extension-shoot-flux:read")
                .await?)
        },
    )
    .await
    .unwrap();
    // Least privilege: with that token, Secrets of the shoot are not readable.
    let kubeconfig = testbed::apiserver::render_kubeconfig(
        "limited",
        &shoot.api().url(),
        shoot.api().ca_pem(),
        &token,
    );
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&kubeconfig).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let limited = kube::Client::try_from(config).unwrap();
    let denied = Api::<Secret>::namespaced(limited.clone(), "flux-system")
        .list(&ListParams::default())
        .await
        .unwrap_err();
    assert!(denied.to_string().contains("forbidden"), "{denied}");

    // Flux is installed at the wanted version, one owner, synced at the repository's commit.
    let minute = Duration::from_secs(60);
    let installed = wait_condition(
        bed,
        &ns,
        "FluxInstalled",
        "True",
        Duration::from_secs(90),
        is("True", &versions.flux),
    )
    .await;
    println!("FluxInstalled: {}", installed["message"]);
    wait_condition(
        bed,
        &ns,
        "FluxComponentsOwnership",
        "one owner",
        minute,
        is("True", "alone"),
    )
    .await;
    for kind in ["FluxSourceReady", "FluxKustomizationReady"] {
        wait_condition(
            bed,
            &ns,
            kind,
            "True at the first commit",
            Duration::from_secs(90),
            is("True", &first_commit),
        )
        .await;
    }
    wait_for("sync_ready 1", minute, || async {
        let text = extension.metrics().await;
        Ok((metric(
            &text,
            "shoot_flux_sync_ready",
            &format!("namespace=\"{ns}\""),
        ) == Some(1.0)
            && metric(&text, "shoot_flux_shoots", "state=\"ready\"") == Some(1.0)
            && metric(
                &text,
                "shoot_flux_sync_last_success_age_seconds",
                &format!("namespace=\"{ns}\""),
            )
            .is_some())
        .then_some(()))
    })
    .await
    .unwrap();
    let line = status_line(bed, &ns);
    println!("status: {line}");
    assert!(
        line.contains(&first_commit) && line.contains("True") && line.contains(&versions.flux),
        "{line}"
    );

    // A new commit: the new revision within one Flux interval (10s) plus a few seconds.
    let second_commit = git
        .commit(
            "owners-fleet",
            "main",
            &[(
                "marker.yaml",
                Some(&MARKER.replace("owner: fleet", "owner: fleet-v2")),
            )],
            "second revision",
        )
        .unwrap();
    let pushed = Instant::now();
    let applied = flux_applied(&target, &second_commit).await;
    wait_condition(
        bed,
        &ns,
        "FluxKustomizationReady",
        "True at the second commit",
        minute,
        is("True", &second_commit),
    )
    .await;
    let took = applied.elapsed();
    println!(
        "new revision applied by Flux {:.1}s after the push, on the Extension {:.1}s later",
        (applied - pushed).as_secs_f64(),
        took.as_secs_f64()
    );
    assert!(took < OUR_LAG, "took {took:?}");

    // A broken manifest: the Kustomization condition is False with Flux's message.
    git.commit(
        "owners-fleet",
        "main",
        &[(
            "kustomization.yaml",
            Some(&kustomization(&["marker.yaml", "missing.yaml"])),
        )],
        "break the build",
    )
    .unwrap();
    let failing = wait_condition(
        bed,
        &ns,
        "FluxKustomizationReady",
        "False",
        minute,
        is("False", "missing.yaml"),
    )
    .await;
    println!(
        "FluxKustomizationReady while broken: {}",
        failing["message"]
    );
    wait_for("sync_ready 0 and one failing shoot", minute, || async {
        let text = extension.metrics().await;
        Ok((metric(
            &text,
            "shoot_flux_sync_ready",
            &format!("namespace=\"{ns}\""),
        ) == Some(0.0)
            && metric(&text, "shoot_flux_shoots", "state=\"failing\"") == Some(1.0))
        .then_some(()))
    })
    .await
    .unwrap();
    assert!(status_line(bed, &ns).contains("missing.yaml"));

    // The health option off (default): SystemComponentsHealthy does not carry Flux's failure,
    // over several completed health rounds.
    let extensions = extension_api(bed, &ns).await;
    for _ in 0..3 {
        let rounds = metric_sum(
            &extension.metrics().await,
            "shoot_flux_health_check_rounds_total",
        );
        wait_for("one more health round", minute, || async {
            let now = metric_sum(
                &extension.metrics().await,
                "shoot_flux_health_check_rounds_total",
            );
            Ok((now > rounds).then_some(()))
        })
        .await
        .unwrap();
        let ext = serde_json::to_value(extensions.get("shoot-flux").await.unwrap()).unwrap();
        let health = condition(&ext, "SystemComponentsHealthy").cloned().unwrap();
        assert!(
            !health["message"].as_str().unwrap().contains("missing.yaml"),
            "{health}"
        );
    }
    // On: it does, and recovers with the repository.
    drop(extension);
    let extension = start_extension_configured(
        bed,
        "shoot-flux-health",
        &[POLL],
        Some(bed.garden().kubeconfig_path()),
        "syncStatus:\n  failHealthCheck: true\n",
    )
    .await;
    let health = wait_condition(
        bed,
        &ns,
        "SystemComponentsHealthy",
        "False with Flux's message",
        minute,
        is("False", "missing.yaml"),
    )
    .await;
    println!(
        "SystemComponentsHealthy with failHealthCheck: {}",
        health["message"]
    );
    let fixed = git
        .commit(
            "owners-fleet",
            "main",
            &[("kustomization.yaml", Some(&kustomization(&["marker.yaml"])))],
            "fix the build",
        )
        .unwrap();
    wait_condition(
        bed,
        &ns,
        "FluxKustomizationReady",
        "True at the fix",
        minute,
        is("True", &fixed),
    )
    .await;
    wait_condition(
        bed,
        &ns,
        "SystemComponentsHealthy",
        "True again",
        minute,
        |c| c["status"] == "True",
    )
    .await;

    // The repository gets Flux's own components (as `flux bootstrap` writes them): kustomize-
    // controller now writes Flux's Deployments too, and the Extension says so.
    let install = std::fs::read_to_string(
        testbed::paths::flux_release_dir(&versions.flux)
            .unwrap()
            .join("install.yaml"),
    )
    .unwrap();
    git.commit(
        "owners-fleet",
        "main",
        &[
            ("flux-system/gotk-components.yaml", Some(install.as_str())),
            (
                "kustomization.yaml",
                Some(&kustomization(&[
                    "marker.yaml",
                    "flux-system/gotk-components.yaml",
                ])),
            ),
        ],
        "add Flux's components",
    )
    .unwrap();
    let c = wait_condition(
        bed,
        &ns,
        "FluxComponentsOwnership",
        "a second owner",
        Duration::from_secs(120),
        is("False", "is also written by kustomize-controller"),
    )
    .await;
    println!("FluxComponentsOwnership: {}", c["message"]);
    assert_eq!(c["reason"], "RepositoryAlsoAppliesFluxComponents");
    drop(extension);
}

/// Two shoots on two API servers; one server stops: that shoot's conditions turn Unknown with
/// the reason, the other shoot keeps being read, and the first recovers when its server is back.
#[tokio::test]
async fn an_unreachable_shoot_is_unknown_and_does_not_hold_up_the_other() {
    let _serial = common::SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    let mut shoots = Vec::new();
    for project in ["reach-a", "reach-b"] {
        marker_repository(git, project);
        let spec = managed_synced_spec(git, project, project);
        let shoot = shoot_with_grm(bed, spec.clone()).await;
        shoots.push(shoot);
    }
    let _extension = start_extension_configured(
        bed,
        "shoot-flux",
        &[POLL],
        Some(bed.garden().kubeconfig_path()),
        "syncStatus:\n  timeout: 3s\n",
    )
    .await;
    let seed = bed.seed().client().await.unwrap();
    for shoot in &shoots {
        gardenlet::apply_extension(&seed, &shoot.spec)
            .await
            .unwrap();
    }
    for shoot in &mut shoots {
        wait_ready(bed, &shoot.namespace(), Duration::from_secs(60)).await;
        start_flux_when_installed(shoot).await;
    }
    let (a, b) = (shoots[0].namespace(), shoots[1].namespace());
    for ns in [&a, &b] {
        wait_condition(
            bed,
            ns,
            "FluxKustomizationReady",
            "True",
            Duration::from_secs(90),
            |c| c["status"] == "True",
        )
        .await;
    }

    shoots[0].api_mut().stop();
    let down = Instant::now();
    let unknown = wait_condition(
        bed,
        &a,
        "FluxKustomizationReady",
        "Unknown: unreachable",
        Duration::from_secs(90),
        |c| c["status"] == "Unknown" && c["reason"] == "ShootUnreachable",
    )
    .await;
    println!(
        "{a} after its API server stopped ({:.1}s): {}",
        down.elapsed().as_secs_f64(),
        unknown["message"]
    );
    // The other shoot is still read: a new commit shows up as promptly as before.
    let commit = git
        .commit(
            "reach-b",
            "main",
            &[(
                "marker.yaml",
                Some(&MARKER.replace("owner: fleet", "owner: b-v2")),
            )],
            "b moves on",
        )
        .unwrap();
    let pushed = Instant::now();
    let applied = flux_applied(&shoots[1].client().await.unwrap(), &commit).await;
    wait_condition(
        bed,
        &b,
        "FluxKustomizationReady",
        "True at the new commit",
        Duration::from_secs(90),
        is("True", &commit),
    )
    .await;
    println!(
        "{b} showed its new revision {:.1}s after Flux applied it ({:.1}s after the push) while {a} was down",
        applied.elapsed().as_secs_f64(),
        (applied - pushed).as_secs_f64()
    );
    // Promptly, as for a shoot whose neighbour answers: the unreachable one holds up no poll.
    assert!(applied.elapsed() < OUR_LAG);

    let back = Instant::now();
    shoots[0].api_mut().restart().await.unwrap();
    println!(
        "{a}'s API server serves again after {:.1}s",
        back.elapsed().as_secs_f64()
    );
    wait_condition(
        bed,
        &a,
        "FluxKustomizationReady",
        "True again",
        Duration::from_secs(90),
        |c| c["status"] == "True",
    )
    .await;
    println!(
        "{a} recovered {:.1}s after its API server restarted",
        back.elapsed().as_secs_f64()
    );
}

/// The Kubernetes compatibility: on the pinned Flux (v2.9.5, which supports Kubernetes 1.34 to
/// 1.36), a shoot whose Cluster says Kubernetes 1.31.0 gets `FluxKubernetesCompatible=False`
/// naming both versions and the range, and still gets Flux; a shoot at 1.35.2 gets True. The
/// check reads only the Cluster, so neither shoot needs GRM or Flux running.
#[tokio::test]
async fn a_shoot_outside_its_flux_releases_kubernetes_range_is_told_so() {
    let _serial = common::SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let (mut namespaces, mut specs, mut shoots) = (Vec::new(), Vec::new(), Vec::new());
    for (project, kubernetes) in [("k8s-old", "1.31.0"), ("k8s-new", "1.35.2")] {
        let mut spec = spec(project, "app");
        spec.kubernetes_version = kubernetes.into();
        let shoot = bed.new_shoot(spec.clone()).await.unwrap();
        shoot.create_gardenlet_objects().await.unwrap();
        namespaces.push(spec.technical_id());
        specs.push(spec);
        shoots.push(shoot);
    }
    let _extension = start_extension(bed, &[POLL]).await;
    let seed = bed.seed().client().await.unwrap();
    for spec in &specs {
        gardenlet::apply_extension(&seed, spec).await.unwrap();
    }
    let (old, new) = (&namespaces[0], &namespaces[1]);
    let outside = wait_condition(
        bed,
        old,
        "FluxKubernetesCompatible",
        "False",
        Duration::from_secs(90),
        |c| c["status"] == "False",
    )
    .await;
    assert_eq!(outside["reason"], "KubernetesVersionUnsupported");
    let message = outside["message"].as_str().unwrap();
    for fragment in ["Kubernetes 1.31.0", "Flux v2.9.5", "1.34 to 1.36"] {
        assert!(message.contains(fragment), "{message}");
    }
    // Installed anyway.
    assert!(
        mr_api(bed, old)
            .await
            .get_opt("extension-shoot-flux-flux-install")
            .await
            .unwrap()
            .is_some()
    );
    let inside = wait_condition(
        bed,
        new,
        "FluxKubernetesCompatible",
        "True",
        Duration::from_secs(90),
        |c| c["status"] == "True",
    )
    .await;
    assert_eq!(inside["reason"], "KubernetesVersionSupported");
    assert!(
        inside["message"].as_str().unwrap().contains("1.34 to 1.36"),
        "{inside}"
    );
}

/// `status --watch -o json` follows a shoot as it is created and deleted: one JSON document per
/// change, as a script reading it would see them.
#[tokio::test]
async fn status_watch_prints_each_change() {
    let _serial = common::SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let spec = spec("watch", "app");
    let ns = spec.technical_id();
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_shoot_objects(&seed, &spec, None)
        .await
        .unwrap();
    let _extension = start_extension(bed, &[]).await;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"))
        .args(["status", "--watch", "-o", "json"])
        .env("KUBECONFIG", bed.seed().kubeconfig_path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (documents, mut received) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for doc in serde_json::Deserializer::from_reader(stdout).into_iter::<serde_json::Value>() {
            let Ok(doc) = doc else { break };
            if documents.send(doc).is_err() {
                break;
            }
        }
    });
    let line_of = |doc: &serde_json::Value| {
        doc.as_array()
            .and_then(|a| a.iter().find(|s| s["shoot"] == ns.as_str()))
            .cloned()
    };
    let mut next_until = async |what: &str, done: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, received.recv()).await {
                Ok(Some(doc)) if done(&doc) => return doc,
                Ok(Some(_)) => {}
                Ok(None) => panic!("status --watch ended before {what}"),
                Err(_) => panic!("status --watch printed no document with {what} in 120s"),
            }
        }
    };
    // Listed before the shoot exists: no line for it.
    let first = next_until("the first listing", &|_| true).await;
    assert!(line_of(&first).is_none(), "{first}");
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    let succeeded = next_until("the shoot's Create Succeeded", &|doc| {
        line_of(doc).is_some_and(|l| l["operation"] == "Create Succeeded")
    })
    .await;
    let line = line_of(&succeeded).unwrap();
    assert_eq!(
        line["fluxVersion"],
        testbed::paths::versions().unwrap().flux.as_str()
    );
    extension_api(bed, &ns)
        .await
        .delete("shoot-flux", &Default::default())
        .await
        .unwrap();
    next_until("the shoot gone", &|doc| line_of(doc).is_none()).await;
    child.kill().unwrap();
    child.wait().unwrap();
}
