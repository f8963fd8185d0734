//! Kubernetes clients whose idle connections are bounded and closed after a while.
//!
//! kube's default client keeps every connection a burst of requests opened, idle, for as long as
//! the client lives: its connection pool has neither a limit nor a timer. In a seed that ties
//! memory to the largest burst ever seen (after 50 shoots were read at once and deleted, 21 idle
//! seed connections kept about 12 MiB). The same layers as kube's (base URI, auth, extra
//! headers, a debug span per request) over a pool that keeps at most `max_idle` idle
//! connections and closes them after `idle_timeout`.
//!
//! Every request but a watch must be answered within the client's request timeout, so that an
//! API server that accepts connections but does not answer (overloaded, frozen, a broken proxy)
//! fails the request with a reason instead of holding a reconcile for minutes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use kube::client::{Body, ConfigExt};
use tower::{BoxError, ServiceBuilder};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::opsmetrics::is_watch;

/// How an HTTP/2 connection with requests or watches on it is checked for life: when nothing
/// came from the server for `interval`, a PING is sent, and without its answer within `timeout`
/// the connection is closed, failing what was on it, and the next request opens a new one.
/// Without the check, a connection whose path died without a reset (a load balancer that
/// forgot it, a cut-off node) would keep every request and watch on it waiting, each request
/// until its own timeout, until the kernel gives up on the connection many minutes later:
/// with HTTP/2 there is no other connection for them to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub interval: Duration,
    pub timeout: Duration,
}

/// client-go's checks of an HTTP/2 connection (`ReadIdleTimeout` and `PingTimeout`).
pub const LIVENESS: Liveness = Liveness {
    interval: Duration::from_secs(30),
    timeout: Duration::from_secs(15),
};

/// The connection pool of one client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool {
    /// Idle connections kept for reuse; more are closed when they become idle. Over HTTP/2 one
    /// connection carries all requests.
    pub max_idle: usize,
    /// How long an idle connection is kept.
    pub idle_timeout: Duration,
    /// The life check of HTTP/2 connections.
    pub liveness: Liveness,
}

impl Pool {
    /// The seed or garden: requests in bursts (many shoots at once) and the watches, over one
    /// HTTP/2 connection as client-go sends them. Over HTTP/1.1 (a server or proxy that speaks
    /// nothing else) each request in flight takes a connection of its own, and a few are kept.
    /// HTTP/2 took 13 % less of the controller's CPU converging 1,000 shoots (1.41 to 1.45 ms per
    /// shoot against 1.59 to 1.67 over HTTP/1.1, five rounds each on the same bed) and 18 %
    /// less upgrading them, with the same convergence time and the same CPU of the servers.
    /// Requests sent together before the first connection is up each open one of their own: the
    /// pool learns that the server speaks HTTP/2 only from that connection's handshake.
    pub const SHARED: Pool = Pool {
        max_idle: 4,
        idle_timeout: Duration::from_secs(30),
        liveness: LIVENESS,
    };
    /// The seed or garden of a controller with `concurrency` reconciles in flight: over
    /// HTTP/1.1 as many idle connections as requests in flight (at least `SHARED`'s), closed
    /// after the burst.
    pub fn shared(concurrency: usize) -> Pool {
        Pool {
            max_idle: concurrency.max(Self::SHARED.max_idle),
            ..Self::SHARED
        }
    }
    /// One shoot: its requests go one after another, so one connection is all it needs. Over
    /// HTTP/1.1, hyper's pool opens a new connection (and TLS handshake) whenever a request
    /// comes before the previous connection is back in the pool, about 1 % of back-to-back
    /// requests on an API server; over HTTP/2 they share the one connection.
    pub const SHOOT: Pool = Pool {
        max_idle: 1,
        idle_timeout: Duration::from_secs(90),
        liveness: LIVENESS,
    };
}

/// The largest read of an HTTP/1.1 connection into its buffer. hyper's default (~400 KiB) lets
/// the buffer of each connection grow to twice a ~200 KiB Cluster body and hands the body on in
/// slices of it; with one connection per reconcile in flight, that was 14 MiB of a restart's
/// 32 MiB heap peak at N = 300, and with 64 KiB still 5.9 of 34 MiB at N = 1000 (a buffer
/// whose slices are still held is replaced by a larger one, and every pooled connection keeps
/// its own). 16 KiB is one TLS record. Larger bodies still arrive whole, in more reads.
const HTTP1_MAX_BUFFER: usize = 16 * 1024;

/// The TLS 1.3 session tickets rustls keeps per server; a session cache of this size holds
/// one server.
const TLS_TICKETS_PER_SERVER: usize = 8;

/// An https connector with TLS from the config (CA, client identity, server name) that offers
/// HTTP/2 and HTTP/1.1 (ALPN): Kubernetes API servers speak HTTP/2, and requests then share one
/// connection; a server or proxy that speaks only HTTP/1.1 still gets its requests.
fn https_connector(
    config: &kube::Config,
) -> Result<hyper_rustls::HttpsConnector<HttpConnector>, kube::Error> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    // Without TCP_NODELAY, Nagle's algorithm holds a small write (an HTTP/2 frame) while an
    // earlier one is unacknowledged, and the server delays its ACK by up to 40 ms: creates sent
    // one after another took 48 ms each over HTTP/2, 4 ms over HTTP/1.1 (which sends a request
    // in one write). Go's sockets, and so client-go's, have it on.
    http.set_nodelay(true);
    let mut tls = config.rustls_client_config()?;
    // A client talks to the one server of its kubeconfig: rustls's default session cache is
    // sized for 32 servers and kept 27 KiB per shoot client (100 watched shoots: 12.5 MiB of
    // RSS with it, 9.8 without any cache); room for one server keeps resumption for a reconnect.
    tls.resumption = rustls::client::Resumption::in_memory_sessions(TLS_TICKETS_PER_SERVER);
    let mut builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = &config.tls_server_name {
        let name = name
            .clone()
            .try_into()
            .map_err(|e| kube::Error::Service(Box::new(e)))?;
        builder =
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(name));
    }
    Ok(builder.enable_all_versions().wrap_connector(http))
}

/// A client for `config` with the given pool. The config's connect, read and write timeouts
/// apply as with kube's own client; every request but a watch fails when its response has not
/// begun within `request_timeout`.
pub fn client(
    config: kube::Config,
    pool: Pool,
    request_timeout: Duration,
) -> Result<kube::Client, kube::Error> {
    counted_client(config, pool, request_timeout, None)
}

/// [`client`] whose requests and new connections are counted by `counter` (the seed's and the
/// garden's clients; a shoot's with `request_counter("shoot")`).
pub fn counted_client(
    config: kube::Config,
    pool: Pool,
    request_timeout: Duration,
    counter: Option<crate::opsmetrics::RequestCounter>,
) -> Result<kube::Client, kube::Error> {
    let mut connector = hyper_timeout::TimeoutConnector::new(https_connector(&config)?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    let connector = CountConnections {
        inner: connector,
        connections: counter.as_ref().map(|c| c.connection_counter()),
    };
    let hyper = HyperClient::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(pool.idle_timeout)
        .pool_max_idle_per_host(pool.max_idle)
        .http1_max_buf_size(HTTP1_MAX_BUFFER)
        .timer(TokioTimer::new())
        .http2_keep_alive_interval(pool.liveness.interval)
        .http2_keep_alive_timeout(pool.liveness.timeout)
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
    // The counter first: it sees the path relative to the cluster URL, as the API server does.
    let service = ServiceBuilder::new()
        .option_layer(counter)
        .layer(config.base_uri_layer())
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .layer(trace)
        .layer(RequestTimeoutLayer(request_timeout))
        .map_err(BoxError::from)
        .service(hyper);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// A connector that counts the connections it opens (after the TCP connect and, over https, the
/// TLS handshake succeeded): how often a client's pool had no kept connection to reuse.
#[derive(Debug, Clone)]
struct CountConnections<C> {
    inner: C,
    connections: Option<prometheus_client::metrics::counter::Counter>,
}

impl<C> tower::Service<http::Uri> for CountConnections<C>
where
    C: tower::Service<http::Uri>,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connections = self.connections.clone();
        let connecting = self.inner.call(uri);
        Box::pin(async move {
            let connection = connecting.await;
            if let (Ok(_), Some(counter)) = (&connection, connections) {
                counter.inc();
            }
            connection
        })
    }
}

/// Creates `object` through `api`, reading the answer only for its status. The API server
/// echoes the whole object back, and nobody reads it: for the content secrets of
/// ManagedResources (the install's is 37 KiB of base64) decoding it was a good part of a
/// create's CPU. Errors are `Api::create`'s (a conflict is `kube::Error::Api` with code 409).
pub async fn create_unread<K: kube::Resource + Clone>(
    api: &kube::Api<K>,
    object: &impl serde::Serialize,
) -> Result<(), kube::Error> {
    let body = serde_json::to_vec(object).map_err(kube::Error::SerdeError)?;
    let request = kube::core::Request::new(api.resource_url())
        .create(&kube::api::PostParams::default(), body)
        .map_err(kube::Error::BuildRequest)?;
    send_unread(api.clone().into_client(), request).await
}

/// Merge-patches object `name` through `api` like `Api::patch`, reading the answer only for its
/// status (the object it echoes is not decoded).
pub async fn merge_patch_unread<K: kube::Resource + Clone>(
    api: &kube::Api<K>,
    name: &str,
    patch: &serde_json::Value,
) -> Result<(), kube::Error> {
    let request = kube::core::Request::new(api.resource_url())
        .patch(name, &Default::default(), &kube::api::Patch::Merge(patch))
        .map_err(kube::Error::BuildRequest)?;
    send_unread(api.clone().into_client(), request).await
}

/// Merge-patches the status of object `name` through `api` like `Api::patch_status`, and
/// decodes of the answer only the metadata (spec and status are skipped).
pub async fn merge_patch_status_metadata<K: kube::Resource + Clone>(
    api: &kube::Api<K>,
    name: &str,
    patch: &serde_json::Value,
) -> Result<kube::api::ObjectMeta, kube::Error> {
    #[derive(serde::Deserialize)]
    struct MetadataOf {
        #[serde(default)]
        metadata: kube::api::ObjectMeta,
    }
    let request = kube::core::Request::new(api.resource_url())
        .patch_subresource(
            "status",
            name,
            &Default::default(),
            &kube::api::Patch::Merge(patch),
        )
        .map_err(kube::Error::BuildRequest)?;
    let answer: MetadataOf = api.clone().into_client().request(request).await?;
    Ok(answer.metadata)
}

async fn send_unread(
    client: kube::Client,
    request: http::Request<Vec<u8>>,
) -> Result<(), kube::Error> {
    let answer = client.request_stream(request).await?;
    // Read to the end, so that the connection goes back to the pool.
    futures::io::copy_buf(answer, &mut futures::io::sink())
        .await
        .map_err(|e| kube::Error::Service(Box::new(e)))?;
    Ok(())
}

/// An error with its causes, for a status: kube and hyper name only the outermost layer
/// ("client error (Connect)"), the reason (a refused or timed-out connection, a certificate) is
/// further down. Causes whose text the outer one already contains are skipped.
pub fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !more.is_empty() && !text.contains(&more) {
            text = format!("{text}: {more}");
        }
        source = cause.source();
    }
    text
}

#[derive(Debug, thiserror::Error)]
#[error("{method} {path}: no answer within {timeout:?}")]
pub struct RequestTimedOut {
    method: http::Method,
    path: String,
    timeout: Duration,
}

#[derive(Debug, Clone, Copy)]
struct RequestTimeoutLayer(Duration);

impl<S> tower::Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            timeout: self.0,
        }
    }
}

#[derive(Debug, Clone)]
struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> tower::Service<Request<B>> for RequestTimeout<S>
where
    S: tower::Service<Request<B>>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let deadline = (!is_watch(request.uri())).then(|| RequestTimedOut {
            method: request.method().clone(),
            path: request.uri().path().to_string(),
            timeout: self.timeout,
        });
        let response = self.inner.call(request);
        Box::pin(async move {
            match deadline {
                None => response.await.map_err(Into::into),
                Some(timed_out) => match tokio::time::timeout(timed_out.timeout, response).await {
                    Ok(result) => result.map_err(Into::into),
                    Err(_) => Err(Box::new(timed_out) as BoxError),
                },
            }
        })
    }
}

/// How an object of ours is written: objects of an Extension that never had a status are
/// expected not to exist yet, so they are created without reading first (AlreadyExists falls
/// back to read and update); all others are read first and written only when they differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    CreateFirst,
    ReadFirst,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn errors_are_described_with_their_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "connection timed out");
        let outer = kube::Error::Service(Box::new(io));
        assert_eq!(describe(&outer), "ServiceError: connection timed out");
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Connect(#[source] std::io::Error);
        let chained = kube::Error::Service(Box::new(Connect(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ))));
        assert_eq!(
            describe(&chained),
            "ServiceError: client error (Connect): Connection refused"
        );
    }

    /// The sockets send small writes at once (TCP_NODELAY; see `https_connector`).
    #[tokio::test]
    async fn connections_send_small_writes_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url: http::Uri = format!("http://{}", listener.local_addr().unwrap())
            .parse()
            .unwrap();
        let connector = https_connector(&kube::Config::new(url.clone())).unwrap();
        let stream = tower::ServiceExt::oneshot(connector, url).await.unwrap();
        let hyper_rustls::MaybeHttpsStream::Http(socket) = stream else {
            panic!("a plain connection to an http:// URL");
        };
        assert!(socket.inner().nodelay().unwrap());
    }

    #[test]
    fn only_watches_have_no_deadline() {
        let uri = |s: &str| s.parse::<http::Uri>().unwrap();
        assert!(is_watch(&uri(
            "/api/v1/secrets?watch=true&resourceVersion=1"
        )));
        assert!(is_watch(&uri("/api/v1/secrets?fieldSelector=a&watch=1")));
        assert!(!is_watch(&uri("/api/v1/secrets?limit=500")));
        assert!(!is_watch(&uri("/api/v1/namespaces/x/secrets/watch")));
    }

    /// A server that accepts connections and never answers: the request fails with the reason
    /// after the timeout, and a watch request is not cut off by it.
    #[tokio::test]
    async fn a_silent_api_server_fails_requests_with_the_reason() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        let client = client_for(address, Pool::SHARED, Duration::from_millis(300));
        let api: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
            kube::Api::namespaced(client.clone(), "garden-p");
        let started = std::time::Instant::now();
        let error = api.get("flux-config").await.unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            error.contains(
                "GET /api/v1/namespaces/garden-p/configmaps/flux-config: no answer within 300ms"
            ),
            "{error}"
        );
        let watch = tokio::time::timeout(
            Duration::from_secs(1),
            api.watch(&kube::api::WatchParams::default(), "0"),
        )
        .await;
        assert!(
            watch.is_err(),
            "the watch was cut off: {:?}",
            watch.map(|_| ())
        );
        held.abort();
    }

    /// A client of the plain HTTP server at `address`.
    pub(crate) fn client_for(
        address: std::net::SocketAddr,
        pool: Pool,
        timeout: Duration,
    ) -> kube::Client {
        let config = kube::Config::new(format!("http://{address}").parse().unwrap());
        client(config, pool, timeout).unwrap()
    }

    /// The length of the first whole request in `buffer` (head and body), if it has arrived.
    fn request_length(buffer: &[u8]) -> Option<usize> {
        let head = buffer.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let body = String::from_utf8_lossy(&buffer[..head])
            .lines()
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .unwrap_or(0);
        (buffer.len() >= head + body).then_some(head + body)
    }

    /// A plain HTTP/1.1 server that answers every request with `{}` and keeps the connection
    /// open (as an API server does); it counts the connections it accepted.
    async fn keep_alive_server() -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        keep_alive_server_answering(200, "{}".into()).await
    }

    /// [`keep_alive_server`] answering every request with `status` and `body` (JSON).
    pub(crate) async fn keep_alive_server_answering(
        status: u16,
        body: String,
    ) -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        let (address, accepted, _) = keep_alive_server_holding(status, body, Duration::ZERO).await;
        (address, accepted)
    }

    /// [`keep_alive_server_answering`] that holds each answer for `hold` and also returns the
    /// most requests it held at once.
    pub(crate) async fn keep_alive_server_holding(
        status: u16,
        body: String,
        hold: Duration,
    ) -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(AtomicUsize::new(0));
        let most_in_flight = std::sync::Arc::new(AtomicUsize::new(0));
        let (counted, most) = (accepted.clone(), most_in_flight.clone());
        tokio::spawn(async move {
            let answer = std::sync::Arc::new(format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            ));
            let in_flight = std::sync::Arc::new(AtomicUsize::new(0));
            while let Ok((mut socket, _)) = listener.accept().await {
                counted.fetch_add(1, SeqCst);
                let (answer, in_flight, most) = (answer.clone(), in_flight.clone(), most.clone());
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(read) = socket.read(&mut chunk).await else {
                            return;
                        };
                        if read == 0 {
                            return;
                        }
                        buffer.extend_from_slice(&chunk[..read]);
                        // A request is its head up to the empty line and `content-length`
                        // bytes of body (kube's clients send no chunked bodies).
                        while let Some(length) = request_length(&buffer) {
                            buffer.drain(..length);
                            most.fetch_max(in_flight.fetch_add(1, SeqCst) + 1, SeqCst);
                            tokio::time::sleep(hold).await;
                            in_flight.fetch_sub(1, SeqCst);
                            if socket.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (address, accepted, most_in_flight)
    }

    #[tokio::test]
    async fn a_body_larger_than_the_read_buffer_arrives_whole() {
        // 4 MiB of JSON through the 16 KiB buffer, twice over the kept connection.
        let body = format!("\"{}\"", "x".repeat(4 << 20));
        let (address, accepted) = keep_alive_server_answering(200, body.clone()).await;
        let client = client_for(address, Pool::SHARED, Duration::from_secs(30));
        for _ in 0..2 {
            let request = http::Request::get("/apis/extensions.gardener.cloud/v1alpha1/clusters/x")
                .body(Vec::new())
                .unwrap();
            assert!(client.request_text(request).await.unwrap() == body);
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_create_reads_the_answer_to_its_end_and_keeps_its_errors() {
        use k8s_openapi::api::core::v1::Secret;
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("s".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        // The echo is larger than the read buffer: it is drained, so the connection is reused.
        let echo = serde_json::json!({"kind": "Secret", "data": {"k": "x".repeat(256 << 10)}});
        let (address, accepted) = keep_alive_server_answering(201, echo.to_string()).await;
        let api: kube::Api<Secret> = kube::Api::namespaced(
            client_for(address, Pool::SHARED, Duration::from_secs(30)),
            "ns",
        );
        for _ in 0..3 {
            create_unread(&api, &secret).await.unwrap();
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);

        let exists = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "AlreadyExists", "code": 409, "message": "secrets \"s\" already exists"});
        let (address, _) = keep_alive_server_answering(409, exists.to_string()).await;
        let api: kube::Api<Secret> = kube::Api::namespaced(
            client_for(address, Pool::SHARED, Duration::from_secs(30)),
            "ns",
        );
        let conflict = create_unread(&api, &secret).await;
        assert!(
            matches!(&conflict, Err(e) if crate::apierror::is_conflict(e)),
            "{conflict:?}"
        );
    }

    #[tokio::test]
    async fn a_patch_reads_the_answer_for_its_status_or_metadata_and_keeps_its_errors() {
        use k8s_openapi::api::core::v1::ConfigMap;
        let api_at = |address| -> kube::Api<ConfigMap> {
            kube::Api::namespaced(
                client_for(address, Pool::SHARED, Duration::from_secs(30)),
                "ns",
            )
        };
        let patch = serde_json::json!({"metadata": {"resourceVersion": "6", "finalizers": ["f"]}});
        // Echoes larger than the read buffer, drained or decoded to the end: one connection.
        let echo = serde_json::json!({"kind": "ConfigMap",
            "metadata": {"name": "c", "resourceVersion": "7", "generation": 2,
                "annotations": {"gardener.cloud/operation": "reconcile"}},
            "status": {"k": "x".repeat(256 << 10)}});
        let (address, accepted) = keep_alive_server_answering(200, echo.to_string()).await;
        let api = api_at(address);
        for _ in 0..3 {
            merge_patch_unread(&api, "c", &patch).await.unwrap();
            let written = merge_patch_status_metadata(&api, "c", &patch)
                .await
                .unwrap();
            assert_eq!(written.resource_version.as_deref(), Some("7"));
            assert_eq!(written.generation, Some(2));
            assert_eq!(
                written.annotations.unwrap()["gardener.cloud/operation"],
                "reconcile"
            );
        }
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);

        for (code, reason) in [(409, "Conflict"), (404, "NotFound")] {
            let status = serde_json::json!({"kind": "Status", "apiVersion": "v1",
                "status": "Failure", "reason": reason, "code": code, "message": "m"});
            let (address, _) = keep_alive_server_answering(code, status.to_string()).await;
            let api = api_at(address);
            let unread = merge_patch_unread(&api, "c", &patch).await;
            let status_write = merge_patch_status_metadata(&api, "c", &patch).await;
            for answer in [unread.err(), status_write.err()] {
                assert_eq!(
                    answer.as_ref().and_then(crate::apierror::status_code),
                    Some(code),
                    "{answer:?}"
                );
            }
        }
    }

    /// GETs a ConfigMap through `client`: the body.
    pub(crate) async fn get_configmap(client: &kube::Client) -> String {
        let request = http::Request::get("/api/v1/namespaces/kube-system/configmaps/x")
            .body(Vec::new())
            .unwrap();
        client.request_text(request).await.unwrap()
    }

    async fn two_gets(pool: Pool) -> (String, usize) {
        let (address, accepted) = keep_alive_server().await;
        let mut registry = prometheus_client::registry::Registry::with_prefix("shoot_flux");
        let ops = crate::opsmetrics::OpsMetrics::registered(&mut registry);
        let config = kube::Config::new(format!("http://{address}").parse().unwrap());
        let client = counted_client(
            config,
            pool,
            Duration::from_secs(30),
            Some(ops.request_counter("shoot")),
        )
        .unwrap();
        for _ in 0..2 {
            assert_eq!(get_configmap(&client).await, "{}");
        }
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        (out, accepted.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Requests over a kept connection open it once; without idle connections kept, every
    /// request opens one. The count is the server's.
    #[tokio::test]
    async fn new_connections_are_counted_per_cluster() {
        let (kept, accepted) = two_gets(Pool::SHOOT).await;
        assert_eq!(accepted, 1);
        assert!(
            kept.contains("shoot_flux_api_connections_total{cluster=\"shoot\"} 1\n"),
            "{kept}"
        );
        assert!(
            kept.contains(
                "shoot_flux_api_requests_total{cluster=\"shoot\",code=\"200\",verb=\"get\",resource=\"configmaps\"} 2"
            ),
            "{kept}"
        );
        let none_kept = Pool {
            max_idle: 0,
            ..Pool::SHOOT
        };
        let (closed, accepted) = two_gets(none_kept).await;
        assert_eq!(accepted, 2);
        assert!(
            closed.contains("shoot_flux_api_connections_total{cluster=\"shoot\"} 2\n"),
            "{closed}"
        );
    }
}
