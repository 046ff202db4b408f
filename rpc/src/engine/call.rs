//! Serving one call, alone or as a batch element: its place in the session's limits,
//! routing, admission, order, registration for cancellation, and the task that runs
//! it to its answer.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Instant;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::task::AbortHandle;
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::answer::id_of;
use super::batch::{BatchAnswer, BatchElement};
use super::budget::{Busy, Hold};
use super::pipeline::{Admission, Gauge, Handler};
use super::session::{ExchangeSlot, RequestMeta, Session, SessionState, Sink};
use super::trace::{CallTrace, Outcome};
use crate::message::{ErrorCode, JsonText, RpcError};
use crate::metrics::Metrics;
use crate::service::{table_address, CallExtras, IncomingCall, Reply};
use crate::stream::server::StreamStart;
use crate::trace_context::TraceContext;
use crate::transport::WriterHandle;

/// Where one call's answer goes.
#[derive(Clone)]
pub(crate) enum Destination {
    /// A single call answers its frame.
    Frame(Sink),
    /// A batch element answers in its batch's array.
    Batch(Arc<BatchAnswer>),
}

impl Destination {
    /// What the call's frame came with (an HTTP request's head).
    fn request(&self) -> Option<&Arc<RequestMeta>> {
        match self {
            Destination::Frame(sink) => sink.request(),
            Destination::Batch(batch) => batch.sink().request(),
        }
    }

    /// For an exchange that carries them: where a stream's items, and a handler's
    /// notifications to its caller, go.
    fn events(&self) -> Option<&WriterHandle> {
        match self {
            Destination::Frame(sink) => sink.events(),
            Destination::Batch(batch) => batch.sink().events(),
        }
    }

    /// For an exchange's call: what tells that its caller stopped waiting.
    fn abandoned(&self) -> Option<&CancellationToken> {
        match self {
            Destination::Frame(sink) => sink.abandoned(),
            Destination::Batch(batch) => batch.sink().abandoned(),
        }
    }
}

/// Serves one call or notification: takes its place in the session's in-flight limit
/// (waiting here stops the reader, so the sender is pushed back), routes and admits
/// it, and starts its task. A call refused on the way is answered at once.
pub(crate) async fn serve_call(
    session: &Session,
    frame: &Bytes,
    id: Option<JsonText>,
    method: &str,
    params: Option<&RawValue>,
    to: Destination,
) {
    let state = &*session.state;
    // A batch's elements run a bounded number at a time; the reader waits here.
    let element = match &to {
        Destination::Batch(batch) => Some(batch.start_element().await),
        Destination::Frame(_) => None,
    };
    let refusing = match &to {
        Destination::Frame(Sink::Exchange(slot)) if slot.refuse_when_busy => Some(slot),
        _ => None,
    };
    let taken = match refusing {
        Some(slot) => match state.ledger.try_take_slot() {
            Ok(hold) => Some(hold),
            Err(busy) => {
                refuse_busy(state, slot, id.as_ref(), busy).await;
                return;
            }
        },
        None => state.ledger.take_slot().await,
    };
    let Some(mut hold) = taken else {
        return;
    };
    if let Destination::Frame(_) = &to {
        // A batch's frame is charged once, by its answer.
        hold.charge(frame.len());
    }
    let engine = &state.engine;
    let admitted = match engine.service.route(method) {
        Some(index) => engine.admit(index).map(|admission| (index, admission)),
        None => {
            #[cfg(feature = "openrpc")]
            if method == crate::openrpc::DISCOVER_METHOD {
                if let Some(document) = engine.discovery() {
                    if let Some(id) = &id {
                        let mut buf = engine.buffer_pool().take(document.get().len() + 48);
                        crate::message::encode_raw_result(&mut buf, id_of(id), document);
                        let answer = engine.buffer_pool().freeze(buf);
                        match &to {
                            Destination::Batch(batch) => batch.append(answer),
                            Destination::Frame(_) => state.answer(&to, answer, hold).await,
                        }
                    }
                    return;
                }
            }
            engine.metrics.record_unknown_method();
            Err(RpcError::method_not_found(method))
        }
    };
    let (index, admission) = match admitted {
        Ok(admitted) => admitted,
        Err(err) => {
            if let (Some(slot), ErrorCode::SERVER_OVERLOADED) = (refusing, err.code) {
                slot.overloaded.store(true, Ordering::Relaxed);
            }
            if let Some(id) = &id {
                let answer = state.rpc_error_frame(id_of(id), &err);
                match &to {
                    Destination::Batch(batch) => batch.append(answer),
                    Destination::Frame(_) => state.answer(&to, answer, hold).await,
                }
            }
            return;
        }
    };
    let info = &engine.service.methods()[index];
    let unordered = info.unordered;
    // Only streaming methods carry the slot their stream waits in for the answer.
    let stream_start = info
        .stream
        .is_some()
        .then(|| Arc::new(StreamStart::default()));
    // Only handlers that read their context pay for a token of their own (and the
    // box that carries it with the deadline and the request's head).
    let trace_context = engine
        .config
        .trace_context
        .then(|| trace_context_of(&to, state, params))
        .flatten();
    let extras = (info.context || stream_start.is_some()).then(|| {
        Arc::new(CallExtras {
            trace_context,
            cancel: CancellationToken::new(),
            deadline: engine.timeout_of(index).map(|t| Instant::now() + t),
            request: to.request().or(state.opened_by.as_ref()).cloned(),
            events: to.events().cloned(),
            stream_start: stream_start.clone(),
        })
    });
    let cancel = extras.as_ref().map(|e| e.cancel.clone());
    let (after, handled) = {
        let mut order = state.order.lock().unwrap_or_else(|e| e.into_inner());
        match &id {
            Some(_) => (order.barrier(), None),
            None if unordered => (None, None),
            // Ordered notifications run one after another: each waits for the one
            // before, and every call after it waits for it.
            None => {
                let (after, handled) = order.push_notification();
                (after, Some(handled))
            }
        }
    };
    if let (Destination::Batch(batch), Some(_)) = (&to, &id) {
        batch.expect();
    }
    let seq = id.as_ref().and_then(|id| state.registry.register(id, &to));
    let call = IncomingCall {
        method: index,
        table: table_address(engine.service.methods()),
        served_as: index,
        id: id.clone(),
        params: params.map(|p| JsonText::within(frame, p.get())),
        session: session.clone(),
        extras,
    };
    let spawner = CallSpawner {
        session: session.clone(),
        admission,
        hold,
        method: index,
        id: id.clone(),
        seq,
        after,
        handled,
        to,
        cancel,
        stream_start,
        trace_context: trace_context.map(Box::new),
        _element: element,
    };
    let task = match &engine.layers {
        // The service spawns the task, so that a generated handler's future can live
        // in it unboxed.
        None => engine.service.spawn_call(call, spawner),
        Some(stack) => spawner.spawn(stack.run(call)),
    };
    if let (Some(id), Some(seq), Some(task)) = (id, seq, task.into_abort_handle()) {
        state.registry.set_abort(&id, seq, task);
    }
}

/// The `traceparent` a call carries: its HTTP request's header, else its params'
/// `_meta.traceparent`.
fn trace_context_of(
    to: &Destination,
    state: &SessionState,
    params: Option<&RawValue>,
) -> Option<TraceContext> {
    #[cfg(feature = "http")]
    if let Some(request) = to.request().or(state.opened_by.as_ref()) {
        let header = request.http.headers.get("traceparent");
        if let Some(tc) = header
            .and_then(|v| v.to_str().ok())
            .and_then(TraceContext::parse)
        {
            return Some(tc);
        }
    }
    #[cfg(not(feature = "http"))]
    let _ = (to, state);
    crate::trace_context::from_params(params?.get())
}

/// Refuses an exchange's message that found an in-flight limit full: -32000 to a
/// call, and the exchange marked overloaded (an HTTP client is answered 503).
#[cold]
async fn refuse_busy(
    state: &SessionState,
    slot: &Arc<ExchangeSlot>,
    id: Option<&JsonText>,
    busy: Busy,
) {
    slot.overloaded.store(true, Ordering::Relaxed);
    state.engine.metrics.record_rejection();
    tracing::debug!(
        connection = state.info.id,
        limit = ?busy,
        "call refused: an in-flight limit is full"
    );
    let Some(id) = id else {
        return;
    };
    let message = match busy {
        Busy::Connection => format!(
            "server busy: this connection has {} calls in flight, its limit; retry later",
            state.engine.config.connection.max_in_flight
        ),
        Busy::Server => format!(
            "server busy: {} calls are in flight, the server's limit; retry later",
            state.engine.config.max_in_flight
        ),
    };
    let answer = state.rpc_error_frame(
        id_of(id),
        &RpcError::new(ErrorCode::SERVER_OVERLOADED, message),
    );
    state
        .send(&Sink::Exchange(slot.clone()), answer, None)
        .await;
}

/// Starts an admitted call's task: applies the method's deadline, catches panics,
/// sends the answer and keeps the call cancellable. Handed to
/// [`crate::service::Service::spawn_call`].
pub struct CallSpawner {
    session: Session,
    admission: Admission,
    /// The call's place in its session's in-flight limit, and the bytes of its frame.
    hold: Hold,
    method: usize,
    id: Option<JsonText>,
    /// The call's entry in the cancellation registry, when it has one.
    seq: Option<u64>,
    /// The notification that must be handled before this call starts.
    after: Option<CancellationToken>,
    /// For an ordered notification: cancelled (dropped) once it has been handled.
    handled: Option<DropGuard>,
    to: Destination,
    /// The token of the call's context, cancelled when the task ends (answered,
    /// aborted by a cancel, or dropped with its connection or deadline).
    cancel: Option<CancellationToken>,
    /// For a streaming method: where its handler leaves the stream, started once
    /// the answer is queued.
    stream_start: Option<Arc<StreamStart>>,
    /// The caller's trace, for the call's span (boxed: most calls carry none, and
    /// the task's future stays small).
    trace_context: Option<Box<TraceContext>>,
    /// For a batch element: its place among the batch's running elements.
    _element: Option<BatchElement>,
}

impl CallSpawner {
    /// Spawns the task that runs `future` (the call's handler) to its answer.
    ///
    /// When [`crate::ServerConfig::run_ready_calls_inline`] is on (the default), the
    /// call's first poll happens here, in the connection's task: a call whose handler
    /// finishes without waiting is answered with no task of its own (one wake and one
    /// schedule less per call). A call that waits moves, boxed, to its task then.
    pub fn spawn<F>(self, future: F) -> Started
    where
        F: Future<Output = Reply> + Send + 'static,
    {
        let CallSpawner {
            session,
            admission,
            hold,
            method,
            id,
            seq,
            after,
            handled,
            to,
            cancel,
            stream_start,
            trace_context,
            _element: element,
        } = self;
        let tasks = session.state.tasks.clone();
        let handler = Handler::new(&session.state.engine, method, future);
        // A blocking handler always waits (for its thread): trying it first would
        // only cost the box.
        let try_inline = session.state.engine.config.run_ready_calls_inline
            && matches!(handler, Handler::Inline { .. });
        // Under tokio's threshold for boxing a spawned future (2 KiB in a debug
        // build), which tests/alloc_roundtrip.rs would see as one more allocation
        // per call: the handler is pinned here once and lent down.
        let task = async move {
            let mut handler = std::pin::pin!(handler);
            // Here rather than in the handler's future: a blocking handler runs on
            // another thread, which a deadline or a cancel does not stop.
            let _over = cancel.map(CancellationToken::drop_guard);
            let state = &*session.state;
            let abandoned = to.abandoned();
            let call = Call {
                state,
                method,
                id: id.as_ref(),
                trace_context: trace_context.as_deref(),
                abandoned,
            };
            let reply = execute(call, admission, after, handler.as_mut()).await;
            // The next notification, and the calls waiting for this one, may start.
            drop(handled);
            let Some(id) = id else {
                return;
            };
            if let Some(seq) = seq {
                if !state.registry.unregister(&id, seq) {
                    // Cancelled: the canceller has answered.
                    return;
                }
            }
            let answer = state.reply_frame(&id, reply);
            // The id was the last piece of the request's frame still held: the answer
            // waits for the writer without it.
            drop(id);
            let stream = stream_start.as_deref().and_then(StreamStart::take);
            let batch = match (&to, &stream) {
                (Destination::Batch(batch), Some(_)) => Some(batch.clone()),
                _ => None,
            };
            state.answer(&to, answer, hold).await;
            drop(element);
            if let Some(stream) = stream {
                // After the answer: in a batch, after the batch's array.
                state.tasks.spawn(async move {
                    if let Some(batch) = batch {
                        batch.queued().await;
                    }
                    stream.await;
                });
            }
        };
        if try_inline {
            let mut task = Box::pin(task);
            // No waker: whatever the call waits for is waited for again, with its own
            // task's waker, when that task first polls it (at once, on spawning).
            let mut cx = Context::from_waker(Waker::noop());
            if task.as_mut().poll(&mut cx).is_ready() {
                return Started(None);
            }
            return Started(Some(tasks.spawn(task).abort_handle()));
        }
        Started(Some(tasks.spawn(task).abort_handle()))
    }
}

/// What starting a call left behind ([`CallSpawner::spawn`]): the handle of its
/// task, or none when the call was answered at once.
#[derive(Debug)]
pub struct Started(Option<AbortHandle>);

impl Started {
    /// The handle that aborts the call's task, while it has one.
    pub(crate) fn into_abort_handle(self) -> Option<AbortHandle> {
        self.0
    }
}

impl std::fmt::Debug for CallSpawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallSpawner")
            .field("method", &self.method)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Runs an admitted call to its reply, or to an error when its connection can no
/// longer take the answer (or its exchange's caller stopped waiting: `abandoned`)
/// or the server's shutdown deadline passes.
async fn execute<F>(
    call: Call<'_>,
    admission: Admission,
    after: Option<CancellationToken>,
    handler: Pin<&mut Handler<F>>,
) -> Reply
where
    F: Future<Output = Reply> + Send + 'static,
{
    let Call {
        state,
        method,
        id,
        trace_context,
        abandoned,
    } = call;
    // Opened here rather than by the caller and moved in: in a debug build every
    // value moved into an async fn keeps a slot of its own in the task's future,
    // which must stay under tokio's threshold for boxing it.
    let trace = CallTrace::start(state, method, id, trace_context);
    let engine = &*state.engine;
    let _in_flight = Gauge::new(&engine.metrics, Metrics::add_in_flight);
    let run = async {
        if let Some(after) = after {
            after.cancelled().await;
        }
        engine.run(admission, method, handler).await
    };
    let (reply, outcome) = tokio::select! {
        biased;
        ran = run.instrument(trace.span().clone()) => ran,
        // Notifications run on when their sender leaves; only the deadline stops them.
        () = stopped(state, id.is_none(), abandoned) => {
            if engine.hard_stop.is_cancelled() {
                engine.metrics.record_interrupted_by_shutdown();
                let reply = Err(RpcError::new(
                    ErrorCode::SHUTTING_DOWN,
                    "server shutting down: the call did not finish before the shutdown deadline",
                ));
                (reply, Outcome::Shutdown)
            } else {
                let reply = Err(RpcError::new(
                    ErrorCode::REQUEST_CANCELLED,
                    "the caller's connection closed before the call finished",
                ));
                (reply, Outcome::Cancelled)
            }
        }
    };
    trace.end(&reply, outcome);
    reply
}

/// What [`execute`] needs to know of a call, borrowed from its task.
struct Call<'a> {
    state: &'a SessionState,
    method: usize,
    id: Option<&'a JsonText>,
    trace_context: Option<&'a TraceContext>,
    /// Cancelled when the call's exchange's caller stops waiting.
    abandoned: Option<&'a CancellationToken>,
}

/// Resolves when a call must stop before its reply: the server's shutdown deadline
/// for a notification; for a call, also its connection closing or its exchange's
/// caller going away.
async fn stopped(
    state: &SessionState,
    is_notification: bool,
    abandoned: Option<&CancellationToken>,
) {
    match (is_notification, abandoned) {
        (true, _) => state.engine.hard_stop.cancelled().await,
        (false, None) => state.stop_calls.cancelled().await,
        (false, Some(abandoned)) => tokio::select! {
            () = state.stop_calls.cancelled() => {}
            () = abandoned.cancelled() => {}
        },
    }
}
