//! Two replicas with leader election (issue 9): only the leader writes, the standby watches and
//! is Ready meanwhile (so a rolling update with two replicas completes), a `kill -9` of the
//! leader hands over within 30 s, and no Extension's status flaps.
//!
//! The replicas run against a garden and a seed API server of their own with an audit log of
//! every write request, each replica with its own identity (a ServiceAccount token per replica in
//! both clusters, bound to cluster-admin), so the audit log says who wrote what and when.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::api::rbac::v1::ClusterRoleBinding;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::{Value, json};
use testbed::apiserver::{ApiServer, Options as ApiOptions};
use testbed::gardenlet::{self, ShootSpec};
use testbed::kubeutil::{dynamic_api, wait_for};
use testbed::ports::free_port;
use testbed::process::Process;

const NAMESPACE: &str = "extension-shoot-flux";
const LEASE: &str = "gardener-extension-shoot-flux-leader-election";
const REPLICAS_NS: &str = "shoot-flux-replicas";

async fn apply<K>(api: &Api<K>, name: &str, object: Value)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let object: K = serde_json::from_value(object).unwrap();
    api.patch(
        name,
        &PatchParams::apply("test").force(),
        &Patch::Apply(&object),
    )
    .await
    .unwrap();
}

/// A kubeconfig for ServiceAccount `replica` with cluster-admin in `api`.
async fn identity(api: &ApiServer, replica: &str) -> std::path::PathBuf {
    let path = api
        .service_account_kubeconfig(REPLICAS_NS, replica)
        .await
        .unwrap();
    let bindings: Api<ClusterRoleBinding> = Api::all(api.client().await.unwrap());
    apply(
        &bindings,
        replica,
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": replica},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "ServiceAccount", "name": replica, "namespace": REPLICAS_NS}]
        }),
    )
    .await;
    path
}

fn user(replica: &str) -> String {
    format!("system:serviceaccount:{REPLICAS_NS}:{replica}")
}

struct Replica {
    process: Process,
    metrics_port: u16,
    health_port: u16,
}

impl Replica {
    /// The HTTP status of `path` on the health port (0: no answer).
    async fn probe(&self, path: &str) -> u16 {
        testbed::plainhttp::get(&format!("http://127.0.0.1:{}{path}", self.health_port))
            .await
            .map(|r| r.status)
            .unwrap_or(0)
    }

    async fn metric(&self, name: &str) -> f64 {
        let response =
            testbed::plainhttp::get(&format!("http://127.0.0.1:{}/metrics", self.metrics_port))
                .await
                .unwrap();
        common::metric_sum(&String::from_utf8(response.body).unwrap(), name)
    }
}

fn start_replica(
    name: &str,
    seed_kubeconfig: &Path,
    garden_kubeconfig: &Path,
    config: &Path,
    dir: &Path,
) -> Replica {
    let (metrics_port, health_port) = (free_port().unwrap(), free_port().unwrap());
    let mut command = Command::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"));
    command
        .env("KUBECONFIG", seed_kubeconfig)
        .env("GARDEN_KUBECONFIG", garden_kubeconfig)
        .env("POD_NAME", name)
        .arg(format!("--config={}", config.display()))
        .arg(format!("--metrics-bind-address=127.0.0.1:{metrics_port}"))
        .arg(format!("--health-bind-address=127.0.0.1:{health_port}"))
        .arg("--leader-election=true")
        .arg(format!("--leader-election-namespace={NAMESPACE}"))
        .arg("--healthcheck-sync-period=1h")
        // Shorter than the standby's wait for the Lease (at least the 3 s before the kill and the
        // 13 s until the Lease expires), far longer than a reconcile here (below 1 s): a
        // deadline that counted the wait would fail B's queued reconciles with Error statuses.
        .arg("--reconcile-timeout=12s")
        .arg("--log-format=text");
    let process = Process::spawn(name, command, &dir.join(format!("{name}.log"))).unwrap();
    Replica {
        process,
        metrics_port,
        health_port,
    }
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases
        .get_opt(LEASE)
        .await
        .ok()
        .flatten()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

/// One write request from the audit log.
#[derive(Debug, Clone)]
struct Write {
    user: String,
    /// "verb resource[/subresource] namespace/name -> code".
    what: String,
    at: Timestamp,
}

fn audit_writes(path: &Path) -> Vec<Write> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["stage"] == "ResponseComplete")
        .filter_map(|e| {
            let r = &e["objectRef"];
            Some(Write {
                user: e["user"]["username"].as_str()?.to_string(),
                what: format!(
                    "{} {}{} {}/{} -> {}",
                    e["verb"].as_str()?,
                    r["resource"].as_str().unwrap_or_default(),
                    r["subresource"]
                        .as_str()
                        .map(|s| format!("/{s}"))
                        .unwrap_or_default(),
                    r["namespace"].as_str().unwrap_or_default(),
                    r["name"].as_str().unwrap_or_default(),
                    e["responseStatus"]["code"]
                ),
                at: e["requestReceivedTimestamp"].as_str()?.parse().ok()?,
            })
        })
        .collect()
}

/// Every Extension status seen by a watch: (namespace, state, type, lastUpdateTime, lastError).
type Seen = Arc<Mutex<Vec<(String, String, String, String, bool)>>>;

fn ready(ext: &Value) -> bool {
    let status = &ext["status"];
    ext["metadata"]["annotations"]["gardener.cloud/operation"].is_null()
        && status["lastOperation"]["state"] == "Succeeded"
        && status["lastError"].is_null()
        && status["observedGeneration"] == ext["metadata"]["generation"]
}

#[tokio::test]
async fn only_the_leader_writes_and_a_killed_leader_hands_over_within_30s() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let audited = ApiOptions { audit: true };
    let (garden, seed) = tokio::try_join!(
        bed.new_api_server("garden-leader", audited, false),
        bed.new_api_server("seed-leader", audited, true)
    )
    .unwrap();
    let (garden_client, seed_client) =
        (garden.client().await.unwrap(), seed.client().await.unwrap());
    apply(
        &Api::<Namespace>::all(seed_client.clone()),
        NAMESPACE,
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}),
    )
    .await;
    let mut kubeconfigs = BTreeMap::new();
    for replica in ["replica-a", "replica-b", "replica-c"] {
        kubeconfigs.insert(
            replica,
            (
                identity(&seed, replica).await,
                identity(&garden, replica).await,
            ),
        );
    }

    // Two projects of three shoots, one with a private repository (a deploy key in the garden).
    let releases = bed.releases().await.unwrap();
    let git = bed.git().await.unwrap();
    let _ = git.create_repository("leader-fleet", &[("README.md", "leader\n")]);
    let config = bed.dir().join("leader-operator-config.yaml");
    std::fs::write(
        &config,
        format!(
            "apiVersion: shoot-flux.extensions.gardener.cloud/v1alpha1\nkind: OperatorConfiguration\nflux:\n  manifests:\n    baseURL: {}\ndeployKeys:\n  knownHosts:\n  - {:?}\n",
            releases.base_url(),
            git.known_hosts().trim()
        ),
    )
    .unwrap();
    let version = testbed::paths::versions().unwrap().flux;
    let mut specs = Vec::new();
    for (project, private) in [("lpub", false), ("lpriv", true)] {
        let namespace = format!("garden-{project}");
        apply(
            &Api::<Namespace>::all(garden_client.clone()),
            &namespace,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        )
        .await;
        let mut data = json!({"fluxVersion": version, "repositoryBranch": "main",
            "repositoryUrl": "https://github.com/example/leader-fleet.git"});
        if private {
            data["repositoryUrl"] = json!(git.ssh_url("leader-fleet"));
            data["repositoryType"] = json!("private");
        }
        apply(
            &Api::<ConfigMap>::namespaced(garden_client.clone(), &namespace),
            "flux-config",
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "flux-config", "namespace": namespace}, "data": data}),
        )
        .await;
        for i in 0..3 {
            let spec = ShootSpec::new(project, &format!("s{i}"));
            gardenlet::apply_shoot_objects(&seed_client, &spec, None)
                .await
                .unwrap();
            gardenlet::apply_extension(&seed_client, &spec)
                .await
                .unwrap();
            specs.push(spec);
        }
    }
    let extensions = dynamic_api(
        &seed_client,
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        None,
    )
    .await
    .unwrap();
    let all_ready = || {
        let extensions = extensions.clone();
        async move {
            let list = extensions.list(&Default::default()).await?;
            let ready = list
                .items
                .iter()
                .filter(|e| ready(&serde_json::to_value(e).unwrap_or_default()))
                .count();
            anyhow::Ok((ready == 6).then_some(()))
        }
    };

    // Replica A starts first and leads; B starts once A leads and waits.
    let leases: Api<Lease> = Api::namespaced(seed_client.clone(), NAMESPACE);
    let (seed_a, garden_a) = &kubeconfigs["replica-a"];
    let mut a = start_replica("replica-a", seed_a, garden_a, &config, bed.dir());
    wait_for("replica A to lead", Duration::from_secs(60), || async {
        Ok(holder(&leases).await.filter(|h| h.starts_with("replica-a")))
    })
    .await
    .unwrap();
    let (seed_b, garden_b) = &kubeconfigs["replica-b"];
    let mut b = start_replica("replica-b", seed_b, garden_b, &config, bed.dir());
    // The standby watches and is Ready while A leads, as a rolling update needs it to be.
    let started_b = Instant::now();
    wait_for("the standby B to be Ready", Duration::from_secs(90), || {
        let b = &b;
        async move { Ok((b.probe("/readyz").await == 200).then_some(())) }
    })
    .await
    .unwrap();
    let ready_s = started_b.elapsed().as_secs_f64();
    assert_eq!(b.probe("/healthz").await, 200);
    assert!(holder(&leases).await.unwrap().starts_with("replica-a"));
    // A third replica, a standby too, is Ready (it ends on SIGTERM below).
    let (seed_c, garden_c) = &kubeconfigs["replica-c"];
    let mut c = start_replica("replica-c", seed_c, garden_c, &config, bed.dir());
    wait_for("the standby C to be Ready", Duration::from_secs(90), || {
        let c = &c;
        async move { Ok((c.probe("/readyz").await == 200).then_some(())) }
    })
    .await
    .unwrap();
    wait_for(
        "every Extension Succeeded",
        Duration::from_secs(90),
        all_ready,
    )
    .await
    .unwrap();

    // Every status from here on.
    let seen: Seen = Arc::default();
    let watch = {
        let seen = seen.clone();
        let extensions = extensions.clone();
        tokio::spawn(async move {
            let mut stream = watcher(extensions, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = stream.next().await {
                let objects = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => vec![o],
                    _ => continue,
                };
                for o in objects {
                    let v = serde_json::to_value(&o).unwrap_or_default();
                    let last = &v["status"]["lastOperation"];
                    seen.lock().unwrap().push((
                        o.metadata.namespace.clone().unwrap_or_default(),
                        last["state"].as_str().unwrap_or_default().to_string(),
                        last["type"].as_str().unwrap_or_default().to_string(),
                        last["lastUpdateTime"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        !v["status"]["lastError"].is_null(),
                    ));
                }
            }
        })
    };

    // While both run, gardenlet asks for a reconcile of one shoot: the leader does it.
    let annotate = |ns: String| {
        let seed_client = seed_client.clone();
        async move {
            let api = dynamic_api(
                &seed_client,
                "extensions.gardener.cloud/v1alpha1",
                "Extension",
                Some(&ns),
            )
            .await
            .unwrap();
            api.patch(
                "shoot-flux",
                &PatchParams::default(),
                &Patch::Merge(&json!({"metadata": {"annotations": {"gardener.cloud/operation": "reconcile"}}})),
            )
            .await
            .unwrap();
            api
        }
    };
    let requested_while_both = specs[1].technical_id();
    let api = annotate(requested_while_both.clone()).await;
    wait_for(
        "the leader's reconcile",
        Duration::from_secs(90),
        || async { Ok(ready(&serde_json::to_value(api.get("shoot-flux").await?)?).then_some(())) },
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.process.ensure_running().unwrap();
    b.process.ensure_running().unwrap();
    // Only the leader reconciles and checks health; the standby stays Ready.
    assert!(a.metric("shoot_flux_reconciles_total").await >= 7.0);
    assert_eq!(b.metric("shoot_flux_reconciles_total").await, 0.0);
    assert_eq!(b.metric("shoot_flux_health_check_rounds_total").await, 0.0);
    assert_eq!(b.probe("/readyz").await, 200);
    // The standby C, its reconciles queued for seconds now, ends on SIGTERM by itself (a pod
    // deleted during a rollout), not by the SIGKILL after the grace period.
    let terminated = Instant::now();
    c.process.stop(Duration::from_secs(30));
    let stop_s = terminated.elapsed().as_secs_f64();
    // Far below the 30 s after which stop() kills, so that a loaded machine's slowness is not
    // taken for a process that ignored SIGTERM.
    assert!(
        stop_s < 25.0,
        "the standby took {stop_s:.1}s to end on SIGTERM"
    );

    // kill -9 of the leader; at once gardenlet asks for a reconcile of another shoot.
    let killed_at = Timestamp::now();
    let killed = Instant::now();
    a.process.kill();
    let requested_after_kill = specs[4].technical_id();
    let api = annotate(requested_after_kill.clone()).await;
    let new_holder = wait_for("replica B to lead", Duration::from_secs(60), || async {
        Ok(holder(&leases).await.filter(|h| h.starts_with("replica-b")))
    })
    .await
    .unwrap();
    let lease_s = killed.elapsed().as_secs_f64();
    wait_for(
        "the new leader's reconcile",
        Duration::from_secs(60),
        || async {
            let ext = serde_json::to_value(api.get("shoot-flux").await?)?;
            let updated: Option<Timestamp> = ext["status"]["lastOperation"]["lastUpdateTime"]
                .as_str()
                .and_then(|t| t.parse().ok());
            // Gardener's timestamps have whole seconds.
            let after_kill = updated.is_some_and(|t| t.as_second() >= killed_at.as_second());
            Ok((ready(&ext) && after_kill).then_some(()))
        },
    )
    .await
    .unwrap();
    let handover_s = killed.elapsed().as_secs_f64();
    // Let the new leader settle, then look at everything once more.
    tokio::time::sleep(Duration::from_secs(5)).await;
    b.process.ensure_running().unwrap();
    wait_for(
        "every Extension Succeeded",
        Duration::from_secs(90),
        all_ready,
    )
    .await
    .unwrap();
    watch.abort();

    // Who wrote what, and when.
    let mut writes = audit_writes(&seed.audit_log_path());
    writes.extend(audit_writes(&garden.audit_log_path()));
    writes.sort_by_key(|w| w.at);
    let (user_a, user_b) = (user("replica-a"), user("replica-b"));
    let by_c: Vec<&Write> = writes
        .iter()
        .filter(|w| w.user == user("replica-c"))
        .collect();
    assert!(by_c.is_empty(), "the standby C wrote: {by_c:?}");
    let by_a = writes.iter().filter(|w| w.user == user_a).count();
    let b_writes: Vec<&Write> = writes.iter().filter(|w| w.user == user_b).collect();
    let b_before_kill: Vec<&&Write> = b_writes.iter().filter(|w| w.at < killed_at).collect();
    let b_first = b_writes.first().map(|w| w.what.clone()).unwrap_or_default();
    let a_after_kill = writes
        .iter()
        .filter(|w| w.user == user_a && w.at > killed_at)
        .count();
    let lease_s_rounded = (lease_s * 10.0).round() / 10.0;
    println!(
        "the standby B was Ready {ready_s:.1}s after its start, while A led; the standby C ended \
         {stop_s:.1}s after SIGTERM"
    );
    println!(
        "leader A made {by_a} writes; follower B made {} writes before the kill; B's first write: \
         {b_first}; B holds the Lease {lease_s_rounded:.1}s after the kill ({new_holder}) and had \
         reconciled the shoot requested at the kill after {handover_s:.1}s; B made {} writes in all",
        b_before_kill.len(),
        b_writes.len()
    );
    assert!(
        by_a > 6,
        "the audit log shows the leader's writes: {writes:?}"
    );
    assert!(
        b_before_kill.is_empty(),
        "the follower wrote while A led: {b_before_kill:?}"
    );
    assert_eq!(a_after_kill, 0);
    assert!(
        b_first.starts_with(&format!("update leases {NAMESPACE}/{LEASE}"))
            || b_first.starts_with(&format!("patch leases {NAMESPACE}/{LEASE}")),
        "the follower's first write is taking the Lease: {b_first}"
    );
    assert!(
        b_writes
            .iter()
            .any(|w| w.what.contains(" extensions/status ")),
        "the new leader writes statuses: {b_writes:?}"
    );
    assert!(
        handover_s <= 30.0,
        "hand-over took {handover_s:.1}s (the Lease after {lease_s:.1}s)"
    );

    // No flapping: every shoot nobody asked about stays Succeeded without an error, and no
    // lastUpdateTime goes back; the requested ones pass Processing at most, never Error.
    let seen = seen.lock().unwrap().clone();
    assert!(seen.len() >= 6, "{seen:?}");
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for (ns, state, kind, updated, error) in &seen {
        let requested = *ns == requested_while_both || *ns == requested_after_kill;
        assert!(!error, "{ns}: lastError during the hand-over: {seen:?}");
        if requested {
            assert!(
                state == "Succeeded" || state == "Processing",
                "{ns}: {state} {kind}: {seen:?}"
            );
        } else {
            assert_eq!(state, "Succeeded", "{ns} flapped: {seen:?}");
        }
        if let Some(before) = last.get(ns) {
            assert!(
                updated.as_str() >= before.as_str(),
                "{ns}: lastUpdateTime went back from {before} to {updated}"
            );
        }
        last.insert(ns.clone(), updated.clone());
    }
    let changes_of_unrequested = seen
        .iter()
        .filter(|(ns, ..)| *ns != requested_while_both && *ns != requested_after_kill)
        .map(|(ns, _, _, updated, _)| (ns, updated))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    println!(
        "{} status events watched; unrequested shoots: {changes_of_unrequested} distinct lastUpdateTimes for 4 shoots",
        seen.len()
    );
    assert_eq!(
        changes_of_unrequested, 4,
        "an unrequested shoot's lastOperation changed during the hand-over: {seen:?}"
    );
    b.process.stop(Duration::from_secs(5));
}
