//! Child processes of the bed: started with their output in a log file, stopped by PID.
//!
//! Every child is spawned from one long-lived supervisor thread with `PR_SET_PDEATHSIG`, so the
//! kernel kills it if the test binary dies (the signal fires when the *spawning thread* exits,
//! hence the dedicated thread). Normal stops go through [`Process::stop`] or `Drop`; an `atexit`
//! hook stops whatever the shared, never-dropped bed still runs when the binary exits, then
//! removes the data directories registered with [`remove_at_exit`] (etcd's data is 60–170 MiB per
//! bed; a suite run left gigabytes behind before).
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
static LIVE_PIDS: Mutex<Vec<i32>> = Mutex::new(Vec::new());
static DIRS_TO_REMOVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

extern "C" fn kill_remaining_children() {
    if let Ok(pids) = LIVE_PIDS.lock() {
        for pid in pids.iter() {
            // SAFETY: plain kill(2) on the PID of a child this process started.
            unsafe {
                libc::kill(*pid, libc::SIGKILL);
            }
        }
        for pid in pids.iter() {
            // Reaped before its files go, so no child writes into a directory being removed.
            // SAFETY: waitpid(2) on our own child; ECHILD if it was reaped already.
            unsafe {
                libc::waitpid(*pid, std::ptr::null_mut(), 0);
            }
        }
    }
    if let Ok(dirs) = DIRS_TO_REMOVE.lock() {
        for dir in dirs.iter() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Removes `dir` when the test binary exits, after every child is gone (state that only a
/// running bed needs, not the logs a failure is read from).
pub fn remove_at_exit(dir: &Path) {
    spawner();
    if let Ok(mut dirs) = DIRS_TO_REMOVE.lock() {
        dirs.push(dir.to_path_buf());
    }
}

fn spawner() -> &'static Mutex<mpsc::Sender<SpawnRequest>> {
    SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        // SAFETY: registering a C callback that only calls kill(2).
        unsafe {
            libc::atexit(kill_remaining_children);
        }
        std::thread::Builder::new()
            .name("testbed-supervisor".into())
            .spawn(move || {
                for (mut command, reply) in rx {
                    let _ = reply.send(command.spawn());
                }
                // The channel never closes while the process runs: keep this thread alive so the
                // parent-death signal of its children does not fire early.
                loop {
                    std::thread::park();
                }
            })
            .map(|_| ())
            .unwrap_or_else(|e| panic!("cannot start the test-bed supervisor thread: {e}"));
        Mutex::new(tx)
    })
}

/// A running child process with its log file.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Option<Child>,
    pid: i32,
    log: PathBuf,
}

impl Process {
    /// Starts `command` with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, mut command: Command, log: &Path) -> Result<Self> {
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening log {}", log.display()))?;
        let err = out.try_clone()?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        // SAFETY: prctl(2) is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let (reply_tx, reply_rx) = mpsc::channel();
        spawner()
            .lock()
            .map_err(|_| anyhow!("supervisor poisoned"))?
            .send((command, reply_tx))
            .map_err(|_| anyhow!("supervisor thread is gone"))?;
        let child = reply_rx
            .recv()
            .map_err(|_| anyhow!("supervisor thread is gone"))?
            .with_context(|| format!("starting {name}"))?;
        let pid = i32::try_from(child.id()).context("pid out of range")?;
        LIVE_PIDS
            .lock()
            .map_err(|_| anyhow!("pid registry poisoned"))?
            .push(pid);
        Ok(Self {
            name: name.to_string(),
            child: Some(child),
            pid,
            log: log.to_path_buf(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Fails with the log tail if the process has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            bail!(
                "{} exited with {status}; last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 60)
            );
        }
        Ok(())
    }

    /// The resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> Option<u64> {
        rss_kib(self.pid)
    }

    /// User plus system CPU time, from /proc.
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(self.pid)
    }

    /// This process's established TCP connections to `remote_port` (IPv4 and IPv6), read from
    /// /proc: its socket inodes matched against the kernel's connection tables.
    pub fn tcp_connections_to(&self, remote_port: u16) -> usize {
        let inodes: std::collections::HashSet<String> =
            std::fs::read_dir(format!("/proc/{}/fd", self.pid))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter_map(|target| {
                    let target = target.to_string_lossy().to_string();
                    target
                        .strip_prefix("socket:[")
                        .and_then(|t| t.strip_suffix(']'))
                        .map(str::to_string)
                })
                .collect();
        let port = format!(":{remote_port:04X}");
        ["tcp", "tcp6"]
            .iter()
            .filter_map(|table| {
                std::fs::read_to_string(format!("/proc/{}/net/{table}", self.pid)).ok()
            })
            .flat_map(|text| {
                text.lines()
                    .skip(1)
                    .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            })
            // Fields: sl, local, remote, state ("01" = ESTABLISHED), ..., inode (index 9).
            .filter(|f| {
                f.len() > 9 && f[2].ends_with(&port) && f[3] == "01" && inodes.contains(&f[9])
            })
            .count()
    }

    /// Sends SIGTERM, waits up to `grace`, then SIGKILL. Only ever signals this child's PID.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            if !grace.is_zero() {
                // SAFETY: kill(2) on the PID of our own, not yet reaped child.
                unsafe {
                    libc::kill(self.pid, libc::SIGTERM);
                }
                let deadline = Instant::now() + grace;
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
        }
        let _ = child.wait();
        if let Ok(mut pids) = LIVE_PIDS.lock() {
            pids.retain(|p| *p != self.pid);
        }
    }

    /// Kills the process with SIGKILL at once, as `kill -9` does (fault injection, hibernation):
    /// no SIGTERM first, so it has no chance to clean up.
    pub fn kill(&mut self) {
        self.stop(Duration::ZERO);
    }

    /// Whether the process has not exited yet.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Sends `signal` to this child's PID (if it has not been reaped yet).
    fn signal(&self, signal: i32) -> Result<()> {
        if self.child.is_none() {
            bail!("{} is not running", self.name);
        }
        // SAFETY: kill(2) on the PID of our own, not yet reaped child.
        if unsafe { libc::kill(self.pid, signal) } != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("signalling {}", self.name));
        }
        Ok(())
    }

    /// Freezes the process (SIGSTOP): it keeps its sockets but answers nothing until
    /// [`Process::resume`].
    pub fn pause(&self) -> Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// Lets a paused process run again (SIGCONT).
    pub fn resume(&self) -> Result<()> {
        self.signal(libc::SIGCONT)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// Whether a process with `pid` exists (any process, not only a child of this one).
pub fn exists(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks whether the PID exists; EPERM means it does.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The resident set size of process `pid` in KiB, from /proc (also for samplers that do not
/// own the `Process`).
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// User plus system CPU time of process `pid`, from /proc.
pub fn cpu_time(pid: i32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces; fields after its closing parenthesis are fixed.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3 (index 0), utime field 14 (index 11), stime 15 (index 12).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf(3) only reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = u64::try_from(ticks).ok().filter(|t| *t > 0)?;
    Some(Duration::from_micros((utime + stime) * 1_000_000 / ticks))
}

/// The last `lines` lines of a log file.
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(256 * 1024);
    let _ = file.seek(SeekFrom::Start(start));
    let mut text = String::new();
    let mut bytes = Vec::new();
    if file.read_to_end(&mut bytes).is_ok() {
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a short command to completion and returns its stdout; fails with its stderr.
pub fn run(command: &mut Command) -> Result<String> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed with {}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
