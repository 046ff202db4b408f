//! A subscription's items on their way from the connection's reader to the
//! [`super::client::Subscription`] that reads them.
//!
//! A channel woke the subscription's task for every item the reader handed over:
//! when the subscriber keeps up, it empties the channel and waits again after each
//! item, so every item cost a wake-up, and a wake-up of a task on another thread is
//! a futex call on each side (a fifth of the reader's time on one fast stream). Here
//! the reader defers the wake-up ([`Deferred`]) until its task is about to wait
//! ([`WakeBeforeWaiting`]) or has handed over [`WAKE_AFTER`] items meanwhile: a run
//! of items then costs the subscriber one wake-up, and it takes them in batches, one
//! lock per batch.
//!
//! The buffer's bound is exact: the items queued plus the batch the subscription
//! took last (counted until it comes back for more) never pass `capacity`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use crate::message::JsonText;

/// The most items a subscription takes at once: a batch still frees room for the
/// reader at a steady pace.
const MOST_IN_A_BATCH: usize = 64;

/// Items handed over while a wake-up is held back, after which the reader wakes
/// the subscriptions anyway: a read of 64 KiB of small frames is a few hundred µs
/// of work, which the subscriber should not wait for before its first item. (32
/// cost a fast stream a fifth of its items per second: the subscriber, woken that
/// often, waited again as often.)
const WAKE_AFTER: usize = 256;

/// The items between one subscription's reader and the subscription.
pub(crate) struct ItemQueue {
    state: Mutex<State>,
    capacity: usize,
    batch: usize,
}

struct State {
    items: VecDeque<JsonText>,
    /// The size of the batch the subscription took last: held until it comes back.
    in_hand: usize,
    /// The subscription, waiting for items.
    taker: Option<Waker>,
    /// The reader, waiting for room.
    giver: Option<Waker>,
    /// No more items will come.
    ended: bool,
    /// The subscription is gone: items have nowhere to go.
    dropped: bool,
}

/// What became of an item offered.
pub(crate) enum Offer {
    /// Queued.
    Taken,
    /// The subscription is gone; the item is dropped.
    Gone,
    /// The buffer is full: the item back.
    Full(JsonText),
}

/// Stores `waker` in `slot` unless it is there already.
fn store(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

impl ItemQueue {
    /// A queue of at most `capacity` items (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        ItemQueue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                in_hand: 0,
                taker: None,
                giver: None,
                ended: false,
                dropped: false,
            }),
            capacity,
            batch: (capacity / 2).clamp(1, MOST_IN_A_BATCH),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change under the lock completes or does nothing.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn has_room(&self, state: &State) -> bool {
        state.items.len() + state.in_hand < self.capacity
    }

    /// The reader's: queues `item` if there is room; the subscription's wake-up, if
    /// it waits, goes to `deferred`.
    pub(crate) fn offer(&self, item: JsonText, deferred: &Deferred) -> Offer {
        let mut state = self.lock();
        if state.dropped {
            return Offer::Gone;
        }
        if !self.has_room(&state) {
            return Offer::Full(item);
        }
        state.items.push_back(item);
        let taker = state.taker.take();
        drop(state);
        match taker {
            Some(taker) => deferred.push(taker),
            None => deferred.held_over(),
        }
        Offer::Taken
    }

    /// The reader's, once [`ItemQueue::offer`] found the buffer full: queues `item`
    /// once there is room, waking the subscription at once. `false` when the
    /// subscription went meanwhile.
    pub(crate) async fn give(&self, item: JsonText) -> bool {
        let mut item = Some(item);
        std::future::poll_fn(|cx| {
            let mut state = self.lock();
            if state.dropped {
                return Poll::Ready(false);
            }
            if !self.has_room(&state) {
                store(&mut state.giver, cx.waker());
                return Poll::Pending;
            }
            state.items.extend(item.take());
            let taker = state.taker.take();
            drop(state);
            if let Some(taker) = taker {
                taker.wake();
            }
            Poll::Ready(true)
        })
        .await
    }

    /// The reader's: no more items will come (the subscription closed, or the
    /// connection did); the subscription reads what is queued, then ends.
    pub(crate) fn end(&self) {
        let mut state = self.lock();
        state.ended = true;
        let taker = state.taker.take();
        drop(state);
        if let Some(taker) = taker {
            taker.wake();
        }
    }

    /// The subscription's, once it has read all of `batch`: refills it (`true`), or
    /// `false` once the items have ended and every one was read.
    pub(crate) fn poll_take(&self, batch: &mut VecDeque<JsonText>, cx: &Context<'_>) -> Poll<bool> {
        debug_assert!(batch.is_empty());
        let mut state = self.lock();
        let freed = state.in_hand > 0;
        state.in_hand = 0;
        let outcome = if state.items.is_empty() {
            if state.ended {
                Poll::Ready(false)
            } else {
                store(&mut state.taker, cx.waker());
                Poll::Pending
            }
        } else {
            let n = state.items.len().min(self.batch);
            batch.extend(state.items.drain(..n));
            state.in_hand = n;
            Poll::Ready(true)
        };
        // Room for the reader if it waits for some.
        let giver = if freed || outcome.is_ready() {
            state.giver.take()
        } else {
            None
        };
        drop(state);
        if let Some(giver) = giver {
            giver.wake();
        }
        outcome
    }

    /// The subscription's, when it is dropped: what is queued goes, and so does
    /// whatever the reader offers from now on.
    pub(crate) fn drop_taker(&self) {
        let mut state = self.lock();
        state.dropped = true;
        state.in_hand = 0;
        let items = std::mem::take(&mut state.items);
        let giver = state.giver.take();
        drop(state);
        drop(items);
        if let Some(giver) = giver {
            giver.wake();
        }
    }
}

/// Subscriptions' wake-ups the connection's reader holds back until its task is
/// about to wait. Only the reader's task adds to it and empties it.
#[derive(Default)]
pub(crate) struct Deferred {
    any: AtomicBool,
    /// Items handed over since the first wake-up was held back.
    items: AtomicUsize,
    wakers: Mutex<Vec<Waker>>,
}

impl Deferred {
    fn lock(&self) -> MutexGuard<'_, Vec<Waker>> {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, waker: Waker) {
        self.lock().push(waker);
        self.any.store(true, Ordering::Release);
        self.held_over();
    }

    /// An item was handed over: after [`WAKE_AFTER`] of them with a wake-up held
    /// back, the subscriptions are woken without waiting for the reader to wait.
    fn held_over(&self) {
        if self.any.load(Ordering::Relaxed)
            && self.items.fetch_add(1, Ordering::Relaxed) + 1 >= WAKE_AFTER
        {
            self.wake_all();
        }
    }

    /// Wakes every subscription held back.
    pub(crate) fn wake_all(&self) {
        // A load first: every poll of every connection's reader comes here, and
        // almost none has a wake-up held back (a swap would write each time).
        if !self.any.load(Ordering::Acquire) || !self.any.swap(false, Ordering::AcqRel) {
            return;
        }
        self.items.store(0, Ordering::Relaxed);
        // Taken out first: a wake-up may run code that comes back here.
        let mut wakers = std::mem::take(&mut *self.lock());
        for waker in wakers.drain(..) {
            waker.wake();
        }
        // The list's allocation back for the next run (a new one each time was
        // half of a stream's allocations), unless one was made meanwhile.
        let mut list = self.lock();
        if list.capacity() == 0 {
            *list = wakers;
        }
    }
}

pin_project_lite::pin_project! {
    /// The connection's reading, which wakes the subscriptions it held back
    /// ([`Deferred`]) each time it is about to wait, and when it ends.
    pub(crate) struct WakeBeforeWaiting<F, D> {
        #[pin]
        reading: F,
        // What holds the `Deferred` (the connection's shared state).
        deferred: D,
    }
}

impl<F, D> WakeBeforeWaiting<F, D> {
    pub(crate) fn new(reading: F, deferred: D) -> Self {
        WakeBeforeWaiting { reading, deferred }
    }
}

impl<F, D> Future for WakeBeforeWaiting<F, D>
where
    F: Future,
    D: std::ops::Deref,
    D::Target: AsRef<Deferred>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let outcome = this.reading.poll(cx);
        // Waiting or done, the reader hands nothing more over in this poll.
        (**this.deferred).as_ref().wake_all();
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::task::Wake;

    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn item(n: usize) -> JsonText {
        let text = bytes::Bytes::from(n.to_string());
        JsonText::within(&text, std::str::from_utf8(&text).unwrap())
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count::default());
        (count.clone(), Waker::from(count))
    }

    /// A queue of 1,024 whose subscription waits for items, with its wake-ups
    /// counted.
    fn waited_on() -> (ItemQueue, Deferred, Arc<Count>, Waker) {
        let queue = ItemQueue::new(1024);
        let (woken, waker) = counting();
        let mut batch = VecDeque::new();
        let cx = Context::from_waker(&waker);
        assert!(queue.poll_take(&mut batch, &cx).is_pending());
        (queue, Deferred::default(), woken, waker)
    }

    #[test]
    fn a_waiting_subscription_is_woken_once_for_a_run_of_items_and_only_when_the_reader_lets_go() {
        let (queue, deferred, woken, waker) = waited_on();
        let cx = Context::from_waker(&waker);
        let mut batch = VecDeque::new();
        for n in 0..WAKE_AFTER - 1 {
            assert!(matches!(queue.offer(item(n), &deferred), Offer::Taken));
        }
        assert_eq!(woken.0.load(Ordering::SeqCst), 0, "held back");
        deferred.wake_all();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        deferred.wake_all();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        // The subscription has not come back: later items wake nobody.
        let total = WAKE_AFTER + 100;
        for n in WAKE_AFTER - 1..total {
            assert!(matches!(queue.offer(item(n), &deferred), Offer::Taken));
        }
        deferred.wake_all();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
        let mut read = Vec::new();
        while batch.is_empty() && queue.poll_take(&mut batch, &cx) == Poll::Ready(true) {
            read.extend(batch.drain(..).map(|t| t.as_str().to_owned()));
        }
        let expected: Vec<String> = (0..total).map(|n| n.to_string()).collect();
        assert_eq!(read, expected, "every item, in order, in batches");
    }

    #[test]
    fn a_long_run_of_items_wakes_the_subscription_before_the_reader_waits() {
        let (queue, deferred, woken, _waker) = waited_on();
        for n in 0..WAKE_AFTER {
            assert_eq!(woken.0.load(Ordering::SeqCst), 0, "woken at item {n}");
            assert!(matches!(queue.offer(item(n), &deferred), Offer::Taken));
        }
        assert_eq!(woken.0.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn the_queue_plus_the_batch_in_hand_never_pass_the_capacity() {
        let queue = ItemQueue::new(4);
        let deferred = Deferred::default();
        let (_, waker) = counting();
        let cx = Context::from_waker(&waker);
        for n in 0..4 {
            assert!(matches!(queue.offer(item(n), &deferred), Offer::Taken));
        }
        assert!(matches!(queue.offer(item(4), &deferred), Offer::Full(_)));
        let mut batch = VecDeque::new();
        assert_eq!(queue.poll_take(&mut batch, &cx), Poll::Ready(true));
        assert_eq!(batch.len(), 2, "half the capacity at a time");
        // The batch is in hand until the subscription comes back: still full.
        assert!(matches!(queue.offer(item(4), &deferred), Offer::Full(_)));
        batch.clear();
        assert_eq!(queue.poll_take(&mut batch, &cx), Poll::Ready(true));
        assert!(matches!(queue.offer(item(4), &deferred), Offer::Taken));
        assert!(matches!(queue.offer(item(5), &deferred), Offer::Taken));
        assert!(matches!(queue.offer(item(6), &deferred), Offer::Full(_)));
    }

    #[tokio::test]
    async fn a_reader_waiting_for_room_is_woken_when_the_subscription_takes_a_batch() {
        let queue = Arc::new(ItemQueue::new(2));
        let deferred = Deferred::default();
        for n in 0..2 {
            assert!(matches!(queue.offer(item(n), &deferred), Offer::Taken));
        }
        let giving = tokio::spawn({
            let queue = queue.clone();
            async move { queue.give(item(2)).await }
        });
        tokio::task::yield_now().await;
        assert!(!giving.is_finished());
        let (_, waker) = counting();
        let cx = Context::from_waker(&waker);
        let mut batch = VecDeque::new();
        assert_eq!(queue.poll_take(&mut batch, &cx), Poll::Ready(true));
        assert_eq!(batch.len(), 1);
        batch.clear();
        // The first batch is read: room for the waiting item.
        assert_eq!(queue.poll_take(&mut batch, &cx), Poll::Ready(true));
        assert!(
            tokio::time::timeout(std::time::Duration::from_secs(5), giving)
                .await
                .unwrap()
                .unwrap()
        );
        queue.end();
        let mut read = batch.drain(..).count();
        while queue.poll_take(&mut batch, &cx) == Poll::Ready(true) {
            read += batch.drain(..).count();
        }
        assert_eq!(read, 2, "the second item and the one that waited");
    }

    #[tokio::test]
    async fn a_dropped_subscription_frees_a_waiting_reader_and_takes_nothing_more() {
        let queue = Arc::new(ItemQueue::new(1));
        let deferred = Deferred::default();
        assert!(matches!(queue.offer(item(0), &deferred), Offer::Taken));
        let giving = tokio::spawn({
            let queue = queue.clone();
            async move { queue.give(item(1)).await }
        });
        tokio::task::yield_now().await;
        queue.drop_taker();
        assert!(
            !tokio::time::timeout(std::time::Duration::from_secs(5), giving)
                .await
                .unwrap()
                .unwrap()
        );
        assert!(matches!(queue.offer(item(2), &deferred), Offer::Gone));
    }

    #[test]
    fn an_ended_queue_yields_what_it_holds_then_ends() {
        let queue = ItemQueue::new(8);
        let deferred = Deferred::default();
        let (woken, waker) = counting();
        let cx = Context::from_waker(&waker);
        let mut batch = VecDeque::new();
        assert!(matches!(queue.offer(item(0), &deferred), Offer::Taken));
        queue.end();
        assert_eq!(queue.poll_take(&mut batch, &cx), Poll::Ready(true));
        batch.clear();
        assert_eq!(queue.poll_take(&mut batch, &cx), Poll::Ready(false));
        let queue = ItemQueue::new(8);
        assert!(queue.poll_take(&mut batch, &cx).is_pending());
        queue.end();
        assert_eq!(woken.0.load(Ordering::SeqCst), 1, "the end wakes at once");
        assert_eq!(queue.poll_take(&mut batch, &cx), Poll::Ready(false));
    }
}
