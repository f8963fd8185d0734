//! The local demo: real control planes, the extension, Flux and a sample repository; the sample
//! app appears in the shoot; at the end, gardener-apiserver with the admission webhook refuses a
//! Shoot with a typo at `kubectl apply`. Run it with `hack/demo` (or `cargo run -p shoot-flux --example demo`
//! after `cargo build -p shoot-flux`). `--exit` stops after the summary instead of staying up.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use testbed::kubeutil::{dynamic_api, wait_for};
use testbed::ports::free_port;
use testbed::process::Process;
use testbed::{ShootSpec, gardenlet};

struct Progress {
    started: Instant,
    step: Instant,
}

impl Progress {
    fn begin(&mut self, what: &str) {
        self.step = Instant::now();
        println!("[{:6.1}s] {what} ...", self.started.elapsed().as_secs_f64());
    }

    fn done(&self, detail: &str) {
        println!(
            "[{:6.1}s]   done in {:.1}s{}{detail}",
            self.started.elapsed().as_secs_f64(),
            self.step.elapsed().as_secs_f64(),
            if detail.is_empty() { "" } else { ": " }
        );
    }
}

fn extension_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("SHOOT_FLUX_BINARY") {
        return Ok(PathBuf::from(path));
    }
    // target/<profile>/examples/demo -> target/<profile>/gardener-extension-shoot-flux
    let exe = std::env::current_exe()?;
    let binary = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("gardener-extension-shoot-flux"))
        .context("locating the extension binary")?;
    anyhow::ensure!(
        binary.is_file(),
        "{} is missing: run `cargo build -p shoot-flux` (hack/demo does)",
        binary.display()
    );
    Ok(binary)
}

#[tokio::main]
async fn main() -> Result<()> {
    let exit = std::env::args().any(|a| a == "--exit");
    let mut p = Progress {
        started: Instant::now(),
        step: Instant::now(),
    };
    println!(
        "shoot-flux demo: a garden, a seed and a shoot on 127.0.0.1, the extension, GRM and Flux\n"
    );

    p.begin("starting etcd and the garden and seed API servers");
    let bed = testbed::bed().await?;
    p.done(&format!(
        "garden {}, seed {}",
        bed.garden().url(),
        bed.seed().url()
    ));

    // Gardener's API for the admission step at the end; it starts while the rest is set up.
    let gardener = tokio::spawn(async move { bed.gardener_apiserver().await.map(|_| ()) });

    p.begin(
        "creating a private Git repository (sshd) with the sample app (podinfo Deployment and Service)",
    );
    let git = bed.git().await?;
    let files = testbed::sample::podinfo_files("Hello from shoot-flux");
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    git.create_repository("fleet", &files)?;
    let url = git.ssh_url("fleet");
    p.done(&url);

    p.begin("serving the Flux releases on loopback as github.com does (downloads redirect to an asset host)");
    let releases = bed.releases().await?;
    let versions = testbed::paths::versions()?;
    p.done(&format!(
        "{} -> {}",
        releases.base_url(),
        releases.asset_host_url()
    ));

    let spec = ShootSpec::new("demo", "podinfo");
    let ns = spec.technical_id();
    p.begin("starting the shoot's API server, kube-controller-manager, GRM and the node simulator");
    let mut shoot = bed.new_shoot(spec.clone()).await?;
    shoot.create_gardenlet_objects().await?;
    shoot.start_grm().await?;
    shoot.start_node_simulator()?;
    p.done(&format!("shoot {}", shoot.api().url()));

    p.begin("starting gardener-extension-shoot-flux: two replicas with leader election, as the chart runs them");
    let config = bed.dir().join("demo-operator-config.yaml");
    std::fs::write(
        &config,
        format!(
            "kind: OperatorConfiguration\nflux:\n  manifests:\n    baseURL: {}\n",
            releases.base_url()
        ),
    )?;
    let seed = bed.seed().client().await?;
    let release_ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "extension-shoot-flux"}}))?;
    Api::<Namespace>::all(seed.clone())
        .patch(
            "extension-shoot-flux",
            &PatchParams::apply("demo"),
            &Patch::Apply(&release_ns),
        )
        .await?;
    let mut replicas = Vec::new();
    for name in ["shoot-flux", "shoot-flux-standby"] {
        let (metrics, health) = (free_port()?, free_port()?);
        let mut command = Command::new(extension_binary()?);
        command
            .env("KUBECONFIG", bed.seed().kubeconfig_path())
            .env("GARDEN_KUBECONFIG", bed.garden().kubeconfig_path())
            .env("POD_NAME", name)
            .arg(format!("--config={}", config.display()))
            .arg(format!("--metrics-bind-address=127.0.0.1:{metrics}"))
            .arg(format!("--health-bind-address=127.0.0.1:{health}"))
            .arg("--leader-election=true")
            .arg("--leader-election-namespace=extension-shoot-flux")
            // The demo shows the sync status within seconds (30s in a landscape).
            .arg("--healthcheck-sync-period=3s");
        let log = bed.dir().join(format!("{name}.log"));
        let mut process = Process::spawn(name, command, &log)?;
        // Both are Ready, the standby too: a rolling update of the chart's two replicas
        // completes.
        wait_for(
            &format!("{name} to be ready"),
            Duration::from_secs(30),
            || {
                let running = process.ensure_running();
                async move {
                    running?;
                    let r = testbed::plainhttp::get(&format!("http://127.0.0.1:{health}/readyz"))
                        .await?;
                    Ok((r.status == 200).then_some(()))
                }
            },
        )
        .await?;
        if replicas.is_empty() {
            // The first one leads before the second starts.
            let leases: Api<Lease> = Api::namespaced(seed.clone(), "extension-shoot-flux");
            let identity = format!("{name}-{}", process.pid());
            wait_for(
                "the first replica to lead",
                Duration::from_secs(30),
                || async {
                    let holder = leases
                        .get_opt("gardener-extension-shoot-flux-leader-election")
                        .await?
                        .and_then(|l| l.spec)
                        .and_then(|s| s.holder_identity);
                    Ok((holder.as_deref() == Some(identity.as_str())).then_some(()))
                },
            )
            .await?;
        }
        replicas.push((process, log));
    }
    let (extension, log) = replicas.remove(0);
    p.done(&format!(
        "both replicas Ready (the first leads, the second stands by); logs {} and {}",
        log.display(),
        replicas[0].1.display()
    ));

    p.begin("operator: project ConfigMap flux-config in the garden (namespace garden-demo)");
    let garden = bed.garden().client().await?;
    let project_ns: Namespace =
        serde_json::from_value(json!({"metadata": {"name": "garden-demo"}}))?;
    Api::<Namespace>::all(garden.clone())
        .patch(
            "garden-demo",
            &PatchParams::apply("demo"),
            &Patch::Apply(&project_ns),
        )
        .await?;
    let cm: ConfigMap = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "flux-config", "namespace": "garden-demo"},
        "data": {
            "fluxVersion": versions.flux, "repositoryUrl": url, "repositoryBranch": "main",
            "repositoryType": "private"
        }
    }))?;
    Api::<ConfigMap>::namespaced(garden, "garden-demo")
        .patch(
            "flux-config",
            &PatchParams::apply("demo"),
            &Patch::Apply(&cm),
        )
        .await?;
    p.done(&format!(
        "fluxVersion {}, repositoryType private",
        versions.flux
    ));

    p.begin("gardenlet: Extension shoot-flux in the shoot namespace");
    let created = Instant::now();
    gardenlet::apply_extension(&seed, &spec).await?;
    let extensions = dynamic_api(
        &seed,
        "extensions.gardener.cloud/v1alpha1",
        "Extension",
        Some(&ns),
    )
    .await?;
    wait_for(
        "the Extension to succeed",
        Duration::from_secs(120),
        || async {
            let ext = extensions.get("shoot-flux").await?;
            let state = ext.data["status"]["lastOperation"]["state"].clone();
            Ok((state == "Succeeded").then_some(()))
        },
    )
    .await?;
    let to_succeeded = created.elapsed();
    // As from github.com, the download was a 302 to the asset host, which served the file.
    let install = format!("{}/install.yaml", versions.flux);
    let via_asset_host = releases
        .asset_requests()
        .iter()
        .filter(|r| r.status == 200 && r.asset.as_deref() == Some(install.as_str()))
        .count();
    anyhow::ensure!(
        via_asset_host > 0,
        "install.yaml did not come through the asset host: {:?}",
        releases.asset_requests()
    );
    p.done(&format!(
        "Succeeded {:.1}s after creation (install.yaml {} via 302 to the asset host)",
        to_succeeded.as_secs_f64(),
        versions.flux
    ));

    p.begin("GRM: applying Flux into the shoot (ManagedResources extension-shoot-flux-*)");
    let mrs = dynamic_api(
        &seed,
        "resources.gardener.cloud/v1alpha1",
        "ManagedResource",
        Some(&ns),
    )
    .await?;
    for name in [
        "extension-shoot-flux-flux-install",
        "extension-shoot-flux-flux-config",
    ] {
        wait_for(
            &format!("{name} applied"),
            Duration::from_secs(120),
            || async {
                let mr = mrs.get(name).await?;
                let applied = mr.data["status"]["conditions"].as_array().is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "ResourcesApplied" && c["status"] == "True")
                });
                Ok(applied.then_some(()))
            },
        )
        .await?;
    }
    p.done("Flux namespace, CRDs, controllers, main-gitrepo and main-ks are in the shoot");

    p.begin("operator: `gardener-extension-shoot-flux deploy-key --project demo`");
    let output = Command::new(extension_binary()?)
        .args(["deploy-key", "--project", "demo"])
        .env("GARDEN_KUBECONFIG", bed.garden().kubeconfig_path())
        .output()?;
    let report = String::from_utf8_lossy(&output.stdout).to_string();
    anyhow::ensure!(
        output.status.success(),
        "deploy-key failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in report.lines() {
        println!("    | {line}");
    }
    let public_key = report
        .lines()
        .find(|l| l.starts_with("ssh-"))
        .context("deploy-key printed no public key")?;
    p.done("");

    p.begin("operator: adding the public key to the Git server as a read-only deploy key");
    git.authorize_key(public_key)?;
    p.done(&format!("authorized on sshd 127.0.0.1:{}", git.ssh_port()));

    p.begin("running the Flux controllers GRM deployed (source-controller, kustomize-controller)");
    shoot.start_flux().await?;
    p.done("");

    p.begin("Flux: syncing the sample repository into the shoot");
    let client = shoot.client().await?;
    let deployments: Api<Deployment> = Api::namespaced(client, "default");
    wait_for("podinfo in the shoot", Duration::from_secs(180), || async {
        Ok(deployments.get_opt("podinfo").await?)
    })
    .await?;
    p.done("podinfo is running in the shoot");

    p.begin(
        "the garden side sees it: Extension conditions, `gardener-extension-shoot-flux status`",
    );
    wait_for(
        "FluxKustomizationReady on the Extension",
        Duration::from_secs(60),
        || async {
            let ext = extensions.get("shoot-flux").await?;
            let ready = ext.data["status"]["conditions"]
                .as_array()
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "FluxKustomizationReady" && c["status"] == "True")
                });
            Ok(ready.then_some(()))
        },
    )
    .await?;
    let output = Command::new(extension_binary()?)
        .arg("status")
        .env("KUBECONFIG", bed.seed().kubeconfig_path())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "status failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        println!("    | {line}");
    }
    p.done("FluxSourceReady and FluxKustomizationReady are True");

    p.begin("admission: `kubectl apply` of a Shoot with a typo in its shoot-flux providerConfig, through gardener-apiserver and the webhook");
    gardener.await.context("starting gardener-apiserver")??;
    // The webhook stays up with the demo (its failurePolicy is Fail).
    let (_webhook, refusal) = admission_demo(bed).await?;
    for line in refusal.lines() {
        println!("    | {line}");
    }
    p.done("refused at apply, the field named; nothing was stored");

    let rss_mib =
        (bed.shared_rss_kib() + shoot.rss_kib() + extension.rss_kib().unwrap_or(0)) / 1024;
    println!("\nSummary");
    println!(
        "  Extension -> Succeeded:      {:.1}s",
        to_succeeded.as_secs_f64()
    );
    println!(
        "  demo wall time so far:       {:.1}s",
        p.started.elapsed().as_secs_f64()
    );
    println!(
        "  extension RSS:               {} MiB",
        extension.rss_kib().unwrap_or(0) / 1024
    );
    println!("  all processes RSS:           {rss_mib} MiB");
    println!(
        "  try:  kubectl --kubeconfig {} get deploy,svc -n default",
        shoot.api().kubeconfig_path().display()
    );
    println!(
        "        kubectl --kubeconfig {} get extensions,managedresources -n {ns}",
        bed.seed().kubeconfig_path().display()
    );
    println!("  logs: {}", bed.dir().display());
    if exit {
        println!("demo complete");
        return Ok(());
    }
    println!("\nThe demo stays up; press Ctrl-C to stop everything.");
    tokio::signal::ctrl_c().await?;
    println!("stopping");
    Ok(())
}

/// Registers shoot-flux with gardener-apiserver as example/controller-registration.yaml says,
/// puts the admission webhook in front of it (the application chart's configuration) and applies
/// a Shoot whose providerConfig has a typo (`brnch`) with kubectl: kubectl's refusal.
async fn admission_demo(
    bed: &'static testbed::Bed,
) -> Result<(testbed::admission::Webhook, String)> {
    use testbed::admission::{self, Webhook};
    let garden = bed.garden().client().await?;
    testbed::kubeutil::apply_documents(
        &garden,
        &admission::project_objects("demo", "garden-demo")?,
        "demo",
    )
    .await?;
    let kubectl_with = |file: &std::path::Path, extra: &[&str]| -> Result<std::process::Output> {
        Ok(Command::new("kubectl")
            .arg(format!(
                "--kubeconfig={}",
                bed.garden().kubeconfig_path().display()
            ))
            .args(["apply", "-f"])
            .arg(file)
            .args(extra)
            .output()?)
    };
    let kubectl = |file: &std::path::Path| kubectl_with(file, &[]);
    let registration = testbed::paths::repo_root().join("example/controller-registration.yaml");
    let out = kubectl(&registration)?;
    anyhow::ensure!(
        out.status.success(),
        "registering shoot-flux: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let webhook = Webhook::start(bed, &extension_binary()?).await?;
    let configuration = bed.dir().join("admission-webhook.yaml");
    std::fs::write(&configuration, webhook.configuration(bed)?)?;
    let out = kubectl(&configuration)?;
    anyhow::ensure!(
        out.status.success(),
        "registering the webhook: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shoot = admission::shoot(
        "garden-demo",
        "typo",
        json!({"extensions": [{"type": "shoot-flux", "providerConfig": {
            "apiVersion": "flux.extensions.gardener.cloud/v1alpha1",
            "kind": "FluxConfig",
            "source": {"template": {
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "spec": {"url": "https://git.example.com/fleet.git", "ref": {"brnch": "main"}},
            }},
            "kustomization": {"template": {"spec": {"path": "./"}}},
        }}]}),
    );
    let file = bed.dir().join("shoot-with-a-typo.yaml");
    std::fs::write(&file, serde_json::to_string_pretty(&shoot)?)?;
    // Gardener's admission knows shoot-flux, and calls the webhook, once their informers have
    // seen the registration and the configuration: dry runs until then, so nothing is stored.
    wait_for(
        "the webhook to refuse the Shoot",
        Duration::from_secs(120),
        || async {
            let out = kubectl_with(&file, &["--dry-run=server"])?;
            let said = String::from_utf8_lossy(&out.stderr);
            Ok(said
                .contains("denied the request: shoot-flux")
                .then_some(()))
        },
    )
    .await?;
    let out = kubectl(&file)?;
    anyhow::ensure!(!out.status.success(), "the Shoot was accepted");
    let out = String::from_utf8_lossy(&out.stderr).into_owned();
    anyhow::ensure!(
        out.contains("spec.extensions[0].providerConfig.source.template.spec.ref.brnch"),
        "the refusal names the field: {out}"
    );
    let shown = format!("$ kubectl apply -f {}\n{}", file.display(), out.trim_end());
    Ok((webhook, shown))
}
