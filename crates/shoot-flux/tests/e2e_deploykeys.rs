//! Private repositories end to end: the project's deploy key is created once in the garden (also
//! when shoots and controller processes race), printed by `deploy-key`, carried into the shoot,
//! authorized on the local sshd as an operator would, rotated by deleting it, and never logged.
//! An operator's own Secret is used as it is, and host keys are checked by Flux.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::Value;
use shoot_flux_core::deploykey::fingerprint;
use testbed::gardenlet;
use testbed::git::SshKeyPair;
use testbed::kubeutil::{dynamic_api, parse_documents, wait_for};
use testbed::sample::podinfo_files;

use common::*;

fn deploy_key_cli(bed: &testbed::Bed, project: &str) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"))
        .args(["deploy-key", "--project", project])
        .env("GARDEN_KUBECONFIG", bed.garden().kubeconfig_path())
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// 48 random characters, long enough that finding them anywhere is no accident.
fn random_text() -> String {
    let mut bytes = [0u8; 36];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `render` of the shoot as an operator would run it: its Cluster and Extension from the seed,
/// the project's flux-config from the garden.
async fn render_cli(bed: &testbed::Bed, namespace: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let seed = bed.seed().client().await.unwrap();
    let cluster = dynamic_api(&seed, "extensions.gardener.cloud/v1alpha1", "Cluster", None)
        .await
        .unwrap()
        .get(namespace)
        .await
        .unwrap();
    let ext = extension_api(bed, namespace)
        .await
        .get("shoot-flux")
        .await
        .unwrap();
    let project = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(
        bed.garden().client().await.unwrap(),
        "garden-priv",
    )
    .get("flux-config")
    .await
    .unwrap();
    let mut args = Vec::new();
    for (flag, name, value) in [
        (
            "--cluster",
            "cluster.json",
            serde_json::to_string(&cluster).unwrap(),
        ),
        (
            "--extension",
            "extension.json",
            serde_json::to_string(&ext).unwrap(),
        ),
        (
            "--project-config",
            "project.json",
            serde_json::to_string(&project).unwrap(),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, value).unwrap();
        args.push(flag.to_string());
        args.push(path.display().to_string());
    }
    let out = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"))
        .arg("render")
        .args(&args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "render failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).to_string() + &stderr
}

fn status_cli(bed: &testbed::Bed) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"))
        .arg("--kubeconfig")
        .arg(bed.seed().kubeconfig_path())
        .arg("status")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

async fn garden_secrets(bed: &testbed::Bed, project: &str) -> Api<Secret> {
    Api::namespaced(
        bed.garden().client().await.unwrap(),
        &format!("garden-{project}"),
    )
}

fn text(secret: &Secret, key: &str) -> String {
    String::from_utf8(secret.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

/// The `flux-source` Secret inside the shoot's config ManagedResource, as the seed holds it.
async fn source_secret_in_mr(bed: &testbed::Bed, namespace: &str) -> Option<Value> {
    let mr = mr_api(bed, namespace)
        .await
        .get_opt("extension-shoot-flux-flux-config")
        .await
        .ok()??;
    let mr = serde_json::to_value(mr).unwrap();
    let name = mr["spec"]["secretRefs"][0]["name"].as_str()?.to_string();
    let secrets: Api<Secret> = Api::namespaced(bed.seed().client().await.unwrap(), namespace);
    let secret = secrets.get_opt(&name).await.ok()??;
    let compressed = &secret.data?["data.yaml.br"].0;
    let yaml = testbed::managedresource::brotli_decompress(compressed).unwrap();
    parse_documents(&String::from_utf8(yaml).unwrap())
        .unwrap()
        .into_iter()
        .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == "flux-source")
}

fn decoded(object: &Value, key: &str) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(object["data"][key].as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// The Ready condition of the shoot's GitRepository: (status, message).
async fn source_ready(shoot: &kube::Client) -> Option<(String, String)> {
    let api = dynamic_api(
        shoot,
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        Some("flux-system"),
    )
    .await
    .ok()?;
    let repo = serde_json::to_value(api.get_opt("main-gitrepo").await.ok()??).unwrap();
    let ready = condition(&repo, "Ready")?;
    Some((
        ready["status"].as_str()?.to_string(),
        ready["message"].as_str().unwrap_or_default().to_string(),
    ))
}

async fn wait_source_failing(shoot: &kube::Client, what: &str) -> String {
    wait_for(what, Duration::from_secs(120), || async {
        match source_ready(shoot).await {
            Some((status, message)) if status == "False" && !message.is_empty() => {
                Ok(Some(message))
            }
            other => anyhow::bail!("GitRepository Ready: {other:?}"),
        }
    })
    .await
    .unwrap()
}

/// The podinfo Deployment's UI message, once Flux has applied it.
async fn podinfo_message(shoot: &kube::Client) -> Option<String> {
    let deployments: Api<Deployment> = Api::namespaced(shoot.clone(), "default");
    let d = deployments.get_opt("podinfo").await.ok()??;
    let env = d.spec?.template.spec?.containers[0].env.clone()?;
    env.into_iter()
        .find(|e| e.name == "PODINFO_UI_MESSAGE")
        .and_then(|e| e.value)
}

async fn wait_podinfo(shoot: &kube::Client, message: &str) {
    wait_for(
        &format!("podinfo with message {message:?} in the shoot"),
        Duration::from_secs(150),
        || async {
            let current = podinfo_message(shoot).await;
            if current.as_deref() == Some(message) {
                Ok(Some(()))
            } else {
                anyhow::bail!("podinfo message {current:?}")
            }
        },
    )
    .await
    .unwrap();
}

/// Pieces of a private key that must never appear anywhere else: the lines of its OpenSSH
/// body, and its base64 form as Secret data carries it (40-character pieces aligned to whole
/// 3-byte groups, past the constant header).
fn private_fragments(identity: &str) -> Vec<String> {
    let mut out: Vec<String> = identity
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 20)
        .map(str::to_string)
        .collect();
    let encoded = base64::engine::general_purpose::STANDARD.encode(identity);
    let mut start = 64;
    while start + 40 <= encoded.len() {
        out.push(encoded[start..start + 40].to_string());
        start += 40;
    }
    assert!(out.len() >= 6, "too few fragments to check");
    out
}

fn assert_no_fragments(place: &str, haystack: &str, fragments: &[String]) {
    for f in fragments {
        assert!(
            !haystack.contains(f.as_str()),
            "{place} contains part of a private key"
        );
    }
}

#[tokio::test]
async fn private_repository_key_authorization_rotation_and_no_leaks_at_trace_level() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    git.create_repository_from("private-fleet", &podinfo_files("private v1"))
        .unwrap();

    // Before any shoot reconciled, there is no key and the CLI says so.
    let (code, _, stderr) = deploy_key_cli(bed, "priv");
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("has no deploy key yet"), "{stderr}");

    set_project_config(
        bed,
        "priv",
        &[
            ("repositoryUrl", &git.ssh_url("private-fleet")),
            ("repositoryType", "private"),
        ],
    )
    .await;
    // Besides the deploy key, the shoot carries an additional Secret from Shoot.spec.resources,
    // whose values must not leak either.
    let extra_token = random_text();
    let extra_password = random_text();
    let mut spec = spec("priv", "app");
    spec.resources = vec![(
        "extra".into(),
        BTreeMap::from([
            ("token".to_string(), extra_token.clone()),
            ("password".to_string(), extra_password.clone()),
        ]),
    )];
    spec.provider_config = Some(serde_json::json!({
        "apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig",
        "additionalSecretResources": [{"name": "extra", "targetName": "extra-creds"}]
    }));
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let extension =
        start_extension(bed, &["--log-level=trace", "--healthcheck-sync-period=2s"]).await;
    gardenlet::apply_extension(&bed.seed().client().await.unwrap(), &spec)
        .await
        .unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    start_flux_when_installed(&mut shoot).await;

    // The key: one Secret in the garden, printed by the CLI, with the sshd's real host key
    // recorded on first use.
    let secrets = garden_secrets(bed, "priv").await;
    let first = secrets.get("flux-source").await.unwrap();
    let first_public = text(&first, "identity.pub").trim().to_string();
    let first_identity = text(&first, "identity");
    assert!(first_identity.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----"));
    assert_eq!(text(&first, "known_hosts"), git.known_hosts());
    let (code, stdout, stderr) = deploy_key_cli(bed, "priv");
    assert_eq!(code, 0, "{stderr}");
    let printed = stdout
        .lines()
        .find(|l| l.starts_with("ssh-ed25519 "))
        .unwrap()
        .to_string();
    assert_eq!(printed, first_public);
    assert!(stdout.contains(&fingerprint(&first_public).unwrap()));
    assert!(stdout.contains(&fingerprint(git.host_public_key()).unwrap()));
    assert!(!stdout.contains("PRIVATE KEY"));

    // The key reaches the shoot as the GitRepository's secret.
    let target = shoot.client().await.unwrap();
    let in_mr = source_secret_in_mr(bed, &ns).await.unwrap();
    assert_eq!(decoded(&in_mr, "identity.pub").trim(), first_public);
    let repo = dynamic_api(
        &target,
        "source.toolkit.fluxcd.io/v1",
        "GitRepository",
        Some("flux-system"),
    )
    .await
    .unwrap();
    let repo = wait_for(
        "the GitRepository in the shoot",
        Duration::from_secs(60),
        || async { Ok(repo.get_opt("main-gitrepo").await?) },
    )
    .await
    .unwrap();
    assert_eq!(repo.data["spec"]["secretRef"]["name"], "flux-source");

    // Not authorized yet: the source is not Ready and nothing is deployed.
    let message = wait_source_failing(&target, "the unauthorized source to fail").await;
    println!("GitRepository before the key is authorized: {message}");
    assert_eq!(podinfo_message(&target).await, None);
    // The Extension says what to do, naming the key by its fingerprint.
    let refused = wait_condition(
        bed,
        &ns,
        "FluxSourceReady",
        "the refused deploy key",
        Duration::from_secs(60),
        |c| c["status"] == "False" && c["reason"] == "AuthenticationFailed",
    )
    .await;
    let advice = refused["message"].as_str().unwrap();
    println!("FluxSourceReady before the key is authorized: {advice}");
    assert!(
        advice.starts_with(&format!(
            "authentication failed: add deploy key {} (project priv)",
            fingerprint(&first_public).unwrap()
        )),
        "{advice}"
    );

    // The operator adds the printed key as a deploy key; the sample app appears.
    git.authorize_key(&printed).unwrap();
    wait_podinfo(&target, "private v1").await;

    // Rotation: the operator deletes the Secret; a new key is created and the shoot gets it.
    secrets
        .delete("flux-source", &DeleteParams::default())
        .await
        .unwrap();
    let second = wait_for("a new deploy key", Duration::from_secs(60), || async {
        match secrets.get_opt("flux-source").await? {
            Some(s) if text(&s, "identity.pub").trim() != first_public => Ok(Some(s)),
            other => anyhow::bail!("still {:?}", other.map(|s| s.metadata.uid)),
        }
    })
    .await
    .unwrap();
    let second_public = text(&second, "identity.pub").trim().to_string();
    let second_identity = text(&second, "identity");
    let shoot_secrets: Api<Secret> = Api::namespaced(target.clone(), "flux-system");
    wait_for(
        "the shoot's flux-source to carry the new key",
        Duration::from_secs(60),
        || async {
            let s = shoot_secrets.get_opt("flux-source").await?;
            let public = s.as_ref().map(|s| text(s, "identity.pub"));
            if public.as_deref().map(str::trim) == Some(second_public.as_str()) {
                Ok(Some(()))
            } else {
                anyhow::bail!("shoot secret has {public:?}")
            }
        },
    )
    .await
    .unwrap();
    // The old key is removed from the Git host, a change is pushed: it does not sync until the
    // new key is authorized, then it does.
    git.revoke_key(&first_public).unwrap();
    git.commit_files("private-fleet", "main", &podinfo_files("private v2"), "v2")
        .unwrap();
    let message = wait_source_failing(&target, "the source to fail with the new key").await;
    println!("GitRepository with the new, unauthorized key: {message}");
    assert_eq!(
        podinfo_message(&target).await.as_deref(),
        Some("private v1")
    );
    let (code, stdout, _) = deploy_key_cli(bed, "priv");
    assert_eq!(code, 0);
    assert!(stdout.contains(&second_public));
    git.authorize_key(&second_public).unwrap();
    wait_podinfo(&target, "private v2").await;

    // The additional Secret went through the run into the shoot.
    let extra_in_shoot = shoot_secrets.get("extra-creds").await.unwrap();
    assert_eq!(text(&extra_in_shoot, "token"), extra_token);

    // No part of either private key, and no value of the additional Secret, in the
    // trace-level log, events, statuses, metrics or the output of `render` and `status`.
    let log = extension.log();
    assert!(
        log.contains("TRACE"),
        "the log was not written at trace level"
    );
    let mut fragments = private_fragments(&first_identity);
    fragments.extend(private_fragments(&second_identity));
    for value in [&extra_token, &extra_password] {
        fragments.push(value.to_string());
        fragments.push(base64::engine::general_purpose::STANDARD.encode(value));
    }
    let render = render_cli(bed, &ns).await;
    assert!(render.contains("kind: GitRepository"), "{render}");
    assert_no_fragments("the render output", &render, &fragments);
    let status = status_cli(bed);
    assert!(status.contains(&ns), "{status}");
    assert_no_fragments("the status output", &status, &fragments);
    let mrs = mr_api(bed, &ns)
        .await
        .list(&ListParams::default())
        .await
        .unwrap();
    let mr_statuses: Vec<&Value> = mrs.items.iter().map(|mr| &mr.data["status"]).collect();
    assert_no_fragments(
        "the ManagedResource statuses",
        &serde_json::to_string(&mr_statuses).unwrap(),
        &fragments,
    );
    assert_no_fragments("the controller log", &log, &fragments);
    let ext = serde_json::to_value(
        extension_api(bed, &ns)
            .await
            .get("shoot-flux")
            .await
            .unwrap(),
    )
    .unwrap();
    assert_no_fragments("the Extension", &ext.to_string(), &fragments);
    let metrics = extension.metrics().await;
    assert_no_fragments("the metrics", &metrics, &fragments);
    assert_eq!(
        metric_sum(&metrics, "shoot_flux_deploy_keys_created_total"),
        2.0
    );
    for client in [
        bed.seed().client().await.unwrap(),
        bed.garden().client().await.unwrap(),
    ] {
        let events = Api::<Event>::all(client)
            .list(&ListParams::default())
            .await
            .unwrap();
        assert_no_fragments(
            "the events",
            &serde_json::to_string(&events.items).unwrap(),
            &fragments,
        );
    }
    assert!(log.contains(&fingerprint(&second_public).unwrap()));
}

#[tokio::test]
async fn an_operator_secret_is_used_as_is_and_host_keys_are_checked() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    git.create_repository_from("byok-fleet", &podinfo_files("bring your own key"))
        .unwrap();
    set_project_config(
        bed,
        "byok",
        &[
            ("repositoryUrl", &git.ssh_url("byok-fleet")),
            ("repositoryType", "private"),
        ],
    )
    .await;
    // The operator's own key, already authorized, with a known_hosts entry whose key is not the
    // server's.
    let own = SshKeyPair::generate("operator key").unwrap();
    git.authorize_key(&own.public_openssh).unwrap();
    let impostor = SshKeyPair::generate("not the git host").unwrap();
    let wrong_known_hosts = format!(
        "[127.0.0.1]:{} {}\n",
        git.ssh_port(),
        impostor
            .public_openssh
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let secrets = garden_secrets(bed, "byok").await;
    let operator_secret: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "flux-source", "namespace": "garden-byok"},
        "stringData": {
            "identity": own.private_openssh,
            "identity.pub": own.public_openssh,
            "known_hosts": wrong_known_hosts,
        }
    }))
    .unwrap();
    let created = secrets
        .create(&PostParams::default(), &operator_secret)
        .await
        .unwrap();

    let spec = spec("byok", "app");
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    let extension = start_extension(bed, &[]).await;
    gardenlet::apply_extension(&bed.seed().client().await.unwrap(), &spec)
        .await
        .unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    start_flux_when_installed(&mut shoot).await;

    // Used as is: unchanged in the garden, the same key and host keys in the shoot.
    let after = secrets.get("flux-source").await.unwrap();
    assert_eq!(
        after.metadata.resource_version,
        created.metadata.resource_version
    );
    assert_eq!(after.data, created.data);
    let in_mr = source_secret_in_mr(bed, &ns).await.unwrap();
    assert_eq!(
        decoded(&in_mr, "identity.pub").trim(),
        own.public_openssh.trim()
    );
    assert_eq!(decoded(&in_mr, "known_hosts"), wrong_known_hosts);
    assert_eq!(
        metric_sum(
            &extension.metrics().await,
            "shoot_flux_deploy_keys_created_total"
        ),
        0.0
    );

    // The key is authorized, but the host key does not match: Flux refuses the host.
    let target = shoot.client().await.unwrap();
    let message = wait_source_failing(&target, "the source to fail on the host key").await;
    println!("GitRepository with a wrong host key: {message}");
    assert!(
        message.to_lowercase().contains("key mismatch") || message.contains("host key"),
        "{message}"
    );
    assert_eq!(podinfo_message(&target).await, None);

    // The operator corrects known_hosts; the change reaches the shoot and the app syncs.
    let mut fixed = after.clone();
    fixed.data.as_mut().unwrap().insert(
        "known_hosts".into(),
        k8s_openapi::ByteString(git.known_hosts().into_bytes()),
    );
    secrets
        .replace("flux-source", &PostParams::default(), &fixed)
        .await
        .unwrap();
    wait_podinfo(&target, "bring your own key").await;
}

#[tokio::test]
async fn racing_shoots_and_processes_create_exactly_one_key() {
    const SHOOTS: usize = 20;
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    // Nothing clones it; the URL only has to point at a real SSH server for the host key.
    git.create_repository("race-fleet", &[("README.md", "race\n")])
        .unwrap();
    // The host is reached through a gate that holds connections: a process reads the host key
    // only after it found no deploy key, and one scan at a time, so two held connections are
    // two processes that will both create the key. Opening the gate then makes them race for
    // certain, where real timing lines them up only sometimes.
    let gate = testbed::tcpgate::TcpGate::start(([127, 0, 0, 1], git.ssh_port()).into())
        .await
        .unwrap();
    let gated_url = git.ssh_url("race-fleet").replace(
        &format!("@127.0.0.1:{}/", git.ssh_port()),
        &format!("@127.0.0.1:{}/", gate.port()),
    );
    assert_ne!(gated_url, git.ssh_url("race-fleet"));
    set_project_config(
        bed,
        "race",
        &[("repositoryUrl", &gated_url), ("repositoryType", "private")],
    )
    .await;
    // Seed objects only: no shoot API servers, no GRM.
    let seed = bed.seed().client().await.unwrap();
    let specs: Vec<_> = (0..SHOOTS)
        .map(|i| spec("race", &format!("s{i:02}")))
        .collect();
    for s in &specs {
        gardenlet::apply_shoot_objects(&seed, s, None)
            .await
            .unwrap();
    }
    let garden_kubeconfig = bed.garden().kubeconfig_path().to_path_buf();
    let args = [
        "--lifecycle-max-concurrent-reconciles=20",
        "--log-level=info",
    ];
    // The scans wait at the gate for as long as the test needs, not the default 10 s.
    let patient_scans = "deployKeys:\n  hostKeyScanTimeout: 5m\n";
    let start = |name| {
        start_extension_configured(bed, name, &args, Some(&garden_kubeconfig), patient_scans)
    };
    let a = start("shoot-flux-a").await;
    let b = start("shoot-flux-b").await;
    futures::future::join_all(specs.iter().map(|s| gardenlet::apply_extension(&seed, s)))
        .await
        .into_iter()
        .for_each(|r| {
            r.unwrap();
        });
    wait_for(
        "both processes to wait for the Git host's key",
        Duration::from_secs(180),
        || async { Ok((gate.held() >= 2).then_some(())) },
    )
    .await
    .unwrap();
    gate.open();
    for s in &specs {
        wait_ready(bed, &s.technical_id(), Duration::from_secs(120)).await;
    }

    let (metrics_a, metrics_b) = (a.metrics().await, b.metrics().await);
    let created = metric_sum(&metrics_a, "shoot_flux_deploy_keys_created_total")
        + metric_sum(&metrics_b, "shoot_flux_deploy_keys_created_total");
    let conflicts = metric_sum(&metrics_a, "shoot_flux_deploy_key_create_conflicts_total")
        + metric_sum(&metrics_b, "shoot_flux_deploy_key_create_conflicts_total");
    println!("deploy keys created: {created}, AlreadyExists conflicts: {conflicts}");
    assert_eq!(created, 1.0);
    assert!(conflicts >= 1.0, "the AlreadyExists path never ran");
    let logged = a.log().matches("(AlreadyExists); using that one").count()
        + b.log().matches("(AlreadyExists); using that one").count();
    assert_eq!(logged as f64, conflicts);

    let secrets = garden_secrets(bed, "race").await;
    let key = secrets.get("flux-source").await.unwrap();
    let key_fingerprint = fingerprint(&text(&key, "identity.pub")).unwrap();
    for s in &specs {
        let in_mr = source_secret_in_mr(bed, &s.technical_id()).await.unwrap();
        assert_eq!(
            fingerprint(&decoded(&in_mr, "identity.pub")).unwrap(),
            key_fingerprint,
            "{}",
            s.technical_id()
        );
    }

    // A restart and 100 further reconciles leave the key as it is.
    drop(a);
    drop(b);
    let a = start("shoot-flux-a2").await;
    let b = start("shoot-flux-b2").await;
    for _round in 0..(100 / SHOOTS) {
        for s in &specs {
            annotate(bed, &s.technical_id(), "reconcile").await;
        }
        for s in &specs {
            wait_ready(bed, &s.technical_id(), Duration::from_secs(60)).await;
        }
    }
    let after = secrets.get("flux-source").await.unwrap();
    assert_eq!(after.metadata.uid, key.metadata.uid);
    assert_eq!(
        after.metadata.resource_version,
        key.metadata.resource_version
    );
    let (metrics_a, metrics_b) = (a.metrics().await, b.metrics().await);
    let reconciles = metric_sum(&metrics_a, "shoot_flux_reconciles_total")
        + metric_sum(&metrics_b, "shoot_flux_reconciles_total");
    println!("reconciles after the restart: {reconciles}");
    assert!(reconciles >= 100.0, "{reconciles}");
    assert_eq!(
        metric_sum(&metrics_a, "shoot_flux_deploy_keys_created_total")
            + metric_sum(&metrics_b, "shoot_flux_deploy_keys_created_total"),
        0.0
    );

    // Leave the bed clean for the other tests of this binary.
    for s in &specs {
        let api = extension_api(bed, &s.technical_id()).await;
        api.delete("shoot-flux", &DeleteParams::default())
            .await
            .unwrap();
    }
    for s in &specs {
        let api = extension_api(bed, &s.technical_id()).await;
        wait_for(
            "the Extension to be deleted",
            Duration::from_secs(60),
            || async { Ok(api.get_opt("shoot-flux").await?.is_none().then_some(())) },
        )
        .await
        .unwrap();
    }
}

/// Host keys the operator configured are recorded instead of reading the host's own: here a
/// key that is deliberately not the server's, so that a scan would be told apart.
#[tokio::test]
async fn configured_host_keys_win_over_reading_the_host() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let git = bed.git().await.unwrap();
    git.create_repository("pinned-fleet", &[("README.md", "pinned\n")])
        .unwrap();
    set_project_config(
        bed,
        "pinned",
        &[
            ("repositoryUrl", &git.ssh_url("pinned-fleet")),
            ("repositoryType", "private"),
        ],
    )
    .await;
    let vouched = SshKeyPair::generate("vouched").unwrap();
    let body = vouched
        .public_openssh
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let line = format!("[127.0.0.1]:{} {body}", git.ssh_port());
    let config = format!("deployKeys:\n  knownHosts:\n  - \"github.com {body}\"\n  - \"{line}\"\n");
    let spec = spec("pinned", "app");
    let seed = bed.seed().client().await.unwrap();
    gardenlet::apply_shoot_objects(&seed, &spec, None)
        .await
        .unwrap();
    let garden_kubeconfig = bed.garden().kubeconfig_path().to_path_buf();
    let _extension = start_extension_configured(
        bed,
        "shoot-flux-pinned",
        &[],
        Some(&garden_kubeconfig),
        &config,
    )
    .await;
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &spec.technical_id(), Duration::from_secs(60)).await;
    let key = garden_secrets(bed, "pinned")
        .await
        .get("flux-source")
        .await
        .unwrap();
    assert_eq!(text(&key, "known_hosts"), format!("{line}\n"));
    extension_api(bed, &spec.technical_id())
        .await
        .delete("shoot-flux", &DeleteParams::default())
        .await
        .unwrap();
}
