//! The churn soak of issue 19 (see `run.rs` for what it does and checks, and
//! docs/benchmarks.md, "Churn soak", for the figures). After `hack/testbed/install`:
//!
//! ```text
//! cargo build --release -p shoot-flux --bins --examples
//! target/release/examples/soak --shoots 1000 --minutes 30
//! ```
//!
//! (`hack/soak` runs both.) Flags: `--shoots N` (default 1000), `--minutes M` (of churn, default
//! 30), `--ops-per-minute R` (default 60), `--baseline-seconds S` (nothing changing before the
//! churn, default 60), `--seed N` (the random operations; default random, printed),
//! `--timeout-seconds 900` (per convergence and per deletion), `--output docs/benchmarks.md`
//! (where the measured section is written), `--no-write`, `--binary PATH` (default:
//! `gardener-extension-shoot-flux` beside this example), and `-- ARGS` after which every
//! argument goes to the controller. The exit code is 1 when anything was lost, orphaned or not
//! converged at the end.

#[allow(dead_code)]
#[path = "../bench/run.rs"]
mod bench;
#[allow(dead_code)]
#[path = "../faults/run.rs"]
mod faults;
mod run;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

const BEGIN: &str = "<!-- soak:begin (written by examples/soak; edit outside these markers) -->";
const END: &str = "<!-- soak:end -->";

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn parse() -> Result<(run::Options, Option<PathBuf>, Vec<String>)> {
    let mut options = run::Options {
        shoots: 1000,
        duration: Duration::from_secs(30 * 60),
        ops_per_minute: 60.0,
        baseline: Duration::from_secs(60),
        seed: faults::random_seed(),
        binary: PathBuf::new(),
        timeout: Duration::from_secs(900),
        extra_args: Vec::new(),
    };
    let mut output = Some(testbed::paths::repo_root().join("docs/benchmarks.md"));
    let mut binary = None;
    let mut command_line = Vec::new();
    let mut flags = bench::Flags::from_env();
    while let Some(flag) = flags.next_flag() {
        let mut value = || flags.value(&flag);
        match flag.name.as_str() {
            "--shoots" => {
                let v = value()?;
                options.shoots = v.parse().with_context(|| format!("--shoots {v:?}"))?;
                if options.shoots == 0 {
                    bail!("--shoots must be at least 1");
                }
                command_line.push(format!("--shoots {v}"));
            }
            "--minutes" => {
                let v = value()?;
                let m: f64 = v.parse().with_context(|| format!("--minutes {v:?}"))?;
                if m.is_nan() || m <= 0.0 {
                    bail!("--minutes {v:?}: must be positive");
                }
                options.duration = Duration::from_secs_f64(m * 60.0);
                command_line.push(format!("--minutes {v}"));
            }
            "--ops-per-minute" => {
                let v = value()?;
                options.ops_per_minute = v
                    .parse()
                    .with_context(|| format!("--ops-per-minute {v:?}"))?;
                if options.ops_per_minute.is_nan() || options.ops_per_minute <= 0.0 {
                    bail!("--ops-per-minute {v:?}: must be positive");
                }
                command_line.push(format!("--ops-per-minute {v}"));
            }
            "--baseline-seconds" => {
                let v = value()?;
                options.baseline = Duration::from_secs(
                    v.parse()
                        .with_context(|| format!("--baseline-seconds {v:?}"))?,
                );
                command_line.push(format!("--baseline-seconds {v}"));
            }
            "--seed" => options.seed = value()?.parse().context("--seed")?,
            "--timeout-seconds" => options.timeout = Duration::from_secs(value()?.parse()?),
            "--output" => output = Some(PathBuf::from(value()?)),
            "--no-write" => output = None,
            "--binary" => binary = Some(PathBuf::from(value()?)),
            "--" => options.extra_args.extend(flags.rest()),
            other => bail!("unknown argument {other:?} (see examples/soak/main.rs)"),
        }
    }
    command_line.push(format!("--seed {}", options.seed));
    options.binary = bench::extension_binary(binary, "soak")?;
    Ok((options, output, command_line))
}

#[tokio::main]
async fn main() -> Result<()> {
    let (options, output, command_line) = parse()?;
    let bed = testbed::bed().await?;
    eprintln!("test bed: {}", bed.dir().display());
    eprintln!("seed of the random operations: {}", options.seed);
    let report = run::run(&options).await?;
    let summary = report.summary();
    println!("{summary}");
    if let Some(path) = &output {
        let root = testbed::paths::repo_root();
        let root = root.to_string_lossy();
        let versions = testbed::paths::versions()?;
        let dirty = !command_output(
            "git",
            &["-C", &root, "status", "--porcelain", "--untracked-files=no"],
        )
        .is_empty();
        let section = format!(
            "{BEGIN}\n\nMeasured {date} on commit `{commit}`{dirty}, {cpus} CPUs; kube-apiserver {k8s}, \
             etcd {etcd}. Command: `hack/soak {args}`.\n\n{summary}\n{END}\n",
            date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            commit = command_output("git", &["-C", &root, "rev-parse", "--short=12", "HEAD"]),
            dirty = if dirty {
                " (with uncommitted changes)"
            } else {
                ""
            },
            cpus = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            k8s = versions.kubernetes,
            etcd = versions.etcd,
            args = command_line.join(" "),
        );
        bench::write_marked(path, BEGIN, END, "# Benchmarks\n\n", &section)?;
        println!("written to {}", path.display());
    }
    if !report.ok() {
        eprintln!("objects were lost or orphaned, or Extensions did not converge");
        std::process::exit(1);
    }
    Ok(())
}
