//! One tokio runtime that outlives every test: the bed's own servers (git over HTTP, release
//! assets) and node simulators run here, so they survive the per-test runtimes of `#[tokio::test]`.

use std::sync::OnceLock;

use tokio::runtime::{Handle, Runtime};

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

pub fn handle() -> Handle {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("testbed-background")
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot start the test-bed background runtime: {e}"))
        })
        .handle()
        .clone()
}

/// A task on the background runtime that is aborted when the guard is dropped.
#[derive(Debug)]
pub struct TaskGuard(tokio::task::JoinHandle<()>);

impl TaskGuard {
    pub fn spawn<F>(future: F) -> Self
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        Self(handle().spawn(future))
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
