//! The runtime every round runs on: fresh, with two workers, as on a 2-core machine.

use std::future::Future;
use std::time::Duration;

/// Runs `round` on a fresh two-worker runtime and returns its figures.
///
/// Spawned rather than run in `block_on`, so that client and server both run on the
/// two workers and the thread that waits here takes no part. The runtime is shut
/// down after at most a second, so what a round leaves running ends with it.
pub fn on_two_workers<F>(round: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let figures = runtime.block_on(async move { tokio::spawn(round).await.expect("a round") });
    runtime.shutdown_timeout(Duration::from_secs(1));
    figures
}
