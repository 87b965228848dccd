//! Blocking work (disk syncs, an object store's round trips, key
//! wrapping) kept off the async workers that also carry consensus and
//! every other request.
//!
//! In a node it runs on tokio's blocking pool, not on the Commonware
//! runtime's blocking tasks: the vault's S3 store and file streams run
//! blocking clients of their own, which cannot be made or dropped inside
//! the `block_on` those tasks run in. Where there is no tokio runtime
//! (Commonware's deterministic runtime, which polls one task at a time),
//! it runs inline, so a simulation stays one thread and replayable.

/// Why blocking work gave no result.
#[derive(Debug, thiserror::Error)]
#[error("blocking work was cancelled or panicked: {0}")]
pub struct Abandoned(String);

/// Run `work` off the async workers (inline where there is no tokio
/// runtime); its result.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Abandoned> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(work)
            .await
            .map_err(|e| Abandoned(e.to_string())),
        Err(_) => Ok(work()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{deterministic, Runner as _};

    #[test]
    fn without_tokio_the_work_runs_inline_on_the_calling_thread() {
        deterministic::Runner::default().start(|_| async move {
            let caller = std::thread::current().id();
            let ran_on = run(|| std::thread::current().id()).await.unwrap();
            assert_eq!(ran_on, caller);
        });
    }

    #[tokio::test]
    async fn under_tokio_the_work_runs_on_the_blocking_pool() {
        let caller = std::thread::current().id();
        let ran_on = run(|| std::thread::current().id()).await.unwrap();
        assert_ne!(ran_on, caller);
    }
}
