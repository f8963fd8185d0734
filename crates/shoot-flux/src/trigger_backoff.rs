//! The controller's trigger streams back off each on its own, never all together.
//!
//! kube's `Controller` puts one more backoff around the merged stream of all its triggers: after
//! an error from any of them it stops reading every trigger for 0.8 s, doubling up to 30 s, and
//! resets only on a good event read after the pause. A garden watch that keeps failing (denied,
//! or the garden down) thus held back the Extension watch too: a new Extension waited behind
//! each pause, and as the failing watch's own backoff (the same schedule) often ended at the
//! same moment as the shared one, its next error came first and started the next pause; under
//! load a test saw a reconcile over a minute after the Extension was created. Every trigger
//! stream of ours already has its
//! own backoff (`default_backoff()` on each watcher), so the shared one only delays the others.

use std::time::Duration;

use kube::runtime::Controller;
use kube::runtime::utils::Backoff;

/// A backoff of zero: the merged triggers are read again at once after an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSharedBackoff;

impl Iterator for NoSharedBackoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

impl Backoff for NoSharedBackoff {
    fn reset(&mut self) {}
}

/// The controller with its shared trigger backoff removed; every trigger stream given to it
/// must carry a backoff of its own.
pub fn each_trigger_backs_off_alone<K>(controller: Controller<K>) -> Controller<K>
where
    K: kube::Resource
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    controller.trigger_backoff(NoSharedBackoff)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::StreamExt;
    use futures::channel::mpsc as feed;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use kube::runtime::controller::Action;
    use kube::runtime::reflector::{self, ObjectRef};
    use kube::runtime::{WatchStreamExt, watcher};
    use tokio::sync::mpsc;
    use tokio::time::Instant;

    use super::*;

    fn config_map(name: &str) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.namespace = Some("ns".into());
        cm.metadata.resource_version = Some("1".into());
        cm
    }

    /// Virtual time (the clock is paused), so the pauses are measured exactly and the test
    /// waits for none of them.
    #[tokio::test(start_paused = true)]
    async fn a_failing_trigger_does_not_hold_back_the_others() {
        let (objects, objects_rx) = feed::unbounded::<watcher::Event<ConfigMap>>();
        let (failures, failures_rx) = feed::unbounded::<watcher::Error>();
        let (writer, reader) = {
            let writer = reflector::store::Writer::<ConfigMap>::default();
            let reader = writer.as_reader();
            (writer, reader)
        };
        let main = reflector::reflector(writer, objects_rx.map(Ok)).touched_objects();
        let failing = failures_rx.map(Err);
        let controller = Controller::for_stream(main, reader)
            .watches_stream(failing, |_: Secret| Vec::<ObjectRef<ConfigMap>>::new());
        let (reconciled, mut reconciled_rx) = mpsc::unbounded_channel::<(String, Instant)>();
        let (errors, mut errors_rx) = mpsc::unbounded_channel::<()>();
        let run = each_trigger_backs_off_alone(controller)
            .run(
                move |cm: Arc<ConfigMap>, _: Arc<()>| {
                    let reconciled = reconciled.clone();
                    async move {
                        let _ = reconciled
                            .send((cm.metadata.name.clone().unwrap_or_default(), Instant::now()));
                        Ok::<_, std::io::Error>(Action::await_change())
                    }
                },
                |_, _, _| Action::await_change(),
                Arc::new(()),
            )
            .for_each(move |result| {
                if result.is_err() {
                    let _ = errors.send(());
                }
                futures::future::ready(())
            });
        let run = tokio::spawn(run);

        objects.unbounded_send(watcher::Event::Init).unwrap();
        objects
            .unbounded_send(watcher::Event::InitApply(config_map("first")))
            .unwrap();
        objects.unbounded_send(watcher::Event::InitDone).unwrap();
        assert_eq!(reconciled_rx.recv().await.unwrap().0, "first");

        // Another trigger fails (a denied garden watch); the error has passed the controller.
        failures
            .unbounded_send(watcher::Error::NoResourceVersion)
            .unwrap();
        errors_rx.recv().await.unwrap();
        let created = Instant::now();
        objects
            .unbounded_send(watcher::Event::Apply(config_map("second")))
            .unwrap();
        let (name, at) = reconciled_rx.recv().await.unwrap();
        assert_eq!(name, "second");
        // kube's shared backoff would have paused at least 0.8 s here.
        assert!(
            at - created < Duration::from_millis(100),
            "the new object waited {:?} behind another trigger's error",
            at - created
        );
        run.abort();
    }
}
