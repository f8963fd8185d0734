//! Command-line flags, named as Gardener extensions name them (gardener-contract.md §5.2).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "gardener-extension-shoot-flux",
    version,
    about = "Gardener extension that bootstraps every Shoot from a Git repository through Flux"
)]
pub struct Args {
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
    #[arg(long, default_value_t = 5)]
    pub lifecycle_max_concurrent_reconciles: u16,
    /// How often every Extension is reconciled even without a change (e.g. 1h, 30m).
    #[arg(long, default_value = "1h")]
    pub resync_period: String,
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
    /// Namespace of the leader and heartbeat Leases (the chart's release namespace).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Namespace of the heartbeat Lease gardener-extension-heartbeat (defaults to the leader
    /// election namespace; no heartbeat without either).
    #[arg(long)]
    pub heartbeat_namespace: Option<String>,
    #[arg(long, default_value_t = 30)]
    pub heartbeat_renew_interval_seconds: u64,
    /// How often SystemComponentsHealthy is checked (e.g. 30s).
    #[arg(long, default_value = "30s")]
    pub healthcheck_sync_period: String,
    /// Passed by the chart from gardenlet's values; logged.
    #[arg(long)]
    pub gardener_version: Option<String>,
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
    fn go_style_addresses() {
        assert_eq!(parse_addr(":8080").unwrap().port(), 8080);
        assert_eq!(
            parse_addr("127.0.0.1:1").unwrap().to_string(),
            "127.0.0.1:1"
        );
        assert!(parse_addr("x").is_err());
    }
}
