//! Leases: the heartbeat gardenlet reads (`gardener-extension-heartbeat`) and leader election,
//! both `coordination.k8s.io/v1` Leases in the extension's namespace.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

pub const HEARTBEAT_LEASE: &str = "gardener-extension-heartbeat";

/// Renews the heartbeat Lease every `interval`, until the process ends.
pub async fn heartbeat(client: Client, namespace: String, holder: String, interval: Duration) {
    let api: Api<Lease> = Api::namespaced(client, &namespace);
    loop {
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": HEARTBEAT_LEASE, "namespace": namespace},
            "spec": {
                "holderIdentity": holder,
                "leaseDurationSeconds": interval.as_secs(),
                "renewTime": MicroTime(Timestamp::now())
            }
        });
        if let Err(e) = api
            .patch(
                HEARTBEAT_LEASE,
                &PatchParams::apply("gardener-extension-shoot-flux").force(),
                &Patch::Apply(&lease),
            )
            .await
        {
            tracing::warn!(error = %e, "renewing the heartbeat Lease failed");
        }
        tokio::time::sleep(interval).await;
    }
}

/// Leader election on a Lease: acquire when free or expired, renew while held. Writes use the
/// Lease's resourceVersion, so two candidates never both win.
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
}

fn expired(lease: &Lease, now: Timestamp) -> bool {
    let Some(spec) = &lease.spec else {
        return true;
    };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    match &spec.renew_time {
        Some(MicroTime(t)) => t.as_second() + duration < now.as_second(),
        None => true,
    }
}

impl LeaderElection {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            duration,
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> serde_json::Value {
        let now = MicroTime(Timestamp::now());
        json!({
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.duration.as_secs(),
            "acquireTime": acquired.unwrap_or_else(|| now.clone()),
            "renewTime": now,
            "leaseTransitions": transitions
        })
    }

    /// One attempt to acquire or renew; true while this process holds the Lease.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": self.name}, "spec": self.spec(0, None)
            }))
            .map_err(kube::Error::SerdeError)?;
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !mine && !expired(&lease, Timestamp::now()) {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!mine);
        let acquired = if mine {
            spec.acquire_time.clone()
        } else {
            None
        };
        let patch = json!({
            "metadata": {"resourceVersion": lease.metadata.resource_version},
            "spec": self.spec(transitions, acquired)
        });
        match self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this process leads.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Renews until the Lease is lost (or cannot be renewed within its duration); then returns.
    pub async fn hold(&self) {
        let mut last_renewal = std::time::Instant::now();
        loop {
            tokio::time::sleep(self.duration / 3).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewal = std::time::Instant::now(),
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "renewing the leader Lease failed");
                    if last_renewal.elapsed() >= self.duration {
                        return;
                    }
                }
            }
        }
    }
}
