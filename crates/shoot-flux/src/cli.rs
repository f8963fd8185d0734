//! Command-line flags, named as Gardener extensions name them.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use shoot_flux_core::deploykey::{DeployKey, SECRET_NAME, fingerprint};
use shoot_flux_core::gardener::shoot::{conventional_namespace, is_name, is_project_namespace};

/// The default of `--reconcile-timeout`: 30 s under Gardener's default reconcileTimeout of 3m
/// for an Extension, for gardenlet to see the Error before it stops waiting.
pub const DEFAULT_RECONCILE_TIMEOUT: &str = "2m30s";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "gardener-extension-shoot-flux",
    version,
    about = "Gardener extension that bootstraps every Shoot from a Git repository through Flux",
    args_override_self = true
)]
pub struct Args {
    /// Without a subcommand the controller runs.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Kubeconfig of the seed (in-cluster configuration when unset).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig of the garden, as gardenlet injects it.
    #[arg(long, env = "GARDEN_KUBECONFIG")]
    pub garden_kubeconfig: Option<PathBuf>,
    /// For old landscapes without injected garden access: read the garden kubeconfig from the
    /// seed Secret garden/gardenlet-kubeconfig (gardenlet's own identity). Off by default.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub garden_access_from_gardenlet_kubeconfig: bool,
    /// Operator configuration file (OperatorConfiguration YAML).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Reconcile on spec and Cluster changes instead of the gardener.cloud/operation annotation.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub ignore_operation_annotation: bool,
    /// Extensions reconciled at the same time (bounded: each holds a few requests' worth of
    /// memory and one seed connection; 32 measured fastest on the benchmark, docs/benchmarks.md).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..))]
    pub lifecycle_max_concurrent_reconciles: u16,
    /// How often every Extension is reconciled even without a change (e.g. 1h, 30m).
    #[arg(long, default_value = "1h")]
    pub resync_period: String,
    /// How long one reconcile may take (e.g. 2m30s). When it runs out, the Extension gets an
    /// Error status naming the step still pending, and is retried with backoff. Keep it below
    /// the ControllerRegistration's reconcileTimeout (Gardener's default: 3m), so that the
    /// status says why before gardenlet gives up waiting.
    #[arg(long, env = "RECONCILE_TIMEOUT", default_value = DEFAULT_RECONCILE_TIMEOUT)]
    pub reconcile_timeout: String,
    /// How long a requested reconcile may run before it reports Processing (0s: first, as
    /// Gardener's library does). A quicker reconcile writes only its outcome; until then the
    /// request stays visible to gardenlet as the annotation or as a status that cannot pass.
    #[arg(long, default_value = "2s")]
    pub processing_delay: String,
    #[arg(long, default_value = "0.0.0.0:8080", value_parser = parse_addr)]
    pub metrics_bind_address: SocketAddr,
    #[arg(long, default_value = "0.0.0.0:8081", value_parser = parse_addr)]
    pub health_bind_address: SocketAddr,
    /// info, debug or error (or a tracing filter).
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// json or text.
    #[arg(long, default_value = "json")]
    pub log_format: String,
    /// Run the controllers only in the process that holds the leader Lease.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub leader_election: bool,
    #[arg(long, default_value = "gardener-extension-shoot-flux-leader-election")]
    pub leader_election_id: String,
    /// How long the leader Lease is valid after its last renewal; a killed leader is replaced
    /// after about this long (e.g. 15s).
    #[arg(long, default_value = "15s")]
    pub leader_election_lease_duration: String,
    /// How long the leader keeps trying to renew before it gives up and exits; shorter than the
    /// lease duration.
    #[arg(long, default_value = "10s")]
    pub leader_election_renew_deadline: String,
    /// How often the leader renews and candidates try to acquire.
    #[arg(long, default_value = "2s")]
    pub leader_election_retry_period: String,
    /// Namespace of the leader and heartbeat Leases (the chart's release namespace).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Namespace of the heartbeat Lease gardener-extension-heartbeat (defaults to the leader
    /// election namespace; no heartbeat without either).
    #[arg(long)]
    pub heartbeat_namespace: Option<String>,
    #[arg(long, default_value_t = 30)]
    pub heartbeat_renew_interval_seconds: u64,
    /// How often SystemComponentsHealthy is checked and each shoot's sync status read (e.g. 30s).
    #[arg(long, default_value = "30s")]
    pub healthcheck_sync_period: String,
    /// The garden's identity for SHOOT_INFO_GARDEN_CLUSTER_IDENTITY (overrides the operator
    /// configuration's gardenClusterIdentity; stackit's flag).
    #[arg(long)]
    pub garden_cluster_identity: Option<String>,
    /// Passed by the chart from gardenlet's values; logged.
    #[arg(long)]
    pub gardener_version: Option<String>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Print a project's deploy key (public half, fingerprint, trusted host keys) and what to do
    /// with it. Reads the garden with --garden-kubeconfig (GARDEN_KUBECONFIG), else --kubeconfig
    /// (KUBECONFIG), else ~/.kube/config.
    #[command(group(clap::ArgGroup::new("project-ref").required(true).args(["project", "namespace"])))]
    DeployKey {
        /// The Gardener project whose namespace is `garden-<project>`.
        #[arg(long)]
        project: Option<String>,
        /// The project's namespace in the garden, for a Project whose spec.namespace is not
        /// `garden-<project>` (e.g. garden-team-a).
        #[arg(long)]
        namespace: Option<String>,
    },
    /// Print one line per shoot of the seed (--kubeconfig, else KUBECONFIG): the Extension's
    /// last operation, the Flux version, the fetched source revision, whether the main
    /// Kustomization is ready, for how long, and what is wrong if anything is.
    Status {
        /// table, wide (adds management mode, source object and deploy key), json or yaml.
        #[arg(short = 'o', long, value_enum, default_value = "table")]
        output: crate::status_command::Output,
        /// Keep watching the seed's Extensions and print again whenever the output changes.
        #[arg(short = 'w', long)]
        watch: bool,
    },
    /// Serve the validating admission webhook for Shoots that enable shoot-flux and for projects'
    /// flux-config ConfigMaps (AdmissionReview v1 over HTTPS at /validate; /healthz and /readyz
    /// also on --health-bind-address). Runs in the garden's runtime cluster, not in a seed.
    Admission {
        /// Where the HTTPS webhook listens.
        #[arg(long, default_value = "0.0.0.0:10250", value_parser = parse_addr)]
        webhook_bind_address: SocketAddr,
        /// The serving certificate (PEM, with its chain); read again when it changes.
        #[arg(long)]
        tls_cert_file: PathBuf,
        /// The serving certificate's private key (PEM).
        #[arg(long)]
        tls_private_key_file: PathBuf,
    },
    /// Print, as multi-document YAML, exactly the objects a shoot would get (secret values as
    /// placeholders), from a Cluster, an Extension and optionally the project's flux-config
    /// ConfigMap and the operator configuration. Invalid input: exit code 1 and every problem
    /// with its JSON path on stderr.
    Render {
        /// The shoot's Cluster object (YAML).
        #[arg(long)]
        cluster: PathBuf,
        /// The Extension, with or without providerConfig (YAML).
        #[arg(long)]
        extension: PathBuf,
        /// The project's flux-config ConfigMap (YAML).
        #[arg(long)]
        project_config: Option<PathBuf>,
        /// The operator configuration; its flux.manifests may point at local Flux manifests.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Copy a Flux release for a seed without internet access: install.yaml and
    /// manifests.tar.gz from the releases (redirects followed as the controller does) into
    /// DIR/TAG/ (for flux.manifests.directory; TAG is the release), or pushed as the OCI artifact that
    /// flux.manifests.oci reads (the shape of ghcr.io/fluxcd/flux-manifests:TAG).
    #[command(group(clap::ArgGroup::new("destination").required(true).args(["to_dir", "to_oci"])))]
    Mirror {
        /// The release tag (e.g. v2.9.5), or latest.
        #[arg(long)]
        version: String,
        /// The releases base URL.
        #[arg(long, default_value = shoot_flux_core::config::operator::DEFAULT_RELEASES_URL)]
        from: String,
        /// Writes DIR/TAG/install.yaml and DIR/TAG/manifests.tar.gz.
        #[arg(long, value_name = "DIR")]
        to_dir: Option<PathBuf>,
        /// Pushes oci://REGISTRY/REPOSITORY:TAG.
        #[arg(long, value_name = "oci://REGISTRY/REPOSITORY")]
        to_oci: Option<String>,
        /// A PEM file of CAs to trust for the registry besides the system's.
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// A .dockerconfigjson with the registry's push credentials.
        #[arg(long)]
        credentials_file: Option<PathBuf>,
        /// One deadline for each download and for the push (e.g. 60s, 2m).
        #[arg(long, default_value = "60s")]
        timeout: String,
    },
}

/// The garden namespace `deploy-key` reads: `--namespace` as given, `--project <p>` as
/// `garden-<p>` (the project `garden` is in `garden`).
pub fn deploy_key_namespace(
    project: Option<&str>,
    namespace: Option<&str>,
) -> Result<String, String> {
    match (project, namespace) {
        (None, Some(namespace)) if is_project_namespace(namespace) => Ok(namespace.to_string()),
        (None, Some(namespace)) => Err(format!(
            "--namespace {namespace:?} is not a project namespace (garden or garden-<name>)"
        )),
        (Some(project), None) if is_name(project) => Ok(conventional_namespace(project)),
        (Some(project), None) => Err(format!("--project {project:?} is not a project name")),
        _ => Err("give either --project or --namespace".into()),
    }
}

/// What `deploy-key` prints for an existing key.
pub fn deploy_key_report(namespace: &str, key: &DeployKey) -> String {
    let mut out = format!(
        "Deploy key of the project in namespace {namespace} (garden Secret {namespace}/{SECRET_NAME})\n\n\
         Public key, to add to the repository as a read-only deploy key:\n{}\n\n\
         Fingerprint: {}\n\n\
         Host keys Flux trusts for the repository (known_hosts):\n",
        key.public_key(),
        key.fingerprint()
    );
    for line in key.known_hosts().lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let print = fields
            .get(2)
            .and_then(|_| fingerprint(&fields[1..].join(" ")))
            .unwrap_or_else(|| "hashed or unreadable".into());
        out.push_str(&format!("{line}\n    ({print})\n"));
    }
    out.push_str(&format!(
        "\nWhat to do:\n\
         1. Add the public key to the repository as a read-only deploy key (GitHub: Settings > Deploy keys;\n\
         \x20  GitLab: Settings > Repository > Deploy keys). Until then the shoots' GitRepository is not Ready.\n\
         2. Compare the host key fingerprints with the ones your Git host publishes. If they differ, replace\n\
         \x20  known_hosts in the Secret; Flux connects only to hosts whose key is listed there.\n\
         3. To rotate the key: kubectl -n {namespace} delete secret {SECRET_NAME}. shoot-flux creates a new one\n\
         \x20  and every shoot of the project switches to it; run this command again and replace the deploy key.\n"
    ));
    out
}

/// What `deploy-key` says when the project has no key yet.
pub fn deploy_key_missing(namespace: &str) -> String {
    format!(
        "The project in namespace {namespace} has no deploy key yet: garden Secret {namespace}/{SECRET_NAME} does not exist.\n\
         shoot-flux creates it when a shoot of the project is reconciled while the project's flux-config says\n\
         repositoryType: private (with an ssh:// or git@host:org/repo URL). To bring your own key, create the\n\
         Secret with the keys identity, identity.pub and known_hosts.\n"
    )
}

/// Accepts Go-style `:8080` as well as `host:port`.
fn parse_addr(text: &str) -> Result<SocketAddr, String> {
    let full = if text.starts_with(':') {
        format!("0.0.0.0{text}")
    } else {
        text.to_string()
    };
    full.parse().map_err(|e| format!("{text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_key_report_names_key_fingerprints_and_steps() {
        let host = DeployKey::generate("host", String::new()).unwrap();
        let known_hosts = format!("[127.0.0.1]:2222 {}\n", host.public_key());
        let key =
            DeployKey::generate("shoot-flux deploy key for project dev", known_hosts).unwrap();
        let report = deploy_key_report("garden-team-a", &key);
        assert!(report.contains(key.public_key()));
        assert!(report.contains(&key.fingerprint()));
        assert!(report.contains(&host.fingerprint()));
        assert!(report.contains("kubectl -n garden-team-a delete secret flux-source"));
        assert!(!report.contains("PRIVATE KEY"));
        assert!(
            deploy_key_missing("garden-team-a")
                .contains("namespace garden-team-a has no deploy key yet: garden Secret garden-team-a/flux-source does not exist")
        );
    }

    #[test]
    fn subcommands_and_controller_flags_parse() {
        let namespace_of = |argv: &[&str]| match Args::try_parse_from(argv) {
            Ok(Args {
                command: Some(Command::DeployKey { project, namespace }),
                ..
            }) => deploy_key_namespace(project.as_deref(), namespace.as_deref()),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind().to_string()),
        };
        assert_eq!(
            namespace_of(&["x", "deploy-key", "--project", "dev"]),
            Ok("garden-dev".into())
        );
        assert_eq!(
            namespace_of(&["x", "deploy-key", "--namespace", "garden-team-a"]),
            Ok("garden-team-a".into())
        );
        assert_eq!(
            namespace_of(&["x", "deploy-key", "--namespace", "garden"]),
            Ok("garden".into())
        );
        // Exactly one of them.
        assert!(
            namespace_of(&[
                "x",
                "deploy-key",
                "--project",
                "a",
                "--namespace",
                "garden-b"
            ])
            .is_err()
        );
        assert!(namespace_of(&["x", "deploy-key"]).is_err());
        // Only what Gardener accepts.
        let err = namespace_of(&["x", "deploy-key", "--namespace", "kube-system"]).unwrap_err();
        assert!(
            err.contains("--namespace \"kube-system\" is not a project namespace"),
            "{err}"
        );
        assert!(namespace_of(&["x", "deploy-key", "--project", "a--b"]).is_err());
        assert!(namespace_of(&["x", "deploy-key", "--project", ""]).is_err());
        let args = Args::try_parse_from(["x", "--resync-period", "5m"]).unwrap();
        assert!(args.command.is_none());
        assert_eq!(args.reconcile_timeout, "2m30s");
        let args = Args::try_parse_from(["x", "--reconcile-timeout", "20s"]).unwrap();
        assert_eq!(args.reconcile_timeout, "20s");
        assert!(Args::try_parse_from(["x", "deploy-key"]).is_err());
    }

    #[test]
    fn the_default_reconcile_timeout_ends_before_gardeners() {
        let default =
            shoot_flux_core::config::operator::parse_duration(DEFAULT_RECONCILE_TIMEOUT).unwrap();
        // Gardener's reconcileTimeout for an Extension when the registration sets none.
        let gardener = std::time::Duration::from_secs(180);
        assert!(default + std::time::Duration::from_secs(30) <= gardener);
    }

    #[test]
    fn go_style_addresses() {
        assert_eq!(parse_addr(":8080").unwrap().port(), 8080);
        assert_eq!(
            parse_addr("127.0.0.1:1").unwrap().to_string(),
            "127.0.0.1:1"
        );
        assert!(parse_addr("x").is_err());
    }
}
