use anyhow::Result;
use clap::Parser;

use shoot_flux::cli::Args;
use shoot_flux::{commands, runtime};

/// One thread runs every task: the controller waits on the API servers nearly all the time, and
/// a second worker only added wake-ups and hand-overs between threads (measured on the benchmark:
/// less CPU per shoot, same convergence).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(command) = &args.command {
        return commands::run(&args, command).await;
    }
    runtime::init_logging(&args);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), gardener_version = ?args.gardener_version, "starting gardener-extension-shoot-flux");
    runtime::run(&args).await
}

/// jemalloc returns freed memory to the system within seconds; glibc's malloc kept what 50
/// watched and then deleted shoots had used (RSS stayed 40 % above its baseline).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, which it reads before `main`: a background thread returns memory that
/// has been unused for a second (the default keeps it 10 s), so the garbage of a reconcile wave
/// (a Cluster body of ~200 KiB per shoot) does not pile up as resident memory while it lasts;
/// one arena, since one thread runs all the work (the default, four per CPU, kept each worker's
/// freed pages apart).
/// Exporting the symbol is the documented way to set them; nothing here is unsafe to call.
#[allow(unsafe_code, non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: Option<&'static std::ffi::c_char> = Some(&JEMALLOC_OPTIONS[0]);

static JEMALLOC_OPTIONS: [std::ffi::c_char; 70] =
    c_string(b"background_thread:true,narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0\0");

const fn c_string<const N: usize>(bytes: &[u8; N]) -> [std::ffi::c_char; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i] as std::ffi::c_char;
        i += 1;
    }
    out
}
