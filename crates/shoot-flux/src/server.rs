//! The HTTP endpoints of the process: `/metrics` on the metrics address, `/healthz` and
//! `/readyz` on the health address.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use crate::metrics::Metrics;

/// Readiness: true once the controller's caches are synced.
#[derive(Debug, Default)]
pub struct Readiness(AtomicBool);

impl Readiness {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn get(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// Returns once set. (Not the store's `wait_until_ready`: its future wakes only the last of
    /// several tasks waiting at once, and the others would wait forever.)
    pub async fn wait(&self) {
        while !self.get() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}

fn reply(status: u16, body: String) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::OK);
    r
}

/// Serves until the process ends. `route` maps a path to (status, body).
async fn serve<F>(addr: SocketAddr, route: F) -> std::io::Result<()>
where
    F: Fn(&str) -> (u16, String) + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let route = Arc::new(route);
    loop {
        let (stream, _) = listener.accept().await?;
        let route = route.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (status, body) = route(req.uri().path());
                    async move { Ok::<_, Infallible>(reply(status, body)) }
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub async fn serve_metrics(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    serve(addr, move |path| match path {
        "/metrics" => (200, metrics.encode()),
        _ => (404, "not found\n".into()),
    })
    .await
}

pub async fn serve_health(addr: SocketAddr, ready: Arc<Readiness>) -> std::io::Result<()> {
    serve(addr, move |path| match path {
        "/healthz" => (200, "ok\n".into()),
        "/readyz" if ready.get() => (200, "ok\n".into()),
        "/readyz" => (503, "caches not synced\n".into()),
        _ => (404, "not found\n".into()),
    })
    .await
}
