//! The deadlines of one connection's calls: one timer for all of them.
//!
//! A tokio timer per call (`tokio::time::timeout` around the wait for the response)
//! entered the runtime's timer wheel on the call's first wait and left it when the
//! answer came, taking the wheel's lock both times: with 64 calls in flight on one
//! connection that was an eighth of a call's cost (2.20–2.28 against 1.95–2.02 µs
//! per call).
//! Now each call notes its deadline beside its waiter in the pending map
//! ([`super::correlation::Pending`]), and one task per connection, started by its
//! first call that has a deadline, sleeps until the earliest deadline, times out the
//! calls whose deadline has passed, and sleeps until the next. With one timeout for
//! every call (the configured `request_timeout`) a new call's deadline is never
//! earlier than the one the timer is set for, so a call costs a read of the clock and
//! of one atomic.
//!
//! Why no deadline can be missed: a caller puts its waiter in the map first, then
//! reads [`Deadlines::armed`]. The timer task clears `armed` when it wakes, then looks
//! at every waiter. So either it sees the caller's waiter, or the caller sees `armed`
//! cleared (or set anew from what the task saw) and asks for its own deadline.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use atomic_waker::AtomicWaker;
use tokio::time::Instant;

use super::Shared;

/// No deadline: the timer is not set, or nothing was asked for.
const NONE: u64 = u64::MAX;

/// When the timer is set for, and the earliest deadline asked for since.
pub(crate) struct Deadlines {
    /// What the ticks count from.
    base: Instant,
    /// The deadline the timer is set for, in ticks; [`NONE`] when it is not.
    armed: AtomicU64,
    /// The earliest deadline asked for since the timer task last looked.
    asked: AtomicU64,
    /// The timer task, waiting.
    timer: AtomicWaker,
    started: AtomicBool,
}

impl Deadlines {
    pub(crate) fn new() -> Self {
        Deadlines {
            base: Instant::now(),
            armed: AtomicU64::new(NONE),
            asked: AtomicU64::new(NONE),
            timer: AtomicWaker::new(),
            started: AtomicBool::new(false),
        }
    }

    /// `at` in ticks (microseconds from `base`), rounded up: a call is never timed
    /// out before its deadline.
    pub(crate) fn ticks(&self, at: Instant) -> u64 {
        let since = at.saturating_duration_since(self.base);
        let micros = since.as_micros() + u128::from(since.subsec_nanos() % 1_000 != 0);
        u64::try_from(micros).unwrap_or(NONE - 1).min(NONE - 1)
    }

    /// Now, in ticks rounded down.
    fn now(&self) -> u64 {
        let since = Instant::now().saturating_duration_since(self.base);
        u64::try_from(since.as_micros()).unwrap_or(NONE - 1)
    }

    fn instant(&self, ticks: u64) -> Instant {
        let far = Duration::from_secs(60 * 60 * 24 * 365 * 30);
        let after = Duration::from_micros(ticks).min(far);
        self.base + after
    }

    /// Wakes the timer task (the connection closed: it ends).
    pub(crate) fn wake(&self) {
        self.timer.wake();
    }
}

/// The caller's, once its waiter is in the map with the deadline `at`: makes sure
/// the timer will go off by then.
pub(super) fn ask(shared: &Arc<Shared>, at: u64) {
    let deadlines = &shared.pending.deadlines;
    if at >= deadlines.armed.load(Ordering::SeqCst) {
        return;
    }
    deadlines.asked.fetch_min(at, Ordering::SeqCst);
    if deadlines.started.swap(true, Ordering::AcqRel) {
        deadlines.timer.wake();
    } else {
        tokio::spawn(time_out_calls(shared.clone()));
    }
}

/// The timer task: times out the calls whose deadline has passed, until the
/// connection closes.
async fn time_out_calls(shared: Arc<Shared>) {
    let pending = &shared.pending;
    let deadlines = &pending.deadlines;
    let mut timer = std::pin::pin!(tokio::time::sleep_until(deadlines.base));
    loop {
        let went_off = std::future::poll_fn(|cx| {
            deadlines.timer.register(cx.waker());
            if pending.is_closed() {
                return Poll::Ready(false);
            }
            let asked = deadlines.asked.swap(NONE, Ordering::SeqCst);
            if asked < deadlines.armed.load(Ordering::SeqCst) {
                deadlines.armed.store(asked, Ordering::SeqCst);
                timer.as_mut().reset(deadlines.instant(asked));
            }
            if deadlines.armed.load(Ordering::SeqCst) == NONE {
                return Poll::Pending;
            }
            timer.as_mut().poll(cx).map(|()| true)
        })
        .await;
        if !went_off {
            return;
        }
        // Cleared before the waiters are looked at (see the module's docs).
        deadlines.armed.store(NONE, Ordering::SeqCst);
        if let Some(next) = pending.time_out(deadlines.now()) {
            deadlines.asked.fetch_min(next, Ordering::SeqCst);
        }
    }
}
