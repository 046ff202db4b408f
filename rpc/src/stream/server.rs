//! The serving side of streams: the streams open on a session, the task that sends
//! one stream's items, and what a handler calls to start or stop one.
//!
//! A streaming call is answered as any call (the subscription id, through the
//! engine, so limits, batches and exactly-once answers hold), and its stream is
//! started only once that answer is queued: the handler leaves the stream's task in
//! the call's [`StreamStart`] slot, and the call's task starts it after answering.
//! So the first item can never overtake the id it is addressed to.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::{ItemParams, Overflow, Stream, StreamSpec};
use crate::engine::session::SessionState;
use crate::message::{encode_notification, ErrorCode, IntoRpcError, RpcError};
use crate::service::{IncomingCall, Reply};
use crate::slots::{OwnedPlace, Slots};
use crate::transport::{Quiet, WriterHandle};

/// A stream's task, waiting for its call's answer to be queued.
pub(crate) type StreamTask = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where a streaming call's handler leaves its stream's task for the call's task to
/// start after the answer.
#[derive(Default)]
pub(crate) struct StreamStart(Mutex<Option<StreamTask>>);

impl StreamStart {
    pub(crate) fn take(&self) -> Option<StreamTask> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, task: StreamTask) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }
}

/// Why a stream was stopped from outside.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum Stop {
    /// Its client unsubscribed: nothing more is sent.
    Unsubscribed = 1,
    /// Its connection closed: nothing more can be sent.
    ConnectionClosed = 2,
    /// The server is shutting down: a last `"closed": "shutdown"` is sent.
    Shutdown = 3,
}

/// What stops one open stream, and why.
struct Stopper {
    token: CancellationToken,
    why: AtomicU8,
    /// Held while an item is queued and while the stream is stopped: an item
    /// queued is queued before the stop, so before the unsubscribe's answer.
    gate: Mutex<()>,
}

impl Stopper {
    fn new() -> Self {
        Stopper {
            token: CancellationToken::new(),
            why: AtomicU8::new(0),
            gate: Mutex::new(()),
        }
    }

    fn stop(&self, why: Stop) {
        let _gate = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        // The first reason stands.
        let _ = self
            .why
            .compare_exchange(0, why as u8, Ordering::AcqRel, Ordering::Acquire);
        self.token.cancel();
    }

    fn why(&self) -> Stop {
        match self.why.load(Ordering::Acquire) {
            1 => Stop::Unsubscribed,
            3 => Stop::Shutdown,
            _ => Stop::ConnectionClosed,
        }
    }
}

struct OpenStream {
    stopper: Arc<Stopper>,
    /// The streaming method's index in the server's table.
    method: usize,
}

/// The streams open on one session, by subscription id.
#[derive(Default)]
pub(crate) struct Streams {
    next: AtomicU64,
    open: Mutex<HashMap<Arc<str>, OpenStream>>,
    /// Set once the session stops: streams started later stop at once.
    closed: AtomicU8,
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, OpenStream>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops every open stream: the connection closed (`shutdown` false) or the
    /// server is shutting down (each stream says so in a last notification).
    pub(crate) fn stop_all(&self, shutdown: bool) {
        let why = if shutdown {
            Stop::Shutdown
        } else {
            Stop::ConnectionClosed
        };
        self.closed.store(why as u8, Ordering::Release);
        for open in self.lock().values() {
            open.stopper.stop(why);
        }
    }
}

/// Removes a stream from its session's map when its task ends (or is dropped
/// before it started: the call's answer was never delivered).
struct Registration {
    state: Arc<SessionState>,
    id: Arc<str>,
    method: usize,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.state.streams.lock().remove(&self.id);
        if let Some(m) = self.state.engine.metrics.method(self.method) {
            m.stream_closed();
        }
    }
}

/// How a stream ended.
enum Ending {
    Ended,
    Failed(RpcError),
    Lagged,
    Stopped(Stop),
}

impl IncomingCall {
    /// Answers the call with a new subscription id and sends `stream`'s items to the
    /// caller as notifications, as the method's [`StreamSpec`] says; what a
    /// generated streaming method calls. The method's [`crate::service::MethodInfo`]
    /// must carry the spec ([`crate::service::MethodInfo::streaming`]).
    ///
    /// # Errors
    ///
    /// -32000 when the connection has [`crate::ConnectionConfig::max_streams`]
    /// streams open; -32601 when the call came without a connection to send items
    /// on (an HTTP POST); -32603 when the method was not declared streaming.
    pub fn stream<S>(&self, stream: S) -> Reply
    where
        S: Stream + Send + 'static,
        S::Item: Serialize + Send + 'static,
    {
        self.start_stream(stream, Ok)
    }

    /// [`IncomingCall::stream`] for a stream of `Result`s: an `Err` item ends the
    /// stream with a last notification carrying the error (`"closed": "failed"`).
    ///
    /// # Errors
    ///
    /// As [`IncomingCall::stream`].
    pub fn try_stream<S, T, E>(&self, stream: S) -> Reply
    where
        S: Stream<Item = Result<T, E>> + Send + 'static,
        T: Serialize + Send + 'static,
        E: IntoRpcError + Send + 'static,
    {
        self.start_stream(stream, |item| item.map_err(Into::into))
    }

    /// Stops the stream whose subscription id is the call's one param (`["0x1"]`, or
    /// `{"subscription": "0x1"}`), if it is open on this connection and was started
    /// by the method this one unsubscribes from; answers `true`, or `false` when
    /// there is no such stream. What a generated unsubscribe method calls.
    ///
    /// # Errors
    ///
    /// -32602 when the params are not one subscription id.
    pub fn unsubscribe(&self) -> Reply {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Params<'a> {
            Positional((&'a str,)),
            Named {
                #[serde(borrow)]
                subscription: &'a str,
            },
        }
        let id = match self.decode_params::<Params<'_>>() {
            Ok(Params::Positional((id,)) | Params::Named { subscription: id }) => id,
            Err(_) => {
                return Err(RpcError::invalid_params(
                    "expected one subscription id: [\"0x1\"] or {\"subscription\": \"0x1\"}",
                ))
            }
        };
        let state = &self.session.state;
        let methods = state.engine.service.methods();
        let unsubscribing = self.method_name();
        let stopped = state.streams.lock().get(id).is_some_and(|open| {
            let matches = methods[open.method]
                .stream
                .as_ref()
                .is_some_and(|spec| spec.unsubscribe_method == unsubscribing);
            if matches {
                open.stopper.stop(Stop::Unsubscribed);
            }
            matches
        });
        self.respond(&stopped)
    }

    fn start_stream<S, T, F>(&self, stream: S, item: F) -> Reply
    where
        S: Stream + Send + 'static,
        S::Item: Send,
        F: Fn(S::Item) -> Result<T, RpcError> + Send + Sync + 'static,
        T: Serialize + 'static,
    {
        let state = &self.session.state;
        let methods = state.engine.service.methods();
        let index = self.served_as;
        let (Some(spec), Some(start)) = (
            methods[index].stream.clone(),
            self.extras.as_ref().and_then(|e| e.stream_start.clone()),
        ) else {
            return Err(RpcError::internal(format!(
                "`{}` returned a stream but was not declared streaming (MethodInfo::streaming)",
                self.method_name()
            )));
        };
        let events = self.extras.as_ref().and_then(|e| e.events.clone());
        let Some(writer) = events.or_else(|| state.writer.clone()) else {
            return Err(RpcError::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!(
                    "`{}` streams its results as notifications, which this request cannot \
                     carry: over HTTP, POST it alone with `Accept: text/event-stream`; or \
                     call it over a WebSocket or another connection",
                    self.method_name()
                ),
            ));
        };
        if self.id.is_none() {
            // A notification has nobody to tell the subscription id to.
            return Ok(Bytes::new());
        }
        let max = state.engine.config.connection.max_streams;
        let stopper = Arc::new(Stopper::new());
        let id: Arc<str> = {
            let mut open = state.streams.lock();
            if open.len() >= max {
                return Err(RpcError::new(
                    ErrorCode::SERVER_OVERLOADED,
                    format!(
                        "too many streams: this connection has {max} open, its limit; \
                         unsubscribe from one first"
                    ),
                ));
            }
            let n = state.streams.next.fetch_add(1, Ordering::Relaxed) + 1;
            let id: Arc<str> = format!("0x{n:x}").into();
            open.insert(
                id.clone(),
                OpenStream {
                    stopper: stopper.clone(),
                    method: index,
                },
            );
            id
        };
        match state.streams.closed.load(Ordering::Acquire) {
            0 => {}
            3 => stopper.stop(Stop::Shutdown),
            _ => stopper.stop(Stop::ConnectionClosed),
        }
        if let Some(m) = state.engine.metrics.method(index) {
            m.stream_opened();
        }
        let registration = Registration {
            state: state.clone(),
            id: id.clone(),
            method: index,
        };
        let answer = self.respond(&*id);
        start.put(Box::pin(pump(
            registration,
            stopper,
            writer,
            spec,
            stream,
            item,
        )));
        answer
    }
}

/// Sends one stream's items until it ends or is stopped, then its last
/// notification.
async fn pump<S, T, F>(
    registration: Registration,
    stopper: Arc<Stopper>,
    writer: WriterHandle,
    spec: StreamSpec,
    stream: S,
    item: F,
) where
    S: Stream,
    F: Fn(S::Item) -> Result<T, RpcError>,
    T: Serialize,
{
    let engine = &registration.state.engine;
    let metrics = engine.metrics.method(registration.method);
    let out = Out {
        stopper: &stopper,
        writer: &writer,
        spec: &spec,
        id: &registration.id,
        metrics,
        pool: engine.buffer_pool(),
        room: Arc::new(Slots::new(spec.buffer.max(1))),
    };
    let stream = std::pin::pin!(stream);
    let sending = async {
        match spec.overflow {
            Overflow::Wait => out.waiting(stream, &item).await,
            Overflow::DropOldest => out.dropping(stream, &item).await,
            Overflow::Close => out.closing(stream, &item).await,
        }
    };
    // The server's shutdown ends every stream, those of HTTP event streams (which
    // have no connection reader to stop them) included.
    let ending = tokio::select! {
        ending = sending => ending,
        () = engine.stop_reading.cancelled() => {
            stopper.stop(Stop::Shutdown);
            Ending::Stopped(Stop::Shutdown)
        }
    };
    let ending = match ending {
        Ending::Stopped(_) => Ending::Stopped(stopper.why()),
        other => other,
    };
    if matches!(ending, Ending::Lagged) {
        if let Some(m) = metrics {
            m.stream_lagged();
        }
    }
    out.close(ending).await;
    drop(registration);
}

/// What a stream's task sends with.
struct Out<'a> {
    stopper: &'a Stopper,
    writer: &'a WriterHandle,
    spec: &'a StreamSpec,
    id: &'a str,
    metrics: Option<crate::metrics::MethodRecorder<'a>>,
    pool: &'a crate::buffer::BufferPool,
    /// The places in the buffer: one is held by each item queued for the writer
    /// until it has been written.
    room: Arc<Slots>,
}

/// The next item of `stream`, or `None` once it ends.
async fn next<S: Stream>(stream: &mut Pin<&mut S>) -> Option<S::Item> {
    std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await
}

impl Out<'_> {
    fn frame<T: Serialize>(&self, item: Result<T, RpcError>) -> Result<Bytes, RpcError> {
        let item = item?;
        let mut buf = self.pool.take(128);
        let params = ItemParams {
            subscription: self.id,
            result: &item,
        };
        match encode_notification(&mut buf, &self.spec.item_method, Some(&params)) {
            Ok(()) => Ok(self.pool.freeze(buf)),
            Err(err) => {
                self.pool.give(buf);
                Err(RpcError::internal(format!(
                    "an item of the stream failed to encode: {err}"
                )))
            }
        }
    }

    /// Queues `frame` holding `place` until it is written, unless the stream has
    /// been stopped meanwhile; `false` when it was not queued (stopped, or the
    /// connection's writer has stopped).
    async fn send(&self, frame: Bytes, place: OwnedPlace) -> bool {
        let Some(slot) = self.writer.reserve().await else {
            return false;
        };
        {
            let _gate = self.stopper.gate.lock().unwrap_or_else(|e| e.into_inner());
            if self.stopper.token.is_cancelled() {
                return false;
            }
            slot.send_with_place(frame, place);
        }
        if let Some(m) = self.metrics {
            m.stream_item_sent();
        }
        true
    }

    /// Resolves when the stream must stop: stopped from outside, or nobody to send
    /// to any more (the connection's writer stopped, an event stream closed).
    async fn halted(&self) -> Ending {
        tokio::select! {
            biased;
            () = self.stopper.token.cancelled() => Ending::Stopped(self.stopper.why()),
            () = self.writer.closed() => Ending::Stopped(Stop::ConnectionClosed),
        }
    }

    /// [`Overflow::Wait`]: a place first, then the next item.
    async fn waiting<S, T, F>(&self, mut stream: Pin<&mut S>, item: &F) -> Ending
    where
        S: Stream,
        F: Fn(S::Item) -> Result<T, RpcError>,
        T: Serialize,
    {
        // Made once and polled only when it fires (see `Quiet`): a wait made for
        // every item joined and left two lists of waiters per item.
        let halted = Quiet::new(self.halted());
        tokio::pin!(halted);
        loop {
            let place = tokio::select! {
                biased;
                ending = &mut halted => return ending,
                place = self.room.clone().take_owned() => place.expect("never closed"),
            };
            let next = tokio::select! {
                biased;
                ending = &mut halted => return ending,
                next = next(&mut stream) => next,
            };
            let Some(next) = next else {
                return Ending::Ended;
            };
            // A source that is always ready must still let other tasks run.
            tokio::task::coop::consume_budget().await;
            let frame = match self.frame(item(next)) {
                Ok(frame) => frame,
                Err(err) => return Ending::Failed(err),
            };
            if !self.send(frame, place).await {
                return Ending::Stopped(self.stopper.why());
            }
        }
    }

    /// [`Overflow::DropOldest`]: the stream is polled on; items that find the
    /// buffer full wait their turn in a queue as long again, whose oldest is
    /// dropped for each newcomer over it.
    async fn dropping<S, T, F>(&self, mut stream: Pin<&mut S>, item: &F) -> Ending
    where
        S: Stream,
        F: Fn(S::Item) -> Result<T, RpcError>,
        T: Serialize,
    {
        let buffer = self.spec.buffer.max(1);
        let mut waiting: VecDeque<Bytes> = VecDeque::new();
        let mut ended = false;
        let halted = Quiet::new(self.halted());
        tokio::pin!(halted);
        loop {
            if ended && waiting.is_empty() {
                return Ending::Ended;
            }
            tokio::select! {
                biased;
                ending = &mut halted => return ending,
                place = self.room.clone().take_owned(), if !waiting.is_empty() => {
                    let frame = waiting.pop_front().expect("not empty");
                    if !self.send(frame, place.expect("never closed")).await {
                        return Ending::Stopped(self.stopper.why());
                    }
                }
                next = next(&mut stream), if !ended => {
                    let Some(next) = next else {
                        ended = true;
                        continue;
                    };
                    // A source that is always ready must still let other tasks
                    // run (and the writer take what waits).
                    tokio::task::coop::consume_budget().await;
                    let frame = match self.frame(item(next)) {
                        Ok(frame) => frame,
                        Err(err) => return Ending::Failed(err),
                    };
                    if waiting.is_empty() {
                        if let Some(place) = self.room.try_take_owned() {
                            if !self.send(frame, place).await {
                                return Ending::Stopped(self.stopper.why());
                            }
                            continue;
                        }
                    }
                    if waiting.len() >= buffer {
                        waiting.pop_front();
                        if let Some(m) = self.metrics {
                            m.stream_item_dropped();
                        }
                    }
                    waiting.push_back(frame);
                }
            }
        }
    }

    /// [`Overflow::Close`]: an item that finds the buffer full ends the stream as
    /// lagged.
    async fn closing<S, T, F>(&self, mut stream: Pin<&mut S>, item: &F) -> Ending
    where
        S: Stream,
        F: Fn(S::Item) -> Result<T, RpcError>,
        T: Serialize,
    {
        let halted = Quiet::new(self.halted());
        tokio::pin!(halted);
        loop {
            let next = tokio::select! {
                biased;
                ending = &mut halted => return ending,
                next = next(&mut stream) => next,
            };
            let Some(next) = next else {
                return Ending::Ended;
            };
            tokio::task::coop::consume_budget().await;
            let frame = match self.frame(item(next)) {
                Ok(frame) => frame,
                Err(err) => return Ending::Failed(err),
            };
            let Some(place) = self.room.try_take_owned() else {
                return Ending::Lagged;
            };
            if !self.send(frame, place).await {
                return Ending::Stopped(self.stopper.why());
            }
        }
    }

    /// The last notification, when the client is to be told.
    async fn close(&self, ending: Ending) {
        #[derive(Serialize)]
        struct Closed<'a> {
            subscription: &'a str,
            closed: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a RpcError>,
        }
        let (closed, error) = match &ending {
            Ending::Ended => ("ended", None),
            Ending::Failed(err) => ("failed", Some(err)),
            Ending::Lagged => ("lagged", None),
            Ending::Stopped(Stop::Shutdown) => ("shutdown", None),
            Ending::Stopped(Stop::Unsubscribed | Stop::ConnectionClosed) => return,
        };
        let params = Closed {
            subscription: self.id,
            closed,
            error,
        };
        let mut buf = bytes::BytesMut::new();
        if encode_notification(&mut buf, &self.spec.item_method, Some(&params)).is_ok() {
            // Behind the items still queued; a writer that stopped has nobody to tell.
            let _ = self.writer.send(buf.freeze()).await;
        }
    }
}

impl std::fmt::Debug for StreamStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StreamStart")
    }
}
