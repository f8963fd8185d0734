//! CI keeps the convergence benchmark (examples/bench, issue 8) working: it runs it at N = 20
//! and checks the table's values are sane. It never writes docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../examples/bench/run.rs"]
#[allow(dead_code)]
mod run;
#[path = "../examples/bench/svg.rs"]
mod svg;

use std::time::Duration;

#[tokio::test]
async fn the_benchmark_runs_at_20_shoots() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let options = run::Options {
        shoots: vec![20],
        binary: env!("CARGO_BIN_EXE_gardener-extension-shoot-flux").into(),
        concurrencies: vec![1, 4, 16, 64],
        // Generous: a loaded 2-core CI machine; the run ends as soon as it converged.
        timeout: Duration::from_secs(300),
        extra_args: Vec::new(),
        // Two whole periods of the health check and sync poll (30 s): the smallest window whose
        // rates do not depend on where it starts, with samples of the rate for the picture.
        // It adds about 90 s (one more period waits before the window).
        steady: Some(Duration::from_secs(60)),
        // The second round starts from the landscape the first one wrote, taken back.
        convergence_rounds: 2,
    };
    let rows = run::run(&options).await.unwrap();
    let table = run::table(&rows);
    println!("{table}\n{}", run::details(&rows));
    assert!(table.starts_with(
        "| N | convergence s | floor s | ratio | resync writes | upgrade s | peak RSS MiB | CPU ms/shoot | steady seed req/s | steady CPU % | steady RSS MiB |"
    ));
    let [row] = rows.as_slice() else {
        panic!("one row expected: {rows:?}")
    };
    assert_eq!(row.shoots, 20);
    assert!(
        row.convergence_s > 0.0 && row.convergence_s < 300.0,
        "{row:?}"
    );
    assert!(
        row.floor_s > 0.0 && row.floor_s <= row.convergence_s * 10.0,
        "{row:?}"
    );
    assert!(row.ratio().is_finite(), "{row:?}");
    assert!(row.upgrade_s > 0.0 && row.upgrade_s < 300.0, "{row:?}");
    assert!(
        row.peak_rss_mib > 1.0 && row.peak_rss_mib < 1024.0,
        "{row:?}"
    );
    assert!(row.cpu_ms_per_shoot > 0.0, "{row:?}");
    // Both rounds converged from scratch: each took time and CPU, and the table has their median.
    assert_eq!(row.convergence_rounds.len(), 2, "{row:?}");
    assert!(
        row.convergence_rounds
            .iter()
            .all(|&(s, ms)| s > 0.0 && ms > 0.0),
        "{row:?}"
    );
    let (low, high) = (row.convergence_rounds[0].1, row.convergence_rounds[1].1);
    assert!(
        (row.cpu_ms_per_shoot - (low + high) / 2.0).abs() < 1e-9,
        "{row:?}"
    );
    assert!(
        row.cluster_kib >= 100.0,
        "Clusters of a landscape's size: {row:?}"
    );
    // 20 shoots: 3 ManagedResources, their 3 secrets and the access secret each, plus one
    // deploy key per private project (1 of 2).
    assert_eq!(row.floor_objects, 20 * 7 + 1, "{row:?}");
    // The contract floor ran at every concurrency, and its copies of the Extensions are gone.
    assert_eq!(row.contract_floors.len(), 4, "{row:?}");
    assert!(
        row.contract_floor_s > 0.0 && row.contract_ratio().is_finite(),
        "{row:?}"
    );
    // The floors' client's own CPU was measured (reading 20 Clusters of 196 KiB over TLS alone
    // takes milliseconds).
    assert!(
        row.floor_client_cpu_ms >= 0.0 && row.contract_floor_client_cpu_ms > 0.0,
        "{row:?}"
    );
    let extensions = testbed::kubeutil::dynamic_api(
        &bed.seed().client().await.unwrap(),
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        None,
    )
    .await
    .unwrap();
    let left: Vec<_> = extensions
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.data["spec"]["type"] == "bench-contract-floor")
        .filter_map(|e| e.metadata.name)
        .collect();
    assert!(left.is_empty(), "contract floor Extensions left: {left:?}");
    // A resync with nothing changed writes at most the status of each Extension (twice).
    assert!(row.resync_writes <= 2 * 20, "{row:?}");
    // Every Extension's ready time, and each floor object's; the picture draws them.
    assert_eq!(row.ready_times.len(), 20, "{row:?}");
    assert_eq!(row.floor_times.len(), row.floor_objects, "{row:?}");
    // The steady state was measured: present and finite (no bound on the figures: this is
    // not a timed test).
    let steady = row.steady.as_ref().expect("the steady state was measured");
    assert!(steady.seconds >= 60.0, "{steady:?}");
    for figure in [
        steady.seed_rps,
        steady.garden_rps,
        steady.cpu_pct,
        steady.rss_mean_mib,
        steady.rss_max_mib,
    ] {
        assert!(figure.is_finite() && figure >= 0.0, "{steady:?}");
    }
    assert!(
        steady.rss_mean_mib > 1.0 && steady.rss_mean_mib <= steady.rss_max_mib,
        "{steady:?}"
    );
    // The leader Lease and the heartbeat are renewed in the window: the controller's own
    // requests are counted by verb and resource.
    assert!(
        steady
            .requests
            .iter()
            .any(|(kind, _)| kind.starts_with("seed ") && kind.ends_with(" leases")),
        "{steady:?}"
    );
    assert!(steady.rates.len() >= 3, "{steady:?}");
    assert!(
        steady
            .connections_per_period
            .iter()
            .any(|(c, _)| c == "seed"),
        "{steady:?}"
    );
    assert!(table.contains(&format!(
        "| {:.2} | {:.2} | {:.1} |",
        steady.seed_rps, steady.cpu_pct, steady.rss_mean_mib
    )));
    let details = run::details(&rows);
    assert!(details.contains("Steady-state requests per second by cluster, verb and resource"));
    let picture = svg::render(&rows);
    assert!(picture.contains("class=\"ready\" data-n=\"20\""));
    assert!(picture.contains("class=\"steady-seed\" data-n=\"20\""));
}
