//! Runs a future that never waits (handlers that complete at once, in-memory
//! streams that are always ready) to its output, with no runtime. Include it with
//! `#[path = "support/ready.rs"] mod ready;`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// `fut`'s output, from its first poll.
///
/// # Panics
///
/// When `fut` is not ready at once.
pub fn ready<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("the future waited"),
    }
}
