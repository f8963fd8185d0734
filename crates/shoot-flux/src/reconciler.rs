//! The generic Extension reconciler of Gardener's contract, in Rust:
//! the operation-annotation wrapper, Cluster loading, failed-shoot skip, operation computation
//! and dispatch, finalizer handling and the status patches around the actuator.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, ObjectMeta};
use serde_json::{Value, json};

use crate::actuator::{Actuator, ActuatorError};
use crate::apierror::{is_conflict, is_not_found};
use crate::apiresources::extension_resource;
use crate::cachedextension::CachedExtension;
use crate::clustercache::ClusterCache;
use crate::extensionconditions::now;
use crate::metrics::Metrics;
use crate::progress::{self, Step};
use shoot_flux_core::gardener::operation::{
    self, AnnotationRemoval, AnnotationStep, OperationType, Request,
};
use shoot_flux_core::gardener::shoot::ShootFacts;
use shoot_flux_core::gardener::status::{self, ErrorCode};
use shoot_flux_core::gardener::types::{Extension, FINALIZER, OPERATION_ANNOTATION, is_ours_json};
use shoot_flux_core::syncstatus::Installed;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("{0}")]
    Actuator(#[from] ActuatorError),
    #[error("seed API request failed: {0}")]
    Seed(#[from] kube::Error),
    #[error("Cluster {0} not found")]
    ClusterMissing(String),
    /// The reconcile ran out of time; the Error status says what was pending.
    #[error("{0}")]
    Deadline(String),
}

impl ReconcileError {
    pub fn label(&self) -> &'static str {
        match self {
            Self::Actuator(e) => e.label(),
            Self::Seed(_) => "seed",
            Self::ClusterMissing(_) => "cluster-missing",
            Self::Deadline(_) => "timeout",
        }
    }

    pub fn requeue_after(&self) -> Option<Duration> {
        match self {
            Self::Actuator(e) => e.requeue_after(),
            _ => None,
        }
    }
}

/// What the controller knows of the object's previous reconcile in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Previous {
    /// Nothing that matters for how the cached status is read.
    Unremarkable,
    /// It failed (and wrote an Error status, which the watch cache may not show yet, when a
    /// request that waited meanwhile runs right after it).
    Failed,
}

/// What the controller should do next with an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Nothing until the object changes.
    AwaitChange,
    /// Reconcile again after this long (the resync).
    RequeueAfter(Duration),
}

pub struct Reconciler {
    pub seed: Client,
    pub actuator: Actuator,
    /// Filled with every Cluster the reconciler reads, for the health check and the sync poll.
    pub clusters: Arc<ClusterCache>,
    pub resync: Duration,
    /// How long a reconcile runs before it writes Processing (`--processing-delay`).
    pub processing_delay: Duration,
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("resync", &self.resync)
            .finish_non_exhaustive()
    }
}

/// Whether a metadata patch also removes a pending `reconcile` operation annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReconcileAnnotation {
    Remove,
    Keep,
}

/// Whether the watch cache's copy of the Extension may be patched without reading it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cached {
    Current,
    /// This reconcile wrote the object since the cache saw it.
    Behind,
}

/// The metadata an optimistically locked patch is computed from.
struct Current {
    resource_version: Option<String>,
    finalizers: Vec<String>,
    annotation: Option<String>,
}

impl Reconciler {
    fn extensions(&self, namespace: &str) -> Api<DynamicObject> {
        Api::namespaced_with(self.seed.clone(), namespace, &extension_resource())
    }

    /// Patches the status; returns the metadata of the object as written.
    async fn patch_status(
        &self,
        ext: &Extension,
        patch: &Value,
    ) -> Result<ObjectMeta, kube::Error> {
        crate::kubeclient::merge_patch_status_metadata(
            &self.extensions(&ext.namespace),
            &ext.name,
            patch,
        )
        .await
    }

    async fn patch_metadata(&self, ext: &Extension, metadata: Value) -> Result<(), kube::Error> {
        crate::kubeclient::merge_patch_unread(
            &self.extensions(&ext.namespace),
            &ext.name,
            &json!({"metadata": metadata}),
        )
        .await
    }

    /// Changes the finalizers, and removes the `reconcile` operation annotation if asked, in one
    /// patch with optimistic locking, so a concurrent change of another finalizer is never lost.
    /// The first attempt works on the object as the watch cache has it (no read); a conflict
    /// means the cache was behind, and each retry reads the object first.
    async fn update_metadata(
        &self,
        ext: &Extension,
        change: impl Fn(Vec<String>) -> Vec<String>,
        annotation: ReconcileAnnotation,
        cached: Cached,
    ) -> Result<(), kube::Error> {
        let api = self.extensions(&ext.namespace);
        let mut cached = ext
            .resource_version
            .clone()
            .filter(|_| cached == Cached::Current)
            .map(|rv| Current {
                resource_version: Some(rv),
                finalizers: ext.finalizers.clone(),
                annotation: ext.operation_annotation().map(str::to_string),
            });
        let mut attempt = 0;
        loop {
            let current = match cached.take() {
                Some(current) => current,
                None => match api.get_opt(&ext.name).await? {
                    None => return Ok(()),
                    Some(object) => Current {
                        resource_version: object.metadata.resource_version,
                        finalizers: object.metadata.finalizers.unwrap_or_default(),
                        annotation: object
                            .metadata
                            .annotations
                            .and_then(|mut a| a.remove(OPERATION_ANNOTATION)),
                    },
                },
            };
            let before = current.finalizers;
            let after = change(before.clone());
            let annotated = annotation == ReconcileAnnotation::Remove
                && current.annotation.as_deref() == Some("reconcile");
            if after == before && !annotated {
                return Ok(());
            }
            let mut metadata = json!({"resourceVersion": current.resource_version});
            if after != before {
                metadata["finalizers"] = json!(after);
            }
            if annotated {
                metadata["annotations"] = json!({OPERATION_ANNOTATION: null});
            }
            match crate::kubeclient::merge_patch_unread(
                &api,
                &ext.name,
                &json!({"metadata": metadata}),
            )
            .await
            {
                Err(e) if is_conflict(&e) && attempt < 5 => attempt += 1,
                Err(e) if is_not_found(&e) => return Ok(()),
                other => return other,
            }
        }
    }

    async fn update_finalizers(
        &self,
        ext: &Extension,
        change: impl Fn(Vec<String>) -> Vec<String>,
    ) -> Result<(), kube::Error> {
        // Called after this reconcile wrote the status: the cached version is behind.
        self.update_metadata(ext, change, ReconcileAnnotation::Keep, Cached::Behind)
            .await
    }

    /// Adds our finalizer and, where it goes before the work, removes a pending `reconcile`
    /// annotation: one patch.
    async fn ensure_finalizer(
        &self,
        ext: &Extension,
        removal: AnnotationRemoval,
    ) -> Result<(), kube::Error> {
        progress::step(
            "adding the finalizer to the Extension in the seed",
            progress::SEED,
        );
        let annotated = ext.operation_annotation() == Some("reconcile")
            && removal == AnnotationRemoval::BeforeWork;
        if ext.finalizers.iter().any(|x| x == FINALIZER) && !annotated {
            // The cached object has it; a concurrent removal of ours cannot happen (only we
            // remove it, after Delete).
            return Ok(());
        }
        self.update_metadata(
            ext,
            |mut f| {
                if !f.iter().any(|x| x == FINALIZER) {
                    f.push(FINALIZER.to_string());
                }
                f
            },
            if annotated {
                ReconcileAnnotation::Remove
            } else {
                ReconcileAnnotation::Keep
            },
            Cached::Current,
        )
        .await
    }

    /// Removes the `reconcile` operation annotation now, if the object still has it.
    async fn remove_annotation(&self, ext: &mut Extension) -> Result<(), kube::Error> {
        if ext.operation_annotation() == Some("reconcile") {
            self.patch_metadata(ext, json!({"annotations": {OPERATION_ANNOTATION: null}}))
                .await?;
            ext.annotations.remove(OPERATION_ANNOTATION);
        }
        Ok(())
    }

    /// Ends a request whose `reconcile` annotation stayed on the object after the work began:
    /// removes it from `written` (the object as the status write that no longer passes for done
    /// returned it) with optimistic locking, unless gardenlet asked again meanwhile (a fresh
    /// timestamp or generation): that request stays open for the next reconcile.
    async fn close_request(
        &self,
        ext: &Extension,
        written: ObjectMeta,
    ) -> Result<Closed, kube::Error> {
        let api = self.extensions(&ext.namespace);
        let asked = Request::of(ext);
        // The object as written first; after a conflict, as it is now.
        let mut known = Some(written);
        let mut attempt = 0;
        loop {
            let metadata = match known.take() {
                Some(metadata) => metadata,
                None => match api.get_opt(&ext.name).await? {
                    Some(object) => object.metadata,
                    None => return Ok(Closed::Done),
                },
            };
            let current = Request::in_object(
                metadata.annotations.as_ref().unwrap_or(&Default::default()),
                metadata.generation.unwrap_or_default(),
            );
            if !current.is_open() {
                return Ok(Closed::Done);
            }
            if current != asked {
                return Ok(Closed::NewRequestWaits);
            }
            let patch = json!({"metadata": {
                "resourceVersion": metadata.resource_version,
                "annotations": {OPERATION_ANNOTATION: null},
            }});
            match crate::kubeclient::merge_patch_unread(&api, &ext.name, &patch).await {
                Ok(_) => return Ok(Closed::Done),
                Err(e) if is_conflict(&e) && attempt < 5 => attempt += 1,
                Err(e) if is_not_found(&e) => return Ok(Closed::Done),
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes the Processing status and then, for an `open_request`, removes its annotation:
    /// Processing does not pass for done, so gardenlet sees the request taken up. Returns how
    /// the request ended, None if it was not open.
    async fn announce_processing(
        &self,
        ext: &Extension,
        op: OperationType,
        open_request: bool,
    ) -> Result<Option<Closed>, kube::Error> {
        let written = self
            .patch_status(ext, &status::processing(op, &now()))
            .await?;
        if !open_request {
            return Ok(None);
        }
        self.close_request(ext, written).await.map(Some)
    }

    /// Records an error on the object: lastOperation Error (progress 50) and lastError.
    /// Returns the metadata of the object as written, None if the write failed.
    async fn report_error(
        &self,
        ext: &Extension,
        op: OperationType,
        what: &str,
        error: &str,
        codes: &[ErrorCode],
    ) -> Option<ObjectMeta> {
        let description = status::error_description(what, error);
        self.patch_status(
            ext,
            &status::error(op, ext.generation, &description, codes, &now()),
        )
        .await
        .inspect_err(|e| {
            tracing::warn!(namespace = %ext.namespace, error = %e, "could not write the error status");
        })
        .ok()
    }

    /// Ends a reconcile that ran out of time (after `limit`, at step `pending`) with an Error
    /// status that names the step, so that nothing is left Processing without an error. Runs
    /// after the deadline, with the normal request timeout. Returns the error for the retry.
    pub async fn report_deadline(
        &self,
        object: &CachedExtension,
        limit: Duration,
        pending: Option<&Step>,
    ) -> ReconcileError {
        let in_step = pending.map(|s| s.since.elapsed()).unwrap_or_default();
        let (error, codes) = progress::deadline_error(limit, pending, in_step);
        let json = object.to_json();
        if let Ok(ext) = Extension::from_json(&json)
            && ext.is_ours()
        {
            let op = operation::compute_operation_type(&ext);
            tracing::warn!(namespace = %ext.namespace, operation = op.as_str(), %error, "reconcile ran out of time");
            self.metrics.observe(op, limit, Some("timeout"));
            self.report_error(&ext, op, failure_prefix(op), &error, &codes)
                .await;
        }
        ReconcileError::Deadline(error)
    }

    /// Reconciles the Extension once, as the controller's watch cache has it (no read of the
    /// object unless metadata has to be written).
    pub async fn reconcile(
        &self,
        object: &CachedExtension,
        previous: Previous,
    ) -> Result<Next, ReconcileError> {
        let namespace = object.metadata.namespace.as_deref().unwrap_or_default();
        let name = object.metadata.name.as_deref().unwrap_or_default();
        let json = object.to_json();
        let mut ext = match Extension::from_json(&json) {
            Ok(ext) => ext,
            Err(e) if !is_ours_json(&json) => {
                // Without a readable `spec.type: shoot-flux` it is not ours to write to.
                tracing::debug!(namespace, name, error = %e, "ignoring a malformed Extension that is not ours");
                return Ok(Next::AwaitChange);
            }
            Err(e) => {
                // A malformed object is this object's error, never the controller's.
                tracing::warn!(namespace, name, error = %e, "invalid Extension");
                let ext = Extension {
                    name: name.to_string(),
                    namespace: namespace.to_string(),
                    generation: object.metadata.generation.unwrap_or(0),
                    annotations: Default::default(),
                    finalizers: vec![],
                    deletion_timestamp: None,
                    resource_version: None,
                    spec: Default::default(),
                    status: Default::default(),
                };
                self.report_error(
                    &ext,
                    OperationType::Reconcile,
                    "invalid Extension",
                    &e.to_string(),
                    &[ErrorCode::ConfigurationProblem],
                )
                .await;
                return Ok(Next::AwaitChange);
            }
        };
        if !ext.is_ours() {
            return Ok(Next::AwaitChange);
        }
        let step = operation::annotation_step(&ext);
        if step == AnnotationStep::Wait {
            return Ok(Next::AwaitChange);
        }
        let op = operation::compute_operation_type(&ext);
        // The `reconcile` annotation goes with the finalizer in one patch where the operation
        // adds one (Create, Reconcile, Restore), or after the first status write where the
        // status would pass for done without it (`annotation_removal`); otherwise, and on every
        // way out before the work, it is removed on its own as the contract's wrapper does.
        if !matches!(
            op,
            OperationType::Create | OperationType::Reconcile | OperationType::Restore
        ) {
            self.remove_annotation(&mut ext).await?;
        }
        progress::step(format!("reading Cluster {namespace}"), progress::SEED);
        let cluster = match self.clusters.current(&self.seed, namespace).await {
            Ok(Some(cluster)) => cluster,
            Ok(None) => {
                self.remove_annotation(&mut ext).await?;
                return Err(ReconcileError::ClusterMissing(namespace.to_string()));
            }
            Err(e) => {
                self.remove_annotation(&mut ext).await?;
                return Err(e.into());
            }
        };
        let shoot = match &cluster.facts {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(namespace, error = %e, "invalid Cluster");
                self.remove_annotation(&mut ext).await?;
                self.report_error(
                    &ext,
                    op,
                    "invalid Cluster",
                    &e.to_string(),
                    &[ErrorCode::ConfigurationProblem],
                )
                .await;
                return Ok(Next::RequeueAfter(Duration::from_secs(300)));
            }
        };
        if shoot.is_failed() {
            self.remove_annotation(&mut ext).await?;
            tracing::info!(namespace, "skipping: the shoot's last operation failed");
            return Ok(Next::AwaitChange);
        }
        if operation::should_skip(op, ext.status.last_operation.as_ref()) {
            self.remove_annotation(&mut ext).await?;
            return Ok(Next::AwaitChange);
        }
        // A reconcile nobody asked for (resync, a changed project ConfigMap or deploy key) of an
        // object that is Succeeded at its generation writes its status only if it changes.
        let unrequested_success =
            writes_only_changes(step, op, &ext, previous).then_some(&json["status"]);
        let started = std::time::Instant::now();
        let result = self.dispatch(&ext, shoot, op, unrequested_success).await;
        self.metrics.observe(
            op,
            started.elapsed(),
            result.as_ref().err().map(ReconcileError::label),
        );
        result
    }

    /// The actuator's work is boxed: it is most of a reconcile's state (the task took 67 KiB
    /// with it inline, 12.7 KiB without), which every reconcile in flight held from its start,
    /// also while it waited to read its Cluster.
    async fn dispatch(
        &self,
        ext: &Extension,
        shoot: &ShootFacts,
        op: OperationType,
        unrequested_success: Option<&Value>,
    ) -> Result<Next, ReconcileError> {
        match op {
            OperationType::Migrate => {
                let work = Box::pin(async {
                    self.actuator
                        .migrate(ext, shoot)
                        .await
                        .map(|()| (None, true))
                });
                self.run(ext, op, None, AnnotationRemoval::BeforeWork, work)
                    .await?;
                // Migrate removes every finalizer, not only ours, then the annotation.
                self.update_finalizers(ext, |_| Vec::new()).await?;
                match self
                    .patch_metadata(ext, json!({"annotations": {OPERATION_ANNOTATION: null}}))
                    .await
                {
                    // An object being deleted went with its finalizers: no annotation is left.
                    Err(e) if is_not_found(&e) => {}
                    other => other?,
                }
                Ok(Next::AwaitChange)
            }
            OperationType::Delete => {
                if !ext.finalizers.iter().any(|f| f == FINALIZER) {
                    return Ok(Next::AwaitChange);
                }
                if shoot.force_deletion {
                    let work = Box::pin(async {
                        self.actuator
                            .force_delete(ext, shoot)
                            .await
                            .map(|()| (None, true))
                    });
                    self.run(ext, op, None, AnnotationRemoval::BeforeWork, work)
                        .await?;
                } else {
                    let work = Box::pin(async {
                        self.actuator
                            .delete(ext, shoot)
                            .await
                            .map(|()| (None, true))
                    });
                    self.run(ext, op, None, AnnotationRemoval::BeforeWork, work)
                        .await?;
                }
                self.update_finalizers(ext, |f| f.into_iter().filter(|x| x != FINALIZER).collect())
                    .await?;
                Ok(Next::AwaitChange)
            }
            OperationType::Restore => {
                self.ensure_finalizer(ext, AnnotationRemoval::BeforeWork)
                    .await?;
                let work = Box::pin(async {
                    self.actuator
                        .restore(ext, shoot)
                        .await
                        .map(|i| (Some(i), true))
                });
                self.run(ext, op, None, AnnotationRemoval::BeforeWork, work)
                    .await?;
                self.patch_metadata(ext, json!({"annotations": {OPERATION_ANNOTATION: null}}))
                    .await?;
                Ok(Next::RequeueAfter(self.resync))
            }
            OperationType::Create | OperationType::Reconcile => {
                let removal = operation::annotation_removal(ext);
                self.ensure_finalizer(ext, removal).await?;
                let work = Box::pin(async {
                    self.actuator
                        .reconcile(ext, shoot)
                        .await
                        .map(|r| (Some(r.installed), r.wrote))
                });
                let closed = self
                    .run(ext, op, unrequested_success, removal, work)
                    .await?;
                Ok(match closed {
                    Closed::Done => Next::RequeueAfter(self.resync),
                    Closed::NewRequestWaits => Next::RequeueAfter(Duration::ZERO),
                })
            }
        }
    }

    /// Processing (once the work has run for `processing_delay`) -> actuator -> Succeeded (with
    /// what was installed as providerStatus, for the sync status), or Error with lastError and
    /// codes; with `AnnotationRemoval::AfterFirstStatusWrite`, the request's annotation goes
    /// right after the first of these writes (Processing or the outcome), which cannot pass for
    /// done by mistake. With
    /// `unrequested_success` (the current status of an object Succeeded at its generation,
    /// reconciled without being asked), there is no Processing, and Succeeded is written only if
    /// the work wrote something or the status says something new: a resync with nothing changed
    /// writes nothing.
    async fn run(
        &self,
        ext: &Extension,
        op: OperationType,
        unrequested_success: Option<&Value>,
        removal: AnnotationRemoval,
        work: impl std::future::Future<Output = Result<(Option<Installed>, bool), ActuatorError>>,
    ) -> Result<Closed, ReconcileError> {
        // The request's annotation, where it stayed on the object: it goes with the first status
        // write that no longer passes for done, Processing or the outcome.
        let open_request = removal == AnnotationRemoval::AfterFirstStatusWrite
            && ext.operation_annotation() == Some("reconcile");
        let mut closed = None;
        let outcome = if unrequested_success.is_some() {
            work.await
        } else if self.processing_delay.is_zero() {
            progress::step("writing the Processing status", progress::SEED);
            closed = self.announce_processing(ext, op, open_request).await?;
            work.await
        } else {
            // Processing only once the work has run for the delay: a quick reconcile's only
            // status write is its outcome. The work goes on while Processing is written, and
            // the outcome is written after it, never before.
            let mut work = std::pin::pin!(work);
            tokio::select! {
                biased;
                outcome = &mut work => outcome,
                () = tokio::time::sleep(self.processing_delay) => {
                    // Not a progress step of its own: the step a deadline names is the work's.
                    let announce = self.announce_processing(ext, op, open_request);
                    let (announced, outcome) = tokio::join!(announce, &mut work);
                    closed = announced?;
                    outcome
                }
            }
        };
        let close_after_outcome = open_request && closed.is_none();
        match outcome {
            Ok((installed, wrote)) => {
                progress::step("writing the Succeeded status", progress::SEED);
                let patch = status::succeeded(
                    op,
                    ext.generation,
                    match op {
                        OperationType::Create
                        | OperationType::Reconcile
                        | OperationType::Restore => self.actuator.success_note(),
                        _ => None,
                    },
                    installed
                        .as_ref()
                        .and_then(|i| serde_json::to_value(i).ok())
                        .as_ref(),
                    &now(),
                );
                if !wrote
                    && unrequested_success.is_some_and(|current| says_nothing_new(current, &patch))
                {
                    tracing::debug!(namespace = %ext.namespace, "unchanged; no status write");
                    return Ok(Closed::Done);
                }
                let written = self.patch_status(ext, &patch).await?;
                tracing::info!(namespace = %ext.namespace, operation = op.as_str(), "succeeded");
                if close_after_outcome {
                    return Ok(self.close_request(ext, written).await?);
                }
                Ok(closed.unwrap_or(Closed::Done))
            }
            Err(e) => {
                let what = failure_prefix(op);
                tracing::warn!(namespace = %ext.namespace, operation = op.as_str(), error = %e, label = e.label(), "failed");
                let written = self
                    .report_error(ext, op, what, &e.to_string(), &e.codes())
                    .await;
                if let Some(written) = written.filter(|_| close_after_outcome) {
                    // The error is the request's answer; the retry comes from the backoff.
                    if let Err(close) = self.close_request(ext, written).await {
                        tracing::warn!(namespace = %ext.namespace, error = %close, "could not remove the operation annotation");
                    }
                }
                Err(e.into())
            }
        }
    }
}

/// How a requested reconcile's annotation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// Removed (or not ours to remove: it went before the work, or nobody asked).
    Done,
    /// gardenlet asked again while the work ran; the annotation stays for the next reconcile.
    NewRequestWaits,
}

/// The head of the lastError description of a failed operation.
fn failure_prefix(op: OperationType) -> &'static str {
    match op {
        OperationType::Create | OperationType::Reconcile => "Error reconciling Extension",
        OperationType::Delete => "Error deleting Extension",
        OperationType::Migrate => "Error migrating Extension",
        OperationType::Restore => "Error restoring Extension",
    }
}

/// Whether a reconcile may skip Processing and write Succeeded only if it says something new:
/// nobody asked for it, and the status is a quiet success. Not right after a failed attempt:
/// the cached status may still be the success from before the Error this process wrote.
fn writes_only_changes(
    step: AnnotationStep,
    op: OperationType,
    ext: &Extension,
    previous: Previous,
) -> bool {
    previous == Previous::Unremarkable
        && step == AnnotationStep::Proceed
        && op == OperationType::Reconcile
        && quiet_status(ext)
}

/// The object's last operation is a Succeeded Create or Reconcile of its current generation,
/// without an error.
fn quiet_status(ext: &Extension) -> bool {
    operation::status_passes_for_done(ext)
        && ext
            .status
            .last_operation
            .as_ref()
            .is_some_and(|l| matches!(l.type_.as_str(), "Create" | "Reconcile"))
}

/// Whether a Succeeded patch would only move `lastUpdateTime`: the same providerStatus and the
/// same description as the current status.
fn says_nothing_new(current: &Value, patch: &Value) -> bool {
    let new = &patch["status"];
    // A merge patch removes the fields it sets to null, so the stored object has none of them.
    without_nulls(&current["providerStatus"]) == without_nulls(&new["providerStatus"])
        && current["lastOperation"]["description"] == new["lastOperation"]["description"]
        && current["observedGeneration"] == new["observedGeneration"]
}

fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_quiet_unrequested_reconcile_after_no_failure_skips_processing() {
        let quiet: Extension = Extension::from_json(&json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1", "kind": "Extension",
            "metadata": {"name": "shoot-flux", "namespace": "shoot--p--s", "generation": 2},
            "spec": {"type": "shoot-flux"},
            "status": {"observedGeneration": 2, "lastOperation": {
                "type": "Reconcile", "state": "Succeeded", "progress": 100,
                "description": "Extension has been reconciled",
                "lastUpdateTime": "2026-11-25T08:00:00Z"}}
        }))
        .unwrap();
        let (proceed, reconcile) = (AnnotationStep::Proceed, OperationType::Reconcile);
        assert!(writes_only_changes(
            proceed,
            reconcile,
            &quiet,
            Previous::Unremarkable
        ));
        // The attempt before failed: its Error may not be in the cache yet.
        assert!(!writes_only_changes(
            proceed,
            reconcile,
            &quiet,
            Previous::Failed
        ));
        let mut failed = quiet.clone();
        failed.status.last_operation.as_mut().unwrap().state = "Error".into();
        assert!(!writes_only_changes(
            proceed,
            reconcile,
            &failed,
            Previous::Unremarkable
        ));
        let mut newer = quiet.clone();
        newer.generation = 3;
        assert!(!writes_only_changes(
            proceed,
            reconcile,
            &newer,
            Previous::Unremarkable
        ));
    }

    #[test]
    fn an_unchanged_success_says_nothing_new() {
        let patch = status::succeeded(
            OperationType::Reconcile,
            3,
            None,
            Some(&json!({"kind": "FluxStatus", "flux": {"version": "v2.9.5"}})),
            "2026-11-25T08:00:00Z",
        );
        let mut current = patch["status"].clone();
        current["lastOperation"]["lastUpdateTime"] = json!("2026-11-25T07:00:00Z");
        assert!(says_nothing_new(&current, &patch));
        // A null in the patch is an absent field in the stored object.
        let mut with_null = patch.clone();
        with_null["status"]["providerStatus"]["deployKey"] = Value::Null;
        assert!(says_nothing_new(&current, &with_null));
        current["providerStatus"]["flux"]["version"] = json!("v2.6.4");
        assert!(!says_nothing_new(&current, &patch));
        let mut other = patch["status"].clone();
        other["lastOperation"]["description"] = json!("Extension has been reconciled (note)");
        assert!(!says_nothing_new(&other, &patch));
    }
}
