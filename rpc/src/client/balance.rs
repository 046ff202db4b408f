//! Which endpoint a call goes to, and endpoint sets that change.
//!
//! Without a key, power of two choices: two connected endpoints at random, the one
//! with fewer pending calls wins. That keeps load even with no shared state and
//! no herd on the single least-loaded endpoint (what tower's `p2c` does). With a
//! key, rendezvous hashing: the connected endpoint whose hash with the key is
//! highest, so when one leaves only its own keys move.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};

use tower::discover::{Change, Discover};

use super::backoff::random_u64;
use super::managed::{Set, Slot};
use super::Endpoint;
use crate::peer::Peer;

/// A stable 64-bit hash of a key (the same in every process: FNV-1a, not the
/// standard library's randomly keyed hasher), so that clients agree on routes.
pub(crate) fn hash_key(key: &(impl Hash + ?Sized)) -> u64 {
    let mut hasher = Fnv(0xcbf2_9ce4_8422_2325);
    key.hash(&mut hasher);
    hasher.finish()
}

struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A finalizer that spreads the bits of `x` (splitmix64's), for rendezvous weights.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A connected slot for a call, by `key` or by power of two choices.
pub(crate) fn pick(slots: &[Arc<Slot>], key: Option<u64>) -> Option<(Peer, Arc<Slot>)> {
    if let Some(key) = key {
        return slots
            .iter()
            .filter_map(|s| s.peer().map(|peer| (mix(s.seed ^ key), peer, s)))
            .max_by_key(|(weight, ..)| *weight)
            .map(|(_, peer, slot)| (peer, slot.clone()));
    }
    let up = slots.iter().filter(|s| s.load().is_some()).count();
    let nth_up = |n: usize| slots.iter().filter(|s| s.load().is_some()).nth(n);
    let chosen = match up {
        0 => return None,
        1 => nth_up(0)?,
        _ => {
            let first = (random_u64() % up as u64) as usize;
            let mut second = (random_u64() % (up as u64 - 1)) as usize;
            if second >= first {
                second += 1;
            }
            let (a, b) = (nth_up(first)?, nth_up(second)?);
            // A slot that closed between the two looks has no load: take the other.
            match (a.load(), b.load()) {
                (Some(x), Some(y)) if y < x => b,
                (None, _) => b,
                _ => a,
            }
        }
    };
    chosen.peer().map(|peer| (peer, chosen.clone()))
}

/// Follows `discover`'s changes into `set` until the stream ends or the set goes.
pub(crate) fn follow<D>(set: &Arc<Set>, discover: D)
where
    D: Discover<Service = Endpoint> + Send + 'static,
    D::Key: Hash + Eq + Send + 'static,
    D::Error: std::fmt::Display,
{
    let weak: Weak<Set> = Arc::downgrade(set);
    let stopped = set.stopped().clone();
    tokio::spawn(async move {
        let mut discover = std::pin::pin!(discover);
        let mut by_key: HashMap<D::Key, Arc<Slot>> = HashMap::new();
        loop {
            let change = tokio::select! {
                () = stopped.cancelled() => return,
                change = std::future::poll_fn(|cx| discover.as_mut().poll_discover(cx)) => change,
            };
            let Some(set) = weak.upgrade() else { return };
            match change {
                None => return,
                Some(Err(err)) => {
                    tracing::warn!(%err, "endpoint discovery failed; keeping the endpoints as they are");
                    return;
                }
                Some(Ok(Change::Insert(key, endpoint))) => {
                    tracing::debug!(endpoint = endpoint.name(), "endpoint discovered");
                    let slot = set.insert(endpoint);
                    if let Some(old) = by_key.insert(key, slot) {
                        set.remove(&old);
                    }
                }
                Some(Ok(Change::Remove(key))) => {
                    if let Some(old) = by_key.remove(&key) {
                        tracing::debug!(endpoint = old.endpoint.name(), "endpoint removed");
                        set.remove(&old);
                    }
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_hash_the_same_everywhere() {
        assert_eq!(hash_key("user-42"), hash_key("user-42"));
        assert_ne!(hash_key("user-42"), hash_key("user-43"));
        // FNV-1a of the str's bytes and its 0xff terminator (`Hash for str`).
        assert_eq!(hash_key(""), 0xaf64724c8602eb6e);
    }
}
