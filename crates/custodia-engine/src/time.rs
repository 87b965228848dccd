//! Time as a node's runtime keeps it. Services read the clock and wait
//! through their runtime context (Commonware's deterministic runtime in
//! simulation, tokio in a node), never through the machine's clock or
//! tokio's timers, so that the same code runs, reproducibly, in both.

use commonware_runtime::Clock;
use futures::future::{select, Either};
use std::{future::Future, time::Duration};

/// Milliseconds since the Unix epoch by `clock` (never a chain decision:
/// blocks carry their own time).
pub fn now_ms(clock: &impl Clock) -> u64 {
    clock
        .current()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// `future`'s output, or `None` once `duration` has passed on `clock`.
/// (Unlike `Clock::timeout`, `future` may borrow.)
pub async fn within<T>(
    clock: &impl Clock,
    duration: Duration,
    future: impl Future<Output = T>,
) -> Option<T> {
    let future = std::pin::pin!(future);
    let sleep = std::pin::pin!(clock.sleep(duration));
    match select(future, sleep).await {
        Either::Left((output, _)) => Some(output),
        Either::Right(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use commonware_runtime::{deterministic, Runner as _};

    #[test]
    fn a_future_is_cut_off_by_the_runtime_clock() {
        deterministic::Runner::default().start(|context| async move {
            let quick = within(&context, Duration::from_secs(1), async { 7 }).await;
            assert_eq!(quick, Some(7));
            let started = now_ms(&context);
            let never = within(
                &context,
                Duration::from_secs(5),
                futures::future::pending::<()>(),
            )
            .await;
            assert_eq!(never, None);
            assert_eq!(now_ms(&context) - started, 5_000);
        });
    }
}
