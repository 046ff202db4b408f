//! A connection's reading and writing driven by one task, for a transport whose two
//! halves share a lock (a WebSocket): two tasks taking turns at the lock would wake
//! each other across threads on every message, which costs tens of µs when the other
//! thread is idle (a WebSocket round trip took 59 µs that way, 14 µs in one task).
//!
//! The writing is polled with a waker of its own. Woken while the task is already
//! being polled (the reading queued an answer: a call run inline), it only notes
//! it, and the writing is polled again before the poll ends. Waking the task from
//! inside its own poll would reschedule it as a task that yielded, and tokio then
//! wakes an idle worker to take it: on an idle machine that cost a WebSocket round
//! trip 30 µs (14.5 → 46 µs).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;
use tokio::sync::oneshot;

use crate::transport::WriterHandle;

/// The writing's waker: wakes the task, or, while the task is being polled, notes
/// that the writing wants polling again.
#[derive(Default)]
struct WritingWaker {
    in_poll: AtomicBool,
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for WritingWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        // A poll in progress sees `woken` before it ends (it checks after leaving).
        if !self.in_poll.load(Ordering::SeqCst) {
            self.task.wake();
        }
    }
}

pin_project_lite::pin_project! {
    /// Polls `reading` and `writing` until both end; `writing`'s result goes to
    /// `written` (what `reading` waits for at its end).
    pub(super) struct Duplex<R, W, O> {
        #[pin]
        reading: R,
        #[pin]
        writing: W,
        read: bool,
        // `None` once the writing has ended.
        written: Option<oneshot::Sender<O>>,
        signal: Arc<WritingWaker>,
        // `signal` as a waker, made once.
        waker: Waker,
        // What tells how many frames wait to be written.
        writer: WriterHandle,
    }
}

impl<R, W, O> Duplex<R, W, O> {
    pub(super) fn new(
        reading: R,
        writing: W,
        writer: WriterHandle,
        written: oneshot::Sender<O>,
    ) -> Self {
        // Woken to start with: the first poll polls the writing.
        let signal = Arc::new(WritingWaker {
            woken: AtomicBool::new(true),
            ..WritingWaker::default()
        });
        Duplex {
            reading,
            writing,
            writer,
            read: false,
            written: Some(written),
            waker: Waker::from(signal.clone()),
            signal,
        }
    }
}

impl<R, W, O> Future for Duplex<R, W, O>
where
    R: Future<Output = ()>,
    W: Future<Output = O>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        this.signal.task.register(cx.waker());
        this.signal.in_poll.store(true, Ordering::SeqCst);
        // A wake-up of the writing's (the first poll counts as one): poll it.
        let mut write = this.signal.woken.swap(false, Ordering::SeqCst);
        if !*this.read && this.reading.as_mut().poll(cx).is_ready() {
            *this.read = true;
        }
        for round in 0.. {
            if !write && round == 0 && this.writer.waiting() > 1 {
                // Several answers wait (a burst read at once): they go out on the next
                // poll, in one write with what comes meanwhile, as a task of their own
                // would write them; a lone answer goes out now.
                this.signal.in_poll.store(false, Ordering::SeqCst);
                if this.signal.woken.load(Ordering::SeqCst) {
                    cx.waker().wake_by_ref();
                }
                break;
            }
            write |= this.signal.woken.swap(false, Ordering::SeqCst);
            if write && this.written.is_some() {
                let mut writing_cx = Context::from_waker(this.waker);
                if let Poll::Ready(out) = this.writing.as_mut().poll(&mut writing_cx) {
                    if let Some(written) = this.written.take() {
                        // The reader may be gone already (its task is this one).
                        let _ = written.send(out);
                    }
                }
            }
            write = false;
            if !this.signal.woken.load(Ordering::SeqCst) {
                this.signal.in_poll.store(false, Ordering::SeqCst);
                // A wake-up between the check and leaving did not wake the task:
                // take it here.
                if !this.signal.woken.load(Ordering::SeqCst) {
                    break;
                }
                this.signal.in_poll.store(true, Ordering::SeqCst);
            }
            if round == 3 {
                // Woken again and again within one poll: leave the rest to the next
                // poll, as any other task would.
                this.signal.in_poll.store(false, Ordering::SeqCst);
                cx.waker().wake_by_ref();
                break;
            }
        }
        if *this.read && this.written.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
