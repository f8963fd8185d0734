//! A small HTTP(S) GET with a timeout, for Flux release assets. Redirects are not followed: the
//! caller reads the `latest` redirect itself.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("GET {url} timed out after {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("GET {url}: {message}")]
    Failed { url: String, message: String },
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    pub body: Bytes,
}

type HttpsClient = Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Empty<Bytes>,
>;

#[derive(Clone)]
pub struct Fetcher {
    client: HttpsClient,
    timeout: Duration,
}

impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Fetcher {
    pub fn new(timeout: Duration) -> Result<Self, FetchError> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| FetchError::Failed {
                url: String::new(),
                message: format!("loading the system's CA certificates: {e}"),
            })?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    pub async fn get(&self, url: &str) -> Result<Response, FetchError> {
        let failed = |message: String| FetchError::Failed {
            url: url.to_string(),
            message,
        };
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| failed(format!("invalid URL: {e}")))?;
        let request = async {
            let response = self
                .client
                .get(uri)
                .await
                .map_err(|e| failed(e.to_string()))?;
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| failed(e.to_string()))?
                .to_bytes();
            Ok(Response {
                status,
                location,
                body,
            })
        };
        tokio::time::timeout(self.timeout, request)
            .await
            .map_err(|_| FetchError::Timeout {
                url: url.to_string(),
                timeout: self.timeout,
            })?
    }
}
