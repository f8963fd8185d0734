//! The README's demo command works: the demo runs to its summary with `--exit`, with two
//! replicas of the extension (both Ready), through a private repository whose deploy key it
//! prints and authorizes; a Shoot with a typo is refused at `kubectl apply`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn the_demo_runs_to_its_summary() {
    let binary = Path::new(env!("CARGO_BIN_EXE_gardener-extension-shoot-flux"));
    let demo = binary.parent().unwrap().join("examples/demo");
    // `cargo test --workspace` builds examples, a filtered run does not: build it here so the
    // test never runs a stale demo (a no-op when it is up to date).
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "shoot-flux", "--example", "demo"])
        .status()
        .unwrap();
    assert!(status.success(), "building the demo failed");
    assert!(demo.is_file(), "{}", demo.display());
    let output = Command::new(&demo)
        .arg("--exit")
        .env("SHOOT_FLUX_BINARY", binary)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "demo failed");
    assert!(stdout.contains("podinfo is running in the shoot"));
    // Two replicas with leader election, the standby Ready too.
    assert!(stdout.contains("both replicas Ready"));
    // The private repository's deploy key was printed and authorized.
    assert!(stdout.contains("    | ssh-ed25519 "));
    assert!(stdout.contains("authorized on sshd"));
    // A bad Shoot is refused at kubectl apply by the admission webhook, naming the field.
    assert!(stdout.contains("refused at apply, the field named"));
    assert!(stdout.contains("spec.extensions[0].providerConfig.source.template.spec.ref.brnch"));
    assert!(stdout.contains("demo complete"));
    // The sync status reached the garden side.
    assert!(stdout.contains("FluxSourceReady and FluxKustomizationReady are True"));
    assert!(stdout.contains("    | SHOOT "));
}
