//! What a call leaves when it ends: its span's outcome and duration, a `call
//! finished` event, and its metrics.
//!
//! The span is `rpc.call` at DEBUG, with `method`, `id` (none for a notification),
//! `connection`, `peer` and `transport` set when it opens and `outcome`, `code` and
//! `duration_us` recorded when the call ends, just before its `call finished` event
//! (at WARN for a call past its deadline or the shutdown's). With
//! [`crate::ServerConfig::trace_context`], `trace_id` and `parent_id` name the
//! caller's W3C trace. With no subscriber (or DEBUG filtered out) opening it costs one check of the
//! callsite's interest and nothing is formatted.

use std::time::Instant;

use tracing::field::{display, Empty};
use tracing::Span;

use super::session::SessionState;
use crate::message::{ErrorCode, JsonText};
use crate::service::Reply;
use crate::trace_context::TraceContext;

/// How a call ended, as its span's `outcome` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    /// Answered with an error (the handler's, or a refusal by a layer).
    Error,
    /// Past its deadline (-32001).
    Timeout,
    /// Its caller cancelled it or went away (-32800).
    Cancelled,
    /// Its handler panicked (-32603).
    Panic,
    /// Still running at the shutdown deadline (-32002).
    Shutdown,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Timeout => "timeout",
            Outcome::Cancelled => "cancelled",
            Outcome::Panic => "panic",
            Outcome::Shutdown => "shutdown",
        }
    }

    /// The outcome of a reply that did not come from a panic.
    pub(crate) fn of(reply: &Reply) -> Outcome {
        match reply {
            Ok(_) => Outcome::Ok,
            Err(err) => match err.code {
                ErrorCode::TIMEOUT => Outcome::Timeout,
                ErrorCode::REQUEST_CANCELLED => Outcome::Cancelled,
                ErrorCode::SHUTTING_DOWN => Outcome::Shutdown,
                _ => Outcome::Error,
            },
        }
    }
}

/// One call's span and clock, from the moment its task starts.
pub(crate) struct CallTrace<'a> {
    state: &'a SessionState,
    method: usize,
    started: Instant,
    span: Span,
    ended: bool,
}

impl<'a> CallTrace<'a> {
    pub(crate) fn start(
        state: &'a SessionState,
        method: usize,
        id: Option<&JsonText>,
        trace_context: Option<&TraceContext>,
    ) -> Self {
        let info = &state.info;
        let span = tracing::debug_span!(
            "rpc.call",
            method = %state.engine.service.methods()[method].name,
            id = Empty,
            connection = info.id,
            peer = Empty,
            transport = %info.transport,
            outcome = Empty,
            code = Empty,
            duration_us = Empty,
            trace_id = Empty,
            parent_id = Empty,
        );
        if !span.is_disabled() {
            if let Some(id) = id {
                span.record("id", display(id.as_str()));
            }
            if let Some(addr) = info.remote_addr {
                span.record("peer", display(addr));
            }
            if let Some(tc) = trace_context {
                span.record("trace_id", tc.trace_id());
                span.record("parent_id", tc.parent_id());
            }
        }
        CallTrace {
            state,
            method,
            started: Instant::now(),
            span,
            ended: false,
        }
    }

    /// The span the call's handler runs in.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// The call has its reply: records it in the span, the metrics and an event.
    pub(crate) fn end(mut self, reply: &Reply, outcome: Outcome) {
        self.ended = true;
        let elapsed = self.started.elapsed();
        let code = reply.as_ref().err().map(|err| err.code.0);
        if let Some(m) = self.state.engine.metrics.method(self.method) {
            m.finished(elapsed, self.state.info.transport, code);
        }
        self.record(outcome, code);
    }

    fn record(&self, outcome: Outcome, code: Option<i64>) {
        if self.span.is_disabled() {
            return;
        }
        let duration_us = self.started.elapsed().as_micros() as u64;
        let label = outcome.as_str();
        self.span.record("outcome", display(label));
        if let Some(code) = code {
            self.span.record("code", code);
        }
        self.span.record("duration_us", duration_us);
        // A call the server gave up on (its deadline, the shutdown's) is worth a
        // warning; a handler's error is the client's business.
        match outcome {
            Outcome::Timeout | Outcome::Shutdown => {
                tracing::warn!(parent: &self.span, "call finished")
            }
            _ => tracing::debug!(parent: &self.span, "call finished"),
        }
    }
}

impl Drop for CallTrace<'_> {
    fn drop(&mut self) {
        // Dropped before its reply: the task was aborted by a `$/cancelRequest`
        // (answered by the canceller) or with its connection.
        if !self.ended {
            self.record(Outcome::Cancelled, Some(ErrorCode::REQUEST_CANCELLED.0));
        }
    }
}
