//! The sync status poll with many shoots: 50 shoots (SHOOT_FLUX_SCALE_SHOOTS to change it) whose
//! Clusters point at one shared shoot API server, all served by one real GRM
//! (token requestor and ManagedResources for every namespace). While they are watched the
//! extension holds at most one connection per shoot and keeps it from round to round (the pause
//! between two reads of a shoot is longer than the read budget); after they are deleted it holds
//! none and its resident memory returns to within 10 % of the baseline measured before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use kube::api::DeleteParams;
use testbed::gardenlet::{self, ShootSpec};
use testbed::kubeutil::wait_for;

use common::*;

const POLL_SECONDS: u64 = 4;
/// The budget of one shoot read, shorter than the pause between two reads of a shoot.
const READ_BUDGET: &str = "syncStatus:\n  timeout: 3s\n";
/// Poll periods in a row that make the steady state (each round takes a period and the reads).
const STEADY_PERIODS: usize = 5;

/// Connections the poll opened so far (its own count).
const OPENED: &str = "shoot_flux_api_connections_total{cluster=\"shoot\"}";
/// Read passes the poll made so far (each lists the shoot's Flux Deployments once).
const READ_PASSES: &str = "shoot_flux_api_requests_total{cluster=\"shoot\",code=\"200\",verb=\"list\",resource=\"deployments\"}";

/// The steady state of `count` watched shoots: `STEADY_PERIODS` poll periods in a row in which
/// the poll opened no connection and the process held at most `count` connections to `port`.
/// A connection replaced once (a read over its budget on a loaded machine, a reconcile's own
/// look into a shoot) starts the window again; a client that reconnects every round, or
/// connections that pile up, never get there. Returns the most connections and the peak RSS of
/// the window.
async fn steady_connections(extension: &Extension, port: u16, count: usize) -> (usize, u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let before = extension.metrics().await;
        let started = std::time::Instant::now();
        let (mut most, mut peak) = (0, 0);
        for _ in 0..STEADY_PERIODS {
            tokio::time::sleep(Duration::from_secs(POLL_SECONDS)).await;
            peak = peak.max(extension.process.rss_kib().unwrap());
            most = most.max(extension.process.tcp_connections_to(port));
        }
        let after = extension.metrics().await;
        let since = |name| metric_sum(&after, name) - metric_sum(&before, name);
        let new = since(OPENED);
        if new == 0.0 && most <= count {
            println!(
                "steady window of {:.1}s: {} shoot reads (deployment lists) for {count} shoots, last round {:.2}s",
                started.elapsed().as_secs_f64(),
                since(READ_PASSES),
                metric_sum(&after, "shoot_flux_sync_poll_round_duration_seconds"),
            );
            return (most, peak);
        }
        let log = extension.logged(&["shoot client"]);
        let log = &log[log.len().saturating_sub(40)..];
        assert!(
            std::time::Instant::now() < deadline,
            "no steady state in 2 minutes: the last {STEADY_PERIODS} periods opened {new} connections and held up to {most} for {count} shoots; the poll's last clients:\n{}",
            log.join("\n")
        );
        println!(
            "window started again: {new} connections opened, up to {most} held for {count} shoots"
        );
    }
}

/// Median of a few RSS samples one poll period apart, in KiB.
async fn settled_rss(extension: &Extension) -> u64 {
    let mut samples = Vec::new();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(POLL_SECONDS)).await;
        samples.push(extension.process.rss_kib().unwrap());
    }
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Waits until the poll has read `spec`'s shoot (its conditions no longer wait for access).
async fn wait_read(bed: &testbed::Bed, spec: &ShootSpec) {
    wait_condition(
        bed,
        &spec.technical_id(),
        "FluxInstalled",
        "read through the shoot",
        Duration::from_secs(120),
        |c| c["reason"] != "WaitingForShootAccess",
    )
    .await;
}

/// Deletes the shoots as gardenlet does: the Cluster says the shoot is being deleted, then the
/// Extension is deleted and its finalizer released by the extension.
async fn delete_shoots(bed: &testbed::Bed, specs: &[ShootSpec], shared: &testbed::Shoot) {
    let seed = bed.seed().client().await.unwrap();
    for spec in specs {
        let mut deleting = spec.clone();
        deleting.deleting = true;
        gardenlet::apply_shoot_objects(&seed, &deleting, Some(shared.api()))
            .await
            .unwrap();
        extension_api(bed, &spec.technical_id())
            .await
            .delete("shoot-flux", &DeleteParams::default())
            .await
            .unwrap();
    }
    for spec in specs {
        let api = extension_api(bed, &spec.technical_id()).await;
        wait_for("the Extension gone", Duration::from_secs(120), || async {
            Ok(api.get_opt("shoot-flux").await?.is_none().then_some(()))
        })
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn watched_shoots_hold_one_connection_each_and_give_their_memory_back() {
    let _serial = SERIAL.lock().await;
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let count: usize = std::env::var("SHOOT_FLUX_SCALE_SHOOTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(50);
    let mut shared = bed.new_shoot(spec("scale", "shared")).await.unwrap();
    // As many warm-up shoots as the poll reads at once (syncStatus.concurrency, 16), so that
    // the baseline is a process that has served shoots: one-time caches (Flux manifests, TLS
    // setup) and what is sized by concurrency rather than by the number of shoots are in it.
    let warm_up: Vec<ShootSpec> = (0..16)
        .map(|i| spec("scale", &format!("w{i:02}")))
        .collect();
    let shoots: Vec<ShootSpec> = (0..count)
        .map(|i| spec("scale", &format!("s{i:03}")))
        .collect();
    let seed = bed.seed().client().await.unwrap();
    let namespaces: Vec<String> = warm_up
        .iter()
        .chain(shoots.iter())
        .map(ShootSpec::technical_id)
        .collect();
    for spec in warm_up.iter().chain(shoots.iter()) {
        gardenlet::apply_shoot_objects(&seed, spec, Some(shared.api()))
            .await
            .unwrap();
    }
    shared.start_shared_grm(&namespaces).await.unwrap();
    shared.start_node_simulator().unwrap();
    let extension = start_extension_configured(
        bed,
        "shoot-flux",
        &[&format!("--healthcheck-sync-period={POLL_SECONDS}s")],
        Some(bed.garden().kubeconfig_path()),
        READ_BUDGET,
    )
    .await;
    let port = shared.api().port();

    for spec in &warm_up {
        gardenlet::apply_extension(&seed, spec).await.unwrap();
    }
    for spec in &warm_up {
        wait_ready(bed, &spec.technical_id(), Duration::from_secs(60)).await;
        wait_read(bed, spec).await;
    }
    delete_shoots(bed, &warm_up, &shared).await;
    let baseline = settled_rss(&extension).await;

    for spec in &shoots {
        gardenlet::apply_extension(&seed, spec).await.unwrap();
    }
    for spec in &shoots {
        wait_ready(bed, &spec.technical_id(), Duration::from_secs(120)).await;
    }
    for spec in &shoots {
        wait_read(bed, spec).await;
    }
    let (most_connections, peak) = steady_connections(&extension, port, count).await;
    let held = metric_sum(&extension.metrics().await, "shoot_flux_shoot_connections");
    println!(
        "{count} shoots watched: {most_connections} connections to the shared shoot API server, none opened in {STEADY_PERIODS} periods, {held} clients held, RSS {peak} KiB (baseline {baseline} KiB)"
    );
    assert!(
        most_connections > 0,
        "the shoots are read through their own connections"
    );
    assert_eq!(held as usize, count);

    // A tenth of the shoots hibernate and as many are migrated away: their connections go.
    let tenth = (count / 10).max(1);
    let (hibernating, rest) = shoots.split_at(tenth);
    let (migrating, _) = rest.split_at(tenth);
    for spec in hibernating {
        let mut hibernated = spec.clone();
        hibernated.hibernated = true;
        gardenlet::apply_shoot_objects(&seed, &hibernated, Some(shared.api()))
            .await
            .unwrap();
    }
    for spec in migrating {
        annotate(bed, &spec.technical_id(), "migrate").await;
    }
    let remaining = (count - 2 * tenth) as f64;
    // A dropped client's connections close a moment after the client goes: waited for too.
    let open = wait_for(
        "the hibernated and migrated shoots' connections dropped",
        Duration::from_secs(120),
        || async {
            let metrics = extension.metrics().await;
            let held = metric_sum(&metrics, "shoot_flux_shoot_connections");
            let hibernated = metric_sum(&metrics, "shoot_flux_shoots{state=\"hibernated\"}");
            let open = extension.process.tcp_connections_to(port);
            if held == remaining && hibernated == tenth as f64 && open <= count - 2 * tenth {
                Ok(Some(open))
            } else {
                anyhow::bail!("{held} clients held, {hibernated} hibernated, {open} connections")
            }
        },
    )
    .await
    .unwrap();
    println!(
        "{tenth} hibernated and {tenth} migrated: {remaining} clients held, {open} connections"
    );

    delete_shoots(bed, &shoots, &shared).await;
    // The migrated shoots were deleted while their Migrate ran: the object that went with its
    // finalizers is done, not a failure.
    let gone = extension.logged(&["reconcile failed", "NotFound"]);
    assert!(gone.is_empty(), "{}", gone.join("\n"));
    wait_for(
        "every shoot connection closed",
        Duration::from_secs(120),
        || async {
            let held = metric_sum(&extension.metrics().await, "shoot_flux_shoot_connections");
            let open = extension.process.tcp_connections_to(port);
            Ok((held == 0.0 && open == 0).then_some(()))
        },
    )
    .await
    .unwrap();
    // The allocator hands freed memory back within seconds (jemalloc's decay); give it two minutes.
    let closed = std::time::Instant::now();
    let limit = baseline as f64 * 1.10;
    let after = wait_for(
        "RSS back within 10 % of the baseline",
        Duration::from_secs(120),
        || async {
            let rss = settled_rss(&extension).await;
            if rss as f64 > limit {
                anyhow::bail!("RSS {rss} KiB");
            }
            Ok(Some(rss))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e} (baseline {baseline} KiB, peak {peak} KiB)"));
    println!(
        "after deleting them: RSS {after} KiB, {:+.1} % against the baseline, {:.0}s after the last connection closed",
        (after as f64 / baseline as f64 - 1.0) * 100.0,
        closed.elapsed().as_secs_f64()
    );
}
