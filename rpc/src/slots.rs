//! A count of free places, taken and given back without a lock while nobody waits:
//! the in-flight limits (a connection's and the server's), the worker pools, a
//! connection's write queue and a stream's buffer.
//!
//! `tokio::sync::Semaphore` gives a permit back under its waiters' lock even when
//! nobody waits (`add_permits_locked` was 2% of a TCP round trip's profile and of a
//! stream's, and a call gave back five permits, the server-wide ones from both
//! workers). Here, while places are free, taking is one compare-and-swap and giving
//! back one add. Once a taker waits, places are handed to the waiters in the order
//! they came, under a lock, as the semaphore does: a place given back never goes to
//! a taker that came later, so a busy connection cannot starve the others at the
//! server's limit, nor new calls jump a worker pool's queue. And like tokio's own
//! resources, taking spends the task's cooperative budget (see [`Slots::take`]).
//!
//! ```text
//!  state > 0: free places           take: CAS state - 1     give: state + 1
//!  state ≤ 0: -state takers owed     take: queue, wait       give: state + 1, hand
//!             a place, queued in order                              one to the oldest
//! ```

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;

/// Free places, and the takers waiting for one in the order they came.
pub(crate) struct Slots {
    /// Free places when positive; when negative, minus the takers owed a place.
    state: AtomicIsize,
    closed: AtomicBool,
    waiters: Mutex<VecDeque<Arc<Waiter>>>,
}

/// A waiting taker: what happened to it, and its task.
struct Waiter {
    outcome: AtomicU8,
    task: AtomicWaker,
}

const WAITING: u8 = 0;
/// A giver handed it a place.
const GIVEN: u8 = 1;
/// It stopped waiting (dropped) before a place came.
const CANCELLED: u8 = 2;
/// The slots were closed while it waited.
const CLOSED: u8 = 3;

impl Slots {
    pub(crate) fn new(places: usize) -> Self {
        Slots {
            state: AtomicIsize::new(places.min(isize::MAX as usize / 2) as isize),
            closed: AtomicBool::new(false),
            waiters: Mutex::new(VecDeque::new()),
        }
    }

    fn waiters(&self) -> MutexGuard<'_, VecDeque<Arc<Waiter>>> {
        // Every change under the lock completes or does nothing.
        self.waiters.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place if one is free now (never one owed to a waiting taker).
    pub(crate) fn try_take(&self) -> bool {
        if self.closed.load(Ordering::Acquire) {
            return false;
        }
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state <= 0 {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state - 1,
                Ordering::SeqCst,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => state = now,
            }
        }
    }

    /// Takes a place, waiting in turn for one to be given back when none is free:
    /// `false` (and no place) once the slots are closed. Dropped while waiting, it
    /// takes nothing, and a place handed to it meanwhile goes to the next taker.
    pub(crate) async fn take(&self) -> bool {
        // A share of the task's budget, as tokio's semaphore and channels take, so
        // that a loop taking places (a sender on a connection's write queue) yields
        // like one on tokio's own. No loop here depends on it: the stream producers
        // spend budget per item themselves. (It was once thought to keep a stream
        // from starving an unsubscribe in `tests/streams.rs`; what it did was slow
        // the stream enough that the test's unread subscription never lagged, which
        // hid that a lagged subscription dropped unread was never unsubscribed.)
        tokio::task::coop::consume_budget().await;
        if self.try_take() {
            return true;
        }
        let waiter = {
            let mut waiters = self.waiters();
            if self.closed.load(Ordering::Acquire) {
                return false;
            }
            // Under the lock, so that a giver that sees this debt finds the waiter
            // queued once it takes the lock.
            if self.state.fetch_sub(1, Ordering::SeqCst) > 0 {
                return true;
            }
            let waiter = Arc::new(Waiter {
                outcome: AtomicU8::new(WAITING),
                task: AtomicWaker::new(),
            });
            waiters.push_back(waiter.clone());
            waiter
        };
        WaitForPlace {
            slots: self,
            waiter,
            done: false,
        }
        .await
    }

    /// [`Slots::take`], holding the place until the guard is dropped.
    pub(crate) async fn take_owned(self: Arc<Self>) -> Option<OwnedPlace> {
        if self.take().await {
            Some(OwnedPlace(self))
        } else {
            None
        }
    }

    /// [`Slots::try_take`], holding the place until the guard is dropped.
    pub(crate) fn try_take_owned(self: &Arc<Self>) -> Option<OwnedPlace> {
        self.try_take().then(|| OwnedPlace(self.clone()))
    }

    /// [`Slots::take`], holding the place until the guard is dropped.
    pub(crate) async fn take_place(&self) -> Option<Place<'_>> {
        if self.take().await {
            Some(Place(self))
        } else {
            None
        }
    }

    /// Gives `places` back: each to the oldest waiting taker, or free.
    pub(crate) fn give(&self, places: usize) {
        if places == 0 {
            return;
        }
        // One add for all of them (a writer gives back a whole gathered write's);
        // as many as were owed then go to waiters.
        let before = self.state.fetch_add(places as isize, Ordering::SeqCst);
        if before < 0 {
            self.hand_over(places.min(before.unsigned_abs()));
        }
    }

    /// `places` given back were owed: each goes to the oldest taker still waiting.
    /// One that stopped waiting meanwhile gave its debt back itself, so when none is
    /// left the rest stay free.
    fn hand_over(&self, mut places: usize) {
        let mut waiters = self.waiters();
        while places > 0 {
            let Some(waiter) = waiters.pop_front() else {
                return;
            };
            if waiter
                .outcome
                .compare_exchange(WAITING, GIVEN, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                // Woken under the lock, which its task never needs once given a
                // place: no list of wakers to allocate.
                waiter.task.wake();
                places -= 1;
            }
        }
    }

    /// Wakes every waiting taker with nothing; takers that come later get nothing.
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let waiting: Vec<_> = self.waiters().drain(..).collect();
        for waiter in waiting {
            if waiter
                .outcome
                .compare_exchange(WAITING, CLOSED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                waiter.task.wake();
            }
        }
    }

    /// Places free now (none while takers wait).
    pub(crate) fn free(&self) -> usize {
        self.state.load(Ordering::SeqCst).max(0) as usize
    }
}

/// A taker waiting in [`Slots`]' queue.
struct WaitForPlace<'a> {
    slots: &'a Slots,
    waiter: Arc<Waiter>,
    done: bool,
}

impl Future for WaitForPlace<'_> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let outcome = |this: &Self| this.waiter.outcome.load(Ordering::Acquire);
        if outcome(&self) == WAITING {
            self.waiter.task.register(cx.waker());
            // Registered before the second look: an outcome after it wakes us.
            if outcome(&self) == WAITING {
                return Poll::Pending;
            }
        }
        self.done = true;
        Poll::Ready(outcome(&self) == GIVEN)
    }
}

impl Drop for WaitForPlace<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        match self.waiter.outcome.compare_exchange(
            WAITING,
            CANCELLED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => {
                // Out of the queue, so that takers that come and go while another
                // waits do not pile up in it.
                let mut waiters = self.slots.waiters();
                if let Some(at) = waiters.iter().position(|w| Arc::ptr_eq(w, &self.waiter)) {
                    waiters.remove(at);
                }
                drop(waiters);
                // Its debt is cancelled, which frees no place: nothing to hand over.
                // A giver that counted the debt and now finds the queue without it
                // leaves its place free, which this add makes count.
                self.slots.state.fetch_add(1, Ordering::SeqCst);
            }
            // A place was handed to it as it stopped waiting: the next taker's.
            Err(GIVEN) => self.slots.give(1),
            Err(_) => {}
        }
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    const LIMIT: Duration = Duration::from_secs(10);

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

    /// A task taking a place, spawned and given the chance to queue.
    async fn queued(slots: &Arc<Slots>) -> tokio::task::JoinHandle<bool> {
        let task = tokio::spawn({
            let slots = slots.clone();
            async move { slots.take().await }
        });
        tokio::task::yield_now().await;
        assert!(!task.is_finished());
        task
    }

    async fn finished<T>(task: tokio::task::JoinHandle<T>) -> T {
        tokio::time::timeout(LIMIT, task)
            .await
            .expect("the waiting taker was not woken")
            .unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiting_taker_gets_the_place_given_back() {
        let slots = Arc::new(Slots::new(1));
        assert!(slots.take().await);
        let waiter = queued(&slots).await;
        slots.give(1);
        assert!(finished(waiter).await);
        assert_eq!(slots.free(), 0);
    }

    /// The place goes to the taker that waits, not to one that comes later and
    /// finds it before the waiter runs: a busy taker cannot starve a waiting one.
    #[tokio::test(flavor = "current_thread")]
    async fn a_place_given_back_goes_to_the_waiter_not_to_a_later_taker() {
        let slots = Arc::new(Slots::new(1));
        assert!(slots.take().await);
        let waiter = queued(&slots).await;
        slots.give(1);
        assert!(!slots.try_take(), "a later taker took the waiter's place");
        assert!(finished(waiter).await);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn waiters_get_places_in_the_order_they_came() {
        let slots = Arc::new(Slots::new(1));
        assert!(slots.take().await);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (slots, order) = (slots.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                assert!(slots.take().await);
                order.lock().unwrap().push(i);
                slots.give(1);
            }));
            tokio::task::yield_now().await;
        }
        slots.give(1);
        for task in tasks {
            finished(task).await;
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
        assert_eq!(slots.free(), 1);
    }

    /// Places given back together (a writer's whole gathered write) reach as many
    /// waiters, oldest first, and the rest stay free.
    #[tokio::test(flavor = "current_thread")]
    async fn places_given_back_together_go_to_as_many_waiters() {
        let slots = Arc::new(Slots::new(3));
        for _ in 0..3 {
            assert!(slots.take().await);
        }
        let first = queued(&slots).await;
        let second = queued(&slots).await;
        slots.give(3);
        assert!(finished(first).await);
        assert!(finished(second).await);
        assert_eq!(slots.free(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_taker_dropped_while_waiting_takes_nothing_and_passes_its_place_on() {
        let slots = Arc::new(Slots::new(1));
        assert!(slots.take().await);
        let first = queued(&slots).await;
        let second = queued(&slots).await;
        // Dropped before a place came: its debt goes, nothing more.
        first.abort();
        let _ = first.await;
        let third = queued(&slots).await;
        // Handed a place (it waited first), then dropped before it ran: the place
        // goes on to the next.
        slots.give(1);
        second.abort();
        let _ = second.await;
        assert!(finished(third).await);
        assert_eq!(slots.free(), 0);
        slots.give(1);
        assert_eq!(slots.free(), 1);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn closing_wakes_waiting_takers_with_nothing() {
        let slots = Arc::new(Slots::new(1));
        assert!(slots.take().await);
        let waiter = queued(&slots).await;
        slots.close();
        assert!(!finished(waiter).await);
        slots.give(1);
        assert!(!slots.take().await, "a closed slots' place was taken");
        assert!(!slots.try_take());
    }

    /// Many takers on two threads, some giving up while they wait: every place
    /// taken is given back, none is lost or made, and nobody waits forever.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn takers_on_two_threads_neither_lose_nor_make_places() {
        const PLACES: usize = 3;
        let slots = Arc::new(Slots::new(PLACES));
        let held = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let (slots, held) = (slots.clone(), held.clone());
                tokio::spawn(async move {
                    for round in 0..2_000 {
                        if (t + round) % 7 == 0 {
                            // Gives up at once if it has to wait (having queued).
                            if let Ok(took) =
                                tokio::time::timeout(Duration::ZERO, slots.take()).await
                            {
                                assert!(took);
                                slots.give(1);
                            }
                            continue;
                        }
                        assert!(slots.take().await);
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
        assert!(slots.waiters().is_empty());
    }
}
