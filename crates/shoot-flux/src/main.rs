use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use kube::api::{Api, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use shoot_flux::actuator::Actuator;
use shoot_flux::cli::{self, Args, Command};
use shoot_flux::config::operator::{OperatorConfig, parse_duration};
use shoot_flux::controller::{self, Options};
use shoot_flux::deploykey::{DeployKey, SECRET_NAME};
use shoot_flux::flux::manifests::ManifestStore;
use shoot_flux::garden::{Garden, GardenCache};
use shoot_flux::gardener::shoot::ClusterCache;
use shoot_flux::gardener::types::extension_resource;
use shoot_flux::lease::{self, LeaderElection, Leadership};
use shoot_flux::metrics::Metrics;
use shoot_flux::reconciler::Reconciler;
use shoot_flux::render_command::{self, RenderInput};
use shoot_flux::server::{self, Readiness};
use shoot_flux::{health, kubeclient, syncstatus};

async fn client_from(
    path: Option<&std::path::Path>,
    request_timeout: Duration,
) -> Result<kube::Client> {
    client_with_pool(path, kubeclient::Pool::SHARED, request_timeout).await
}

async fn client_with_pool(
    path: Option<&std::path::Path>,
    pool: kubeclient::Pool,
    request_timeout: Duration,
) -> Result<kube::Client> {
    let config = match path {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .with_context(|| format!("reading {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kubeclient::client(config, pool, request_timeout)?)
}

/// The garden client from gardenlet's own kubeconfig Secret in the seed (opt-in fallback).
async fn gardenlet_garden_client(
    seed: &kube::Client,
    request_timeout: Duration,
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
    Ok(kubeclient::client(
        config,
        kubeclient::Pool::SHARED,
        request_timeout,
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

/// The answer deadline of the CLI's requests (`deploy-key`, `status`).
const CLI_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

fn init_logging(args: &Args) {
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

/// `deploy-key --project <name>` or `--namespace <ns>`: prints the project's deploy key for the
/// operator.
async fn deploy_key(args: &Args, namespace: &str) -> Result<()> {
    let path = args
        .garden_kubeconfig
        .as_deref()
        .or(args.kubeconfig.as_deref());
    let garden = Garden::new(Some(
        client_from(path, CLI_REQUEST_TIMEOUT)
            .await
            .context("garden client")?,
    ));
    match garden.secret(namespace, SECRET_NAME).await? {
        None => {
            eprint!("{}", cli::deploy_key_missing(namespace));
            std::process::exit(2);
        }
        Some(secret) => {
            let data = secret
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect();
            let key = DeployKey::from_secret_data(&data, &format!("{namespace}/{SECRET_NAME}"))
                .map_err(|e| anyhow::anyhow!("the deploy key Secret is not usable: {e}"))?;
            print!("{}", cli::deploy_key_report(namespace, &key));
            Ok(())
        }
    }
}

/// `render`: the shoot's objects from files, on stdout; problems on stderr with exit code 1.
async fn render(
    cluster: &std::path::Path,
    extension: &std::path::Path,
    project_config: Option<&std::path::Path>,
    config: Option<&std::path::Path>,
) -> ! {
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("{}: {e}", path.display());
            std::process::exit(1)
        })
    };
    let input = RenderInput {
        cluster: read(cluster),
        extension: read(extension),
        project_config: project_config.map(read),
        operator_config: config.map(read),
    };
    match render_command::render(&input).await {
        Ok(output) => {
            for note in &output.notes {
                eprintln!("note: {note}");
            }
            print!("{}", output.yaml);
            std::process::exit(0)
        }
        Err(problems) => {
            for problem in &problems {
                eprintln!("error: {problem}");
            }
            std::process::exit(1)
        }
    }
}

/// `status`: the seed's shoots, one line each.
async fn status(args: &Args) -> Result<()> {
    let seed = client_from(args.kubeconfig.as_deref(), CLI_REQUEST_TIMEOUT)
        .await
        .context("seed client (--kubeconfig or KUBECONFIG)")?;
    let api: Api<DynamicObject> = Api::all_with(seed, &extension_resource());
    let list = api
        .list(&ListParams::default())
        .await
        .context("listing Extensions in the seed")?;
    let extensions: Vec<serde_json::Value> = list
        .items
        .iter()
        .filter_map(|o| serde_json::to_value(o).ok())
        .collect();
    print!(
        "{}",
        syncstatus::command::table(&extensions, k8s_openapi::jiff::Timestamp::now())
    );
    Ok(())
}

/// jemalloc returns freed memory to the system within seconds; glibc's malloc kept what 50
/// watched and then deleted shoots had used (RSS stayed 40 % above its baseline).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, which it reads before `main`: a background thread returns memory that
/// has been unused for a second (the default keeps it 10 s), so the garbage of a reconcile wave
/// (a Cluster body of ~200 KiB per shoot) does not pile up as resident memory while it lasts.
/// Exporting the symbol is the documented way to set them; nothing here is unsafe to call.
#[allow(unsafe_code, non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: Option<&'static std::ffi::c_char> = Some(&JEMALLOC_OPTIONS[0]);

static JEMALLOC_OPTIONS: [std::ffi::c_char; 60] =
    c_string(b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0");

const fn c_string<const N: usize>(bytes: &[u8; N]) -> [std::ffi::c_char; N] {
    let mut out = [0; N];
    let mut i = 0;
    while i < N {
        out[i] = bytes[i] as std::ffi::c_char;
        i += 1;
    }
    out
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    match &args.command {
        Some(Command::DeployKey { project, namespace }) => {
            let namespace = cli::deploy_key_namespace(project.as_deref(), namespace.as_deref())
                .map_err(anyhow::Error::msg)?;
            return deploy_key(&args, &namespace).await;
        }
        Some(Command::Status) => return status(&args).await,
        Some(Command::Render {
            cluster,
            extension,
            project_config,
            config,
        }) => {
            render(
                cluster,
                extension,
                project_config.as_deref(),
                config.as_deref(),
            )
            .await
        }
        None => {}
    }
    init_logging(&args);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), gardener_version = ?args.gardener_version, "starting gardener-extension-shoot-flux");
    let operator = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            OperatorConfig::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
        }
        None => OperatorConfig::default(),
    };
    let mut operator = operator;
    shoot_flux::flux::image_pull::load_operator_secret(&mut operator.flux)
        .map_err(|e| anyhow::anyhow!(e))?;
    if let Some(identity) = &args.garden_cluster_identity {
        operator.garden_cluster_identity = identity.clone();
    }
    let resync = parse_duration(&args.resync_period)
        .filter(|d| !d.is_zero())
        .with_context(|| {
            format!(
                "--resync-period {:?} is not a duration like 1h",
                args.resync_period
            )
        })?;
    // Every reconcile in flight holds one seed connection (HTTP/1.1); keeping as many idle
    // avoids a TLS handshake per request while a burst lasts.
    let pool = kubeclient::Pool::shared(usize::from(args.lifecycle_max_concurrent_reconciles));
    let seed = client_with_pool(args.kubeconfig.as_deref(), pool, operator.request_timeout)
        .await
        .context("seed client")?;
    let garden = match &args.garden_kubeconfig {
        Some(path) => Some(
            client_with_pool(Some(path), pool, operator.request_timeout)
                .await
                .context("garden client")?,
        ),
        None if args.garden_access_from_gardenlet_kubeconfig => {
            tracing::info!(
                "using the garden kubeconfig of seed Secret garden/gardenlet-kubeconfig"
            );
            Some(gardenlet_garden_client(&seed, operator.request_timeout).await?)
        }
        None => {
            tracing::warn!(
                "no garden kubeconfig (GARDEN_KUBECONFIG): project ConfigMaps are not read, shoots get Flux without sync objects"
            );
            None
        }
    };
    let sync_status = operator.sync_status.clone();
    let metrics = Arc::new(Metrics::default());
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
        metrics: metrics.clone(),
    });
    let metrics_addr = args.metrics_bind_address;
    let health_addr = args.health_bind_address;
    tokio::spawn(async move {
        if let Err(e) = server::serve_metrics(metrics_addr, metrics).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    let health_ready = ready.clone();
    tokio::spawn(async move {
        if let Err(e) = server::serve_health(health_addr, health_ready).await {
            tracing::error!(error = %e, "health server stopped");
        }
    });
    let health_period = parse_duration(&args.healthcheck_sync_period)
        .filter(|d| !d.is_zero())
        .with_context(|| {
            format!(
                "--healthcheck-sync-period {:?} is not a duration like 30s",
                args.healthcheck_sync_period
            )
        })?;
    let reconcile_timeout = parse_duration(&args.reconcile_timeout)
        .filter(|d| !d.is_zero())
        .with_context(|| {
            format!(
                "--reconcile-timeout {:?} is not a duration like 2m30s",
                args.reconcile_timeout
            )
        })?;
    let identity = format!(
        "{}-{}",
        std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "shoot-flux".into()),
        std::process::id()
    );
    let election = if args.leader_election {
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
        tracing::info!(lease = %args.leader_election_id, %namespace, %identity, "watching as a standby until this process leads");
        Some(LeaderElection::new(
            seed.clone(),
            &namespace,
            &args.leader_election_id,
            &identity,
            timing,
        ))
    } else {
        None
    };
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
    let extension_cache = controller::extension_cache();
    let health_check = health::run(
        seed.clone(),
        extension_cache.as_reader(),
        ready.clone(),
        health_period,
        sync_status.fail_health_check,
        health_metrics,
        clusters.clone(),
    );
    spawn_when_leading(&leadership, health_check);
    let poll = syncstatus::poll::run(
        seed.clone(),
        extension_cache.as_reader(),
        ready.clone(),
        syncstatus::poll::Options {
            period: health_period,
            concurrency: sync_status.concurrency,
            timeout: sync_status.timeout,
        },
        poll_metrics,
        clusters,
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
