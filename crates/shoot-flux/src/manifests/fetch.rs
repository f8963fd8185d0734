//! A small HTTP(S) GET for Flux release assets. `get` sends one request (the caller reads the
//! `latest` redirect itself); `get_following` follows redirects as release hosts need (GitHub
//! answers every asset download with a 302 to its asset storage): a few hops at most, across
//! hosts, never from https down to http, and the whole chain under one deadline.

use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Redirects followed for one download (GitHub needs one, two for `latest/download/...`).
pub const MAX_REDIRECTS: usize = 5;

/// Where a request sits in a redirect chain, for errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HopContext {
    /// 1 for the first redirect target.
    pub number: usize,
    pub max: usize,
    /// The URL that redirected here (query omitted).
    pub from: String,
}

impl std::fmt::Display for HopContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            " (redirect {} of ≤{}, from {})",
            self.number, self.max, self.from
        )
    }
}

/// ` (redirect n of ≤max, from ...)` or nothing for the first request.
fn hop_suffix(hop: Option<&HopContext>) -> String {
    hop.map(ToString::to_string).unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "GET {url}{} timed out after {timeout:?} (flux.manifests.timeout: one deadline for the download, redirects included)",
        hop_suffix(.hop.as_ref())
    )]
    Timeout {
        url: String,
        hop: Option<HopContext>,
        timeout: Duration,
    },
    #[error("GET {url}{}: {message}", hop_suffix(.hop.as_ref()))]
    Failed {
        url: String,
        hop: Option<HopContext>,
        message: String,
    },
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    pub body: Bytes,
    /// The URL that gave this response (the last of the chain).
    pub url: String,
    /// Set when the response came after redirects.
    pub hop: Option<HopContext>,
}

/// What to do after one response of a redirect chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextHop {
    /// Request this absolute URL next.
    Follow(String),
    /// The response is the answer (whatever its status).
    Done,
    /// The chain cannot go on.
    Error(String),
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// Decides the next hop after `current` answered `status` with `location`, when `followed`
/// redirects were followed already and at most `max` may be.
pub fn next_hop(
    current: &str,
    status: u16,
    location: Option<&str>,
    followed: usize,
    max: usize,
) -> NextHop {
    if !is_redirect(status) {
        return NextHop::Done;
    }
    let Some(location) = location.map(str::trim).filter(|l| !l.is_empty()) else {
        return NextHop::Error(format!("answered {status} without a Location"));
    };
    if followed >= max {
        return NextHop::Error(format!(
            "answered {status} to {}, a redirect beyond the limit of {max}",
            without_query(location)
        ));
    }
    let next = match resolve_location(current, location) {
        Ok(next) => next,
        Err(e) => {
            return NextHop::Error(format!(
                "answered {status} with Location {:?}: {e}",
                without_query(location)
            ));
        }
    };
    if scheme_of(current).as_deref() == Some("https") && scheme_of(&next).as_deref() == Some("http")
    {
        return NextHop::Error(format!(
            "answered {status} to {}: refusing to follow a redirect from https down to http",
            without_query(&next)
        ));
    }
    NextHop::Follow(next)
}

fn scheme_of(url: &str) -> Option<String> {
    let (scheme, _) = url.split_once("://")?;
    Some(scheme.to_ascii_lowercase())
}

/// `url` without its query (signed asset URLs carry their signature there) and fragment.
pub fn without_query(url: &str) -> String {
    match url.find(['?', '#']) {
        Some(i) => format!("{}?…", &url[..i]),
        None => url.to_string(),
    }
}

/// Resolves a `Location` (absolute, scheme-relative, absolute-path or relative) against the
/// URL of the request, as RFC 3986 section 5.2 does for these forms.
pub fn resolve_location(base: &str, location: &str) -> Result<String, String> {
    // A fragment is never sent.
    let location = location.split('#').next().unwrap_or_default();
    let (scheme, rest) = base
        .split_once("://")
        .ok_or_else(|| format!("{} is not an absolute URL", without_query(base)))?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(authority_end);
    let base_path = path_and_query
        .split('?')
        .next()
        .filter(|p| !p.is_empty())
        .unwrap_or("/");
    let resolved = if let Some((target_scheme, _)) = location.split_once("://")
        && !target_scheme.contains(['/', '?'])
    {
        if !matches!(
            target_scheme.to_ascii_lowercase().as_str(),
            "http" | "https"
        ) {
            return Err(format!("{target_scheme}:// is not http(s)"));
        }
        location.to_string()
    } else if let Some(scheme_relative) = location.strip_prefix("//") {
        format!("{scheme}://{scheme_relative}")
    } else if location.starts_with('/') {
        let (path, query) = split_query(location);
        format!("{scheme}://{authority}{}{query}", remove_dot_segments(path))
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{base_path}{location}")
    } else {
        let directory = &base_path[..base_path.rfind('/').map_or(0, |i| i + 1)];
        let (path, query) = split_query(location);
        let merged = format!("{directory}{path}");
        format!(
            "{scheme}://{authority}{}{query}",
            remove_dot_segments(&merged)
        )
    };
    resolved
        .parse::<hyper::Uri>()
        .map_err(|e| format!("{resolved:?} is not a valid URL: {e}"))?;
    Ok(resolved)
}

fn split_query(reference: &str) -> (&str, &str) {
    match reference.find('?') {
        Some(i) => reference.split_at(i),
        None => (reference, ""),
    }
}

/// `a/b/../c/./d` -> `a/c/d`, keeping a leading and a trailing slash.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = path.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                if out.len() > 1 {
                    out.pop();
                }
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let joined = out.join("/");
    if joined.starts_with('/') {
        joined
    } else {
        format!("/{joined}")
    }
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
                hop: None,
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

    /// One GET without following redirects, under the timeout.
    pub async fn get(&self, url: &str) -> Result<Response, FetchError> {
        self.get_hop(url, None, self.deadline()).await
    }

    /// The deadline of a download (or a redirect chain) starting now.
    pub fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.timeout
    }

    /// A GET that follows up to `MAX_REDIRECTS` redirects; the whole chain shares the timeout.
    /// The response is the first that is not a redirect, whatever its status.
    pub async fn get_following(&self, url: &str) -> Result<Response, FetchError> {
        let deadline = self.deadline();
        let mut current = url.to_string();
        let mut hop: Option<HopContext> = None;
        let mut followed = 0;
        loop {
            let response = self.get_hop(&current, hop.clone(), deadline).await?;
            match next_hop(
                &current,
                response.status,
                response.location.as_deref(),
                followed,
                MAX_REDIRECTS,
            ) {
                NextHop::Done => return Ok(response),
                NextHop::Error(message) => {
                    return Err(FetchError::Failed {
                        url: without_query(&current),
                        hop,
                        message,
                    });
                }
                NextHop::Follow(next) => {
                    followed += 1;
                    tracing::debug!(
                        status = response.status,
                        from = %without_query(&current),
                        to = %without_query(&next),
                        redirect = followed,
                        "following a redirect of a Flux release download"
                    );
                    hop = Some(HopContext {
                        number: followed,
                        max: MAX_REDIRECTS,
                        from: without_query(&current),
                    });
                    current = next;
                }
            }
        }
    }

    /// One GET of a chain: `hop` says where it stands (for errors), `deadline` is the chain's.
    pub async fn get_hop(
        &self,
        url: &str,
        hop: Option<HopContext>,
        deadline: tokio::time::Instant,
    ) -> Result<Response, FetchError> {
        // Signed asset URLs keep their query out of errors.
        let shown = without_query(url);
        let failed = |message: String| FetchError::Failed {
            url: shown.clone(),
            hop: hop.clone(),
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
                .map_err(|e| failed(describe(&e)))?;
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
                url: url.to_string(),
                hop: hop.clone(),
            })
        };
        tokio::time::timeout_at(deadline, request)
            .await
            .map_err(|_| FetchError::Timeout {
                url: shown.clone(),
                hop: hop.clone(),
                timeout: self.timeout,
            })?
    }
}

/// A client error with its causes (hyper's own message alone is "client error (Connect)").
pub(super) fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GH: &str = "https://github.com/fluxcd/flux2/releases/download/v2.9.5/install.yaml";

    #[test]
    fn non_redirects_end_the_chain() {
        for status in [200, 204, 304, 403, 404, 500] {
            assert_eq!(next_hop(GH, status, Some("/x"), 0, 5), NextHop::Done);
        }
    }

    #[test]
    fn redirects_cross_hosts() {
        let asset = "https://release-assets.githubusercontent.com/github-production-release-asset/1/abc?sig=s&se=1";
        for status in [301, 302, 303, 307, 308] {
            assert_eq!(
                next_hop(GH, status, Some(asset), 0, 5),
                NextHop::Follow(asset.into())
            );
        }
    }

    #[test]
    fn https_to_http_is_refused_http_to_https_is_not() {
        let NextHop::Error(message) = next_hop(
            GH,
            302,
            Some("http://mirror.example.com/install.yaml?sig=secret"),
            0,
            5,
        ) else {
            panic!()
        };
        assert!(message.contains("from https down to http"), "{message}");
        assert!(!message.contains("secret"), "{message}");
        // A scheme-relative Location keeps https.
        assert!(matches!(
            next_hop(GH, 302, Some("HTTP://mirror.example.com/a"), 0, 5),
            NextHop::Error(_)
        ));
        assert_eq!(
            next_hop(GH, 302, Some("//mirror.example.com/a"), 0, 5),
            NextHop::Follow("https://mirror.example.com/a".into())
        );
        assert_eq!(
            next_hop(
                "http://127.0.0.1:1/a",
                302,
                Some("https://example.com/b"),
                0,
                5
            ),
            NextHop::Follow("https://example.com/b".into())
        );
        assert_eq!(
            next_hop(
                "http://127.0.0.1:1/a",
                302,
                Some("http://127.0.0.1:2/b"),
                0,
                5
            ),
            NextHop::Follow("http://127.0.0.1:2/b".into())
        );
    }

    #[test]
    fn too_many_hops_and_missing_locations_are_errors() {
        assert_eq!(
            next_hop(GH, 302, Some("/a"), 4, 5),
            NextHop::Follow("https://github.com/a".into())
        );
        let NextHop::Error(message) = next_hop(GH, 302, Some("/a"), 5, 5) else {
            panic!()
        };
        assert!(message.contains("beyond the limit of 5"), "{message}");
        for location in [None, Some(""), Some("  ")] {
            let NextHop::Error(message) = next_hop(GH, 301, location, 0, 5) else {
                panic!()
            };
            assert!(message.contains("without a Location"), "{message}");
        }
        assert!(matches!(
            next_hop(GH, 302, Some("ftp://example.com/x"), 0, 5),
            NextHop::Error(m) if m.contains("not http(s)")
        ));
    }

    #[test]
    fn relative_locations_resolve_against_the_request() {
        let base = "http://127.0.0.1:8080/fluxcd/flux2/releases/latest/download/install.yaml?x=1";
        let cases = [
            (
                "/fluxcd/flux2/releases/download/v2.9.5/install.yaml",
                "http://127.0.0.1:8080/fluxcd/flux2/releases/download/v2.9.5/install.yaml",
            ),
            (
                "../../download/v2.9.5/install.yaml",
                "http://127.0.0.1:8080/fluxcd/flux2/releases/download/v2.9.5/install.yaml",
            ),
            (
                "manifests.tar.gz",
                "http://127.0.0.1:8080/fluxcd/flux2/releases/latest/download/manifests.tar.gz",
            ),
            (
                "./a/./b/../c?sig=1",
                "http://127.0.0.1:8080/fluxcd/flux2/releases/latest/download/a/c?sig=1",
            ),
            (
                "?page=2",
                "http://127.0.0.1:8080/fluxcd/flux2/releases/latest/download/install.yaml?page=2",
            ),
            ("/a/b/#frag", "http://127.0.0.1:8080/a/b/"),
            ("../../../../../..", "http://127.0.0.1:8080/"),
            ("//assets.example.com/x", "http://assets.example.com/x"),
            (
                "HTTPS://Assets.example.com/x",
                "HTTPS://Assets.example.com/x",
            ),
            ("HTTP://Assets.example.com/x", "HTTP://Assets.example.com/x"),
        ];
        for (location, want) in cases {
            assert_eq!(
                resolve_location(base, location).as_deref(),
                Ok(want),
                "{location}"
            );
        }
        assert_eq!(
            resolve_location("http://h", "a").as_deref(),
            Ok("http://h/a")
        );
        assert!(resolve_location("http://h/", "http://bad host/").is_err());
    }

    #[test]
    fn hop_context_in_errors() {
        let e = FetchError::Failed {
            url: "http://b/x?…".into(),
            hop: Some(HopContext {
                number: 2,
                max: 5,
                from: "http://a/y".into(),
            }),
            message: "answered 403".into(),
        };
        assert_eq!(
            e.to_string(),
            "GET http://b/x?… (redirect 2 of ≤5, from http://a/y): answered 403"
        );
        let t = FetchError::Timeout {
            url: "http://a/y".into(),
            hop: None,
            timeout: Duration::from_secs(3),
        };
        assert_eq!(
            t.to_string(),
            "GET http://a/y timed out after 3s (flux.manifests.timeout: one deadline for the download, redirects included)"
        );
        assert_eq!(without_query("http://a/b?sig=1#f"), "http://a/b?…");
        assert_eq!(without_query("http://a/b"), "http://a/b");
    }

    /// A refused Location keeps its signature out of the error, like every other hop error.
    #[test]
    fn a_refused_location_is_named_without_its_query() {
        let NextHop::Error(e) = next_hop(
            "https://github.com/r",
            302,
            Some("ftp://assets/x?sig=secret"),
            0,
            5,
        ) else {
            panic!("an ftp Location must be refused");
        };
        assert!(e.contains("ftp://assets/x?…"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }
}
