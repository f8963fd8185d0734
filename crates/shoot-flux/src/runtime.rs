//! The controller's runtime: reads the flags and the operator configuration, builds the clients,
//! and runs the controller with its observers (health check, sync status poll), the metrics and
//! health servers, leader election and the heartbeat until a shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::actuator::Actuator;
use crate::cli::Args;
use crate::clustercache::ClusterCache;
use crate::controller::{self, Options};
use crate::garden::{Garden, GardenCache};
use crate::lease::{self, LeaderElection, Leadership};
use crate::manifests::ManifestStore;
use crate::metrics::Metrics;
use crate::observerinputs::ObserverInputs;
use crate::opsmetrics::{self, RequestCounter};
use crate::reconciler::Reconciler;
use crate::seedwatch::SeedWatches;
use crate::server::{self, Readiness};
use crate::{healthcheck, kubeclient, syncpoll};
use shoot_flux_core::config::operator::{OperatorConfig, parse_duration};

pub(crate) async fn client_from(
    path: Option<&std::path::Path>,
    request_timeout: Duration,
) -> Result<kube::Client> {
    client_with_pool(path, kubeclient::Pool::SHARED, request_timeout, None).await
}

async fn client_with_pool(
    path: Option<&std::path::Path>,
    pool: kubeclient::Pool,
    request_timeout: Duration,
    counter: Option<RequestCounter>,
) -> Result<kube::Client> {
    let config = match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kubeclient::counted_client(
        config,
        pool,
        request_timeout,
        counter,
    )?)
}

/// The garden client from gardenlet's own kubeconfig Secret in the seed (opt-in fallback).
async fn gardenlet_garden_client(
    seed: &kube::Client,
    request_timeout: Duration,
    counter: RequestCounter,
) -> Result<kube::Client> {
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(seed.clone(), "garden");
    let secret = secrets
        .get("gardenlet-kubeconfig")
        .await
        .context("reading seed Secret garden/gardenlet-kubeconfig")?;
    let data = secret
        .data
        .and_then(|d| d.get("kubeconfig").cloned())
        .context("seed Secret garden/gardenlet-kubeconfig has no key kubeconfig")?;
    let kubeconfig = Kubeconfig::from_yaml(&String::from_utf8_lossy(&data.0))?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(kubeclient::counted_client(
        config,
        kubeclient::Pool::SHARED,
        request_timeout,
        Some(counter),
    )?)
}

/// SIGTERM or Ctrl-C (the controller shuts down gracefully on the same signals).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Runs `work` once this process leads; never, if it stops as a standby.
fn spawn_when_leading(
    leadership: &Leadership,
    work: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let leadership = leadership.clone();
    tokio::spawn(async move {
        if leadership.wait().await {
            work.await;
        }
    });
}

pub fn init_logging(args: &Args) {
    let filter = tracing_subscriber::EnvFilter::try_new(match args.log_level.as_str() {
        "debug" => "debug,hyper=info,rustls=info,tower=info",
        "error" => "error",
        "info" => "info",
        other => other,
    })
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    if args.log_format == "text" {
        builder.init();
    } else {
        builder.json().flatten_event(true).init();
    }
}

/// A positive duration flag such as `--resync-period 1h`.
fn duration_flag(flag: &str, text: &str, example: &str) -> Result<Duration> {
    parse_duration(text)
        .filter(|d| !d.is_zero())
        .with_context(|| format!("--{flag} {text:?} is not a duration like {example}"))
}

/// The operator configuration file (`--config`), with the flags that override it.
fn operator_config(args: &Args) -> Result<OperatorConfig> {
    let mut operator = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            OperatorConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => OperatorConfig::default(),
    };
    if let Some(file) = operator.flux.image_pull_secret_file.clone() {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("flux.imagePullSecretFile: reading {file}"))?;
        operator
            .flux
            .take_image_pull_secret(&text)
            .map_err(anyhow::Error::msg)?;
    }
    if let Some(identity) = &args.garden_cluster_identity {
        operator.garden_cluster_identity = identity.clone();
    }
    Ok(operator)
}

/// The garden client: from `GARDEN_KUBECONFIG`, or (opt-in) gardenlet's own; None without one.
async fn garden_client(
    args: &Args,
    seed: &kube::Client,
    pool: kubeclient::Pool,
    request_timeout: Duration,
    counter: RequestCounter,
) -> Result<Option<kube::Client>> {
    Ok(match &args.garden_kubeconfig {
        Some(path) => Some(
            client_with_pool(Some(path), pool, request_timeout, Some(counter))
                .await
                .context("garden client")?,
        ),
        None if args.garden_access_from_gardenlet_kubeconfig => {
            tracing::info!(
                "using the garden kubeconfig of seed Secret garden/gardenlet-kubeconfig"
            );
            Some(gardenlet_garden_client(seed, request_timeout, counter).await?)
        }
        None => {
            tracing::warn!(
                "no garden kubeconfig (GARDEN_KUBECONFIG): project ConfigMaps are not read, shoots get Flux without sync objects"
            );
            None
        }
    })
}

/// This replica's name in the leader election Lease.
fn identity() -> String {
    format!(
        "{}-{}",
        std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "shoot-flux".into()),
        std::process::id()
    )
}

/// Leader election from the flags; None when it is off.
fn leader_election(args: &Args, seed: &kube::Client) -> Result<Option<LeaderElection>> {
    if !args.leader_election {
        return Ok(None);
    }
    let namespace = args.leader_election_namespace.clone().context(
        "--leader-election needs --leader-election-namespace (or LEADER_ELECTION_NAMESPACE)",
    )?;
    let duration = |flag: &str, text: &str| {
        parse_duration(text)
            .with_context(|| format!("--{flag} {text:?} is not a duration like 15s"))
    };
    let timing = lease::Timing {
        lease_duration: duration(
            "leader-election-lease-duration",
            &args.leader_election_lease_duration,
        )?,
        renew_deadline: duration(
            "leader-election-renew-deadline",
            &args.leader_election_renew_deadline,
        )?,
        retry_period: duration(
            "leader-election-retry-period",
            &args.leader_election_retry_period,
        )?,
    };
    timing
        .validate()
        .map_err(|e| anyhow::anyhow!("leader election: {e}"))?;
    let identity = identity();
    tracing::info!(lease = %args.leader_election_id, %namespace, %identity, "watching as a standby until this process leads");
    Ok(Some(LeaderElection::new(
        seed.clone(),
        &namespace,
        &args.leader_election_id,
        &identity,
        timing,
    )))
}

/// The metrics and health endpoints, for as long as the process runs.
fn spawn_servers(args: &Args, metrics: Arc<Metrics>, ready: Arc<Readiness>) {
    let (metrics_addr, health_addr) = (args.metrics_bind_address, args.health_bind_address);
    tokio::spawn(async move {
        if let Err(e) = server::serve_metrics(metrics_addr, metrics).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    tokio::spawn(async move {
        if let Err(e) = server::serve_health(health_addr, ready).await {
            tracing::error!(error = %e, "health server stopped");
        }
    });
}

/// Runs the controller until a shutdown signal (or, with leader election, a lost lease).
pub async fn run(args: &Args) -> Result<()> {
    let operator = operator_config(args)?;
    let resync = duration_flag("resync-period", &args.resync_period, "1h")?;
    let health_period = duration_flag(
        "healthcheck-sync-period",
        &args.healthcheck_sync_period,
        "30s",
    )?;
    let reconcile_timeout = duration_flag("reconcile-timeout", &args.reconcile_timeout, "2m30s")?;
    let processing_delay = parse_duration(&args.processing_delay).with_context(|| {
        format!(
            "--processing-delay {:?} is not a duration like 2s",
            args.processing_delay
        )
    })?;
    // Over HTTP/2 one seed connection carries everything; where only HTTP/1.1 is spoken, every
    // reconcile in flight holds a connection, and keeping as many idle avoids a TLS handshake
    // per request while a burst lasts.
    let pool = kubeclient::Pool::shared(usize::from(args.lifecycle_max_concurrent_reconciles));
    let metrics = Arc::new(Metrics::default());
    let seed = client_with_pool(
        args.kubeconfig.as_deref(),
        pool,
        operator.request_timeout,
        Some(metrics.ops().request_counter("seed")),
    )
    .await
    .context("seed client")?;
    let garden = garden_client(
        args,
        &seed,
        pool,
        operator.request_timeout,
        metrics.ops().request_counter("garden"),
    )
    .await?;
    let sync_status = operator.sync_status.clone();
    let manifests = Arc::new(
        ManifestStore::new(
            operator.flux.manifests.clone(),
            operator.flux.manifest_timeout,
        )?
        .with_latest_refresh(operator.flux.latest_refresh)
        .with_metrics(metrics.clone()),
    );
    let poll_metrics = metrics.clone();
    let health_metrics = metrics.clone();
    let ready = Arc::new(Readiness::default());
    let clusters = Arc::new(ClusterCache::default());
    let (garden_cache, garden_writers) = GardenCache::new();
    let reconciler = Arc::new(Reconciler {
        seed: seed.clone(),
        clusters: clusters.clone(),
        actuator: Actuator::new(
            seed.clone(),
            Garden::new(garden.clone()).with_cache(garden_cache),
            manifests,
            operator,
            metrics.clone(),
        ),
        resync,
        processing_delay,
        metrics: metrics.clone(),
    });
    spawn_servers(args, metrics, ready.clone());
    let election = leader_election(args, &seed)?;
    // Every replica watches from the start and is Ready once the Extension cache has listed;
    // whatever writes waits for leadership.
    let leadership = if election.is_some() {
        Leadership::standby()
    } else {
        Leadership::leader()
    };
    tokio::spawn({
        let leadership = leadership.clone();
        async move {
            shutdown_signal().await;
            leadership.stop();
        }
    });
    if let Some(namespace) = args
        .heartbeat_namespace
        .clone()
        .or(args.leader_election_namespace.clone())
    {
        let heartbeat = lease::heartbeat(
            seed.clone(),
            namespace,
            "shoot-flux".into(),
            Duration::from_secs(args.heartbeat_renew_interval_seconds.max(1)),
        );
        spawn_when_leading(&leadership, heartbeat);
    }
    spawn_when_leading(&leadership, {
        let metrics = poll_metrics.clone();
        async move { metrics.ops().leading() }
    });
    let extension_cache = controller::extension_cache();
    // What the health check and the poll learn from watches instead of reading every period.
    let watches = SeedWatches::spawn(&seed);
    spawn_when_leading(&leadership, {
        let (extensions, listed) = (extension_cache.as_reader(), ready.clone());
        let gauge = poll_metrics.ops().waiting_gauge();
        async move {
            listed.wait().await;
            opsmetrics::count_waiting(extensions, health_period, gauge).await;
        }
    });
    let inputs = ObserverInputs {
        seed: seed.clone(),
        extensions: extension_cache.as_reader(),
        listed: ready.clone(),
        clusters,
        watches,
    };
    let health_check = healthcheck::run(
        inputs.clone(),
        health_period,
        sync_status.fail_health_check,
        health_metrics,
    );
    spawn_when_leading(&leadership, health_check);
    let poll = syncpoll::run(
        inputs,
        syncpoll::Options {
            period: health_period,
            concurrency: sync_status.concurrency,
            timeout: sync_status.timeout,
        },
        poll_metrics,
    );
    spawn_when_leading(&leadership, poll);
    let controllers = controller::run(
        seed,
        garden.map(|client| (client, garden_writers)),
        reconciler,
        Options {
            ignore_operation_annotation: args.ignore_operation_annotation,
            max_concurrent_reconciles: args.lifecycle_max_concurrent_reconciles,
            resync,
            reconcile_timeout,
            leadership: leadership.clone(),
        },
        ready,
        extension_cache,
    );
    match election {
        Some(election) => {
            let lead = async {
                election.acquire().await;
                tracing::info!("became leader");
                leadership.lead();
                election.hold().await;
            };
            tokio::select! {
                () = controllers => {}
                () = lead => {
                    tracing::error!("lost leadership; exiting so that only the leader writes");
                    std::process::exit(1);
                }
            }
        }
        None => controllers.await,
    }
    tracing::info!("stopped");
    Ok(())
}
