//! CI's short pass of the churn soak of issue 19 (`examples/soak`, docs/benchmarks.md): 20
//! shoots, two minutes of creations, hibernations, wake-ups, reconfigurations and deletions at a
//! high rate with the controller's default periods; afterwards every live shoot is converged
//! with its latest configuration and nothing was lost or orphaned. It asserts that the figures
//! are there, never how good they are. It never writes docs/benchmarks.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../examples/bench/run.rs"]
mod bench;
#[allow(dead_code)]
#[path = "../examples/faults/run.rs"]
mod faults;
#[allow(dead_code)]
#[path = "../examples/soak/run.rs"]
mod run;

use std::time::{Duration, Instant};

#[tokio::test]
async fn two_minutes_of_churn_at_20_shoots_lose_and_orphan_nothing() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let seed = faults::random_seed();
    let options = run::Options {
        shoots: 20,
        duration: Duration::from_secs(120),
        ops_per_minute: 40.0,
        baseline: Duration::from_secs(15),
        seed,
        binary: env!("CARGO_BIN_EXE_gardener-extension-shoot-flux").into(),
        // Generous: a loaded 2-core CI machine; each wait ends as soon as it converged.
        timeout: Duration::from_secs(300),
        extra_args: Vec::new(),
    };
    let started = Instant::now();
    let report = run::run(&options).await.unwrap();
    let summary = report.summary();
    println!(
        "seed {seed}, {:.1}s\n{summary}",
        started.elapsed().as_secs_f64()
    );
    assert!(report.ok(), "seed {seed}:\n{summary}");
    // The churn happened, and every kind of operation had its chance.
    assert!(report.ops.len() >= 40, "{summary}");
    assert!(report.deleted > 0, "{summary}");
    assert!(report.churn_s >= 120.0, "{summary}");
    // The figures are there (never judged: a loaded CI machine).
    assert!(report.minutes.len() >= 2, "{summary}");
    for m in &report.minutes[..2] {
        assert!(m.ops > 0, "{m:?}");
        assert!(
            m.rss_mean_mib > 1.0 && m.rss_max_mib >= m.rss_mean_mib,
            "{m:?}"
        );
        assert!(m.seed_rps.is_finite() && m.garden_rps.is_finite(), "{m:?}");
        assert!(m.cpu_pct.is_finite() && m.cpu_pct >= 0.0, "{m:?}");
    }
    assert!(report.churn_seed_rps > 0.0, "{summary}");
    assert!(report.rss_trend.is_some(), "{summary}");
    assert!(
        summary.contains("| minute | ops | seed req/s |"),
        "{summary}"
    );
    // Three ManagedResources with one referenced secret each on every live shoot; one deploy
    // key in the one private project of 2.
    assert_eq!(report.managed_resources, 3 * report.shoots_end, "{summary}");
    assert_eq!(report.mr_secrets, 3 * report.shoots_end, "{summary}");
    assert_eq!(report.deploy_keys, 1, "{summary}");
}
