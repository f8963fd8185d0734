//! The extension's runtime on real control planes: the SystemComponentsHealthy health check
//! (keeping other writers' conditions), the heartbeat Lease, leader election with hand-over,
//! metrics, and the `--ignore-operation-annotation` event mode.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::json;
use testbed::gardenlet::{self, ShootSpec};
use testbed::kubeutil::wait_for;

use common::*;

async fn lease_holder(seed: &kube::Client, namespace: &str, name: &str) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(seed.clone(), namespace);
    api.get_opt(name)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

#[tokio::test]
async fn health_heartbeat_leader_election_and_metrics() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let seed = bed.seed().client().await.unwrap();
    let ns_obj: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "extension-shoot-flux"}})).unwrap();
    Api::<Namespace>::all(seed.clone())
        .patch(
            "extension-shoot-flux",
            &PatchParams::apply("test"),
            &Patch::Apply(&ns_obj),
        )
        .await
        .unwrap();
    let args = [
        "--leader-election=true",
        "--leader-election-namespace=extension-shoot-flux",
        "--healthcheck-sync-period=2s",
        "--heartbeat-renew-interval-seconds=2",
    ];
    let mut first = start_extension(bed, &args).await;
    project_with_fleet(bed, "health").await;
    let spec = ShootSpec::new("health", "app");
    let ns = spec.technical_id();
    let mut shoot = shoot_with_grm(bed, spec.clone()).await;
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;

    // Another writer's condition on the same object.
    let extensions = extension_api(bed, &ns).await;
    extensions
        .patch_status("shoot-flux", &PatchParams::default(), &Patch::Merge(&json!({"status": {"conditions": [{
            "type": "FluxBootstrapped", "status": "True", "reason": "Bootstrapped", "message": "by someone else",
            "lastTransitionTime": "2026-01-01T00:00:00Z", "lastUpdateTime": "2026-01-01T00:00:00Z"}]}})))
        .await
        .unwrap();
    let healthy = wait_for(
        "SystemComponentsHealthy True",
        Duration::from_secs(120),
        || async {
            let ext = serde_json::to_value(extensions.get("shoot-flux").await?)?;
            let c = condition(&ext, "SystemComponentsHealthy").cloned();
            match c {
                Some(c) if c["status"] == "True" => Ok(Some(ext)),
                other => anyhow::bail!("{other:?}"),
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(
        condition(&healthy, "FluxBootstrapped").unwrap()["message"],
        "by someone else",
        "other writers' conditions stay"
    );
    gardenlet_ready(&healthy).unwrap();

    // A broken Flux controller turns the condition False with GRM's reason.
    shoot.stop_node_simulator();
    let target = shoot.client().await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(target, "flux-system");
    deployments
        .patch_status("kustomize-controller", &PatchParams::default(), &Patch::Merge(&json!({"status": {
            "readyReplicas": 0, "availableReplicas": 0, "unavailableReplicas": 1,
            "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable", "message": "no node"}]}})))
        .await
        .unwrap();
    wait_for(
        "SystemComponentsHealthy False",
        Duration::from_secs(120),
        || async {
            let ext = serde_json::to_value(extensions.get("shoot-flux").await?)?;
            let c = condition(&ext, "SystemComponentsHealthy")
                .cloned()
                .unwrap_or_default();
            if c["status"] == "False"
                && c["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("extension-shoot-flux-flux-install")
            {
                Ok(Some(()))
            } else {
                anyhow::bail!("{c}")
            }
        },
    )
    .await
    .unwrap();

    // Heartbeat and leader Leases.
    let leases: Api<Lease> = Api::namespaced(seed.clone(), "extension-shoot-flux");
    let heartbeat = leases
        .get("gardener-extension-heartbeat")
        .await
        .unwrap()
        .spec
        .unwrap();
    assert_eq!(heartbeat.holder_identity.as_deref(), Some("shoot-flux"));
    let renewed = heartbeat.renew_time.unwrap().0;
    assert!(
        k8s_openapi::jiff::Timestamp::now().as_second() - renewed.as_second() < 10,
        "heartbeat is fresh"
    );
    let leader = lease_holder(
        &seed,
        "extension-shoot-flux",
        "gardener-extension-shoot-flux-leader-election",
    )
    .await
    .unwrap();
    assert!(
        leader.ends_with(&first.process.pid().to_string()),
        "{leader}"
    );

    // Metrics.
    let metrics =
        testbed::plainhttp::get(&format!("http://127.0.0.1:{}/metrics", first.metrics_port))
            .await
            .unwrap();
    let text = String::from_utf8(metrics.body).unwrap();
    assert!(
        text.contains("shoot_flux_reconciles_total{operation=\"Create\",result=\"success\"}"),
        "{text}"
    );
    assert!(text.contains("shoot_flux_reconcile_duration_seconds_bucket"));

    // A second replica waits; when the leader dies it takes over.
    let second = start_standby(bed, &args).await;
    // Ready means it has listed and runs, as a standby, next to the leader.
    wait_for(
        "the standby to be Ready",
        Duration::from_secs(90),
        || async {
            let r =
                testbed::plainhttp::get(&format!("http://127.0.0.1:{}/readyz", second.0)).await?;
            Ok((r.status == 200).then_some(()))
        },
    )
    .await
    .unwrap();
    assert!(
        !std::fs::read_to_string(second.1.log_path())
            .unwrap()
            .contains("became leader"),
        "only one leader"
    );
    let killed = Instant::now();
    first.process.kill();
    let new_leader = wait_for("the standby to lead", Duration::from_secs(60), || async {
        Ok(lease_holder(
            &seed,
            "extension-shoot-flux",
            "gardener-extension-shoot-flux-leader-election",
        )
        .await
        .filter(|h| *h != leader))
    })
    .await
    .unwrap();
    println!(
        "leader hand-over after kill -9: {:.1}s",
        killed.elapsed().as_secs_f64()
    );
    assert!(new_leader.ends_with(&second.1.pid().to_string()));
    assert!(killed.elapsed() < Duration::from_secs(30));
    // The new leader reconciles.
    let ts = annotate(bed, &ns, "reconcile").await;
    let ext = wait_ready(bed, &ns, Duration::from_secs(90)).await;
    assert_eq!(
        ext["metadata"]["annotations"]["gardener.cloud/timestamp"],
        ts.as_str()
    );
}

/// Starts a replica without waiting for readiness (a standby is not ready until it leads).
async fn start_standby(
    bed: &'static testbed::Bed,
    args: &[&str],
) -> (u16, testbed::process::Process) {
    // The operator configuration start_extension wrote for the first replica.
    let config = bed.dir().join("shoot-flux-operator-config.yaml");
    let port = testbed::ports::free_port().unwrap();
    let mut command =
        std::process::Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"));
    command
        .env("KUBECONFIG", bed.seed().kubeconfig_path())
        .env("GARDEN_KUBECONFIG", bed.garden().kubeconfig_path())
        .arg(format!("--config={}", config.display()))
        .arg(format!(
            "--metrics-bind-address=127.0.0.1:{}",
            testbed::ports::free_port().unwrap()
        ))
        .arg(format!("--health-bind-address=127.0.0.1:{port}"))
        .arg("--log-format=text")
        .args(args);
    let process = testbed::process::Process::spawn(
        "shoot-flux-standby",
        command,
        &bed.dir().join("shoot-flux-standby.log"),
    )
    .unwrap();
    (port, process)
}

#[tokio::test]
async fn ignore_operation_annotation_mode_follows_spec_and_cluster_changes() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let seed = bed.seed().client().await.unwrap();
    project_with_fleet(bed, "ignore").await;
    let extension = start_extension(bed, &["--ignore-operation-annotation=true"]).await;
    let mut spec = ShootSpec::new("ignore", "app");
    let ns = spec.technical_id();
    let shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();
    gardenlet::apply_extension(&seed, &spec).await.unwrap();
    wait_ready(bed, &ns, Duration::from_secs(60)).await;
    let before = mr_secrets(bed, &ns).await;

    // A spec change without any annotation.
    let extensions = extension_api(bed, &ns).await;
    extensions
        .patch("shoot-flux", &PatchParams::default(), &Patch::Merge(&json!({"spec": {"providerConfig": {
            "apiVersion": "flux.extensions.gardener.cloud/v1alpha1", "kind": "FluxConfig", "flux": {"registry": "mirror.local/fluxcd"}}}})))
        .await
        .unwrap();
    wait_for(
        "the install MR to use the mirror",
        Duration::from_secs(90),
        || async { Ok((mr_secrets(bed, &ns).await[0] != before[0]).then_some(())) },
    )
    .await
    .unwrap();
    let ext = wait_ready(bed, &ns, Duration::from_secs(90)).await;
    assert_eq!(
        ext["status"]["observedGeneration"],
        ext["metadata"]["generation"]
    );

    // A Cluster change (hibernation) triggers a reconcile too. Nothing the extension writes
    // depends on it, so the reconcile writes nothing (not even the status); it is seen in the
    // reconcile counter.
    let reconciles = |text: String| metric_sum(&text, "shoot_flux_reconciles_total");
    let before_change = reconciles(extension.metrics().await);
    spec.hibernated = true;
    gardenlet::apply_shoot_objects(&seed, &spec, None)
        .await
        .unwrap();
    wait_for(
        "a reconcile after the Cluster change",
        Duration::from_secs(90),
        || async {
            let ext = serde_json::to_value(extensions.get("shoot-flux").await?)?;
            let count = reconciles(extension.metrics().await);
            Ok(
                (count > before_change && ext["status"]["lastOperation"]["state"] == "Succeeded")
                    .then_some(()),
            )
        },
    )
    .await
    .unwrap();
    // Install, config and shoot access are kept while the shoot sleeps.
    let mrs = mr_api(bed, &ns).await;
    assert_eq!(
        mrs.list(&ListParams::default()).await.unwrap().items.len(),
        3
    );
}

/// The objects in the config ManagedResource's secret.
async fn config_objects(bed: &testbed::Bed, namespace: &str) -> String {
    let secret_name = mr_secrets(bed, namespace).await[1].clone();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(bed.seed().client().await.unwrap(), namespace);
    let data = secrets.get(&secret_name).await.unwrap().data.unwrap();
    String::from_utf8(testbed::managedresource::brotli_decompress(&data["data.yaml.br"].0).unwrap())
        .unwrap()
}

#[tokio::test]
async fn garden_access_without_injection_only_through_the_opt_in_gardenlet_kubeconfig() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let seed = bed.seed().client().await.unwrap();
    project_with_fleet(bed, "legacy").await;
    let garden_ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "garden"}})).unwrap();
    Api::<Namespace>::all(seed.clone())
        .patch(
            "garden",
            &PatchParams::apply("test"),
            &Patch::Apply(&garden_ns),
        )
        .await
        .unwrap();
    let secret: k8s_openapi::api::core::v1::Secret = serde_json::from_value(json!({
        "metadata": {"name": "gardenlet-kubeconfig", "namespace": "garden"},
        "stringData": {"kubeconfig": bed.garden().kubeconfig_yaml()}
    }))
    .unwrap();
    Api::<k8s_openapi::api::core::v1::Secret>::namespaced(seed.clone(), "garden")
        .patch(
            "gardenlet-kubeconfig",
            &PatchParams::apply("test"),
            &Patch::Apply(&secret),
        )
        .await
        .unwrap();
    let spec = ShootSpec::new("legacy", "app");
    let ns = spec.technical_id();
    let shoot = bed.new_shoot(spec.clone()).await.unwrap();
    shoot.create_gardenlet_objects().await.unwrap();

    // Without garden access: Flux only, no sync objects.
    {
        let _ext = start_extension_with(bed, &[], None).await;
        gardenlet::apply_extension(&seed, &spec).await.unwrap();
        let ext = wait_ready(bed, &ns, Duration::from_secs(60)).await;
        let description = ext["status"]["lastOperation"]["description"]
            .as_str()
            .unwrap();
        assert!(
            description.contains("no garden access"),
            "the status says so: {description}"
        );
        let objects = config_objects(bed, &ns).await;
        assert!(!objects.contains("main-gitrepo"), "{objects}");
        assert!(objects.contains("SHOOT_INFO_NAME"));
    }
    // With the opt-in fallback the project's repository is synced.
    let _ext = start_extension_with(
        bed,
        &["--garden-access-from-gardenlet-kubeconfig=true"],
        None,
    )
    .await;
    annotate(bed, &ns, "reconcile").await;
    wait_for(
        "sync objects from the project ConfigMap",
        Duration::from_secs(90),
        || async {
            Ok(config_objects(bed, &ns)
                .await
                .contains("main-gitrepo")
                .then_some(()))
        },
    )
    .await
    .unwrap();
    let ext = wait_ready(bed, &ns, Duration::from_secs(90)).await;
    let description = ext["status"]["lastOperation"]["description"]
        .as_str()
        .unwrap();
    assert!(!description.contains("no garden access"), "{description}");
}

/// The example ClusterRole is what an operator installs in the garden: the API server accepts
/// it, and bound to an identity it allows exactly reading flux-config (and no other ConfigMap).
#[tokio::test]
async fn the_example_garden_clusterrole_grants_what_shoot_flux_reads() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let garden = bed.garden().client().await.unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../example");
    testbed::kubeutil::apply_file(&garden, &root.join("garden-clusterrole.yaml"), "operator")
        .await
        .unwrap();
    let identity = bed
        .garden()
        .service_account_kubeconfig("garden-rbac", "gardenlet-like")
        .await
        .unwrap();
    let binding: k8s_openapi::api::rbac::v1::ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": "shoot-flux-garden-access"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "extensions.gardener.cloud:extension-shoot-flux:garden-access"},
        "subjects": [{"kind": "ServiceAccount", "name": "gardenlet-like", "namespace": "garden-rbac"}]
    }))
    .unwrap();
    Api::<k8s_openapi::api::rbac::v1::ClusterRoleBinding>::all(garden.clone())
        .patch(
            "shoot-flux-garden-access",
            &PatchParams::apply("operator"),
            &Patch::Apply(&binding),
        )
        .await
        .unwrap();
    set_project_config(bed, "rbac", &[("fluxVersion", "v2.9.5")]).await;
    let kubeconfig = kube::config::Kubeconfig::read_from(&identity).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let limited = kube::Client::try_from(config).unwrap();
    let configmaps: Api<k8s_openapi::api::core::v1::ConfigMap> =
        Api::namespaced(limited.clone(), "garden-rbac");
    wait_for(
        "RBAC to allow flux-config",
        Duration::from_secs(60),
        || async { Ok(Some(configmaps.get("flux-config").await?)) },
    )
    .await
    .unwrap();
    let all: Api<k8s_openapi::api::core::v1::ConfigMap> = Api::all(limited.clone());
    all.list(&ListParams::default().fields("metadata.name=flux-config"))
        .await
        .expect("list with the field selector");
    let other = configmaps.get("kube-root-ca.crt").await.unwrap_err();
    assert!(other.to_string().contains("forbidden"), "{other}");
    let unfiltered = all.list(&ListParams::default()).await.unwrap_err();
    assert!(unfiltered.to_string().contains("forbidden"), "{unfiltered}");

    // The controller itself, with only this identity, serves a private repository: it reads
    // the ConfigMap, watches and creates the deploy key, and is never denied.
    let git = bed.git().await.unwrap();
    git.create_repository("rbac-fleet", &[("README.md", "rbac\n")])
        .unwrap();
    set_project_config(
        bed,
        "rbac",
        &[
            ("repositoryUrl", &git.ssh_url("rbac-fleet")),
            ("repositoryType", "private"),
        ],
    )
    .await;
    let spec = spec("rbac", "app");
    let seed = bed.seed().client().await.unwrap();
    testbed::gardenlet::apply_shoot_objects(&seed, &spec, None)
        .await
        .unwrap();
    let extension = start_extension_with(bed, &[], Some(&identity)).await;
    testbed::gardenlet::apply_extension(&seed, &spec)
        .await
        .unwrap();
    wait_ready(bed, &spec.technical_id(), Duration::from_secs(60)).await;
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(garden, "garden-rbac");
    assert!(secrets.get_opt("flux-source").await.unwrap().is_some());
    let limited_secrets: Api<k8s_openapi::api::core::v1::Secret> =
        Api::namespaced(limited, "garden-rbac");
    let other = limited_secrets.get("any-other").await.unwrap_err();
    assert!(other.to_string().contains("forbidden"), "{other}");
    let denied: Vec<String> = extension
        .log()
        .lines()
        .filter(|l| l.to_lowercase().contains("forbidden"))
        .map(str::to_string)
        .collect();
    assert!(denied.is_empty(), "{denied:#?}");
    extension_api(bed, &spec.technical_id())
        .await
        .delete("shoot-flux", &Default::default())
        .await
        .unwrap();
}

/// The controller's requests to `cluster` other than watches, from its own request counter.
fn requests_besides_watches(metrics: &str, cluster: &str) -> f64 {
    metric_sum_where(metrics, "shoot_flux_api_requests_total", |l| {
        l.contains(&format!("cluster=\"{cluster}\"")) && !l.contains("verb=\"watch\"")
    })
}

/// The connections the controller opened to `cluster`.
fn connections(metrics: &str, cluster: &str) -> f64 {
    metric_sum_where(metrics, "shoot_flux_api_connections_total", |l| {
        l.contains(&format!("cluster=\"{cluster}\""))
    })
}

/// A steady seed costs the observers nothing: with the health check and the sync status poll
/// every second, once the shoots are ready and their conditions written, whole rounds of both
/// pass without a single seed request (they learn from watches what changed). Before, each
/// round read every shoot's Cluster twice, both ManagedResources, the access Secret and the
/// Extension. The shoots are read once per round (a Deployment list and two GETs), over the
/// connection kept from the round before. A change still shows: the test above turns the verdict
/// False through GRM.
#[tokio::test]
async fn a_steady_seed_costs_the_observers_no_request() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let seed = bed.seed().client().await.unwrap();
    let extension = start_extension(bed, &["--healthcheck-sync-period=1s"]).await;
    project_with_fleet(bed, "steady").await;
    let mut shoots = Vec::new();
    let mut namespaces = Vec::new();
    for name in ["one", "two"] {
        let spec = ShootSpec::new("steady", name);
        namespaces.push(spec.technical_id());
        shoots.push(shoot_with_grm(bed, spec.clone()).await);
        gardenlet::apply_extension(&seed, &spec).await.unwrap();
    }
    for ns in &namespaces {
        wait_ready(bed, ns, Duration::from_secs(90)).await;
        wait_condition(
            bed,
            ns,
            "SystemComponentsHealthy",
            "True",
            Duration::from_secs(120),
            |c| c["status"] == "True",
        )
        .await;
    }
    let rounds = |text: &str| metric_sum(text, "shoot_flux_health_check_rounds_total");
    let (window, shoot_requests, shoot_connections) = wait_for(
        "three observer rounds without a seed request",
        Duration::from_secs(180),
        || async {
            let text = extension.metrics().await;
            let start = rounds(&text);
            let seed_before = requests_besides_watches(&text, "seed");
            let shoot_before = requests_besides_watches(&text, "shoot");
            let connections_before = connections(&text, "shoot");
            let began = Instant::now();
            loop {
                let text = extension.metrics().await;
                if rounds(&text) >= start + 3.0 {
                    let sent = requests_besides_watches(&text, "seed") - seed_before;
                    if sent == 0.0 {
                        return Ok(Some((
                            began.elapsed(),
                            requests_besides_watches(&text, "shoot") - shoot_before,
                            connections(&text, "shoot") - connections_before,
                        )));
                    }
                    anyhow::bail!("{sent} seed requests in three rounds");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        },
    )
    .await
    .unwrap();
    println!(
        "three health check rounds over two steady shoots in {:.1}s: no seed request, {shoot_requests} shoot requests over {shoot_connections} new connections",
        window.as_secs_f64()
    );
    // The poll runs on the same period: at most one more round than the health check in the
    // window, three reads per shoot and round.
    let rounds_in_window = window.as_secs_f64().ceil() + 1.0;
    assert!(
        shoot_requests > 0.0 && shoot_requests <= rounds_in_window * 2.0 * 3.0,
        "{shoot_requests} shoot requests in {window:?}"
    );
    assert_eq!(shoot_connections, 0.0, "the shoot connections are kept");
    drop(shoots);
}

/// The seed's client speaks HTTP/2 to the API server, so one connection carries all its
/// requests and watches. When the path of that connection dies without a reset (a load
/// balancer forgets it), the client finds out by its PINGs going unanswered, drops it and opens
/// a new one; without the check every request would go on taking the dead connection, each
/// waiting for its timeout, until the kernel gave up on it many minutes later. Short periods
/// here; `LIVENESS` (30 s and 15 s) in the controller.
#[tokio::test]
async fn a_seed_connection_whose_path_died_is_replaced() {
    use shoot_flux::kubeclient::{Liveness, Pool, counted_client};
    let bed = testbed::bed().await.unwrap();
    let gate = testbed::tcpgate::TcpGate::start(([127, 0, 0, 1], bed.seed().port()).into())
        .await
        .unwrap();
    gate.open();
    let kubeconfig = kube::config::Kubeconfig::read_from(bed.seed().kubeconfig_path()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    config.cluster_url = format!("https://127.0.0.1:{}", gate.port())
        .parse()
        .unwrap();
    let mut registry = prometheus_client::registry::Registry::with_prefix("shoot_flux");
    let ops = shoot_flux::opsmetrics::OpsMetrics::registered(&mut registry);
    let pool = Pool {
        liveness: Liveness {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
        },
        ..Pool::shared(32)
    };
    let client = counted_client(
        config,
        pool,
        Duration::from_secs(3),
        Some(ops.request_counter("seed")),
    )
    .unwrap();
    let connections = || {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text.lines()
            .find(|l| l.starts_with("shoot_flux_api_connections_total{cluster=\"seed\"}"))
            .unwrap_or_default()
            .to_string()
    };
    let namespaces: Api<Namespace> = Api::all(client);
    // Once the first request found the server speaking HTTP/2 (before that, requests sent at
    // once each open a connection: the pool cannot know the protocol), requests in flight
    // together share its connection.
    namespaces.get("default").await.unwrap();
    let together = futures::future::join_all((0..20).map(|_| namespaces.get("default"))).await;
    assert!(together.iter().all(Result::is_ok), "{together:?}");
    assert!(
        connections().ends_with(" 1"),
        "over HTTP/2: {}",
        connections()
    );

    gate.go_dark();
    let started = Instant::now();
    let mut failed = 0;
    loop {
        match namespaces.get("default").await {
            Ok(_) => break,
            Err(e) => {
                failed += 1;
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "still no answer after {:?} ({failed} requests failed, last: {e})",
                    started.elapsed()
                );
            }
        }
    }
    assert!(failed >= 1, "a request passed the dead path");
    assert!(connections().ends_with(" 2"), "{}", connections());
}

/// A shoot's client keeps one connection for back-to-back requests, as the sync status poll
/// sends them (one after another, every period). hyper's HTTP/1 pool opens a new connection
/// whenever a request comes before the previous connection is back in the pool, which
/// happened for a few percent of back-to-back requests: a TLS handshake each. Measured on the
/// seed's API server with the shoot client's settings and the controller's multi-threaded
/// runtime, by the client's own connection counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shoot_client_keeps_one_connection_for_back_to_back_requests() {
    use shoot_flux::kubeclient::{Pool, counted_client};
    let bed = testbed::bed().await.unwrap();
    let kubeconfig = kube::config::Kubeconfig::read_from(bed.seed().kubeconfig_path()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    let mut registry = prometheus_client::registry::Registry::with_prefix("shoot_flux");
    let ops = shoot_flux::opsmetrics::OpsMetrics::registered(&mut registry);
    let client = counted_client(
        config,
        Pool::SHOOT,
        Duration::from_secs(30),
        Some(ops.request_counter("shoot")),
    )
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
    for _ in 0..1000 {
        namespaces.get("default").await.unwrap();
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let connections = text
        .lines()
        .find(|l| l.starts_with("shoot_flux_api_connections_total{cluster=\"shoot\"}"))
        .unwrap_or_default()
        .to_string();
    assert!(
        connections.ends_with(" 1"),
        "1000 requests one after another: {connections}"
    );
}

/// What an API server sent in answer to LISTs of `resource`: the sum and the count of its own
/// `apiserver_response_sizes` histogram (watches are not in it).
async fn listed_bytes(client: &kube::Client, resource: &str) -> (f64, f64) {
    let text = client
        .request_text(http::Request::get("/metrics").body(Vec::new()).unwrap())
        .await
        .unwrap();
    let of = |series: &str| -> f64 {
        metric_sum_where(&text, &format!("apiserver_response_sizes_{series}"), |l| {
            l.contains(&format!("resource=\"{resource}\"")) && l.contains("verb=\"LIST\"")
        })
    };
    (of("sum"), of("count"))
}

/// The controller's list requests of `resource` to `cluster`, from its metrics.
fn lists(metrics: &str, cluster: &str, resource: &str) -> f64 {
    metric_sum_where(metrics, "shoot_flux_api_requests_total", |l| {
        l.contains(&format!("cluster=\"{cluster}\""))
            && l.contains("verb=\"list\"")
            && l.contains(&format!("resource=\"{resource}\""))
    })
}

/// The controller's watches of Clusters (the observers', and the event mode's of
/// `--ignore-operation-annotation`), of shoot-access Secrets and of the garden's deploy keys ask
/// the API servers for metadata only (kube's `Api<PartialObjectMeta<K>>` sends
/// `as=PartialObjectMetadataList`): a Cluster of a landscape's size (its CloudProfile alone is
/// 196 KiB) and the data of a Secret (a token, a private key) never cross the wire for them. A
/// whole-object watch that kept only the metadata would look the same from inside the
/// controller, and at 1,000 shoots make each start list 196 MB of Clusters. Here one shoot has
/// such a Cluster, and its access Secret and its project's deploy key carry 256 KiB of data
/// each; what the servers sent for the controller's LISTs (their own response size metric) must
/// stay far below either.
#[tokio::test]
async fn the_controller_watches_the_metadata_of_clusters_and_secrets() {
    use k8s_openapi::api::core::v1::Secret;
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let seed = bed.seed().client().await.unwrap();
    let garden = bed.garden().client().await.unwrap();
    let spec = ShootSpec::new("metadata", "large");
    let namespace = spec.technical_id();
    let profile = gardenlet::landscape_cloud_profile_json(&spec);
    let profile_bytes = serde_json::to_vec(&profile).unwrap().len() as f64;
    gardenlet::apply_shoot_objects_with_cloud_profile(&seed, &spec, None, &profile)
        .await
        .unwrap();
    let data_bytes = 256.0 * 1024.0;
    let large_secret = |name: &str, namespace: &str| -> Secret {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": namespace},
            "stringData": {"filler": "x".repeat(data_bytes as usize)}
        }))
        .unwrap()
    };
    let project_namespace = format!("garden-{}", spec.project);
    let ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": project_namespace}})).unwrap();
    Api::<Namespace>::all(garden.clone())
        .patch(
            &project_namespace,
            &PatchParams::apply("test"),
            &Patch::Apply(&ns),
        )
        .await
        .unwrap();
    for (client, name, namespace) in [
        (
            &seed,
            shoot_flux_core::access::SECRET_NAME,
            namespace.as_str(),
        ),
        (&garden, "flux-source", project_namespace.as_str()),
    ] {
        Api::<Secret>::namespaced(client.clone(), namespace)
            .patch(
                name,
                &PatchParams::apply("test").force(),
                &Patch::Apply(&large_secret(name, namespace)),
            )
            .await
            .unwrap();
    }
    let watched = [
        (&seed, "seed", "clusters"),
        (&seed, "seed", "secrets"),
        (&garden, "garden", "secrets"),
    ];
    let mut before = Vec::new();
    for (client, _, resource) in watched {
        before.push(listed_bytes(client, resource).await);
    }
    let extension = start_extension(
        bed,
        &[
            "--ignore-operation-annotation=true",
            "--healthcheck-sync-period=1h",
        ],
    )
    .await;
    // Until every LIST the controller sent (its metrics) was answered (the servers' metrics).
    let sent = wait_for(
        "the controller's watches listed",
        Duration::from_secs(60),
        || async {
            let metrics = extension.metrics().await;
            let mut sent = Vec::new();
            for (i, (client, cluster, resource)) in watched.into_iter().enumerate() {
                let requests = lists(&metrics, cluster, resource);
                let (bytes, answered) = listed_bytes(client, resource).await;
                if requests == 0.0 || answered - before[i].1 < requests {
                    return Ok(None);
                }
                sent.push((cluster, resource, bytes - before[i].0));
            }
            Ok(Some(sent))
        },
    )
    .await
    .unwrap();
    println!(
        "listed for the controller: {sent:?} bytes (a Cluster's CloudProfile alone: {profile_bytes}, a Secret's data alone: {data_bytes})"
    );
    for (cluster, resource, bytes) in sent {
        let bound = if resource == "clusters" {
            profile_bytes
        } else {
            data_bytes
        } / 4.0;
        assert!(
            bytes < bound,
            "{bytes} bytes of {resource} listed from the {cluster} (at most {bound})"
        );
    }
}
