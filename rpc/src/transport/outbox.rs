//! The queue between a connection's producers (calls, answers, stream items) and its
//! writer: bounded, many senders, one receiver, and allocation-free while empty.
//!
//! ```text
//!  Sender ─┐   room: free places (senders wait on them when full)
//!  Sender ─┼──▶ Mutex<VecDeque<T>> + the receiver's waker ──▶ Receiver (the writer)
//!  Sender ─┘
//! ```
//!
//! Why not `tokio::sync::mpsc`: its channel allocates its first block of 32 slots
//! when it is made, which an idle connection pays for (2.6 KiB of its 8 KiB budget).
//! Here the items live in a `VecDeque` that is empty until the first frame and is
//! given back after a burst, and the receiver takes everything waiting under one
//! lock, which is what a writer gathering frames into one write wants anyway.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use tokio::sync::Notify;

use crate::slots::Slots;

/// A queue holding more items than this when it empties gives its memory back, so a
/// burst does not stay allocated for the rest of the connection.
const KEEP_CAPACITY: usize = 64;

struct Chan<T> {
    inner: Mutex<Inner<T>>,
    /// Free places; the receiver gives them back as it takes items (with no lock
    /// when no sender waits, where a semaphore locks its waiters every time).
    room: Slots,
    capacity: usize,
    senders: AtomicUsize,
    /// Set once the receiver has closed or gone; `receiver_closed` wakes who waits.
    closed: AtomicBool,
    receiver_closed: Notify,
}

struct Inner<T> {
    items: VecDeque<T>,
    /// The receiver, when it waits for items.
    waker: Option<Waker>,
}

impl<T> Chan<T> {
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A panic while holding the lock leaves the queue itself consistent (every
        // operation on it completes or does nothing), so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `value` into a place already taken from `room`.
    fn push(&self, value: T) -> Result<(), T> {
        let mut inner = self.lock();
        if self.closed.load(Ordering::Acquire) {
            drop(inner);
            return Err(value);
        }
        inner.items.push_back(value);
        let waker = inner.waker.take();
        drop(inner);
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }
}

/// Makes a queue of at most `capacity` items (at least one).
pub(crate) fn channel<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        inner: Mutex::new(Inner {
            items: VecDeque::new(),
            waker: None,
        }),
        room: Slots::new(capacity.max(1)),
        capacity: capacity.max(1),
        senders: AtomicUsize::new(1),
        closed: AtomicBool::new(false),
        receiver_closed: Notify::new(),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// Why a value could not be queued now.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum TrySendError<T> {
    /// Every place is taken.
    Full(T),
    /// The receiver has closed or gone.
    Closed(T),
}

/// The sending side; cloning makes another sender.
pub(crate) struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            // The last sender: a receiver waiting on an empty queue learns it ends.
            // Taking the lock after the count fell orders this against its check.
            let waker = self.chan.lock().waker.take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl<T> Sender<T> {
    /// Queues `value`, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// When the receiver has closed or gone; the value is handed back.
    pub(crate) async fn send(&self, value: T) -> Result<(), T> {
        if !self.chan.room.take().await {
            return Err(value);
        }
        self.chan.push(value)
    }

    /// Queues `value` if there is a place now.
    ///
    /// # Errors
    ///
    /// When the queue is full or the receiver has closed or gone.
    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.is_closed() {
            return Err(TrySendError::Closed(value));
        }
        if !self.chan.room.try_take() {
            return Err(TrySendError::Full(value));
        }
        self.chan.push(value).map_err(TrySendError::Closed)
    }

    /// Waits for a place and keeps it for one value; `None` when the receiver has
    /// closed or gone.
    pub(crate) async fn reserve(&self) -> Option<Permit<'_, T>> {
        if !self.chan.room.take().await {
            return None;
        }
        Some(Permit {
            chan: &self.chan,
            used: false,
        })
    }

    /// Waits until the receiver has closed or gone.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.chan.receiver_closed.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so a close in between is not missed.
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Whether the receiver has closed or gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.chan.closed.load(Ordering::Acquire)
    }

    /// How many places are taken: values queued, and places reserved for values on
    /// their way. One atomic load.
    pub(crate) fn taken(&self) -> usize {
        self.chan.capacity - self.chan.room.free()
    }
}

/// A place kept in the queue for one value ([`Sender::reserve`]); given back if
/// dropped unused.
pub(crate) struct Permit<'a, T> {
    chan: &'a Arc<Chan<T>>,
    used: bool,
}

impl<T> Permit<'_, T> {
    /// Queues `value` in the kept place (dropped if the receiver has gone meanwhile).
    pub(crate) fn send(mut self, value: T) {
        self.used = true;
        let _ = self.chan.push(value);
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        if !self.used {
            self.chan.room.give(1);
        }
    }
}

/// The receiving side.
pub(crate) struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// Moves up to `limit` waiting values into `out`, waiting while none is there;
    /// 0 once the queue is empty and every sender has gone (or the queue is closed).
    pub(crate) fn recv_many<'a>(
        &'a mut self,
        out: &'a mut Vec<T>,
        limit: usize,
    ) -> impl Future<Output = usize> + 'a {
        poll_fn(move |cx| self.poll_recv_many(cx, out, limit))
    }

    fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<T>,
        limit: usize,
    ) -> Poll<usize> {
        let Poll::Ready(mut inner) = self.poll_waiting(cx) else {
            return Poll::Pending;
        };
        let taken = inner.items.len().min(limit);
        out.extend(inner.items.drain(..taken));
        self.taken(inner, taken);
        Poll::Ready(taken)
    }

    /// The next value; `None` once the queue is empty and every sender has gone (or
    /// the queue is closed).
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let Poll::Ready(mut inner) = self.poll_waiting(cx) else {
            return Poll::Pending;
        };
        let value = inner.items.pop_front();
        self.taken(inner, usize::from(value.is_some()));
        Poll::Ready(value)
    }

    /// The locked queue once it holds values or has ended (then it is empty);
    /// otherwise the receiver's waker is kept for the next value or the end.
    fn poll_waiting(&self, cx: &mut Context<'_>) -> Poll<MutexGuard<'_, Inner<T>>> {
        let mut inner = self.chan.lock();
        if inner.items.is_empty()
            && self.chan.senders.load(Ordering::Acquire) > 0
            && !self.chan.closed.load(Ordering::Acquire)
        {
            match &inner.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => inner.waker = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
        Poll::Ready(inner)
    }

    /// Gives back the places of `taken` values, and the queue's memory after a burst.
    fn taken(&self, mut inner: MutexGuard<'_, Inner<T>>, taken: usize) {
        if inner.items.is_empty() && inner.items.capacity() > KEEP_CAPACITY {
            inner.items = VecDeque::new();
        }
        drop(inner);
        self.chan.room.give(taken);
    }

    /// A waiting value, if any.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        let value = self.chan.lock().items.pop_front()?;
        self.chan.room.give(1);
        Some(value)
    }

    /// Whether no value is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.chan.lock().items.is_empty()
    }

    /// Refuses new values; those already queued can still be taken.
    pub(crate) fn close(&mut self) {
        self.chan.closed.store(true, Ordering::Release);
        self.chan.room.close();
        self.chan.receiver_closed.notify_waiters();
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.close();
        // Dropped outside the lock: a value's drop may give back what it held.
        let items = std::mem::take(&mut self.chan.lock().items);
        drop(items);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::transport::test_support::bounded;

    #[tokio::test]
    async fn values_arrive_in_order_and_the_queue_ends_with_its_senders() {
        bounded(async {
            let (tx, mut rx) = channel(4);
            let other = tx.clone();
            let sending = tokio::spawn(async move {
                for i in 0..100 {
                    tx.send(i).await.unwrap();
                }
            });
            let mut got = Vec::new();
            let mut batch = Vec::new();
            drop(other);
            while rx.recv_many(&mut batch, 3).await > 0 {
                assert!(batch.len() <= 3);
                got.append(&mut batch);
            }
            sending.await.unwrap();
            assert_eq!(got, (0..100).collect::<Vec<_>>());
        })
        .await;
    }

    #[tokio::test]
    async fn a_full_queue_refuses_try_send_and_holds_send_back() {
        bounded(async {
            let (tx, mut rx) = channel(2);
            tx.try_send(1).unwrap();
            let kept = tx.reserve().await.unwrap();
            assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
            drop(kept);
            tx.try_send(2).unwrap();
            let waiting = tokio::spawn({
                let tx = tx.clone();
                async move { tx.send(3).await }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!waiting.is_finished());
            assert_eq!(rx.try_recv(), Some(1));
            waiting.await.unwrap().unwrap();
            let mut rest = Vec::new();
            rx.recv_many(&mut rest, 10).await;
            assert_eq!(rest, [2, 3]);
        })
        .await;
    }

    #[tokio::test]
    async fn closing_refuses_new_values_keeps_queued_ones_and_wakes_waiters() {
        bounded(async {
            let (tx, mut rx) = channel(1);
            tx.send(1).await.unwrap();
            let blocked = tokio::spawn({
                let tx = tx.clone();
                async move { tx.send(2).await }
            });
            let watching = tokio::spawn({
                let tx = tx.clone();
                async move { tx.closed().await }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            rx.close();
            assert_eq!(blocked.await.unwrap(), Err(2));
            watching.await.unwrap();
            assert!(tx.is_closed());
            assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
            let mut rest = Vec::new();
            assert_eq!(rx.recv_many(&mut rest, 10).await, 1);
            assert_eq!(rx.recv_many(&mut rest, 10).await, 0);
            assert_eq!(rest, [1]);
        })
        .await;
    }

    #[tokio::test]
    async fn a_dropped_receiver_drops_what_was_queued_and_refuses_more() {
        bounded(async {
            let (tx, rx) = channel(8);
            let value = Arc::new(());
            tx.send(value.clone()).await.unwrap();
            assert_eq!(Arc::strong_count(&value), 2);
            drop(rx);
            assert_eq!(Arc::strong_count(&value), 1);
            assert!(tx.send(value.clone()).await.is_err());
            tx.closed().await;
        })
        .await;
    }

    #[test]
    fn an_empty_queue_allocates_no_room_for_items() {
        let (tx, rx) = channel::<[u8; 80]>(1024);
        assert_eq!(rx.chan.lock().items.capacity(), 0);
        drop(tx);
    }
}
