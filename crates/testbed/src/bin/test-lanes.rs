//! Runs every test of the workspace, test binaries side by side in lanes (`hack/test`).
//!
//! The end-to-end tests spend most of their time waiting for real components (Flux intervals,
//! GRM, API server watches), and each binary has its own test bed (own ports, own directories),
//! so two binaries at a time finish the suite in a little over half the time of `cargo test`,
//! which runs them one after another. Builds everything once with
//! `cargo test --workspace --no-run`, then runs the binaries longest first (durations of the
//! previous run, in `target/test-lanes/durations.json`; unknown ones first), each binary's
//! output printed whole when it ends, and a summary. Exit code 1 when any binary failed.
//!
//! Usage: test-lanes [--lanes N] `[-- <arguments for every test binary>]`
//! `SHOOT_FLUX_TEST_LANES` sets the default lane count (2).

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// One test binary as cargo built it.
#[derive(Debug, Clone)]
struct TestBinary {
    /// `<package>::<target>`, e.g. `shoot-flux::e2e_contract` or `shoot-flux::lib`.
    name: String,
    executable: PathBuf,
    /// The package directory: cargo runs tests there.
    directory: PathBuf,
}

#[derive(Debug)]
struct Outcome {
    name: String,
    passed: bool,
    duration: Duration,
    summary: String,
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let passthrough = match args.iter().position(|a| a == "--") {
        Some(i) => args.split_off(i).into_iter().skip(1).collect(),
        None => Vec::new(),
    };
    let mut lanes: usize = std::env::var("SHOOT_FLUX_TEST_LANES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "--lanes" => {
                lanes = rest
                    .next()
                    .and_then(|v| v.parse().ok())
                    .context("--lanes needs a number")?;
            }
            other => bail!("unknown argument {other:?}; usage: test-lanes [--lanes N] [-- ARGS]"),
        }
    }
    let lanes = lanes.max(1);
    let started = Instant::now();
    let binaries = build()?;
    let target = target_dir()?;
    let state = target.join("test-lanes");
    std::fs::create_dir_all(&state)?;
    let durations_file = state.join("durations.json");
    let previous: BTreeMap<String, f64> = std::fs::read(&durations_file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut queue: Vec<TestBinary> = binaries;
    // Longest first; a binary never timed counts as the longest.
    queue.sort_by(|a, b| {
        let d = |t: &TestBinary| previous.get(&t.name).copied().unwrap_or(f64::MAX);
        d(b).total_cmp(&d(a)).then_with(|| a.name.cmp(&b.name))
    });
    println!(
        "[test-lanes] {} test binaries in {lanes} lanes (built in {:.0}s)",
        queue.len(),
        started.elapsed().as_secs_f64()
    );
    let queue = Arc::new(Mutex::new(VecDeque::from(queue)));
    let outcomes = Arc::new(Mutex::new(Vec::new()));
    let print = Arc::new(Mutex::new(()));
    let workers: Vec<_> = (0..lanes)
        .map(|lane| {
            let (queue, outcomes, print) = (queue.clone(), outcomes.clone(), print.clone());
            let (passthrough, state) = (passthrough.clone(), state.clone());
            std::thread::spawn(move || {
                loop {
                    let next = queue.lock().map(|mut q| q.pop_front()).ok().flatten();
                    let Some(binary) = next else { break };
                    let outcome = run(&binary, &passthrough, &state, lane, &print);
                    if let Ok(mut all) = outcomes.lock() {
                        all.push(outcome);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    let doc = doc_tests();
    let mut outcomes =
        std::mem::take(&mut *outcomes.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    outcomes.push(doc);
    let durations: BTreeMap<&str, f64> = outcomes
        .iter()
        .map(|o| (o.name.as_str(), o.duration.as_secs_f64()))
        .collect();
    // A filtered run's durations say nothing about the next full one.
    if passthrough.is_empty() {
        std::fs::write(&durations_file, serde_json::to_vec_pretty(&durations)?)?;
    }
    outcomes.sort_by_key(|o| std::cmp::Reverse(o.duration));
    println!("\n[test-lanes] summary ({lanes} lanes):");
    for o in &outcomes {
        println!(
            "  {:<6} {:>6.1}s  {:<42} {}",
            if o.passed { "ok" } else { "FAILED" },
            o.duration.as_secs_f64(),
            o.name,
            o.summary
        );
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed)
        .map(|o| o.name.as_str())
        .collect();
    println!(
        "[test-lanes] {} binaries, {} failed, {:.0}s in all",
        outcomes.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        println!("[test-lanes] failed: {}", failed.join(", "));
        std::process::exit(1);
    }
    Ok(())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `cargo test --workspace --no-run`, reading the test executables from its JSON messages.
fn build() -> Result<Vec<TestBinary>> {
    let mut child = Command::new(cargo())
        .args([
            "test",
            "--workspace",
            "--no-run",
            "--message-format=json-render-diagnostics",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting cargo")?;
    let stdout = child.stdout.take().context("cargo's stdout")?;
    let mut binaries = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let message: Value = match serde_json::from_str(&line?) {
            Ok(v) => v,
            Err(_) => continue,
        };
        if message["reason"] != "compiler-artifact" || message["profile"]["test"] != true {
            continue;
        }
        let Some(executable) = message["executable"].as_str() else {
            continue;
        };
        let manifest = PathBuf::from(message["manifest_path"].as_str().unwrap_or_default());
        let package = message["package_id"]
            .as_str()
            .and_then(package_name)
            .unwrap_or("?");
        let kind = message["target"]["kind"][0].as_str().unwrap_or_default();
        let target = message["target"]["name"].as_str().unwrap_or_default();
        let name = match kind {
            "lib" => format!("{package}::lib"),
            "bin" => format!("{package}::bin {target}"),
            _ => format!("{package}::{target}"),
        };
        binaries.push(TestBinary {
            name,
            executable: PathBuf::from(executable),
            directory: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
        });
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("cargo test --no-run failed ({status})");
    }
    Ok(binaries)
}

/// The package name of a cargo package id (`path+file:///.../shoot-flux#0.1.0` or the older
/// `shoot-flux 0.1.0 (path+file://...)`).
fn package_name(id: &str) -> Option<&str> {
    if let Some((_, tail)) = id.rsplit_once('/')
        && let Some((directory, version)) = tail.split_once('#')
    {
        // `dir#name@version` when the package name differs from its directory.
        return Some(version.split_once('@').map_or(directory, |(name, _)| name));
    }
    id.split_whitespace().next()
}

fn target_dir() -> Result<PathBuf> {
    let out = Command::new(cargo())
        .args(["metadata", "--format-version=1", "--no-deps"])
        .output()
        .context("cargo metadata")?;
    let metadata: Value = serde_json::from_slice(&out.stdout)?;
    Ok(PathBuf::from(
        metadata["target_directory"]
            .as_str()
            .context("no target_directory")?,
    ))
}

/// Runs one binary with its output in a file, then prints the output whole.
fn run(
    binary: &TestBinary,
    passthrough: &[String],
    state: &Path,
    lane: usize,
    print: &Mutex<()>,
) -> Outcome {
    let log = state.join(format!("{}.log", binary.name.replace([':', ' '], "_")));
    let started = Instant::now();
    let result = std::fs::File::create(&log).and_then(|file| {
        let err = file.try_clone()?;
        Command::new(&binary.executable)
            .args(passthrough)
            .current_dir(&binary.directory)
            .env("CARGO", cargo())
            .stdout(file)
            .stderr(err)
            .status()
    });
    let duration = started.elapsed();
    let output = std::fs::read_to_string(&log).unwrap_or_default();
    let passed = matches!(&result, Ok(status) if status.success());
    let summary = output
        .lines()
        .rev()
        .find(|l| l.starts_with("test result:"))
        .unwrap_or(match &result {
            Ok(_) => "no test result line",
            Err(_) => "could not be started",
        })
        .trim_start_matches("test result: ")
        .to_string();
    if let Ok(_guard) = print.lock() {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "\n===== [lane {lane}] {} ({:.1}s, {}) =====",
            binary.name,
            duration.as_secs_f64(),
            if passed { "ok" } else { "FAILED" }
        );
        let _ = out.write_all(output.as_bytes());
        if let Err(e) = &result {
            let _ = writeln!(out, "could not run {}: {e}", binary.executable.display());
        }
        let _ = out.flush();
    }
    Outcome {
        name: binary.name.clone(),
        passed,
        duration,
        summary,
    }
}

/// The doc tests, which have no binary of their own: `cargo test --workspace --doc`.
fn doc_tests() -> Outcome {
    let started = Instant::now();
    let out = Command::new(cargo())
        .args(["test", "--workspace", "--doc", "-q"])
        .output();
    let (passed, text) = match out {
        Ok(o) => (
            o.status.success(),
            String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr),
        ),
        Err(e) => (false, e.to_string()),
    };
    println!(
        "\n===== doc tests ({}) =====\n{text}",
        if passed { "ok" } else { "FAILED" }
    );
    Outcome {
        name: "doc tests".into(),
        passed,
        duration: started.elapsed(),
        summary: text
            .lines()
            .rev()
            .find(|l| l.starts_with("test result:"))
            .unwrap_or_default()
            .trim_start_matches("test result: ")
            .to_string(),
    }
}
