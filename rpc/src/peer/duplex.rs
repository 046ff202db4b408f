//! A connection's reading and writing driven by one task, for a transport whose two
//! halves share a lock (a WebSocket): two tasks taking turns at the lock would wake
//! each other across threads on every message, which costs tens of µs when the other
//! thread is idle (a WebSocket round trip took 59 µs that way, 14 µs in one task).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

use tokio::sync::oneshot;

use crate::transport::WriterHandle;

/// The writing's waker. A wake-up that comes while the task is being polled is only
/// noted: the poll serves it, or wakes the task at its end if it did not. An answer
/// the reading queues wakes the writing inside the task's own poll; waking the task
/// from there would reschedule it as one that yielded, and tokio then wakes an idle
/// worker to take it, which on an idle machine cost a WebSocket round trip about
/// 20 µs when the answer had already been written in that same poll.
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
        // What tells how much waits to be written.
        writer: WriterHandle,
        // `None` once the writing has ended.
        written: Option<oneshot::Sender<O>>,
        signal: Arc<WritingWaker>,
        // `signal` as a waker, made once.
        waker: Waker,
    }
}

impl<R, W, O> Duplex<R, W, O> {
    pub(super) fn new(
        reading: R,
        writing: W,
        writer: WriterHandle,
        written: oneshot::Sender<O>,
    ) -> Self {
        let signal = Arc::new(WritingWaker::default());
        Duplex {
            reading,
            writing,
            read: false,
            writer,
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
        // The writing is polled on every poll of the task, as its own task would be
        // on its wake-ups: the WebSocket's halves share buffers and wakers, so some
        // of its progress may be signalled through the reading's.
        this.signal.woken.store(false, Ordering::SeqCst);
        poll_writing(this.writing.as_mut(), this.written, this.waker);
        if !*this.read && this.reading.as_mut().poll(cx).is_ready() {
            *this.read = true;
        }
        // A lone answer the reading just queued (a call run inline, one at a time)
        // goes out now. Several wait for the task's next poll, which gathers what
        // comes meanwhile into one write.
        if this.written.is_some() && this.writer.waiting() == 1 {
            this.signal.woken.store(false, Ordering::SeqCst);
            poll_writing(this.writing.as_mut(), this.written, this.waker);
        }
        this.signal.in_poll.store(false, Ordering::SeqCst);
        // A wake-up of the writing's that this poll did not serve.
        if this.signal.woken.load(Ordering::SeqCst) {
            cx.waker().wake_by_ref();
        }
        if *this.read && this.written.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Polls the writing, if it has not ended, under its own waker; its result goes to
/// `written`.
fn poll_writing<W: Future<Output = O>, O>(
    writing: Pin<&mut W>,
    written: &mut Option<oneshot::Sender<O>>,
    waker: &Waker,
) {
    if written.is_none() {
        return;
    }
    if let Poll::Ready(out) = writing.poll(&mut Context::from_waker(waker)) {
        if let Some(written) = written.take() {
            // The reader may be gone already (its task is this one).
            let _ = written.send(out);
        }
    }
}
