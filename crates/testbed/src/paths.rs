//! Where the test bed finds what `hack/testbed/install` prepared, and where it writes its logs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The repository root, found from this crate's manifest directory.
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Flux's storage rejects paths with `..` components, so hand out a clean one.
    root.canonicalize().unwrap_or(root)
}

/// The cache directory of `hack/testbed/install` (`SHOOT_FLUX_TESTBED_CACHE`, default
/// `~/.cache/shoot-flux-testbed`).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHOOT_FLUX_TESTBED_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/shoot-flux-testbed")
}

/// The installer component that provides a binary, for error messages that name the fix.
fn component_of(binary: &str) -> &str {
    match binary {
        "source-controller" | "kustomize-controller" => "flux-controllers",
        "flux" => "flux-cli",
        other => other,
    }
}

/// A built test-bed binary; a missing one is an error naming the command that builds it.
pub fn binary(name: &str) -> Result<PathBuf> {
    let path = cache_dir().join("bin").join(name);
    if !path.is_file() {
        bail!(
            "test-bed binary `{name}` is missing at {}: run `hack/testbed/install {}` (or `hack/testbed/install` for everything)",
            path.display(),
            component_of(name)
        );
    }
    Ok(path)
}

/// A system program the bed needs (sshd, git); a missing one names the installer.
pub fn system_program(path: &str) -> Result<PathBuf> {
    let candidate = PathBuf::from(path);
    if candidate.is_file() {
        return Ok(candidate);
    }
    bail!("{path} is missing: run `hack/testbed/install debian`")
}

/// A prepared file under the cache (CRDs, release assets); a missing one names the installer.
pub fn cached_file(relative: &str, component: &str) -> Result<PathBuf> {
    let path = cache_dir().join(relative);
    if !path.exists() {
        bail!(
            "{} is missing: run `hack/testbed/install {component}`",
            path.display()
        );
    }
    Ok(path)
}

/// helm, built from its Go module (`hack/testbed/install helm`), for the chart tests.
pub fn helm() -> Result<PathBuf> {
    binary("helm")
}

/// promtool of Debian's `prometheus` package (`hack/testbed/install debian`), which checks and
/// unit-tests the chart's alert rules.
pub fn promtool() -> Result<PathBuf> {
    system_program("/usr/bin/promtool")
}

/// Prometheus itself, of the same Debian package, which scrapes the bed's controller in the
/// alert end-to-end test.
pub fn prometheus() -> Result<PathBuf> {
    system_program("/usr/bin/prometheus")
}

/// Flux's own CLI of the flux2 tag the bed tests (`hack/testbed/install flux-cli`), an
/// independent client of what shoot-flux installs.
pub fn flux_cli() -> Result<PathBuf> {
    binary("flux")
}

/// The CRDs the chart and registration tests install themselves: the operator's `Extension`
/// (`operator-extensions.yaml`), the VPA (`verticalpodautoscalers.yaml`) and prometheus-operator's
/// `PrometheusRule` (`prometheusrules.yaml`).
pub fn chart_crd(file: &str) -> Result<PathBuf> {
    cached_file(&format!("chart-crds/{file}"), "chart-crds")
}

/// A CRD of Flux 0.x (`hack/testbed/install flux-legacy-crds`), e.g.
/// `source.toolkit.fluxcd.io_gitrepositories.yaml`: it stores `v1beta2`.
pub fn legacy_flux_crd(file: &str) -> Result<PathBuf> {
    cached_file(&format!("crds/flux-legacy/{file}"), "flux-legacy-crds")
}

/// The directory with the Flux release assets of one flux2 tag.
pub fn flux_release_dir(tag: &str) -> Result<PathBuf> {
    cached_file(&format!("flux-releases/{tag}"), "flux-assets")
}

/// The pinned versions from `hack/testbed/versions.env`.
#[derive(Debug, Clone)]
pub struct Versions {
    pub etcd: String,
    pub kubernetes: String,
    pub gardener: String,
    pub flux: String,
    pub flux_previous: String,
    pub source_controller: String,
    pub kustomize_controller: String,
}

pub fn versions() -> Result<Versions> {
    let file = repo_root().join("hack/testbed/versions.env");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let get = |key: &str| -> Result<String> {
        text.lines()
            .filter_map(|line| line.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().to_string())
            .with_context(|| format!("{key} missing in {}", file.display()))
    };
    Ok(Versions {
        etcd: get("ETCD_VERSION")?,
        kubernetes: get("KUBERNETES_VERSION")?,
        gardener: get("GARDENER_VERSION")?,
        flux: get("FLUX_VERSION")?,
        flux_previous: get("FLUX_PREVIOUS_VERSION")?,
        source_controller: get("SOURCE_CONTROLLER_VERSION")?,
        kustomize_controller: get("KUSTOMIZE_CONTROLLER_VERSION")?,
    })
}

/// A fresh directory for one bed's state and logs under the build directory
/// (`target/testbed/<program>-<pid>-<label>`).
///
/// Also removes the etcd data that runs killed before their exit hook left behind (their logs
/// stay): without it every killed run kept 60–170 MiB.
pub fn new_run_dir(label: &str) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| repo_root().join("target"), PathBuf::from);
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "bed".into());
    let runs = target.join("testbed");
    remove_data_of_ended_runs(&runs);
    let dir = runs.join(format!("{program}-{}-{label}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Removes `etcd-data` under every run directory in `runs` whose process has ended.
fn remove_data_of_ended_runs(runs: &Path) {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let data = entry.path().join("etcd-data");
        if run_pid(&name).is_some_and(|pid| !crate::process::exists(pid)) && data.exists() {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}

/// The PID in a run directory's name `<program>-<pid>-<label>` (the label has no `-`).
fn run_pid(name: &str) -> Option<i32> {
    let mut parts = name.rsplitn(3, '-');
    let _label = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next().map(|_program| pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_directory_names_its_pid() {
        assert_eq!(
            run_pid("e2e_contract-4176bb9897796ff2-6979-bed"),
            Some(6979)
        );
        assert_eq!(run_pid("soak-11797-bed"), Some(11797));
        assert_eq!(run_pid("bed"), None);
        assert_eq!(run_pid("x-notapid-bed"), None);
    }

    #[test]
    fn only_the_data_of_ended_runs_is_removed() {
        let runs = std::env::temp_dir().join(format!("run-dirs-{}", std::process::id()));
        let ended = runs.join("prog-999999999-bed");
        let running = runs.join(format!("prog-{}-bed", std::process::id()));
        for dir in [&ended, &running] {
            std::fs::create_dir_all(dir.join("etcd-data")).unwrap();
            std::fs::write(dir.join("etcd.log"), "log").unwrap();
        }
        remove_data_of_ended_runs(&runs);
        assert!(!ended.join("etcd-data").exists());
        assert!(ended.join("etcd.log").exists(), "logs stay");
        assert!(running.join("etcd-data").exists());
        std::fs::remove_dir_all(&runs).unwrap();
    }

    #[test]
    fn a_missing_binary_names_the_component_that_builds_it() {
        assert_eq!(component_of("flux"), "flux-cli");
        assert_eq!(component_of("source-controller"), "flux-controllers");
        assert_eq!(component_of("helm"), "helm");
    }
}
