//! Which operation an Extension asks for, and whether an event should trigger a reconcile: pure
//! functions of the object.

use super::types::{Extension, LastOperation};

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
    /// `reconcile`: remove the annotation right away, then reconcile.
    RemoveThenReconcile,
    /// Anything else (migrate/restore are removed only after success).
    Proceed,
}

pub fn annotation_step(ext: &Extension) -> AnnotationStep {
    match ext.operation_annotation() {
        Some("wait-for-state") => AnnotationStep::Wait,
        Some("reconcile") => AnnotationStep::RemoveThenReconcile,
        _ => AnnotationStep::Proceed,
    }
}

fn has_trigger_annotation(ext: &Extension) -> bool {
    matches!(
        ext.operation_annotation(),
        Some("reconcile" | "restore" | "migrate")
    )
}

/// What the event predicates remember of an Extension between its watch events: its
/// generation, operation annotation and a fingerprint of its status; a few bytes instead of a
/// decoded copy of every object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenExtension {
    generation: i64,
    operation_annotation: Option<String>,
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
            generation: ext.generation,
            operation_annotation: ext.operation_annotation().map(str::to_string),
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
            Some(old) => old.generation != new.generation,
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
        // Update events: our own status and finalizer patches must not re-trigger, also while a
        // restore or migrate annotation is still on the object (it is removed only after
        // success), so only a newly set annotation counts.
        Some(old) => {
            (has_trigger_annotation(new)
                && old.operation_annotation.as_deref() != new.operation_annotation())
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
            AnnotationStep::RemoveThenReconcile
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
        // Deletion with unchanged status triggers; a status change during deletion does not.
        let deleting = ext(None, true, Some(("Reconcile", "Succeeded")));
        assert!(event_triggers(Some(&succeeded), &deleting, false));
        let deleting_error = ext(None, true, Some(("Delete", "Error")));
        assert!(!event_triggers(Some(&deleting), &deleting_error, false));
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
