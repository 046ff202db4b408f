//! `$/cancelRequest`: the calls of a session by id, and the cancel that answers one
//! before its handler does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::task::AbortHandle;

use super::call::Destination;
use super::session::SessionState;
use crate::message::{ErrorCode, Id, JsonText};

/// The notification a caller sends to cancel one of its calls, as in LSP.
pub(crate) const CANCEL_METHOD: &str = "$/cancelRequest";

struct InFlight {
    /// Tells this registration from a later call that reuses the id.
    seq: u64,
    abort: Option<AbortHandle>,
    /// Where the cancel's answer goes: the call's frame, or its batch's array.
    to: Destination,
}

/// A session's calls in flight, by id. Whoever removes an entry (the call's task
/// when it finishes, or a cancel) answers the call.
#[derive(Default)]
pub(crate) struct Registry {
    calls: Mutex<HashMap<Bytes, InFlight>>,
    seq: AtomicU64,
}

impl Registry {
    fn calls(&self) -> std::sync::MutexGuard<'_, HashMap<Bytes, InFlight>> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a call; `None` when a call with the same id is already in flight
    /// (the second runs, but cannot be cancelled).
    pub(crate) fn register(&self, id: &JsonText, to: &Destination) -> Option<u64> {
        let seq = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut calls = self.calls();
        if calls.contains_key(id.as_bytes()) {
            return None;
        }
        let entry = InFlight {
            seq,
            abort: None,
            to: to.clone(),
        };
        calls.insert(id.as_bytes().clone(), entry);
        Some(seq)
    }

    /// Records the task a registered call runs in, so a cancel can stop it.
    pub(crate) fn set_abort(&self, id: &JsonText, seq: u64, task: AbortHandle) {
        if let Some(entry) = self.calls().get_mut(id.as_bytes()) {
            if entry.seq == seq {
                entry.abort = Some(task);
            }
        }
    }

    /// Removes a finished call's entry; `false` when a cancel removed it first (and
    /// answered).
    pub(crate) fn unregister(&self, id: &JsonText, seq: u64) -> bool {
        let mut calls = self.calls();
        match calls.get(id.as_bytes()) {
            Some(entry) if entry.seq == seq => {
                calls.remove(id.as_bytes());
                true
            }
            _ => false,
        }
    }
}

impl SessionState {
    /// Handles `$/cancelRequest`: stops the named call and answers it -32800. An
    /// unknown or finished id is ignored, as LSP asks.
    pub(crate) async fn cancel(&self, params: Option<&RawValue>) {
        #[derive(Deserialize)]
        struct CancelParams<'a> {
            #[serde(borrow)]
            id: &'a RawValue,
        }
        let Some(params) =
            params.and_then(|p| serde_json::from_str::<CancelParams<'_>>(p.get()).ok())
        else {
            return;
        };
        let Some(id) = Id::from_raw(params.id) else {
            return;
        };
        let entry = self.registry.calls().remove(id.as_json().as_bytes());
        let Some(entry) = entry else {
            return;
        };
        if let Some(abort) = entry.abort {
            abort.abort();
        }
        self.engine.metrics.record_cancellation();
        let frame = self.error_frame(
            id,
            ErrorCode::REQUEST_CANCELLED,
            "Request cancelled by the caller",
            None,
        );
        match entry.to {
            Destination::Frame(sink) => self.send(&sink, frame, None).await,
            // A batch element's answer belongs in its batch's array.
            Destination::Batch(batch) => batch.add(self, Some(frame)).await,
        }
    }
}
