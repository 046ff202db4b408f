//! A count of free places, taken and given back without a lock: a connection's
//! in-flight limit, and a stream's buffer.
//!
//! Every call takes a place in its connection's limit and gives it back once its
//! answer is written; every stream item takes one in its stream's buffer until it is
//! written. `tokio::sync::Semaphore` gives a permit back under its waiters' lock
//! even when nobody waits (`add_permits_locked` was 2% of a TCP round trip's profile
//! and of a stream's). Here taking is one compare-and-swap and giving back is one
//! add, plus a wake-up only when a taker waits.
//!
//! **Not fair.** A place given back goes to whoever takes first: a taker that did not
//! wait can take it before the waiter woken for it runs, so a busy taker can starve
//! a waiting one. Use it only where every taker belongs to one owner (a connection's
//! reader and its batches' elements, which a flood of that client's own calls may
//! hold back; a stream's one producer); where waiters of different owners must be
//! served in turn (the server's limit, worker pools, a write queue's senders: put
//! there, a stream's producer took every place its writer gave back before the
//! unsubscribe answer woken for one could run), tokio's semaphore does that.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

/// Free places, and the takers waiting for one.
pub(crate) struct Slots {
    free: AtomicUsize,
    /// Takers between announcing their wait and ending it: a giver wakes one per
    /// place it gives back only when this is not zero.
    waiting: AtomicUsize,
    freed: Notify,
}

impl Slots {
    pub(crate) fn new(places: usize) -> Self {
        Slots {
            free: AtomicUsize::new(places),
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// Takes a place if one is free now.
    pub(crate) fn try_take(&self) -> bool {
        let mut free = self.free.load(Ordering::Relaxed);
        loop {
            if free == 0 {
                return false;
            }
            match self.free.compare_exchange_weak(
                free,
                free - 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => free = now,
            }
        }
    }

    /// Takes a place, waiting for one to be given back when none is free. Dropped
    /// while waiting, it takes nothing, and a wake-up it was sent goes to another
    /// taker.
    pub(crate) async fn take(&self) {
        if self.try_take() {
            return;
        }
        let _waiting = Waiting::announce(&self.waiting);
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before the check: a place given back after it wakes us.
            freed.as_mut().enable();
            if self.try_take() {
                return;
            }
            freed.await;
        }
    }

    /// [`Slots::take`], holding the place until the guard is dropped.
    pub(crate) async fn take_owned(self: Arc<Self>) -> OwnedPlace {
        self.take().await;
        OwnedPlace(self)
    }

    /// [`Slots::try_take`], holding the place until the guard is dropped.
    pub(crate) fn try_take_owned(self: &Arc<Self>) -> Option<OwnedPlace> {
        self.try_take().then(|| OwnedPlace(self.clone()))
    }

    /// [`Slots::take`], holding the place until the guard is dropped.
    pub(crate) async fn take_place(&self) -> Place<'_> {
        self.take().await;
        Place(self)
    }

    /// Gives `places` back, waking as many waiting takers.
    pub(crate) fn give(&self, places: usize) {
        if places == 0 {
            return;
        }
        // SeqCst on both sides: either the taker's check after announcing sees these
        // places, or this load sees the taker and wakes it.
        self.free.fetch_add(places, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            for _ in 0..places {
                self.freed.notify_one();
            }
        }
    }

    /// Places free now.
    #[cfg(test)]
    fn free(&self) -> usize {
        self.free.load(Ordering::SeqCst)
    }
}

/// A place taken from [`Slots`] it borrows, given back when dropped.
pub(crate) struct Place<'a>(&'a Slots);

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.give(1);
    }
}

/// A place taken from [`Slots`] it shares, given back when dropped.
pub(crate) struct OwnedPlace(Arc<Slots>);

impl Drop for OwnedPlace {
    fn drop(&mut self) {
        self.0.give(1);
    }
}

/// A taker counted in [`Slots::waiting`] while it waits.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn announce(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Waiting(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn places_are_taken_until_none_is_free() {
        let slots = Slots::new(2);
        assert!(slots.try_take());
        assert!(slots.try_take());
        assert!(!slots.try_take());
        slots.give(1);
        assert!(slots.try_take());
        assert_eq!(slots.free(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiting_taker_gets_the_place_given_back() {
        let slots = Arc::new(Slots::new(1));
        slots.take().await;
        let waiter = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        slots.give(1);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiting taker was not woken")
            .unwrap();
        assert_eq!(slots.free(), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_taker_dropped_while_waiting_passes_its_wake_up_on() {
        let slots = Arc::new(Slots::new(1));
        slots.take().await;
        let first = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take().await }
        });
        let second = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take().await }
        });
        tokio::task::yield_now().await;
        // Woken first (it waited first), then dropped before it could take the place.
        slots.give(1);
        first.abort();
        tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .expect("the wake-up was lost with the dropped taker")
            .unwrap();
        assert_eq!(slots.free(), 0);
    }

    /// Many takers on two threads: every place taken is given back, none is lost or
    /// made, and nobody waits forever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn takers_on_two_threads_neither_lose_nor_make_places() {
        const PLACES: usize = 3;
        let slots = Arc::new(Slots::new(PLACES));
        let held = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (slots, held) = (slots.clone(), held.clone());
                tokio::spawn(async move {
                    for _ in 0..2_000 {
                        slots.take().await;
                        assert!(held.fetch_add(1, Ordering::SeqCst) < PLACES);
                        tokio::task::yield_now().await;
                        held.fetch_sub(1, Ordering::SeqCst);
                        slots.give(1);
                    }
                })
            })
            .collect();
        tokio::time::timeout(Duration::from_secs(60), async {
            for task in tasks {
                task.await.unwrap();
            }
        })
        .await
        .expect("a taker waited forever");
        assert_eq!(slots.free(), PLACES);
    }
}
