//! Leases: the heartbeat gardenlet reads (`gardener-extension-heartbeat`) and leader election,
//! both `coordination.k8s.io/v1` Leases in the extension's namespace.

use crate::apierror::is_conflict;
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

/// Timing of leader election, as controller-runtime names and defaults it: a Lease is valid for
/// `lease_duration` after its last renewal; the leader renews every `retry_period` and gives up
/// (exits) when it could not renew for `renew_deadline`, which is shorter than the lease, so it
/// has stopped writing before anyone else may take over; candidates retry every `retry_period`.
/// A killed leader is replaced within `lease_duration + retry_period` (plus the second the Lease's
/// timestamps are rounded to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl Timing {
    /// The checks client-go makes: the renew deadline lies between the retry period and the lease
    /// duration, and the lease lasts at least a second (its field is in whole seconds).
    pub fn validate(&self) -> Result<(), String> {
        if self.lease_duration < Duration::from_secs(1) {
            return Err("the lease duration must be at least 1s".into());
        }
        if self.renew_deadline >= self.lease_duration {
            return Err(format!(
                "the renew deadline ({:?}) must be shorter than the lease duration ({:?})",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return Err(format!(
                "the retry period ({:?}) must be positive and shorter than the renew deadline ({:?})",
                self.retry_period, self.renew_deadline
            ));
        }
        Ok(())
    }
}

/// Leader election on a Lease: acquire when free or expired, renew while held. Writes use the
/// Lease's resourceVersion, so two candidates never both win.
pub struct LeaderElection {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
    /// The other holder's record (holder, renewTime) as last seen, and when it was first seen:
    /// a record unchanged for a whole lease duration is expired by this process's own clock too
    /// (as client-go judges it), whatever the holder's clock said.
    observed: std::sync::Mutex<Option<(String, std::time::Instant)>>,
    /// The Lease as this process last wrote it while holding it: the leader renews on its
    /// resourceVersion without reading first (as client-go's optimistic renewal does), so
    /// holding the lease costs one request per retry period, not two.
    held: std::sync::Mutex<Option<Lease>>,
}

fn expired(lease: &Lease, now: Timestamp) -> bool {
    let Some(spec) = &lease.spec else {
        return true;
    };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15)) * 1000;
    match &spec.renew_time {
        Some(MicroTime(t)) => t.as_millisecond() + duration < now.as_millisecond(),
        None => true,
    }
}

impl LeaderElection {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        timing: Timing,
    ) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            identity: identity.to_string(),
            timing,
            observed: std::sync::Mutex::new(None),
            held: std::sync::Mutex::new(None),
        }
    }

    fn spec(&self, transitions: i32, acquired: Option<MicroTime>) -> serde_json::Value {
        let now = MicroTime(Timestamp::now());
        json!({
            "holderIdentity": self.identity,
            "leaseDurationSeconds": self.timing.lease_duration.as_secs(),
            "acquireTime": acquired.unwrap_or_else(|| now.clone()),
            "renewTime": now,
            "leaseTransitions": transitions
        })
    }

    /// Whether another holder's record has stayed the same for a lease duration, by this
    /// process's clock.
    fn unchanged_for_a_lease(&self, lease: &Lease) -> bool {
        let spec = lease.spec.clone().unwrap_or_default();
        let record = format!(
            "{:?}/{:?}",
            spec.holder_identity,
            spec.renew_time.map(|t| t.0.as_millisecond())
        );
        let Ok(mut observed) = self.observed.lock() else {
            return false;
        };
        match observed.as_ref() {
            Some((seen, since)) if *seen == record => {
                since.elapsed()
                    > Duration::from_secs(spec.lease_duration_seconds.unwrap_or(15).max(1) as u64)
            }
            _ => {
                *observed = Some((record, std::time::Instant::now()));
                false
            }
        }
    }

    fn remember(&self, lease: Option<Lease>) {
        if let Ok(mut held) = self.held.lock() {
            *held = lease;
        }
    }

    /// Writes the Lease with a merge `patch` and remembers what was written.
    async fn patch_remembered(&self, patch: &serde_json::Value) -> Result<(), kube::Error> {
        let written = self
            .api
            .patch(&self.name, &PatchParams::default(), &Patch::Merge(patch))
            .await?;
        self.remember(Some(written));
        Ok(())
    }

    /// Renews the Lease as this process last wrote it, unread. None when it holds no such
    /// record or the Lease changed since (a conflict): then the caller reads and decides.
    async fn renew_unread(&self) -> Result<Option<bool>, kube::Error> {
        let Some(last) = self.held.lock().ok().and_then(|held| held.clone()) else {
            return Ok(None);
        };
        let spec = last.spec.clone().unwrap_or_default();
        let patch = json!({
            "metadata": {"resourceVersion": last.metadata.resource_version},
            "spec": self.spec(spec.lease_transitions.unwrap_or(0), spec.acquire_time)
        });
        match self.patch_remembered(&patch).await {
            Ok(()) => Ok(Some(true)),
            Err(e) if is_conflict(&e) || crate::apierror::is_not_found(&e) => {
                self.remember(None);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// One attempt to acquire or renew; true while this process holds the Lease.
    pub async fn try_acquire_or_renew(&self) -> Result<bool, kube::Error> {
        if let Some(renewed) = self.renew_unread().await? {
            return Ok(renewed);
        }
        let Some(lease) = self.api.get_opt(&self.name).await? else {
            let lease: Lease = serde_json::from_value(json!({
                "metadata": {"name": self.name}, "spec": self.spec(0, None)
            }))
            .map_err(kube::Error::SerdeError)?;
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(written) => {
                    self.remember(Some(written));
                    Ok(true)
                }
                Err(e) if is_conflict(&e) => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let mine = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        // Both checks run, so that the observation is kept up to date.
        let stale = self.unchanged_for_a_lease(&lease);
        if !mine && !expired(&lease, Timestamp::now()) && !stale {
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
        match self.patch_remembered(&patch).await {
            Ok(()) => Ok(true),
            Err(e) if is_conflict(&e) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Waits until this process leads, trying every retry period.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader election attempt failed"),
            }
            tokio::time::sleep(self.timing.retry_period).await;
        }
    }

    /// Renews every retry period until the Lease is lost or could not be renewed within the
    /// renew deadline; then returns (and the caller stops writing).
    pub async fn hold(&self) {
        let mut last_renewal = std::time::Instant::now();
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            // One attempt may not outlast the deadline.
            let left = self
                .timing
                .renew_deadline
                .saturating_sub(last_renewal.elapsed());
            match tokio::time::timeout(left, self.try_acquire_or_renew()).await {
                Ok(Ok(true)) => last_renewal = std::time::Instant::now(),
                Ok(Ok(false)) => {
                    tracing::error!("the leader Lease is held by another process");
                    return;
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "renewing the leader Lease failed"),
                Err(_) => tracing::warn!("renewing the leader Lease timed out"),
            }
            if last_renewal.elapsed() >= self.timing.renew_deadline {
                tracing::error!(
                    deadline = ?self.timing.renew_deadline,
                    "the leader Lease could not be renewed within the renew deadline"
                );
                return;
            }
        }
    }
}

/// What this process may do. Every replica watches and keeps its caches (so a standby is Ready
/// and takes over with them warm); only the leader reconciles, checks health, polls the sync
/// status and renews the heartbeat, and those wait here until it leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Waiting for the leader Lease.
    Standby,
    /// Holds the Lease (or runs without leader election).
    Leader,
    /// Shutting down before it ever led: the waiters give up.
    Stopping,
}

/// The role of this process, shared by everything that writes.
#[derive(Debug, Clone)]
pub struct Leadership(std::sync::Arc<tokio::sync::watch::Sender<Role>>);

impl Leadership {
    /// A replica that still has to win the leader Lease.
    pub fn standby() -> Self {
        Self(std::sync::Arc::new(tokio::sync::watch::Sender::new(
            Role::Standby,
        )))
    }

    /// A process without leader election: it leads from the start.
    pub fn leader() -> Self {
        Self(std::sync::Arc::new(tokio::sync::watch::Sender::new(
            Role::Leader,
        )))
    }

    /// Called once the Lease is won. Losing it again ends the process, so there is no way back.
    pub fn lead(&self) {
        self.0.send_if_modified(|role| {
            let changed = *role == Role::Standby;
            if changed {
                *role = Role::Leader;
            }
            changed
        });
    }

    /// A standby that shuts down releases its waiters; a leader finishes what it started.
    pub fn stop(&self) {
        self.0.send_if_modified(|role| {
            let changed = *role == Role::Standby;
            if changed {
                *role = Role::Stopping;
            }
            changed
        });
    }

    pub fn role(&self) -> Role {
        *self.0.borrow()
    }

    /// Returns true once this process leads, false if it stops before.
    pub async fn wait(&self) -> bool {
        let mut receiver = self.0.subscribe();
        match receiver.wait_for(|role| *role != Role::Standby).await {
            Ok(role) => *role == Role::Leader,
            // The sender lives in `self`: it cannot be gone while this waits.
            Err(_) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: &str, renewed: Timestamp, seconds: i32) -> Lease {
        serde_json::from_value(json!({
            "metadata": {"name": "l"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": seconds,
                     "renewTime": MicroTime(renewed)}
        }))
        .unwrap()
    }

    #[test]
    fn default_timing_is_controller_runtimes_and_valid() {
        let t = Timing::default();
        assert_eq!(t.lease_duration, Duration::from_secs(15));
        assert_eq!(t.renew_deadline, Duration::from_secs(10));
        assert_eq!(t.retry_period, Duration::from_secs(2));
        assert!(t.validate().is_ok());
        let bad = Timing {
            renew_deadline: Duration::from_secs(15),
            ..t
        };
        assert!(bad.validate().is_err());
        let bad = Timing {
            retry_period: Duration::from_secs(10),
            ..t
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn expiry_counts_milliseconds() {
        let now = Timestamp::now();
        let renewed = now - k8s_openapi::jiff::SignedDuration::from_millis(15_500);
        assert!(expired(&lease("a", renewed, 15), now));
        let renewed = now - k8s_openapi::jiff::SignedDuration::from_millis(14_500);
        assert!(!expired(&lease("a", renewed, 15), now));
    }

    #[tokio::test]
    async fn waiters_start_when_the_lease_is_won_and_give_up_on_stop() {
        let leadership = Leadership::standby();
        let waiting = tokio::spawn({
            let leadership = leadership.clone();
            async move { leadership.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        leadership.lead();
        assert!(waiting.await.unwrap());
        // A leader stays one: stop() is for a standby that shuts down.
        leadership.stop();
        assert_eq!(leadership.role(), Role::Leader);
        assert!(leadership.wait().await);
        assert!(Leadership::leader().wait().await);

        let standby = Leadership::standby();
        let waiting = tokio::spawn({
            let standby = standby.clone();
            async move { standby.wait().await }
        });
        standby.stop();
        assert!(!waiting.await.unwrap());
        standby.lead();
        assert_eq!(standby.role(), Role::Stopping);
    }
}
