//! From the vault's synchronous API to `object_store`'s async one.
//!
//! The vault is called from async handlers (small objects) and from
//! blocking threads (file streams), and its API waits for the answer. The
//! object store's futures need a tokio runtime to make progress, and the
//! caller's own may not do: waiting on it with tokio's `block_on` (or a
//! channel's `blocking_recv`) panics on a runtime's thread, and our
//! callers are sometimes tokio workers. So the remote store owns a small
//! runtime of its own, every future is *spawned* onto it, and the caller
//! waits for the task's handle with `futures`' executor, which parks the
//! calling thread without asking which runtime it belongs to.

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

/// Worker threads of the store's runtime: they only wait on the network.
const WORKERS: usize = 2;
/// How long the last handle's drop waits for the runtime's threads.
const SHUTDOWN: Duration = Duration::from_secs(10);

pub(crate) struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bridge")
    }
}

/// The task ended without an answer: it panicked, or the runtime was
/// shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the vault's object-store task ended without an answer: {0}")]
pub(crate) struct TaskFailed(#[from] tokio::task::JoinError);

impl Bridge {
    pub(crate) fn new() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .thread_name("vault-object-store")
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime is taken only by drop")
            .handle()
    }

    /// Start `future` on the store's runtime.
    pub(crate) fn spawn<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> tokio::task::JoinHandle<T> {
        self.handle().spawn(future)
    }

    /// Run `future` on the store's runtime; block this thread (whatever
    /// runtime it belongs to, if any) until it is done.
    pub(crate) fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, TaskFailed> {
        Ok(Self::wait(self.spawn(future))?)
    }

    /// Wait for `future` on this thread. For futures that only wait on
    /// tasks or channels of the store's runtime (they need no reactor).
    ///
    /// Unconstrained by tokio's cooperative budget: on a tokio worker the
    /// budget is the calling task's, and once that task has spent it a
    /// tokio future answers "not yet" until the task yields, which a
    /// thread blocked here never does (it would spin forever).
    pub(crate) fn wait<T>(future: impl Future<Output = T>) -> T {
        futures::executor::block_on(tokio::task::unconstrained(future))
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else {
            return;
        };
        // Waiting for a runtime's threads to stop is refused (a panic) on
        // another runtime's thread, and the last handle may well go on one
        // of the node's workers: wait on a thread of our own instead. By
        // now nothing runs on it: every call was waited for, and readers
        // hold the bridge until they are dropped.
        let slot = Arc::new(Mutex::new(Some(runtime)));
        let theirs = slot.clone();
        let stopper = std::thread::Builder::new()
            .name("vault-object-store-stop".into())
            .spawn(move || {
                let runtime = theirs.lock().ok().and_then(|mut slot| slot.take());
                if let Some(runtime) = runtime {
                    runtime.shutdown_timeout(SHUTDOWN);
                }
            });
        match stopper {
            Ok(stopper) => {
                let _ = stopper.join();
            }
            // No thread to wait on: stop without waiting, which is allowed
            // anywhere.
            Err(_) => {
                let runtime = slot.lock().ok().and_then(|mut slot| slot.take());
                if let Some(runtime) = runtime {
                    runtime.shutdown_background();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_from_a_plain_thread_and_from_inside_another_runtime() {
        let bridge = Arc::new(Bridge::new().unwrap());
        assert_eq!(bridge.run(async { 1 + 1 }).unwrap(), 2);
        // A tokio worker of another runtime, as in an async handler; the
        // bridge is also dropped there last, which must not panic.
        let outer = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let answer = outer.block_on(async move {
            tokio::spawn(async move {
                let answer = bridge
                    .run(async {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        7
                    })
                    .unwrap();
                drop(bridge);
                answer
            })
            .await
            .unwrap()
        });
        assert_eq!(answer, 7);
    }

    #[test]
    fn a_panicking_task_is_an_error_not_a_panic_here() {
        let bridge = Bridge::new().unwrap();
        let failed = bridge.run(async { panic!("boom") as u8 });
        assert!(failed.is_err());
    }

    /// Many calls inside one poll of one tokio task (a handler erasing
    /// many versions): tokio's per-task budget must not make a wait spin.
    #[test]
    fn many_calls_in_one_task_poll_all_finish() {
        let bridge = Arc::new(Bridge::new().unwrap());
        let outer = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let sum = outer.block_on(async move {
                tokio::spawn(async move {
                    (0..1000u64)
                        .map(|i| bridge.run(async move { i }).unwrap())
                        .sum::<u64>()
                })
                .await
                .unwrap()
            });
            let _ = done.send(sum);
        });
        let sum = finished
            .recv_timeout(Duration::from_secs(20))
            .expect("1000 calls in one poll finish");
        assert_eq!(sum, 999 * 1000 / 2);
    }
}
