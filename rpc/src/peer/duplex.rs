//! A connection's reading and writing driven by one task, for a transport whose two
//! halves share a lock (a WebSocket): two tasks taking turns at the lock would wake
//! each other across threads on every message, which costs tens of µs when the other
//! thread is idle (a WebSocket round trip took 59 µs that way, 14 µs in one task).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::sync::oneshot;

use crate::transport::WriterHandle;

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
    }
}

impl<R, W, O> Duplex<R, W, O> {
    pub(super) fn new(
        reading: R,
        writing: W,
        writer: WriterHandle,
        written: oneshot::Sender<O>,
    ) -> Self {
        Duplex {
            reading,
            writing,
            read: false,
            writer,
            written: Some(written),
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
        if this.written.is_some() {
            if let Poll::Ready(out) = this.writing.as_mut().poll(cx) {
                if let Some(written) = this.written.take() {
                    // The reader may be gone already (its task is this one).
                    let _ = written.send(out);
                }
            }
        }
        if !*this.read && this.reading.as_mut().poll(cx).is_ready() {
            *this.read = true;
        }
        // A lone answer the reading just queued (a call run inline, one at a time)
        // goes out now, rather than when this task is polled again for the wake-up
        // the queue gave it (behind every other task ready on this thread). Several
        // wait for that poll, which gathers what comes meanwhile into one write.
        if this.written.is_some() && this.writer.waiting() == 1 {
            if let Poll::Ready(out) = this.writing.as_mut().poll(cx) {
                if let Some(written) = this.written.take() {
                    let _ = written.send(out);
                }
            }
        }
        if *this.read && this.written.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
