//! Kubernetes clients whose idle connections are bounded and closed after a while.
//!
//! kube's default client keeps every connection a burst of requests opened, idle, for as long as
//! the client lives: its connection pool has neither a limit nor a timer. In a seed that ties
//! memory to the largest burst ever seen (after 50 shoots were read at once and deleted, 21 idle
//! seed connections kept about 12 MiB). The same layers as kube's (base URI, auth, extra
//! headers, a debug span per request) over a pool that keeps at most `max_idle` idle
//! connections and closes them after `idle_timeout`.

use std::time::Duration;

use http::{Request, Response};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{Body, ConfigExt};
use tower::{BoxError, ServiceBuilder};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The connection pool of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Idle connections kept for reuse; more are closed when they become idle.
    pub max_idle: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
}

impl Pool {
    /// The seed or garden: requests in bursts (many shoots at once), a few kept warm.
    pub const SHARED: Pool = Pool {
        max_idle: 4,
        idle_timeout: Duration::from_secs(30),
    };
    /// The seed or garden of a controller with `concurrency` reconciles in flight: as many idle
    /// connections as requests in flight (at least `SHARED`'s), closed after the burst.
    pub fn shared(concurrency: usize) -> Pool {
        Pool {
            max_idle: concurrency.max(Self::SHARED.max_idle),
            ..Self::SHARED
        }
    }
    /// One shoot: its requests go one after another, so one connection is all it needs.
    pub const SHOOT: Pool = Pool {
        max_idle: 1,
        idle_timeout: Duration::from_secs(90),
    };
}

/// A client for `config` with the given pool. The config's connect, read and write timeouts
/// apply as with kube's own client.
pub fn client(config: kube::Config, pool: Pool) -> Result<kube::Client, kube::Error> {
    let mut connector = hyper_timeout::TimeoutConnector::new(config.rustls_https_connector()?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let hyper = HyperClient::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(pool.idle_timeout)
        .pool_max_idle_per_host(pool.max_idle)
        .build(connector);
    let trace = TraceLayer::new_for_http()
        .make_span_with(|request: &Request<Body>| {
            tracing::debug_span!(
                "HTTP",
                http.method = %request.method(),
                http.url = %request.uri(),
                http.status_code = tracing::field::Empty,
            )
        })
        .on_request(|_: &Request<Body>, _: &Span| tracing::debug!("requesting"))
        .on_response(
            |response: &Response<hyper::body::Incoming>, _: Duration, span: &Span| {
                span.record("http.status_code", response.status().as_u16());
            },
        );
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .layer(trace)
        .map_err(BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}
