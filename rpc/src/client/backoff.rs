//! How long a managed client waits before it tries an endpoint again.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Exponential backoff with jitter and a cap: attempt `n` (from 0) waits a random
/// time in `[d/2, d]`, where `d = min(initial * factor^n, max)`. The jitter spreads
/// the reconnections of many clients to one restarted server; the lower half keeps
/// the delay from collapsing to nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The delay before the first retry (50 ms).
    pub initial: Duration,
    /// The longest delay (5 s).
    pub max: Duration,
    /// What each failed attempt multiplies the delay by (2.0).
    pub factor: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
            factor: 2.0,
        }
    }
}

impl Backoff {
    /// Delays from `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max: max.max(initial),
            ..Backoff::default()
        }
    }

    /// The same, growing by `factor` (at least 1.0) per attempt.
    #[must_use]
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            2.0
        };
        self
    }

    /// The upper bound of the delay before attempt `attempt` (from 0), before jitter.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let grown = self.initial.as_secs_f64() * self.factor.powi(attempt.min(64) as i32);
        if grown.is_finite() && grown < self.max.as_secs_f64() {
            Duration::from_secs_f64(grown)
        } else {
            self.max
        }
    }

    /// The delay before attempt `attempt`, jittered.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        half + Duration::from_secs_f64(half.as_secs_f64() * unit_random())
    }
}

/// A random number in `[0, 1)`: xorshift per thread, seeded from the standard
/// library's random hash keys (no generator crate for a jitter).
pub(crate) fn unit_random() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A random `u64` (see [`unit_random`]).
pub(crate) fn random_u64() -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            std::collections::hash_map::RandomState::new().build_hasher().finish() | 1,
        );
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        x
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_within_their_jitter() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 0..20 {
            let ceiling = backoff.ceiling(attempt);
            assert!(ceiling <= Duration::from_secs(1));
            for _ in 0..50 {
                let d = backoff.delay(attempt);
                assert!(d >= ceiling / 2 && d <= ceiling, "{d:?} for {ceiling:?}");
            }
        }
        assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(2), Duration::from_millis(400));
        assert_eq!(backoff.ceiling(4), Duration::from_secs(1));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn the_jitter_spreads() {
        let backoff = Backoff::default();
        let delays: std::collections::HashSet<_> = (0..100).map(|_| backoff.delay(3)).collect();
        assert!(delays.len() > 50, "only {} distinct delays", delays.len());
    }
}
