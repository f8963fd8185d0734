//! The convergence benchmark of issue 8 (see `run.rs` for what it measures and
//! docs/benchmarks.md for the figures). After `hack/testbed/install`:
//!
//! ```text
//! cargo build --release -p shoot-flux --bins
//! cargo run --release -p shoot-flux --example bench -- --shoots 100,300,1000
//! ```
//!
//! (`hack/bench` runs both.) Flags: `--shoots N,N,..` (default 100,300,1000),
//! `--concurrency 1,4,16,64` (the floor's), `--timeout-seconds 900` (per convergence),
//! `--output docs/benchmarks.md` (where the measured section is written), `--no-write` (print
//! only), `--binary PATH` (default: `gardener-extension-shoot-flux` beside this example),
//! `--steady-seconds 300` (the steady-state window per N; 0 skips it), `--convergence-rounds 3`
//! (convergences from scratch per N; the table has the median), and `-- ARGS` after
//! which every argument goes to the controller. Besides the Markdown file it writes the picture
//! (`docs/benchmarks.svg`: the same name with `.svg`).

mod run;
mod svg;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

const BEGIN: &str = "<!-- bench:begin (written by examples/bench; edit outside these markers) -->";
const END: &str = "<!-- bench:end -->";

struct Args {
    options: run::Options,
    output: Option<PathBuf>,
}

fn list(value: &str) -> Result<Vec<usize>> {
    value
        .split(',')
        .map(|v| {
            v.trim()
                .parse::<usize>()
                .with_context(|| format!("{v:?} is not a number"))
        })
        .collect()
}

fn parse() -> Result<Args> {
    let mut shoots = vec![100, 300, 1000];
    let mut concurrencies = vec![1, 4, 16, 64];
    let mut timeout = Duration::from_secs(900);
    let mut output = Some(testbed::paths::repo_root().join("docs/benchmarks.md"));
    let mut binary = None;
    let mut extra_args = Vec::new();
    let mut steady = Some(Duration::from_secs(300));
    let mut convergence_rounds = 3;
    let mut flags = run::Flags::from_env();
    while let Some(flag) = flags.next_flag() {
        let mut value = || flags.value(&flag);
        match flag.name.as_str() {
            "--shoots" => shoots = list(&value()?)?,
            "--concurrency" => concurrencies = list(&value()?)?,
            "--timeout-seconds" => timeout = Duration::from_secs(value()?.parse()?),
            "--output" => output = Some(PathBuf::from(value()?)),
            "--no-write" => output = None,
            "--binary" => binary = Some(PathBuf::from(value()?)),
            "--steady-seconds" => {
                let seconds: u64 = value()?
                    .parse()
                    .context("--steady-seconds: a number of seconds")?;
                steady = (seconds > 0).then(|| Duration::from_secs(seconds));
            }
            "--convergence-rounds" => {
                convergence_rounds = value()?
                    .parse()
                    .context("--convergence-rounds: a number of rounds")?;
                ensure!(convergence_rounds > 0, "--convergence-rounds: at least 1");
            }
            "--" => extra_args.extend(flags.rest()),
            other => bail!("unknown argument {other:?} (see examples/bench/main.rs)"),
        }
    }
    let binary = run::extension_binary(binary, "bench")?;
    Ok(Args {
        options: run::Options {
            shoots,
            binary,
            concurrencies,
            timeout,
            extra_args,
            steady,
            convergence_rounds,
        },
        output,
    })
}

fn command_output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs ({model}), {mem_gib:.0} GiB RAM")
}

/// The measured section of docs/benchmarks.md.
fn section(rows: &[run::Row], options: &run::Options, svg_name: &str) -> Result<String> {
    let versions = testbed::paths::versions()?;
    let root = testbed::paths::repo_root();
    let root = root.to_string_lossy();
    let commit = command_output("git", &["-C", &root, "rev-parse", "--short=12", "HEAD"]);
    let dirty = !command_output(
        "git",
        &["-C", &root, "status", "--porcelain", "--untracked-files=no"],
    )
    .is_empty();
    let shoots: Vec<String> = options.shoots.iter().map(usize::to_string).collect();
    Ok(format!(
        "{BEGIN}\n\n\
         Measured {date} on commit `{commit}`{dirty}, {machine}; {rustc}; kube-apiserver {k8s}, \
         etcd {etcd}, gardener CRDs {gardener}, Flux {old} → {new}. Command: \
         `cargo run --release -p shoot-flux --example bench -- --shoots {shoots}{steady}{rounds}`. \
         Convergence and CPU per shoot are the medians of {round_count} convergences from scratch \
         per N (each round in the details); the servers' CPU, the requests and the picture are \
         the median round's.\n\n\
         {table}\n\
         ![Extensions ready over time against the floor, and the steady-state request rate]({svg})\n\n\
         Details (floor per concurrency; the best is the table's floor):\n\n\
         {details}\n\
         {END}\n",
        date = command_output("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        dirty = if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        machine = machine(),
        rustc = command_output("rustc", &["--version"]),
        k8s = versions.kubernetes,
        etcd = versions.etcd,
        gardener = versions.gardener,
        old = versions.flux_previous,
        new = versions.flux,
        shoots = shoots.join(","),
        steady = match options.steady {
            Some(w) if w != Duration::from_secs(300) =>
                format!(" --steady-seconds {}", w.as_secs()),
            Some(_) => String::new(),
            None => " --steady-seconds 0".into(),
        },
        rounds = match options.convergence_rounds {
            3 => String::new(),
            r => format!(" --convergence-rounds {r}"),
        },
        round_count = options.convergence_rounds,
        svg = svg_name,
        table = run::table(rows),
        details = run::details(rows),
    ))
}

// One thread, as the controller runs: the floors' client CPU (`Row::floor_client_cpu_ms`) is
// then spent as the controller would spend it, without hand-offs between worker threads.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = parse()?;
    let bed = testbed::bed().await?;
    eprintln!("test bed: {}", bed.dir().display());
    let rows = run::run(&args.options).await?;
    println!("{}", run::table(&rows));
    println!("{}", run::details(&rows));
    if let Some(path) = &args.output {
        let picture = path.with_extension("svg");
        let svg_name = picture
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        run::write_marked(
            path,
            BEGIN,
            END,
            "# Benchmarks\n\n",
            &section(&rows, &args.options, &svg_name)?,
        )?;
        std::fs::write(&picture, svg::render(&rows))?;
        println!("written to {} and {}", path.display(), picture.display());
    }
    Ok(())
}
