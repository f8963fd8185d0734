//! The series the chart's alert rules and dashboard need beyond the reconcile and sync metrics:
//! whether this process leads, how many Extensions wait for the controller, when the sync status
//! poll last finished a round (and its period), which projects' deploy keys Git hosts refuse,
//! and the API requests to the seed and the garden ([`RequestCounter`]): by cluster, Kubernetes
//! verb, resource and status code, and the connections the clients open.
//!
//! What counts as waiting (`gardener::operation::waits_for_controller`) and which key a report
//! says is refused (`syncstatus::refused_key`) the core decides.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cachedextension::CachedExtension;
use kube::runtime::reflector::Store;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use shoot_flux_core::gardener::operation::waits_for_controller;
use shoot_flux_core::gardener::types::Extension;

#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct KeyLabels {
    project: String,
    fingerprint: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    cluster: String,
    code: String,
    verb: String,
    resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    cluster: String,
}

pub struct OpsMetrics {
    leader: Gauge,
    extensions_waiting: Gauge,
    poll_period: Gauge<f64, AtomicU64>,
    poll_last_round: Gauge<f64, AtomicU64>,
    poll_round_duration: Gauge<f64, AtomicU64>,
    keys_refused: Family<KeyLabels, Gauge>,
    api_requests: Family<RequestLabels, Counter>,
    api_connections: Family<ConnectionLabels, Counter>,
    /// The refused keys with a series, so that keys no longer refused lose theirs.
    refused: Mutex<BTreeSet<KeyLabels>>,
}

impl std::fmt::Debug for OpsMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpsMetrics").finish_non_exhaustive()
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

impl OpsMetrics {
    /// The series, registered in `registry` (which carries the `shoot_flux` prefix).
    pub fn registered(registry: &mut Registry) -> Self {
        let this = Self {
            leader: Gauge::default(),
            extensions_waiting: Gauge::default(),
            poll_period: Gauge::default(),
            poll_last_round: Gauge::default(),
            poll_round_duration: Gauge::default(),
            keys_refused: Family::default(),
            api_requests: Family::default(),
            api_connections: Family::default(),
            refused: Mutex::new(BTreeSet::new()),
        };
        registry.register(
            "api_requests",
            "API requests of shoot-flux's seed and garden clients by cluster, HTTP status code (error: no response), Kubernetes verb (get, list, watch, create, update, patch, delete, deletecollection) and resource (plural, with /subresource; - for non-resource paths); a watch counts once, when it starts",
            this.api_requests.clone(),
        );
        registry.register(
            "api_connections",
            "Connections shoot-flux's clients opened by cluster (each a TCP connect and, over https, a TLS handshake); few per minute when connections are kept",
            this.api_connections.clone(),
        );
        registry.register(
            "leader",
            "1 while this process leads (reconciles and polls), 0 while it is a standby",
            this.leader.clone(),
        );
        registry.register(
            "extensions_waiting",
            "Extensions of ours waiting for the controller (operation annotation, deletion, unobserved generation, never or still processing); counted by the leader every health check period (0 on a standby)",
            this.extensions_waiting.clone(),
        );
        registry.register(
            "sync_poll_period_seconds",
            "The pause of the sync status poll between two rounds (--healthcheck-sync-period; 0 on a standby, which does not poll)",
            this.poll_period.clone(),
        );
        registry.register(
            "sync_poll_last_round_timestamp_seconds",
            "Unix time the sync status poll last finished a round (before the first: when it started; 0 on a standby)",
            this.poll_last_round.clone(),
        );
        registry.register(
            "sync_poll_round_duration_seconds",
            "Duration of the sync status poll's last round over every shoot",
            this.poll_round_duration.clone(),
        );
        registry.register(
            "deploy_key_refused",
            "Shoots whose Flux source the Git host refused with their project's deploy key (the key is not authorized on the repository yet)",
            this.keys_refused.clone(),
        );
        this
    }

    /// The layer that counts a client's requests to `cluster` (seed, garden).
    pub fn request_counter(&self, cluster: &'static str) -> RequestCounter {
        RequestCounter {
            requests: self.api_requests.clone(),
            connections: self.api_connections.clone(),
            cluster,
        }
    }

    /// This process leads from now on (a process never goes back to standby: it exits).
    pub fn leading(&self) {
        self.leader.set(1);
    }

    pub fn extensions_waiting(&self, count: usize) {
        self.extensions_waiting
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The gauge [`count_waiting`] keeps current.
    pub fn waiting_gauge(&self) -> Gauge {
        self.extensions_waiting.clone()
    }

    /// The poll starts: its period, and the start as the baseline of "last round".
    pub fn poll_started(&self, period: Duration) {
        self.poll_period.set(period.as_secs_f64());
        self.poll_last_round.set(unix_now());
    }

    pub fn poll_round_done(&self, took: Duration) {
        self.poll_round_duration.set(took.as_secs_f64());
        self.poll_last_round.set(unix_now());
    }

    /// The refused keys of one round, as (project, fingerprint) per shoot.
    pub fn keys_refused<'a>(&self, refused: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut counts: BTreeMap<KeyLabels, i64> = BTreeMap::new();
        for (project, fingerprint) in refused {
            *counts
                .entry(KeyLabels {
                    project: project.to_string(),
                    fingerprint: fingerprint.to_string(),
                })
                .or_default() += 1;
        }
        let Ok(mut known) = self.refused.lock() else {
            return;
        };
        for gone in known.iter().filter(|k| !counts.contains_key(*k)) {
            self.keys_refused.remove(gone);
        }
        for (labels, count) in &counts {
            self.keys_refused.get_or_create(labels).set(*count);
        }
        *known = counts.into_keys().collect();
    }
}

/// Whether a request is a watch, which stays open by design (the clients give it no answer
/// deadline).
pub(crate) fn is_watch(uri: &http::Uri) -> bool {
    uri.query()
        .is_some_and(|q| q.split('&').any(|p| p == "watch=true" || p == "watch=1"))
}

/// A tower layer counting a client's requests by verb, resource and the status code of their
/// answer; [`RequestCounter::connection_counter`] counts the connections of the same client.
#[derive(Clone)]
pub struct RequestCounter {
    requests: Family<RequestLabels, Counter>,
    connections: Family<ConnectionLabels, Counter>,
    cluster: &'static str,
}

impl std::fmt::Debug for RequestCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestCounter")
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl RequestCounter {
    fn count(&self, kind: &RequestKind, code: String) {
        self.requests
            .get_or_create(&RequestLabels {
                cluster: self.cluster.to_string(),
                code,
                verb: kind.verb.clone(),
                resource: kind.resource.clone(),
            })
            .inc();
    }

    /// The counter of this client's new connections (the client's connector increments it).
    pub fn connection_counter(&self) -> Counter {
        self.connections
            .get_or_create(&ConnectionLabels {
                cluster: self.cluster.to_string(),
            })
            .clone()
    }
}

/// What a request does in the API server's terms: its verb and resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKind {
    pub verb: String,
    /// The plural resource with `/subresource`; `-` for a path outside `/api` and `/apis`.
    pub resource: String,
}

impl RequestKind {
    /// The verb and resource of a request, as the API server derives them: the resource path
    /// after `/api/v1` or `/apis/<group>/<version>` (and `namespaces/<ns>`), a GET without a
    /// name is a `list`, and a `watch` when it asks for one (`watch=true` or the old `/watch/`
    /// prefix).
    pub fn of(method: &http::Method, uri: &http::Uri) -> Self {
        let segments: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
        let rest = match segments.as_slice() {
            ["api", _version, rest @ ..] => Some(rest),
            ["apis", _group, _version, rest @ ..] => Some(rest),
            _ => None,
        };
        let Some(mut rest) = rest.filter(|r| !r.is_empty()) else {
            return Self {
                verb: method.as_str().to_ascii_lowercase(),
                resource: "-".into(),
            };
        };
        let mut watch = is_watch(uri);
        if let ["watch", after @ ..] = rest {
            watch = true;
            rest = after;
        }
        if let ["namespaces", _namespace, after @ ..] = rest
            && !after.is_empty()
        {
            rest = after;
        }
        let (resource, name, subresource) = match rest {
            [] => ("-", None, None),
            [resource] => (*resource, None, None),
            [resource, name] => (*resource, Some(*name), None),
            [resource, name, subresource, ..] => (*resource, Some(*name), Some(*subresource)),
        };
        let verb = match *method {
            http::Method::GET | http::Method::HEAD if watch => "watch",
            http::Method::GET | http::Method::HEAD if name.is_none() => "list",
            http::Method::GET | http::Method::HEAD => "get",
            http::Method::POST => "create",
            http::Method::PUT => "update",
            http::Method::PATCH => "patch",
            http::Method::DELETE if name.is_none() => "deletecollection",
            http::Method::DELETE => "delete",
            _ => "other",
        };
        Self {
            verb: verb.into(),
            resource: match subresource {
                Some(sub) => format!("{resource}/{sub}"),
                None => resource.to_string(),
            },
        }
    }
}

impl<S> tower::Layer<S> for RequestCounter {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            inner,
            counter: self.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    counter: RequestCounter,
}

impl<S, B, R> tower::Service<http::Request<B>> for Counted<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let counter = self.counter.clone();
        let kind = RequestKind::of(request.method(), request.uri());
        let response = self.inner.call(request);
        Box::pin(async move {
            let result = response.await;
            counter.count(
                &kind,
                match &result {
                    Ok(response) => response.status().as_u16().to_string(),
                    Err(_) => "error".into(),
                },
            );
            result
        })
    }
}

/// Counts the waiting Extensions of the controller's cache into `gauge` every `period`, until
/// the process ends (only the leader runs it, once the cache has listed: a standby's count
/// would say nothing about progress).
pub async fn count_waiting(extensions: Store<CachedExtension>, period: Duration, gauge: Gauge) {
    loop {
        let waiting = extensions
            .state()
            .iter()
            .filter_map(|o| Extension::from_json(&o.to_json()).ok())
            .filter(waits_for_controller)
            .count();
        gauge.set(i64::try_from(waiting).unwrap_or(i64::MAX));
        tokio::time::sleep(period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn requests_are_counted_by_cluster_and_status_code_or_error() {
        use tower::{Layer, Service, ServiceExt};
        let mut registry = Registry::with_prefix("shoot_flux");
        let m = OpsMetrics::registered(&mut registry);
        let mut ok =
            m.request_counter("seed")
                .layer(tower::service_fn(|_: http::Request<()>| async {
                    let mut r = http::Response::new(());
                    *r.status_mut() = http::StatusCode::NOT_FOUND;
                    Ok::<_, std::io::Error>(r)
                }));
        let mut failing =
            m.request_counter("garden")
                .layer(tower::service_fn(|_: http::Request<()>| async {
                    Err::<http::Response<()>, _>(std::io::Error::other("refused"))
                }));
        for _ in 0..2 {
            ok.ready()
                .await
                .unwrap()
                .call(http::Request::new(()))
                .await
                .unwrap();
        }
        assert!(
            failing
                .ready()
                .await
                .unwrap()
                .call(http::Request::new(()))
                .await
                .is_err()
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        assert!(
            out.contains(
                "shoot_flux_api_requests_total{cluster=\"seed\",code=\"404\",verb=\"get\",resource=\"-\"} 2"
            ),
            "{out}"
        );
        assert!(out.contains(
            "shoot_flux_api_requests_total{cluster=\"garden\",code=\"error\",verb=\"get\",resource=\"-\"} 1"
        ));
    }

    #[test]
    fn requests_are_named_by_verb_and_resource_as_the_api_server_does() {
        let kind = |method: &str, uri: &str| {
            let k = RequestKind::of(&method.parse().unwrap(), &uri.parse().unwrap());
            format!("{} {}", k.verb, k.resource)
        };
        let ns = "/api/v1/namespaces/shoot--p--s";
        let ext = "/apis/extensions.gardener.cloud/v1alpha1";
        // Core, namespaced: named, collection, create, delete, deletecollection.
        assert_eq!(kind("GET", &format!("{ns}/secrets/a")), "get secrets");
        assert_eq!(
            kind("GET", &format!("{ns}/secrets?labelSelector=x")),
            "list secrets"
        );
        assert_eq!(kind("POST", &format!("{ns}/secrets")), "create secrets");
        assert_eq!(kind("DELETE", &format!("{ns}/secrets/a")), "delete secrets");
        assert_eq!(
            kind("DELETE", &format!("{ns}/secrets")),
            "deletecollection secrets"
        );
        // Grouped, namespaced, with subresource; update and patch.
        assert_eq!(
            kind(
                "PUT",
                &format!("{ext}/namespaces/x/extensions/shoot-flux/status")
            ),
            "update extensions/status"
        );
        assert_eq!(
            kind(
                "PATCH",
                &format!("{ext}/namespaces/x/extensions/shoot-flux")
            ),
            "patch extensions"
        );
        // Cluster-scoped: named, list across, and a namespace itself.
        assert_eq!(
            kind("GET", &format!("{ext}/clusters/shoot--p--s")),
            "get clusters"
        );
        assert_eq!(kind("GET", &format!("{ext}/clusters")), "list clusters");
        assert_eq!(
            kind("GET", &format!("{ext}/extensions?limit=500")),
            "list extensions"
        );
        assert_eq!(kind("GET", "/api/v1/namespaces/garden"), "get namespaces");
        assert_eq!(kind("GET", "/api/v1/namespaces"), "list namespaces");
        // Watches: the query parameter and the old path prefix.
        assert_eq!(
            kind(
                "GET",
                &format!("{ext}/extensions?watch=true&resourceVersion=5")
            ),
            "watch extensions"
        );
        assert_eq!(
            kind(
                "GET",
                "/apis/coordination.k8s.io/v1/namespaces/garden/leases?fieldSelector=metadata.name%3Dl&watch=1"
            ),
            "watch leases"
        );
        assert_eq!(
            kind("GET", "/api/v1/watch/namespaces/x/secrets"),
            "watch secrets"
        );
        // Not resources: discovery and other paths, by their method.
        assert_eq!(
            kind("GET", "/apis/resources.gardener.cloud/v1alpha1"),
            "get -"
        );
        assert_eq!(kind("GET", "/api"), "get -");
        assert_eq!(kind("GET", "/version"), "get -");
        assert_eq!(kind("POST", "/metrics"), "post -");
        // The absolute URI a client may carry counts the same.
        assert_eq!(
            kind("GET", &format!("https://127.0.0.1:6443{ns}/configmaps/c")),
            "get configmaps"
        );
    }

    #[test]
    fn refused_keys_are_counted_per_project_and_fingerprint_and_go_when_authorized() {
        let mut registry = Registry::with_prefix("shoot_flux");
        let m = OpsMetrics::registered(&mut registry);
        let text = |registry: &Registry| {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
            out
        };
        m.keys_refused([("p", "SHA256:a"), ("p", "SHA256:a"), ("q", "SHA256:b")]);
        let out = text(&registry);
        assert!(
            out.contains("shoot_flux_deploy_key_refused{project=\"p\",fingerprint=\"SHA256:a\"} 2"),
            "{out}"
        );
        assert!(
            out.contains("shoot_flux_deploy_key_refused{project=\"q\",fingerprint=\"SHA256:b\"} 1")
        );
        m.keys_refused([("q", "SHA256:b")]);
        let out = text(&registry);
        assert!(!out.contains("project=\"p\""), "{out}");
        assert!(out.contains("project=\"q\""));
        assert!(out.contains("shoot_flux_leader 0"));
        m.leading();
        assert!(text(&registry).contains("shoot_flux_leader 1"));
    }
}
