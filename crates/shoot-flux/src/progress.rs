//! What a reconcile is doing right now, so that when its deadline passes the status can say what
//! was still pending. The reconciler and the actuator record each step as they start it; the
//! record lives with the reconcile's future (a task-local), so the code that does the work names
//! its steps without passing a handle through every call.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shoot_flux_core::gardener::status::ErrorCode;

tokio::task_local! {
    static CURRENT: Progress;
}

/// One step of a reconcile: what it is, the error codes it means when it does not finish, and
/// when it started.
#[derive(Debug, Clone)]
pub struct Step {
    pub what: String,
    pub codes: &'static [ErrorCode],
    pub since: Instant,
}

/// The step a reconcile is at; shared between the reconcile's future and the code that enforces
/// its deadline.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Mutex<Option<Step>>>);

impl Progress {
    /// Runs `work` with this record as the one `step` writes to.
    pub async fn track<F: Future>(&self, work: F) -> F::Output {
        CURRENT.scope(self.clone(), work).await
    }

    /// The step the work was at last.
    pub fn current(&self) -> Option<Step> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set(&self, step: Step) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(step);
    }
}

/// Records that the current reconcile starts `what` now (nothing outside a tracked reconcile).
/// `codes`: what it means for Gardener when this step does not finish in time (e.g. an
/// unanswered garden or release server is a retryable infrastructure dependency).
pub fn step(what: impl Into<String>, codes: &'static [ErrorCode]) {
    let _ = CURRENT.try_with(|progress| {
        progress.set(Step {
            what: what.into(),
            codes,
            since: Instant::now(),
        })
    });
}

/// The error codes of a dependency outside the seed that may answer later.
pub const EXTERNAL: &[ErrorCode] = &[ErrorCode::RetryableInfraDependencies];
/// Work on the seed: no code (as a failed seed request has none).
pub const SEED: &[ErrorCode] = &[];

/// A duration as Go prints short ones, in whole seconds: 5s, 2m30s, 1h0m0s.
pub fn go_duration(duration: Duration) -> String {
    let total = duration.as_secs();
    let (hours, minutes, seconds) = (total / 3600, total % 3600 / 60, total % 60);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// The error of a reconcile that ran out of time: what was still pending and for how long (the
/// `pending` step, `in_step` after it started), and the error codes that step stands for.
pub fn deadline_error(
    limit: Duration,
    pending: Option<&Step>,
    in_step: Duration,
) -> (String, Vec<ErrorCode>) {
    let head = format!(
        "it did not finish within the reconcile timeout of {} (--reconcile-timeout)",
        go_duration(limit)
    );
    match pending {
        Some(step) => (
            format!(
                "{head}; still pending after {}: {}",
                go_duration(in_step),
                step.what
            ),
            step.codes.to_vec(),
        ),
        None => (format!("{head}; no step had started"), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_the_flag() {
        assert_eq!(go_duration(Duration::from_secs(5)), "5s");
        assert_eq!(go_duration(Duration::from_millis(150_900)), "2m30s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
    }

    #[test]
    fn the_deadline_error_names_the_pending_step_and_its_codes() {
        let step = Step {
            what: "fetching the install manifests of Flux v2.9.5 from http://x".into(),
            codes: EXTERNAL,
            since: Instant::now(),
        };
        let (text, codes) = deadline_error(
            Duration::from_secs(150),
            Some(&step),
            Duration::from_secs(149),
        );
        assert_eq!(
            text,
            "it did not finish within the reconcile timeout of 2m30s (--reconcile-timeout); \
             still pending after 2m29s: fetching the install manifests of Flux v2.9.5 from http://x"
        );
        assert_eq!(codes, vec![ErrorCode::RetryableInfraDependencies]);
        let (text, codes) = deadline_error(Duration::from_secs(5), None, Duration::ZERO);
        assert!(text.ends_with("; no step had started"), "{text}");
        assert!(codes.is_empty());
    }

    #[tokio::test]
    async fn steps_go_to_the_reconcile_that_records_them() {
        let (a, b) = (Progress::default(), Progress::default());
        step("outside any reconcile", SEED);
        let work = |name: &'static str| async move {
            step(format!("{name}: first"), SEED);
            tokio::task::yield_now().await;
            step(format!("{name}: second"), EXTERNAL);
        };
        tokio::join!(a.track(work("a")), b.track(work("b")));
        let (a, b) = (a.current().unwrap(), b.current().unwrap());
        assert_eq!(a.what, "a: second");
        assert_eq!(b.what, "b: second");
        assert_eq!(a.codes, EXTERNAL);
        // A step of work cut off by a deadline stays readable.
        let cut = Progress::default();
        let hangs = cut.track(async {
            step("waiting forever", EXTERNAL);
            std::future::pending::<()>().await;
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(10), hangs)
                .await
                .is_err()
        );
        assert_eq!(cut.current().unwrap().what, "waiting forever");
    }
}
