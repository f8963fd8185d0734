//! Fault injection during a convergence (issue 9; see `run.rs` for what it does and checks, and
//! docs/reliability.md for the figures). After `hack/testbed/install`:
//!
//! ```text
//! cargo build --release -p shoot-flux --bins --examples
//! target/release/examples/faults --shoots 300
//! ```
//!
//! (`hack/faults` runs both.) Flags: `--shoots N` (default 300), `--kills K` (`kill -9` of the
//! controller, default 5), `--no-seed-restart`, `--etcd-outage-seconds S` (default 20; 0: no
//! etcd fault), `--etcd-fault kill|pause` (default kill: etcd is killed and started again on its
//! data directory; pause: SIGSTOP, then SIGCONT), `--seed N` (the random moments; default
//! random, printed), `--timeout-seconds 900`, `--output docs/reliability.md` (where the measured
//! section is written), `--no-write`, `--binary PATH` (default: `gardener-extension-shoot-flux`
//! beside this example), and `-- ARGS` after which every argument goes to the controller. The
//! exit code is 1 when anything was lost, duplicated or orphaned, or a deploy key changed.

#[allow(dead_code)]
#[path = "../bench/run.rs"]
mod bench;
mod run;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};

const BEGIN: &str =
    "<!-- faults:begin (written by examples/faults; edit outside these markers) -->";
const END: &str = "<!-- faults:end -->";

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
        shoots: 300,
        kills: 5,
        restart_seed: true,
        etcd_outage: Some(Duration::from_secs(20)),
        etcd_fault: run::EtcdFault::Kill,
        binary: PathBuf::new(),
        timeout: Duration::from_secs(900),
        seed: run::random_seed(),
        extra_args: Vec::new(),
    };
    let mut output = Some(testbed::paths::repo_root().join("docs/reliability.md"));
    let mut binary = None;
    let mut command_line = Vec::new();
    let mut flags = bench::Flags::from_env();
    while let Some(flag) = flags.next_flag() {
        let mut value = || flags.value(&flag);
        match flag.name.as_str() {
            "--shoots" => {
                let v = value()?;
                options.shoots = v.parse().with_context(|| format!("--shoots {v:?}"))?;
                command_line.push(format!("--shoots {v}"));
            }
            "--kills" => {
                let v = value()?;
                options.kills = v.parse().with_context(|| format!("--kills {v:?}"))?;
                command_line.push(format!("--kills {v}"));
            }
            "--no-seed-restart" => {
                options.restart_seed = false;
                command_line.push(flag.name.clone());
            }
            "--etcd-outage-seconds" => {
                let v = value()?;
                let s: u64 = v
                    .parse()
                    .with_context(|| format!("--etcd-outage-seconds {v:?}"))?;
                options.etcd_outage = (s > 0).then(|| Duration::from_secs(s));
                command_line.push(format!("--etcd-outage-seconds {v}"));
            }
            "--etcd-fault" => {
                let v = value()?;
                options.etcd_fault = match v.as_str() {
                    "kill" => run::EtcdFault::Kill,
                    "pause" => run::EtcdFault::Pause,
                    other => bail!("--etcd-fault {other:?}: kill or pause"),
                };
                command_line.push(format!("--etcd-fault {v}"));
            }
            "--seed" => options.seed = value()?.parse().context("--seed")?,
            "--timeout-seconds" => options.timeout = Duration::from_secs(value()?.parse()?),
            "--output" => output = Some(PathBuf::from(value()?)),
            "--no-write" => output = None,
            "--binary" => binary = Some(PathBuf::from(value()?)),
            "--" => options.extra_args.extend(flags.rest()),
            other => bail!("unknown argument {other:?} (see examples/faults/main.rs)"),
        }
    }
    command_line.push(format!("--seed {}", options.seed));
    options.binary = bench::extension_binary(binary, "faults")?;
    Ok((options, output, command_line))
}

#[tokio::main]
async fn main() -> Result<()> {
    let (options, output, command_line) = parse()?;
    let bed = testbed::bed().await?;
    eprintln!("test bed: {}", bed.dir().display());
    let report = run::run(&options).await?;
    let summary = report.summary();
    println!("{summary}");
    if let Some(path) = &output {
        let root = testbed::paths::repo_root();
        let root = root.to_string_lossy();
        let versions = testbed::paths::versions()?;
        let section = format!(
            "{BEGIN}\n\nMeasured {date} on commit `{commit}`, {cpus} CPUs; kube-apiserver {k8s}, etcd \
             {etcd}. Command: `hack/faults {args}`.\n\n{summary}\n{END}\n",
            date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
            commit = command_output("git", &["-C", &root, "rev-parse", "--short=12", "HEAD"]),
            cpus = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            k8s = versions.kubernetes,
            etcd = versions.etcd,
            args = command_line.join(" "),
        );
        bench::write_marked(path, BEGIN, END, "# Reliability\n\n", &section)?;
        println!("written to {}", path.display());
    }
    if !report.ok() {
        eprintln!("objects were lost, duplicated or orphaned, or a deploy key changed");
        std::process::exit(1);
    }
    Ok(())
}
