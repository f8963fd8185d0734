//! CI's short pass of the fault injection of issue 9 (`examples/faults`, docs/reliability.md):
//! 20 shoots, one `kill -9` of the controller and a restart of the seed API server during the
//! convergence; afterwards every Extension is Succeeded and nothing was lost, duplicated or
//! orphaned, and every private project still has its first deploy key.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[allow(dead_code)]
#[path = "../examples/bench/run.rs"]
mod bench;
#[allow(dead_code)]
#[path = "../examples/faults/run.rs"]
mod run;

use std::time::{Duration, Instant};

#[tokio::test]
async fn a_killed_controller_and_a_restarted_seed_lose_nothing_at_20_shoots() {
    let bed = testbed::bed().await.unwrap();
    let _logs = bed.logs_on_failure();
    let seed = run::random_seed();
    let options = run::Options {
        shoots: 20,
        kills: 1,
        restart_seed: true,
        etcd_outage: None,
        etcd_fault: run::EtcdFault::Kill,
        binary: env!("CARGO_BIN_EXE_gardener-extension-shoot-flux").into(),
        // Generous: a loaded 2-core CI machine; each wait ends as soon as it converged.
        timeout: Duration::from_secs(300),
        seed,
        extra_args: Vec::new(),
    };
    let started = Instant::now();
    let report = run::run(&options).await.unwrap();
    println!(
        "seed {seed}, {:.1}s\n{}",
        started.elapsed().as_secs_f64(),
        report.summary()
    );
    assert_eq!(report.kills(), 1, "{report:?}");
    assert_eq!(report.faults.len(), 2, "{report:?}");
    assert!(report.ok(), "{}", report.summary());
    // 20 shoots: 3 ManagedResources with one secret each; 2 projects, 1 private with its key,
    // recorded when it first appeared.
    assert_eq!(report.managed_resources, 60, "{report:?}");
    assert_eq!(report.mr_secrets, 60, "{report:?}");
    assert_eq!(report.deploy_keys, 1, "{report:?}");
    assert_eq!(report.fingerprints_recorded, 1, "{report:?}");
}
