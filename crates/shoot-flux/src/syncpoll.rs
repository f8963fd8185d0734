//! The status poll: every period, each shoot of ours is read through its own cached client
//! (created lazily, one per shoot, dropped when the shoot is deleted, hibernated or migrated),
//! with bounded concurrency and a time budget per shoot, so an unreachable shoot makes its own
//! conditions Unknown and never delays the others beyond that budget. Conditions are written
//! only when they change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};

use crate::cachedextension::CachedExtension;
use crate::clustercache::ClusterCache;
use crate::metrics::Metrics;
use crate::observerinputs::ObserverInputs;
use crate::seedwatch::{Known, SeedWatches};
use crate::shootaccess::{self, ShootAccessError};
use shoot_flux_core::access::SECRET_NAME;
use shoot_flux_core::gardener::conditions;
use shoot_flux_core::gardener::types::Extension;
use shoot_flux_core::syncstatus::{Installed, Observation, SyncState, decide, with_shoot_facts};

#[derive(Debug, Clone)]
pub struct Options {
    pub period: Duration,
    /// Shoots read at the same time.
    pub concurrency: usize,
    /// The budget for reading one shoot; beyond it the shoot counts as unreachable.
    pub timeout: Duration,
}

/// What the access Secret of one shoot gave, at the Secret's resourceVersion.
#[derive(Clone)]
enum Access {
    Ready(Client),
    /// No token yet: asked again when the Secret changes.
    NoToken,
}

impl Access {
    fn result(self) -> Result<Client, ShootAccessError> {
        match self {
            Access::Ready(client) => Ok(client),
            Access::NoToken => Err(shootaccess::waiting_for_token()),
        }
    }
}

/// Shoot clients by shoot namespace, with the access Secret's resourceVersion they were built
/// at. While the Secret watch reports that version, the shoot costs the seed no request.
#[derive(Clone)]
struct Clients {
    by_namespace: Arc<Mutex<HashMap<String, (String, Access)>>>,
    /// Counts the shoot clients' requests and connections (`cluster="shoot"`).
    counter: crate::opsmetrics::RequestCounter,
}

impl Clients {
    fn cached(&self, namespace: &str, version: &str) -> Option<Access> {
        let clients = self.by_namespace.lock().ok()?;
        clients
            .get(namespace)
            .filter(|(v, _)| v == version)
            .map(|(_, access)| access.clone())
    }

    /// The shoot's client, reused while the access Secret is unchanged.
    async fn get(
        &self,
        seed: &Client,
        watches: &SeedWatches,
        namespace: &str,
        generic_kubeconfig_secret: Option<&str>,
        timeout: Duration,
    ) -> Result<Client, ShootAccessError> {
        match watches.access_secrets.version(Some(namespace), SECRET_NAME) {
            Known::Present(version) => {
                if let Some(access) = self.cached(namespace, &version) {
                    return access.result();
                }
            }
            Known::Absent => return Err(shootaccess::waiting_for_token()),
            Known::Unknown => {}
        }
        let read = shootaccess::read_token(seed, namespace).await?;
        let Some(version) = read.version else {
            return Err(shootaccess::waiting_for_token());
        };
        if let Some(access) = self.cached(namespace, &version) {
            return access.result();
        }
        let access = match read.token {
            None => Access::NoToken,
            // A failure to build the client (the generic kubeconfig not there yet) is not
            // kept: it is tried again next round.
            Some(token) => Access::Ready(
                shootaccess::client(
                    seed,
                    namespace,
                    generic_kubeconfig_secret,
                    &token,
                    timeout,
                    Some(self.counter.clone()),
                )
                .await?,
            ),
        };
        if matches!(access, Access::Ready(_)) {
            tracing::debug!(namespace, access_secret_version = %version, "shoot client made");
        }
        if let Ok(mut clients) = self.by_namespace.lock() {
            clients.insert(namespace.to_string(), (version, access.clone()));
        }
        access.result()
    }

    /// Drops the shoot's client (and so its connection), saying `why` in the debug log.
    fn drop_client(&self, namespace: &str, why: &str) {
        if let Ok(mut clients) = self.by_namespace.lock()
            && let Some((_, Access::Ready(_))) = clients.remove(namespace)
        {
            tracing::debug!(namespace, why, "shoot client dropped");
        }
    }

    fn retain(&self, keep: impl Fn(&str) -> bool) {
        if let Ok(mut clients) = self.by_namespace.lock() {
            clients.retain(|ns, _| keep(ns));
        }
    }

    /// Shoots with a client (an open or openable connection).
    pub fn len(&self) -> usize {
        self.by_namespace
            .lock()
            .map(|c| {
                c.values()
                    .filter(|(_, a)| matches!(a, Access::Ready(_)))
                    .count()
            })
            .unwrap_or(0)
    }
}

/// A shoot API request's failure as an observation: refused credentials mean the access is not
/// there yet (token or RBAC still on their way); anything else is an unreachable shoot.
fn observation_of(error: &kube::Error) -> Observation {
    match error {
        kube::Error::Api(status) if status.code == 401 || status.code == 403 => {
            Observation::WaitingForAccess(format!(
                "the shoot does not accept shoot-flux's token yet (HTTP {}; its RBAC is applied by the ManagedResource {})",
                status.code,
                shoot_flux_core::managedresource::ACCESS_NAME
            ))
        }
        kube::Error::Api(status) => {
            Observation::Unreachable(format!("HTTP {}: {}", status.code, status.message))
        }
        other => Observation::Unreachable(crate::kubeclient::describe(other)),
    }
}

fn flux_api(client: &Client, api_version: &str, kind: &str, namespace: &str) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// Reads what the conditions need from the shoot, one request after another (so one
/// connection per shoot suffices).
async fn read_shoot(client: &Client, installed: &Installed) -> Result<Observation, kube::Error> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &installed.flux.namespace);
    let deployments = deployments
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|d| serde_json::to_value(d).unwrap_or_default())
        .collect();
    let mut objects = Vec::new();
    for (api_version, reference) in [
        ("source.toolkit.fluxcd.io/v1", &installed.source),
        ("kustomize.toolkit.fluxcd.io/v1", &installed.kustomization),
    ] {
        let object = match reference {
            Some(r) => flux_api(client, api_version, &r.kind, &r.namespace)
                .get_opt(&r.name)
                .await?
                .map(|o| serde_json::to_value(o).unwrap_or_default()),
            None => None,
        };
        objects.push(object);
    }
    let kustomization = objects.pop().flatten();
    let source = objects.pop().flatten();
    Ok(Observation::Seen {
        deployments,
        source,
        kustomization,
    })
}

/// What happened to one Extension in a round.
enum Outcome {
    /// Not ours to read now (deleting, migrated, not reconciled yet).
    Skipped,
    Hibernated(String),
    /// The shoot's namespace and state, and the (project, fingerprint) of a refused deploy key.
    Read(String, SyncState, Option<(String, String)>),
}

async fn check_one(
    seed: &Client,
    clusters: &ClusterCache,
    watches: &SeedWatches,
    clients: &Clients,
    object: &CachedExtension,
    timeout: Duration,
) -> Outcome {
    let json = object.to_json();
    let Ok(ext) = Extension::from_json(&json) else {
        return Outcome::Skipped;
    };
    let migrated = ext.operation_annotation() == Some("migrate")
        || ext
            .status
            .last_operation
            .as_ref()
            .is_some_and(|l| l.type_ == "Migrate");
    if !ext.is_ours() || ext.deletion_timestamp.is_some() || migrated {
        clients.drop_client(&ext.namespace, "not ours to read");
        return Outcome::Skipped;
    }
    let Some(installed) = Installed::from_extension(&json) else {
        return Outcome::Skipped;
    };
    let cluster = match clusters
        .observed(seed, &watches.clusters, &ext.namespace)
        .await
    {
        Ok(Some(cluster)) => cluster,
        Ok(None) => return Outcome::Skipped,
        Err(e) => {
            tracing::warn!(namespace = %ext.namespace, error = %e, "reading the Cluster for the sync status failed");
            return Outcome::Skipped;
        }
    };
    let Ok(shoot) = &cluster.facts else {
        return Outcome::Skipped;
    };
    // Hibernated or deleted shoots are never contacted; their conditions stay as last seen.
    if shoot.is_hibernation_enabled() || shoot.deleting {
        clients.drop_client(&ext.namespace, "hibernated or deleted");
        return Outcome::Hibernated(ext.namespace);
    }
    let generic = cluster.generic_kubeconfig.clone();
    let observe = async {
        match clients
            .get(seed, watches, &ext.namespace, generic.as_deref(), timeout)
            .await
        {
            Ok(client) => read_shoot(&client, &installed)
                .await
                .unwrap_or_else(|e| observation_of(&e)),
            Err(ShootAccessError::Waiting(reason)) => Observation::WaitingForAccess(reason),
            Err(ShootAccessError::Seed(e)) => {
                Observation::Unreachable(format!("reading shoot access from the seed: {e}"))
            }
            Err(e) => Observation::Unreachable(e.to_string()),
        }
    };
    let observation = tokio::time::timeout(timeout, observe)
        .await
        .unwrap_or_else(|_| {
            Observation::Unreachable(format!("no answer within {}s", timeout.as_secs()))
        });
    if matches!(observation, Observation::Unreachable(_)) {
        // A fresh connection next time, once the server is back.
        clients.drop_client(&ext.namespace, "unreachable");
    }
    // The listed Extension tells whether anything changed: a steady shoot costs no write.
    let listed = ext.status.conditions.as_deref().unwrap_or_default();
    let report = with_shoot_facts(
        decide(&installed, &observation),
        &installed,
        shoot.kubernetes_version.as_deref(),
        listed,
    );
    let refused = shoot_flux_core::syncstatus::refused_key(&report, &installed)
        .map(|(project, fingerprint)| (project.to_string(), fingerprint.to_string()));
    if conditions::merge(listed, &report.conditions, "").is_none() {
        return Outcome::Read(ext.namespace, report.state, refused);
    }
    if let Err(e) =
        crate::extensionconditions::write_conditions_over(seed, object, &report.conditions).await
    {
        tracing::warn!(namespace = %ext.namespace, error = %e, "writing the sync status failed");
    }
    tracing::debug!(namespace = %ext.namespace, state = report.state.as_str(), "sync status read");
    Outcome::Read(ext.namespace, report.state, refused)
}

/// Per-shoot sync facts kept between rounds, for the metrics.
#[derive(Default)]
struct History {
    last_success: HashMap<String, Instant>,
}

impl History {
    fn record(&mut self, outcomes: &[Outcome], metrics: &Metrics) {
        let mut counts: HashMap<SyncState, i64> = HashMap::new();
        let mut seen = Vec::new();
        for outcome in outcomes {
            let (namespace, state) = match outcome {
                Outcome::Skipped => continue,
                Outcome::Hibernated(ns) => (ns, SyncState::Hibernated),
                Outcome::Read(ns, state, _) => (ns, *state),
            };
            *counts.entry(state).or_default() += 1;
            seen.push(namespace.clone());
            if state == SyncState::Ready {
                self.last_success.insert(namespace.clone(), Instant::now());
            }
            if state != SyncState::Hibernated {
                let age = self
                    .last_success
                    .get(namespace)
                    .map(|t| t.elapsed().as_secs_f64());
                metrics.shoot_sync(namespace, state == SyncState::Ready, age);
            }
        }
        self.last_success.retain(|ns, _| seen.contains(ns));
        metrics.retain_shoots(|ns| seen.iter().any(|s| s == ns));
        for state in SyncState::ALL {
            metrics.shoots_in_state(state.as_str(), counts.get(&state).copied().unwrap_or(0));
        }
        metrics
            .ops()
            .keys_refused(outcomes.iter().filter_map(|outcome| match outcome {
                Outcome::Read(_, _, Some((project, fingerprint))) => {
                    Some((project.as_str(), fingerprint.as_str()))
                }
                _ => None,
            }));
    }
}

/// Reads every shoot of ours each period, until the process ends. The Extensions are the
/// controller's watch cache (no LIST); Clusters come from `clusters` (shared with the
/// reconciler) while the Cluster watch reports them unchanged, and a shoot's client is reused
/// while the access Secret watch does.
pub async fn run(inputs: ObserverInputs, options: Options, metrics: Arc<Metrics>) {
    let ObserverInputs {
        seed,
        extensions,
        listed,
        clusters,
        watches,
    } = inputs;
    let clients = Clients {
        by_namespace: Arc::default(),
        counter: metrics.ops().request_counter("shoot"),
    };
    let mut history = History::default();
    listed.wait().await;
    metrics.ops().poll_started(options.period);
    loop {
        let started = Instant::now();
        let items = extensions.state();
        let present: std::collections::HashSet<String> = items
            .iter()
            .filter_map(|o| o.metadata.namespace.clone())
            .collect();
        // Connections and cached Clusters of shoots that are gone are dropped.
        clients.retain(|ns| present.contains(ns));
        clusters.retain(|ns| present.contains(ns));
        // Owned inputs per task keep the spawned future's type free of borrows.
        let outcomes: Vec<Outcome> = futures::stream::iter(items)
            .map(|object| {
                let (seed, clients, clusters, watches) = (
                    seed.clone(),
                    clients.clone(),
                    clusters.clone(),
                    watches.clone(),
                );
                async move {
                    check_one(
                        &seed,
                        &clusters,
                        &watches,
                        &clients,
                        &object,
                        options.timeout,
                    )
                    .await
                }
            })
            .buffer_unordered(options.concurrency.max(1))
            .collect()
            .await;
        history.record(&outcomes, &metrics);
        metrics.shoot_connections(clients.len());
        metrics.ops().poll_round_done(started.elapsed());
        tokio::time::sleep(options.period).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_credentials_mean_waiting_and_other_failures_unreachable() {
        let api = |code: u16| {
            kube::Error::Api(
                kube::core::Status::failure("denied", "Forbidden")
                    .with_code(code)
                    .boxed(),
            )
        };
        assert!(matches!(
            observation_of(&api(403)),
            Observation::WaitingForAccess(m) if m.contains("HTTP 403")
        ));
        assert!(matches!(
            observation_of(&api(401)),
            Observation::WaitingForAccess(_)
        ));
        assert!(matches!(
            observation_of(&api(503)),
            Observation::Unreachable(m) if m.contains("HTTP 503")
        ));
    }
}
