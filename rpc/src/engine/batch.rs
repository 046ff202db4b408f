//! The answer to one batch, filled in as its elements finish.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::sync::Semaphore;

use super::budget::Hold;
use super::session::{SessionState, Sink};
use crate::message::BatchWriter;

/// The array of one batch's answers.
///
/// Every element is served like a single call (its own slot in the in-flight limit,
/// registered for `$/cancelRequest`); an element gives its slot back once its answer
/// is in the array, and the array's bytes are charged to the session until it has
/// been delivered. The frame's bytes stay charged until the last element is done with
/// it. The array holds every answer, in the order the elements finished.
pub(crate) struct BatchAnswer {
    state: Mutex<BatchState>,
    /// Elements whose answers are still to come, plus one for the reader while it is
    /// still starting elements.
    outstanding: AtomicUsize,
    /// Where the array goes.
    sink: Sink,
    /// Places for elements running at once.
    running: Semaphore,
    /// The batch's frame; given back when the last element is done with it.
    _frame: Hold,
    /// Set, and waiters woken, once the array has been queued (or there was none):
    /// a stream started in the batch sends its items after it.
    sent: AtomicBool,
    sent_notify: tokio::sync::Notify,
}

struct BatchState {
    out: BytesMut,
    writer: BatchWriter,
    answers: u32,
    /// The bytes of the answers gathered so far.
    hold: Option<Hold>,
}

impl BatchAnswer {
    /// Where the array goes.
    pub(crate) fn sink(&self) -> &Sink {
        &self.sink
    }

    pub(crate) fn new(session: &SessionState, frame: &Bytes, sink: Sink) -> Self {
        let mut frame_hold = session.ledger.empty_hold();
        frame_hold.charge(frame.len());
        BatchAnswer {
            state: Mutex::new(BatchState {
                out: session.engine.buffer_pool().take(256),
                writer: BatchWriter::new(),
                answers: 0,
                hold: Some(session.ledger.empty_hold()),
            }),
            outstanding: AtomicUsize::new(1),
            sink,
            running: Semaphore::new(
                session
                    .engine
                    .config
                    .connection
                    .max_batch_concurrency
                    .max(1),
            ),
            _frame: frame_hold,
            sent: AtomicBool::new(false),
            sent_notify: tokio::sync::Notify::new(),
        }
    }

    /// Waits until the batch's array has been queued.
    pub(crate) async fn queued(&self) {
        loop {
            let woken = self.sent_notify.notified();
            if self.sent.load(Ordering::Acquire) {
                return;
            }
            woken.await;
        }
    }

    /// Waits for a place for one more element to run.
    pub(crate) async fn start_element(self: &Arc<Self>) -> BatchElement {
        // The semaphore is never closed.
        if let Ok(permit) = self.running.acquire().await {
            permit.forget();
        }
        BatchElement(self.clone())
    }

    /// One more element will answer through [`BatchAnswer::add`].
    pub(crate) fn expect(&self) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
    }

    /// Puts an answer in the array now, for an element that was answered at once.
    pub(crate) fn append(&self, answer: Bytes) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let BatchState {
            out,
            writer,
            answers,
            hold,
        } = &mut *state;
        writer.begin_element(out);
        out.extend_from_slice(&answer);
        *answers += 1;
        if let Some(hold) = hold {
            hold.charge(answer.len());
        }
    }

    /// An expected element is done (with its answer, or none for the reader's own
    /// share); the last one sends the array.
    pub(crate) async fn add(&self, session: &SessionState, answer: Option<Bytes>) {
        if let Some(answer) = answer {
            self.append(answer);
        }
        if self.outstanding.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let (mut out, writer, answers, hold) = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            (
                std::mem::take(&mut state.out),
                std::mem::replace(&mut state.writer, BatchWriter::new()),
                state.answers,
                state.hold.take(),
            )
        };
        // A batch of only notifications is answered with nothing.
        if writer.finish(&mut out) {
            let frame = session.engine.buffer_pool().freeze(out);
            session
                .send(&self.sink, frame, hold.map(|h| h.carrying(answers)))
                .await;
        }
        self.sent.store(true, Ordering::Release);
        self.sent_notify.notify_waiters();
    }
}

/// An element's place among its batch's running elements, given back when dropped
/// (the element answered, failed at once, or was cancelled).
pub(crate) struct BatchElement(Arc<BatchAnswer>);

impl Drop for BatchElement {
    fn drop(&mut self) {
        self.0.running.add_permits(1);
    }
}
