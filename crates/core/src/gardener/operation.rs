//! Which operation an Extension asks for, and whether an event should trigger a reconcile: pure
//! functions of the object.

use std::collections::BTreeMap;

use super::types::{Extension, LastOperation, OPERATION_ANNOTATION, TIMESTAMP_ANNOTATION};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationType {
    Create,
    Reconcile,
    Delete,
    Migrate,
    Restore,
}

impl OperationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "Create",
            Self::Reconcile => "Reconcile",
            Self::Delete => "Delete",
            Self::Migrate => "Migrate",
            Self::Restore => "Restore",
        }
    }
}

/// `ComputeOperationType`: the first matching rule wins.
pub fn compute_operation_type(ext: &Extension) -> OperationType {
    let annotation = ext.operation_annotation();
    if annotation == Some("migrate") {
        return OperationType::Migrate;
    }
    if ext.deletion_timestamp.is_some() {
        return OperationType::Delete;
    }
    if annotation == Some("restore") {
        return OperationType::Restore;
    }
    let Some(last) = &ext.status.last_operation else {
        return OperationType::Create;
    };
    match (last.type_.as_str(), last.state.as_str()) {
        ("Create", state) if state != "Succeeded" => OperationType::Create,
        ("Migrate", state) if state != "Succeeded" => OperationType::Migrate,
        ("Restore", state) if state != "Succeeded" => OperationType::Restore,
        _ => OperationType::Reconcile,
    }
}

/// `ShouldSkipOperation`: an object migrated away from this seed is left alone until it is
/// migrated or restored again.
pub fn should_skip(operation: OperationType, last: Option<&LastOperation>) -> bool {
    !matches!(operation, OperationType::Migrate | OperationType::Restore)
        && last.is_some_and(|l| l.type_ == "Migrate" && l.state == "Succeeded")
}

/// What the operation-annotation wrapper does before the reconciler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationStep {
    /// `wait-for-state`: gardenlet is still restoring state; do nothing, do not requeue.
    Wait,
    /// `reconcile`: reconcile, and remove the annotation when `annotation_removal` says.
    ReconcileRequested,
    /// Anything else (migrate/restore are removed only after success).
    Proceed,
}

pub fn annotation_step(ext: &Extension) -> AnnotationStep {
    match ext.operation_annotation() {
        Some("wait-for-state") => AnnotationStep::Wait,
        Some("reconcile") => AnnotationStep::ReconcileRequested,
        _ => AnnotationStep::Proceed,
    }
}

/// When a requested reconcile removes the `reconcile` annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnnotationRemoval {
    /// Before the work (with the finalizer, in one patch): the status cannot pass for the
    /// request's outcome until the reconcile rewrites it.
    BeforeWork,
    /// Only after a status write that cannot pass (Processing, or the outcome if it comes
    /// first): the status would pass as it is, so until then the annotation is what tells
    /// gardenlet that its request is still open.
    AfterFirstStatusWrite,
}

/// When to remove the `reconcile` annotation of a requested reconcile. gardenlet takes an
/// Extension for done when it has no operation annotation and its status passes
/// `status_passes_for_done`; it compares the request's timestamp with `lastUpdateTime` in whole
/// seconds, so a success written in the second of the request passes for the request's outcome.
/// Removing the annotation first is safe only where the status cannot pass anyway.
pub fn annotation_removal(ext: &Extension) -> AnnotationRemoval {
    if status_passes_for_done(ext) {
        AnnotationRemoval::AfterFirstStatusWrite
    } else {
        AnnotationRemoval::BeforeWork
    }
}

/// gardenlet's readiness rule for an Extension without its operation annotation, apart from
/// the request's timestamp: no lastError, the current generation observed, the last operation
/// Succeeded.
pub fn status_passes_for_done(ext: &Extension) -> bool {
    ext.status.last_error.is_none()
        && ext.status.observed_generation == Some(ext.generation)
        && ext
            .status
            .last_operation
            .as_ref()
            .is_some_and(|l| l.state == "Succeeded")
}

/// What identifies one of gardenlet's requests: the operation annotation, its timestamp
/// (gardenlet sets a fresh one with every request) and the generation it asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    operation: Option<String>,
    timestamp: Option<String>,
    generation: i64,
}

impl Request {
    pub fn of(ext: &Extension) -> Self {
        Self::in_object(&ext.annotations, ext.generation)
    }

    /// The request an object's annotations and generation carry.
    pub fn in_object(annotations: &BTreeMap<String, String>, generation: i64) -> Self {
        Self {
            operation: annotations.get(OPERATION_ANNOTATION).cloned(),
            timestamp: annotations.get(TIMESTAMP_ANNOTATION).cloned(),
            generation,
        }
    }

    /// Whether the object still carries an operation annotation.
    pub fn is_open(&self) -> bool {
        self.operation.is_some()
    }

    /// Whether `other` asks something else: another operation annotation, or the same one with
    /// a fresh timestamp (the generation alone is no request).
    pub fn asks_other_than(&self, other: &Request) -> bool {
        self.operation != other.operation || self.timestamp != other.timestamp
    }
}

fn has_trigger_annotation(ext: &Extension) -> bool {
    matches!(
        ext.operation_annotation(),
        Some("reconcile" | "restore" | "migrate")
    )
}

/// What the event predicates remember of an Extension between its watch events: the request it
/// carried (annotation, timestamp, generation) and a fingerprint of its status; a few bytes
/// instead of a decoded copy of every object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenExtension {
    request: Request,
    status: u64,
}

impl SeenExtension {
    pub fn of(ext: &Extension) -> Self {
        use std::hash::{Hash, Hasher};
        // Fixed keys: equal statuses give equal fingerprints in this process.
        let mut hasher = std::hash::DefaultHasher::new();
        serde_json::to_string(&ext.status)
            .unwrap_or_default()
            .hash(&mut hasher);
        ext.status.provider_status_kind.hash(&mut hasher);
        Self {
            request: Request::of(ext),
            status: hasher.finish(),
        }
    }
}

/// Whether a watch event for `new` (with `old` the version seen before, None on first sight)
/// triggers a reconcile, as Gardener's default predicates decide. With
/// `ignore_operation_annotation` only spec (generation) changes and first sight count.
pub fn event_triggers(
    old: Option<&Extension>,
    new: &Extension,
    ignore_operation_annotation: bool,
) -> bool {
    event_triggers_after(
        old.map(SeenExtension::of).as_ref(),
        new,
        ignore_operation_annotation,
    )
}

/// `event_triggers` with what was remembered of the previous version.
pub fn event_triggers_after(
    old: Option<&SeenExtension>,
    new: &Extension,
    ignore_operation_annotation: bool,
) -> bool {
    if ignore_operation_annotation {
        return match old {
            None => true,
            Some(old) => old.request.generation != new.generation,
        };
    }
    match old {
        // Create events (including the initial list after a restart). Beyond Gardener's
        // predicates, a Succeeded object whose spec changed since (observedGeneration behind)
        // counts too: a process killed after removing the operation annotation and before
        // writing Processing would otherwise leave that change unreconciled until the resync.
        None => {
            has_trigger_annotation(new)
                || new.deletion_timestamp.is_some()
                || new
                    .status
                    .last_operation
                    .as_ref()
                    .is_none_or(|l| l.state != "Succeeded")
                || new.status.last_operation.as_ref().is_some_and(|l| {
                    matches!(l.type_.as_str(), "Create" | "Reconcile")
                        && new
                            .status
                            .observed_generation
                            .is_some_and(|g| g < new.generation)
                })
        }
        // Update events: our own status and finalizer patches must not re-trigger, also while an
        // operation annotation is still on the object (restore, migrate and, where the status
        // already passes, reconcile are removed only after the outcome), so only a new request
        // counts: a newly set annotation, or the same one with gardenlet's fresh timestamp.
        Some(old) => {
            (has_trigger_annotation(new) && old.request.asks_other_than(&Request::of(new)))
                || (new.deletion_timestamp.is_some() && old.status == SeenExtension::of(new).status)
        }
    }
}

/// Whether the Extension waits for this controller to act: an operation annotation
/// (reconcile, migrate, restore), a deletion not yet handled, a spec change not yet observed,
/// or no operation finished yet (none at all, or one still Processing). An Extension in Error
/// does not wait: it is retried with backoff, and its reconciles count as errors. Objects
/// migrated away from this seed and ones gardenlet asks to wait for their state do not wait.
pub fn waits_for_controller(ext: &Extension) -> bool {
    if !ext.is_ours() || ext.operation_annotation() == Some("wait-for-state") {
        return false;
    }
    let last = ext.status.last_operation.as_ref();
    let operation = compute_operation_type(ext);
    if should_skip(operation, last) {
        return false;
    }
    if matches!(
        ext.operation_annotation(),
        Some("reconcile" | "migrate" | "restore")
    ) {
        return true;
    }
    let Some(last) = last else {
        return true;
    };
    if operation == OperationType::Delete && last.type_ != "Delete" {
        return true;
    }
    match last.state.as_str() {
        "Processing" | "Pending" => true,
        "Succeeded" => ext
            .status
            .observed_generation
            .is_some_and(|g| g < ext.generation),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gardener::types::{ExtensionSpec, ExtensionStatus};

    fn ext(annotation: Option<&str>, deleting: bool, last: Option<(&str, &str)>) -> Extension {
        Extension {
            name: "shoot-flux".into(),
            namespace: "shoot--p--s".into(),
            generation: 1,
            annotations: annotation
                .map(|a| [("gardener.cloud/operation".to_string(), a.to_string())].into())
                .unwrap_or_default(),
            finalizers: vec![],
            deletion_timestamp: deleting.then(|| "2026-01-01T00:00:00Z".to_string()),
            resource_version: None,
            spec: ExtensionSpec {
                type_: "shoot-flux".into(),
                ..Default::default()
            },
            status: ExtensionStatus {
                last_operation: last.map(|(t, s)| LastOperation {
                    description: String::new(),
                    last_update_time: String::new(),
                    progress: 0,
                    state: s.into(),
                    type_: t.into(),
                }),
                ..Default::default()
            },
        }
    }

    #[test]
    fn operation_type_follows_gardeners_order() {
        use OperationType::*;
        let cases = [
            (ext(Some("migrate"), true, None), Migrate),
            (ext(Some("restore"), true, None), Delete),
            (
                ext(Some("restore"), false, Some(("Reconcile", "Succeeded"))),
                Restore,
            ),
            (ext(None, false, None), Create),
            (ext(None, false, Some(("Create", "Error"))), Create),
            (ext(None, false, Some(("Migrate", "Processing"))), Migrate),
            (ext(None, false, Some(("Restore", "Error"))), Restore),
            (ext(None, false, Some(("Create", "Succeeded"))), Reconcile),
            (ext(None, false, Some(("Reconcile", "Error"))), Reconcile),
            (
                ext(Some("reconcile"), false, Some(("Delete", "Error"))),
                Reconcile,
            ),
        ];
        for (e, want) in cases {
            assert_eq!(compute_operation_type(&e), want, "{e:?}");
        }
    }

    #[test]
    fn migrated_objects_are_skipped_except_for_migrate_and_restore() {
        let migrated = LastOperation {
            description: String::new(),
            last_update_time: String::new(),
            progress: 100,
            state: "Succeeded".into(),
            type_: "Migrate".into(),
        };
        assert!(should_skip(OperationType::Reconcile, Some(&migrated)));
        assert!(should_skip(OperationType::Delete, Some(&migrated)));
        assert!(!should_skip(OperationType::Restore, Some(&migrated)));
        assert!(!should_skip(OperationType::Migrate, Some(&migrated)));
        assert!(!should_skip(OperationType::Reconcile, None));
    }

    #[test]
    fn after_a_restart_a_succeeded_object_with_an_unobserved_spec_is_reconciled() {
        let mut e = ext(None, false, Some(("Reconcile", "Succeeded")));
        e.status.observed_generation = Some(1);
        assert!(!event_triggers(None, &e, false));
        e.generation = 2;
        assert!(event_triggers(None, &e, false));
        // Not a migrated object's.
        let mut m = ext(None, false, Some(("Migrate", "Succeeded")));
        m.generation = 2;
        m.status.observed_generation = Some(1);
        assert!(!event_triggers(None, &m, false));
    }

    #[test]
    fn annotation_steps() {
        assert_eq!(
            annotation_step(&ext(Some("wait-for-state"), false, None)),
            AnnotationStep::Wait
        );
        assert_eq!(
            annotation_step(&ext(Some("reconcile"), false, None)),
            AnnotationStep::ReconcileRequested
        );
        assert_eq!(
            annotation_step(&ext(Some("migrate"), false, None)),
            AnnotationStep::Proceed
        );
        assert_eq!(
            annotation_step(&ext(None, false, None)),
            AnnotationStep::Proceed
        );
    }

    #[test]
    fn normal_mode_predicates() {
        let succeeded = ext(None, false, Some(("Reconcile", "Succeeded")));
        let failed = ext(None, false, Some(("Reconcile", "Error")));
        // Create: not for succeeded objects, yes for failed, new, annotated or deleting ones.
        assert!(!event_triggers(None, &succeeded, false));
        assert!(event_triggers(None, &failed, false));
        assert!(event_triggers(None, &ext(None, false, None), false));
        assert!(event_triggers(
            None,
            &ext(Some("reconcile"), false, Some(("Reconcile", "Succeeded"))),
            false
        ));
        assert!(event_triggers(
            None,
            &ext(None, true, Some(("Reconcile", "Succeeded"))),
            false
        ));
        // Update: our own status patch does not trigger; an annotation does.
        assert!(!event_triggers(Some(&succeeded), &failed, false));
        assert!(event_triggers(
            Some(&succeeded),
            &ext(Some("reconcile"), false, Some(("Reconcile", "Succeeded"))),
            false
        ));
        // Our own patches while a restore annotation stays do not re-trigger.
        let restoring = ext(Some("restore"), false, Some(("Restore", "Processing")));
        let restored = ext(Some("restore"), false, Some(("Restore", "Succeeded")));
        assert!(event_triggers(Some(&succeeded), &restoring, false));
        assert!(!event_triggers(Some(&restoring), &restored, false));
        // gardenlet asking again while the annotation is still on the object: a fresh timestamp.
        let mut asked = ext(Some("reconcile"), false, Some(("Reconcile", "Succeeded")));
        asked
            .annotations
            .insert(TIMESTAMP_ANNOTATION.into(), "2026-01-01T00:00:00Z".into());
        let mut asked_again = asked.clone();
        assert!(!event_triggers(Some(&asked), &asked_again, false));
        asked_again
            .annotations
            .insert(TIMESTAMP_ANNOTATION.into(), "2026-01-01T00:00:07Z".into());
        assert!(event_triggers(Some(&asked), &asked_again, false));
        // Deletion with unchanged status triggers; a status change during deletion does not.
        let deleting = ext(None, true, Some(("Reconcile", "Succeeded")));
        assert!(event_triggers(Some(&succeeded), &deleting, false));
        let deleting_error = ext(None, true, Some(("Delete", "Error")));
        assert!(!event_triggers(Some(&deleting), &deleting_error, false));
    }

    #[test]
    fn the_annotation_goes_first_only_where_the_status_cannot_pass_for_done() {
        use AnnotationRemoval::*;
        let mut done = ext(Some("reconcile"), false, Some(("Reconcile", "Succeeded")));
        done.status.observed_generation = Some(1);
        assert_eq!(annotation_removal(&done), AfterFirstStatusWrite);
        assert_eq!(
            annotation_removal(&ext(Some("reconcile"), false, None)),
            BeforeWork
        );
        let mut processing = ext(Some("reconcile"), false, Some(("Reconcile", "Processing")));
        processing.status.observed_generation = Some(1);
        assert_eq!(annotation_removal(&processing), BeforeWork);
        let mut behind = done.clone();
        behind.generation = 2;
        assert_eq!(annotation_removal(&behind), BeforeWork);
        let mut failed = done.clone();
        failed.status.last_error = Some(crate::gardener::types::LastError {
            description: "boom".into(),
            task_id: None,
            codes: vec![],
            last_update_time: None,
        });
        assert_eq!(annotation_removal(&failed), BeforeWork);
    }

    #[test]
    fn a_request_is_its_annotation_timestamp_and_generation() {
        let a = ext(Some("reconcile"), false, None);
        let mut b = a.clone();
        assert_eq!(Request::of(&a), Request::of(&b));
        b.annotations
            .insert(TIMESTAMP_ANNOTATION.into(), "2026-01-01T00:00:07Z".into());
        assert_ne!(Request::of(&a), Request::of(&b));
        let mut c = a.clone();
        c.generation = 2;
        assert_ne!(Request::of(&a), Request::of(&c));
    }

    #[test]
    fn ignore_mode_predicates_follow_generation() {
        let a = ext(None, false, Some(("Reconcile", "Succeeded")));
        let mut b = a.clone();
        assert!(event_triggers(None, &a, true));
        assert!(!event_triggers(Some(&a), &b, true));
        b.generation = 2;
        assert!(event_triggers(Some(&a), &b, true));
    }
}

#[cfg(test)]
mod waiting_tests {
    use super::*;
    use serde_json::json;

    fn ext(patch: serde_json::Value) -> Extension {
        let mut object = json!({
            "apiVersion": "extensions.gardener.cloud/v1alpha1",
            "kind": "Extension",
            "metadata": {"name": "shoot-flux", "namespace": "shoot--p--s", "generation": 2},
            "spec": {"type": "shoot-flux"},
            "status": {
                "observedGeneration": 2,
                "lastOperation": {"type": "Reconcile", "state": "Succeeded", "description": "d",
                    "lastUpdateTime": "2026-01-01T00:00:00Z", "progress": 100}
            }
        });
        merge(&mut object, patch);
        Extension::from_json(&object).unwrap()
    }

    fn merge(into: &mut serde_json::Value, patch: serde_json::Value) {
        match (into, patch) {
            (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
                for (k, v) in b {
                    if v.is_null() {
                        a.remove(&k);
                    } else {
                        merge(a.entry(k).or_insert(serde_json::Value::Null), v);
                    }
                }
            }
            (slot, value) => *slot = value,
        }
    }

    #[test]
    fn only_unfinished_work_waits_for_the_controller() {
        assert!(!waits_for_controller(&ext(json!({}))));
        let annotated =
            json!({"metadata": {"annotations": {"gardener.cloud/operation": "reconcile"}}});
        assert!(waits_for_controller(&ext(annotated)));
        assert!(waits_for_controller(&ext(
            json!({"status": {"lastOperation": null}})
        )));
        assert!(waits_for_controller(&ext(
            json!({"status": {"lastOperation": {"state": "Processing"}}})
        )));
        assert!(waits_for_controller(&ext(
            json!({"metadata": {"generation": 3}})
        )));
        assert!(waits_for_controller(&ext(
            json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"}})
        )));
        // Retried with backoff: progress shows as reconciles with result error.
        assert!(!waits_for_controller(&ext(
            json!({"status": {"lastOperation": {"state": "Error"}}})
        )));
        assert!(!waits_for_controller(&ext(
            json!({"metadata": {"annotations": {"gardener.cloud/operation": "wait-for-state"}}})
        )));
        assert!(!waits_for_controller(&ext(
            json!({"status": {"lastOperation": {"type": "Migrate", "state": "Succeeded"}}})
        )));
        assert!(!waits_for_controller(&ext(
            json!({"spec": {"type": "other"}, "status": {"lastOperation": null}})
        )));
    }
}
