//! What one connection may hold: calls in flight and bytes buffered.
//!
//! ```text
//!  reader ── takes a slot ─▶ call runs ─▶ answer queued ─▶ writer writes it ─▶ slot back
//!        └─ charges the frame ─┘   └─ charge moves to the answer ─┘     └─ bytes back
//! ```
//!
//! A call keeps its slot until its answer has been handed to the socket, so answers
//! that wait for a slow reader count against the in-flight limit like running calls.
//! Bytes are charged for the frames of calls in flight and for answers waiting to be
//! written; the reader stops reading while the charge is over the limit. Either limit
//! reached, the connection's sender is pushed back by its transport (TCP's window
//! fills) instead of the server buffering without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::slots::Slots;

/// One connection's budget, shared by its reader, its call tasks and its writer.
pub(crate) struct Ledger {
    slots: Slots,
    /// The server's slots, which every session's calls share.
    server: Arc<Slots>,
    bytes: AtomicUsize,
    max_bytes: usize,
    /// Woken when the charge falls back to the limit.
    below: Notify,
    metrics: Arc<Metrics>,
}

impl Ledger {
    pub(crate) fn new(
        max_in_flight: usize,
        server: Arc<Slots>,
        max_bytes: usize,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Ledger {
            slots: Slots::new(max_in_flight.max(1)),
            server,
            bytes: AtomicUsize::new(0),
            max_bytes: max_bytes.max(1),
            below: Notify::new(),
            metrics,
        })
    }

    /// Waits for a place in the connection's in-flight limit, then in the server's,
    /// and returns them as a hold of one slot. `None` once the ledger is closed.
    pub(crate) async fn take_slot(self: &Arc<Self>) -> Option<Hold> {
        // Neither is ever closed; `None` only in case one were.
        let connection = self.slots.take_place().await?;
        // Dropped while waiting for the server's place, the connection's goes back.
        let server = self.server.take_place().await?;
        std::mem::forget((connection, server));
        Some(Hold {
            ledger: self.clone(),
            slots: 1,
            bytes: 0,
            answers: 0,
        })
    }

    /// A place in both limits now, or which of them is full.
    pub(crate) fn try_take_slot(self: &Arc<Self>) -> Result<Hold, Busy> {
        if !self.slots.try_take() {
            return Err(Busy::Connection);
        }
        if !self.server.try_take() {
            self.slots.give(1);
            return Err(Busy::Server);
        }
        Ok(Hold {
            ledger: self.clone(),
            slots: 1,
            bytes: 0,
            answers: 0,
        })
    }

    /// A hold of nothing yet, to charge bytes to.
    pub(crate) fn empty_hold(self: &Arc<Self>) -> Hold {
        Hold {
            ledger: self.clone(),
            slots: 0,
            bytes: 0,
            answers: 0,
        }
    }

    /// Waits until the bytes charged are within the limit.
    pub(crate) async fn within_byte_limit(&self) {
        // The common case costs one load: registering with `Notify` takes its lock.
        while self.bytes.load(Ordering::SeqCst) > self.max_bytes {
            let below = self.below.notified();
            tokio::pin!(below);
            // Registered before the check, so a release between the check and the wait
            // still wakes us.
            below.as_mut().enable();
            if self.bytes.load(Ordering::SeqCst) <= self.max_bytes {
                return;
            }
            below.await;
        }
    }

    fn charge(&self, bytes: usize) {
        if bytes > 0 {
            self.bytes.fetch_add(bytes, Ordering::SeqCst);
            self.metrics.add_buffered_bytes(bytes as i64);
        }
    }

    fn release(&self, slots: u32, bytes: usize) {
        if slots > 0 {
            self.slots.give(slots as usize);
            self.server.give(slots as usize);
        }
        if bytes > 0 {
            let before = self.bytes.fetch_sub(bytes, Ordering::SeqCst);
            self.metrics.add_buffered_bytes(-(bytes as i64));
            if before > self.max_bytes && before - bytes <= self.max_bytes {
                self.below.notify_waiters();
            }
        }
    }
}

/// Which in-flight limit a call found full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Busy {
    /// The session's own ([`crate::ConnectionConfig::max_in_flight`]).
    Connection,
    /// The server's ([`crate::ServerConfig::max_in_flight`]).
    Server,
}

/// Slots and bytes held against a connection's [`Ledger`], given back when dropped.
///
/// A hold travels with its call: from the reader into the call's task, then with the
/// answer into the writer's queue, which drops it once the answer is written. The
/// answers it carries are counted as written ([`Hold::delivered`]) or as lost (dropped
/// unwritten, with the connection).
pub(crate) struct Hold {
    ledger: Arc<Ledger>,
    slots: u32,
    bytes: usize,
    answers: u32,
}

impl Hold {
    /// Charges `bytes` more to this hold.
    pub(crate) fn charge(&mut self, bytes: usize) {
        self.ledger.charge(bytes);
        self.bytes += bytes;
    }

    /// Gives back every byte charged so far (the frame they stood for is gone), and
    /// charges `bytes` instead.
    pub(crate) fn recharge(&mut self, bytes: usize) {
        if bytes > self.bytes {
            self.ledger.charge(bytes - self.bytes);
        } else {
            self.ledger.release(0, self.bytes - bytes);
        }
        self.bytes = bytes;
    }

    /// Says the frame this hold travels with carries `answers` answers.
    #[must_use]
    pub(crate) fn carrying(mut self, answers: u32) -> Self {
        self.answers = answers;
        self
    }

    /// The frame it travelled with has been handed to the socket.
    pub(crate) fn delivered(mut self) {
        if self.answers > 0 {
            self.ledger.metrics.record_answers_written(self.answers);
            self.answers = 0;
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.answers > 0 {
            self.ledger.metrics.record_answers_lost(self.answers);
        }
        self.ledger.release(self.slots, self.bytes);
    }
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold")
            .field("slots", &self.slots)
            .field("bytes", &self.bytes)
            .field("answers", &self.answers)
            .finish()
    }
}
