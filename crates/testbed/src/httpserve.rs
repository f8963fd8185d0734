//! The bed's own HTTP servers on loopback: a tiny hyper server loop shared by the Flux release
//! asset server and the smart-HTTP git server (and, over TLS, the registry's token service).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Result;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::background::{TaskGuard, handle};

pub type Body = Full<Bytes>;

/// Serves `handler` on a free loopback port on the background runtime until dropped.
#[derive(Debug)]
pub struct HttpServer {
    pub addr: SocketAddr,
    _task: TaskGuard,
}

pub fn response(status: u16, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r
}

impl HttpServer {
    pub fn start<H, F>(handler: H) -> Result<Self>
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        Self::listen(None, handler)
    }

    /// Like `start`, over TLS with `config` (the bed's serving certificate, for stand-ins of
    /// services that clients reach by https only).
    pub fn start_tls<H, F>(config: Arc<rustls::ServerConfig>, handler: H) -> Result<Self>
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        Self::listen(Some(tokio_rustls::TlsAcceptor::from(config)), handler)
    }

    /// The accept loop: each connection (after its TLS handshake, with `acceptor`) served with
    /// `handler` on a task of its own.
    fn listen<H, F>(acceptor: Option<tokio_rustls::TlsAcceptor>, handler: H) -> Result<Self>
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Response<Body>> + Send + 'static,
    {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let handler = Arc::new(handler);
        let task = {
            let _guard = handle().enter();
            let listener = tokio::net::TcpListener::from_std(std_listener)?;
            TaskGuard::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let handler = handler.clone();
                    let acceptor = acceptor.clone();
                    tokio::spawn(async move {
                        match acceptor {
                            None => serve(stream, handler).await,
                            Some(acceptor) => {
                                if let Ok(stream) = acceptor.accept(stream).await {
                                    serve(stream, handler).await;
                                }
                            }
                        }
                    });
                }
            })
        };
        Ok(Self { addr, _task: task })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// One HTTP/1 connection served with `handler` until it closes.
async fn serve<S, H, F>(stream: S, handler: Arc<H>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<Body>> + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let handler = handler.clone();
        async move { Ok::<_, Infallible>(handler(req).await) }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
