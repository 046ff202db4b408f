//! One end of a connection: it serves the calls that come in and makes calls of its
//! own, so a server can call its client back on the same connection.
//!
//! ```text
//!              ┌──────────── Peer (cheap to clone) ────────────┐
//! frames in ──▶│ reader task ─ request/notification ─▶ Dispatcher ──┐
//!              │             └ response ──▶ Pending ──▶ waiting call│
//! frames out ◀─│ writer task ◀── responses, requests, notifications ◀┘
//!              └───────────────────────────────────────────────┘
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::budget::{Hold, Ledger};
use crate::buffer::BufferPool;
use crate::correlation::{Completion, Pending, RawResponse};
use crate::error::Error;
use crate::framing::FrameError;
use crate::message::JsonText;
use crate::message::{
    encode_error, encode_notification, encode_request, parse_with, BatchWriter, ErrorCode, Id,
    Incoming, Invalid, Message, ParseLimits, Response, RpcError,
};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::pipeline::{Dispatcher, Gauge, ServerConfig};
use crate::service::{IncomingCall, Service};
use crate::transport::{spawn_writer_hinted, Connection, FrameReader, WriterHandle, WriterStats};

/// The notification a caller sends to cancel one of its calls, as in LSP.
pub const CANCEL_METHOD: &str = "$/cancelRequest";

/// How a peer makes calls.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The deadline of outgoing calls made without one (`None`: wait forever).
    pub call_timeout: Option<Duration>,
    /// Whether a call that times out or is dropped sends `$/cancelRequest`.
    pub cancel_on_drop: bool,
    /// Frames queued for the writer before callers wait.
    pub write_queue: usize,
    /// How long one write may wait for the other end to read before the connection
    /// is closed (`None`: forever).
    pub write_stall_timeout: Option<Duration>,
    /// Limits on what one incoming frame may hold.
    pub parse_limits: ParseLimits,
    /// How long one incoming frame may take to arrive, from its first byte to its
    /// last, before the connection is closed: a peer that trickles bytes cannot hold
    /// the read buffer forever (`None`: no limit).
    pub frame_timeout: Option<Duration>,
    /// How long the connection may go without an incoming frame while nothing is in
    /// flight either way (no call being served, no call waiting for its answer) before
    /// it is closed (`None`: forever). Checked when the time runs out, so a connection
    /// is closed at the first moment it has been quiet that long and has nothing in
    /// flight.
    pub idle_timeout: Option<Duration>,
    /// Whether calls still running when the other end closes its sending side are
    /// dropped (answered -32800) instead of run to their answers. Off by default: a
    /// client on a pipe, or one that half-closes a socket, closes its end to say it
    /// has nothing more to send and still reads the answers. Calls are always dropped
    /// once the connection can no longer be written, or when reading fails (a reset).
    pub abandon_calls_on_disconnect: bool,
    /// How long calls still running when the other end closes its sending side may go
    /// on to their answers before they are dropped (answered -32800); `None`: until
    /// they finish. A client that half-closes gets every answer that comes within it;
    /// one that has gone away holds its workers no longer than it.
    pub half_close_grace: Option<Duration>,
    /// Where outgoing messages are encoded.
    pub buffer_pool: Arc<BufferPool>,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            call_timeout: Some(Duration::from_secs(30)),
            cancel_on_drop: true,
            write_queue: 1024,
            write_stall_timeout: Some(Duration::from_secs(30)),
            parse_limits: ParseLimits::default(),
            frame_timeout: Some(Duration::from_secs(60)),
            idle_timeout: None,
            abandon_calls_on_disconnect: false,
            half_close_grace: None,
            buffer_pool: Arc::new(BufferPool::default()),
        }
    }
}

struct InFlight {
    seq: u64,
    abort: Option<AbortHandle>,
    /// The batch whose array the call answers in, when it is a batch element.
    batch: Option<Arc<BatchAnswer>>,
}

struct Shared {
    writer: WriterHandle,
    pending: Pending,
    next_id: AtomicU64,
    dispatcher: Option<Arc<Dispatcher>>,
    /// Incoming calls by id, for cancellation; whoever removes an entry answers it.
    incoming: Mutex<HashMap<Bytes, InFlight>>,
    incoming_seq: AtomicU64,
    /// Calls in flight and bytes held, against the connection's limits.
    ledger: Arc<Ledger>,
    /// The largest frame the connection reads; error answers are kept within it.
    max_frame_len: usize,
    tasks: TaskTracker,
    /// Stops the calls being served: cancelled at the server's shutdown deadline (a
    /// child of its token) or when their answers can no longer be delivered.
    stop_calls: CancellationToken,
    close: CancellationToken,
    done: CancellationToken,
    metrics: Arc<Metrics>,
    config: PeerConfig,
}

/// A handle to one end of a connection: make calls, send notifications, and (when
/// it serves a service) answer the other end's calls.
///
/// Cloning is cheap. The connection stays open until the other end closes it,
/// [`Peer::close`] is called, or the server shuts down; [`crate::client::Client`] also
/// closes it when its last clone is dropped.
#[derive(Clone)]
pub struct Peer {
    shared: Arc<Shared>,
}

impl Peer {
    /// Starts a peer that only makes calls (incoming calls get -32601).
    pub fn connect<R, W>(connection: Connection<R, W>, config: PeerConfig) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Self::start(connection, config, None)
    }

    /// Starts a peer that serves `service` and can make calls too.
    pub fn serve<R, W>(
        connection: Connection<R, W>,
        service: impl Service,
        config: PeerConfig,
        server: ServerConfig,
    ) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let dispatcher = Arc::new(Dispatcher::new(Arc::new(service), server));
        Self::start(connection, config, Some(dispatcher))
    }

    pub(crate) fn start<R, W>(
        connection: Connection<R, W>,
        config: PeerConfig,
        dispatcher: Option<Arc<Dispatcher>>,
    ) -> Peer
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let Connection { reader, writer } = connection;
        let reader = reader.with_frame_timeout(config.frame_timeout);
        let max_frame_len = reader.codec().max_frame_len();
        let (metrics, max_in_flight, max_buffered) = match &dispatcher {
            Some(d) => (
                d.metrics.clone(),
                d.config.max_in_flight_per_connection,
                d.config.max_buffered_bytes_per_connection,
            ),
            // A peer that serves nothing answers each incoming call with an error.
            None => (
                Arc::new(Metrics::new(&[])),
                1,
                ServerConfig::default().max_buffered_bytes_per_connection,
            ),
        };
        let ledger = Ledger::new(max_in_flight, max_buffered, metrics.clone());
        let mut writer_task = None;
        let stop_calls = dispatcher
            .as_ref()
            .map_or_else(CancellationToken::new, |d| d.hard_stop.child_token());
        let shared = Arc::new_cyclic(|this: &std::sync::Weak<Shared>| {
            // Frames are cut from pooled buffers by `BufferPool::freeze`; dropping them
            // after the write is what returns their room to the pool. The writer is told
            // how many frames are on their way (calls waiting for answers, calls being
            // served), so it can gather them into one write.
            let this = this.clone();
            let expected: crate::transport::ExpectedFrames = Box::new(move || {
                this.upgrade()
                    .map_or(0, |shared| shared.pending.len() + shared.tasks.len())
            });
            let (writer, task) = spawn_writer_hinted(
                writer,
                config.write_queue,
                config.write_stall_timeout,
                Some(expected),
            );
            writer_task = Some(task);
            Shared {
                writer,
                pending: Pending::new(),
                next_id: AtomicU64::new(1),
                dispatcher,
                incoming: Mutex::new(HashMap::new()),
                incoming_seq: AtomicU64::new(0),
                ledger,
                max_frame_len,
                tasks: TaskTracker::new(),
                stop_calls,
                close: CancellationToken::new(),
                done: CancellationToken::new(),
                metrics,
                config,
            }
        });
        shared.metrics.add_connections(1);
        let writer_task = writer_task.expect("the writer starts with the peer");
        tokio::spawn(read_loop(shared.clone(), reader, writer_task));
        Peer { shared }
    }

    /// Calls `method` with `params` and decodes the result, with the configured
    /// deadline.
    ///
    /// # Errors
    ///
    /// See [`Error`]: the server's error, a timeout, a lost connection, or a result
    /// that does not decode as `R`.
    pub async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, Error>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let response = self
            .call_raw(method, Some(params), self.shared.config.call_timeout)
            .await?;
        response.decode(method)
    }

    /// Calls `method` and returns the raw response, with an explicit deadline.
    ///
    /// # Errors
    ///
    /// See [`Error`]; a server error is returned inside the [`RawResponse`].
    pub async fn call_raw<P>(
        &self,
        method: &str,
        params: Option<&P>,
        timeout: Option<Duration>,
    ) -> Result<RawResponse, Error>
    where
        P: Serialize + ?Sized,
    {
        let shared = &self.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut buf = shared.config.buffer_pool.take(256);
        let mut digits = itoa::Buffer::new();
        encode_request(&mut buf, Id::from_u64(id, &mut digits), method, params)?;
        let (tx, rx) = oneshot::channel();
        shared.pending.insert(id, tx)?;
        let mut guard = PendingGuard {
            shared,
            id,
            armed: true,
        };
        if shared
            .writer
            .send(shared.config.buffer_pool.freeze(buf))
            .await
            .is_err()
        {
            guard.disarm();
            shared.pending.remove(id);
            return Err(Error::closed("the connection's writer has stopped"));
        }
        let completion = match timeout {
            Some(after) => match tokio::time::timeout(after, rx).await {
                Ok(completion) => completion,
                Err(_) => {
                    return Err(Error::Timeout {
                        method: method.to_owned(),
                        after,
                    })
                }
            },
            None => rx.await,
        };
        guard.disarm();
        completion.unwrap_or_else(|_| Err(Error::closed("the connection closed")))
    }

    /// Sends a notification (no response comes back).
    ///
    /// # Errors
    ///
    /// When the params fail to encode or the connection has closed.
    pub async fn notify<P>(&self, method: &str, params: Option<&P>) -> Result<(), Error>
    where
        P: Serialize + ?Sized,
    {
        let mut buf = self.shared.config.buffer_pool.take(256);
        encode_notification(&mut buf, method, params)?;
        let frame = self.shared.config.buffer_pool.freeze(buf);
        self.shared
            .writer
            .send(frame)
            .await
            .map_err(|_| Error::closed("the connection's writer has stopped"))
    }

    /// Starts a batch of calls and notifications sent as one frame.
    pub fn batch(&self) -> BatchBuilder<'_> {
        BatchBuilder {
            peer: self,
            buf: BytesMut::new(),
            ids: Vec::new(),
            error: None,
        }
    }

    /// How many outgoing calls are waiting for responses.
    pub fn pending_calls(&self) -> usize {
        self.shared.pending.len()
    }

    /// Whether the connection has closed.
    pub fn is_closed(&self) -> bool {
        self.shared.pending.is_closed()
    }

    /// Closes the connection: stops reading, fails waiting calls, lets running
    /// incoming calls finish, then closes the stream.
    pub fn close(&self) {
        self.shared.close.cancel();
    }

    /// Waits until the connection has fully closed.
    pub async fn closed(&self) {
        self.shared.done.cancelled().await;
    }

    /// The counters of this peer (shared with its server, when it has one).
    pub fn metrics(&self) -> MetricsSnapshot {
        self.shared
            .metrics
            .snapshot(self.shared.config.buffer_pool.stats())
    }

    /// The pool outgoing messages are encoded in.
    pub fn buffer_pool(&self) -> &BufferPool {
        &self.shared.config.buffer_pool
    }
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("pending", &self.shared.pending)
            .field("serves", &self.shared.dispatcher.is_some())
            .finish_non_exhaustive()
    }
}

/// Removes a call's entry when the call ends without its response (timeout, or the
/// future dropped), and tells the other end it may stop working on it.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u64,
    armed: bool,
}

impl PendingGuard<'_> {
    /// The response came; nothing is left to clean up.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed && self.shared.pending.remove(self.id) && self.shared.config.cancel_on_drop {
            #[derive(Serialize)]
            struct CancelParams {
                id: u64,
            }
            let mut buf = self.shared.config.buffer_pool.take(64);
            if encode_notification(&mut buf, CANCEL_METHOD, Some(&CancelParams { id: self.id }))
                .is_ok()
            {
                // Best effort: a full queue means the cancel is not worth waiting for.
                let _ = self
                    .shared
                    .writer
                    .try_send(self.shared.config.buffer_pool.freeze(buf));
            }
        }
    }
}

/// Calls and notifications gathered into one batch frame.
pub struct BatchBuilder<'a> {
    peer: &'a Peer,
    buf: BytesMut,
    ids: Vec<u64>,
    error: Option<Error>,
}

impl BatchBuilder<'_> {
    fn separator(&mut self) {
        self.buf
            .extend_from_slice(if self.buf.is_empty() { b"[" } else { b"," });
    }

    /// Adds a call; its response is the next element of [`BatchBuilder::send`]'s result.
    pub fn call<P: Serialize + ?Sized>(mut self, method: &str, params: &P) -> Self {
        let id = self.peer.shared.next_id.fetch_add(1, Ordering::Relaxed);
        self.separator();
        let mut digits = itoa::Buffer::new();
        if let Err(err) = encode_request(
            &mut self.buf,
            Id::from_u64(id, &mut digits),
            method,
            Some(params),
        ) {
            self.error.get_or_insert(err.into());
        }
        self.ids.push(id);
        self
    }

    /// Adds a notification.
    pub fn notify<P: Serialize + ?Sized>(mut self, method: &str, params: &P) -> Self {
        self.separator();
        if let Err(err) = encode_notification(&mut self.buf, method, Some(params)) {
            self.error.get_or_insert(err.into());
        }
        self
    }

    /// Sends the batch and waits for every call's response, in the order the calls
    /// were added.
    ///
    /// # Errors
    ///
    /// The whole batch fails when a params value fails to encode or the connection is
    /// closed; each call's own outcome is in its element.
    pub async fn send(mut self) -> Result<Vec<Result<RawResponse, Error>>, Error> {
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        if self.buf.is_empty() {
            return Ok(Vec::new());
        }
        self.buf.extend_from_slice(b"]");
        let shared = &self.peer.shared;
        let mut receivers = Vec::with_capacity(self.ids.len());
        let mut guards = Vec::with_capacity(self.ids.len());
        for &id in &self.ids {
            let (tx, rx) = oneshot::channel();
            shared.pending.insert(id, tx)?;
            receivers.push(rx);
            guards.push(PendingGuard {
                shared,
                id,
                armed: true,
            });
        }
        shared
            .writer
            .send(self.buf.freeze())
            .await
            .map_err(|_| Error::closed("the connection's writer has stopped"))?;
        let deadline = shared
            .config
            .call_timeout
            .map(|t| (tokio::time::Instant::now() + t, t));
        let mut results = Vec::with_capacity(receivers.len());
        for (rx, mut guard) in receivers.into_iter().zip(guards) {
            let completion = match deadline {
                Some((at, after)) => match tokio::time::timeout_at(at, rx).await {
                    Ok(c) => c,
                    Err(_) => {
                        results.push(Err(Error::Timeout {
                            method: "batch".into(),
                            after,
                        }));
                        continue;
                    }
                },
                None => rx.await,
            };
            guard.disarm();
            results
                .push(completion.unwrap_or_else(|_| Err(Error::closed("the connection closed"))));
        }
        Ok(results)
    }
}

/// What the reader knows of the notifications it has started, to keep them in order.
#[derive(Default)]
struct Order {
    /// Cancelled when the last ordered notification started has been handled.
    last: Option<CancellationToken>,
}

impl Order {
    /// What a call arriving now must wait for before it starts.
    fn barrier(&mut self) -> Option<CancellationToken> {
        match &self.last {
            Some(last) if last.is_cancelled() => {
                self.last = None;
                None
            }
            last => last.clone(),
        }
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    shared: Arc<Shared>,
    mut reader: FrameReader<R>,
    writer_task: JoinHandle<std::io::Result<WriterStats>>,
) {
    let stop_reading = shared
        .dispatcher
        .as_ref()
        .map(|d| d.stop_reading.clone())
        .unwrap_or_default();
    let idle_timeout = shared.config.idle_timeout;
    // One timer for the whole connection, moved only when it fires: arming a timer per
    // frame would cost every frame a trip through the timer wheel.
    let mut last_frame = tokio::time::Instant::now();
    let idle = tokio::time::sleep(idle_timeout.unwrap_or(Duration::MAX / 4));
    tokio::pin!(idle);
    let mut order = Order::default();
    // Whether reading ended because the other end closed its sending side.
    let mut half_closed = false;
    let reason = loop {
        let frame = tokio::select! {
            biased;
            () = shared.close.cancelled() => break "the connection was closed locally".to_owned(),
            () = stop_reading.cancelled() => break "the server is shutting down".to_owned(),
            () = shared.writer.closed() => {
                // Nothing more can be answered on this connection.
                shared.stop_calls.cancel();
                break "the connection's writer stopped (the stream failed, or the other end stopped reading)".to_owned()
            }
            () = &mut idle, if idle_timeout.is_some() => {
                let limit = idle_timeout.unwrap_or_default();
                let now = tokio::time::Instant::now();
                if last_frame + limit > now {
                    idle.as_mut().reset(last_frame + limit);
                } else if shared.tasks.is_empty() && shared.pending.is_empty() {
                    shared.metrics.record_timed_out_connection();
                    break format!("no frame for {limit:?} and nothing in flight (idle timeout)");
                } else {
                    idle.as_mut().reset(now + limit);
                }
                continue;
            }
            // While the connection holds more bytes than it may (answers its peer has
            // not read, frames of calls in flight), nothing more is read: the sender is
            // pushed back by its transport.
            frame = async {
                shared.ledger.within_byte_limit().await;
                reader.next_frame().await
            } => frame,
        };
        if idle_timeout.is_some() {
            last_frame = tokio::time::Instant::now();
        }
        match frame {
            None => {
                // The other end has nothing more to send; it may still read (a pipe's
                // writer closed, a TCP half-close), so calls run on to their answers
                // unless the config says a closed end means a client gone.
                if shared.config.abandon_calls_on_disconnect {
                    shared.stop_calls.cancel();
                }
                half_closed = true;
                break "the other end closed the connection".to_owned();
            }
            Some(Ok(frame)) => handle_frame(&shared, &mut order, frame).await,
            Some(Err(err)) if err.is_recoverable() => {
                shared.metrics.record_invalid_message();
                if shared.dispatcher.is_some() {
                    let frame = encode_error_frame(
                        &shared,
                        Id::NULL,
                        ErrorCode::INVALID_REQUEST,
                        &err.to_string(),
                    );
                    let _ = shared.writer.send(frame).await;
                }
            }
            Some(Err(err)) => {
                let timed_out =
                    matches!(&err, FrameError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut);
                let broken = matches!(&err, FrameError::Io(_)) && !timed_out;
                if timed_out {
                    shared.metrics.record_timed_out_connection();
                }
                // A failed read (a reset) means the connection is gone both ways; a
                // half-sent or malformed frame, or one that took too long, ends reading
                // but the other end may still read the answers.
                if broken || shared.config.abandon_calls_on_disconnect {
                    shared.stop_calls.cancel();
                }
                half_closed = !broken;
                break format!("reading failed: {err}");
            }
        }
    };
    tracing::debug!(%reason, "connection stops reading");
    shared.pending.fail_all(&reason);
    shared.tasks.close();
    match shared.config.half_close_grace {
        Some(grace) if half_closed => {
            if tokio::time::timeout(grace, shared.tasks.wait())
                .await
                .is_err()
            {
                // A client gone for good cannot be told from one still reading; the
                // grace bounds what it can hold.
                shared.stop_calls.cancel();
                shared.tasks.wait().await;
            }
        }
        _ => shared.tasks.wait().await,
    }
    // Every call has queued its answer; the connection counts as closed only once the
    // writer has written them (or the stream failed, or the reader stalled).
    shared.writer.close();
    if let Ok(Err(err)) = writer_task.await {
        tracing::debug!(%err, "the connection's writer failed");
    }
    shared.metrics.add_connections(-1);
    shared.done.cancel();
}

async fn handle_frame(shared: &Arc<Shared>, order: &mut Order, frame: Bytes) {
    match parse_with(&frame, shared.config.parse_limits) {
        Err(invalid) => answer_invalid(shared, invalid).await,
        Ok(Incoming::Single(message)) => match message {
            Message::Request(req) => {
                let id = JsonText::within(&frame, req.id.as_json());
                serve_call(
                    shared,
                    order,
                    &frame,
                    Some(id),
                    &req.method,
                    req.params,
                    None,
                )
                .await
            }
            Message::Notification(n) if n.method == CANCEL_METHOD => cancel(shared, n.params).await,
            Message::Notification(n) => {
                serve_call(shared, order, &frame, None, &n.method, n.params, None).await
            }
            Message::Response(resp) => handle_response(shared, &frame, resp),
        },
        Ok(Incoming::Batch(elements)) => handle_batch(shared, order, &frame, elements).await,
    }
}

async fn answer_invalid(shared: &Shared, invalid: Invalid<'_>) {
    shared.metrics.record_invalid_message();
    if invalid.is_response {
        // Answering a broken response could start an endless exchange of errors.
        shared.metrics.record_undecodable_response();
        return;
    }
    let frame = encode_error_frame(shared, invalid.id, invalid.code, &invalid.reason);
    let _ = shared.writer.send(frame).await;
}

fn encode_error_frame(shared: &Shared, id: Id<'_>, code: ErrorCode, message: &str) -> Bytes {
    error_frame(shared, id, code, message, None)
}

fn rpc_error_frame(shared: &Shared, id: Id<'_>, err: &RpcError) -> Bytes {
    error_frame(shared, id, err.code, &err.message, err.data.as_deref())
}

/// Encodes an error response; one that would not fit in a frame (a huge message or
/// `data`) is replaced by a short one with the same code, so the other end, whose
/// frame limit is likely ours, does not drop it and wait for an answer forever.
fn error_frame(
    shared: &Shared,
    id: Id<'_>,
    code: ErrorCode,
    message: &str,
    data: Option<&RawValue>,
) -> Bytes {
    let pool = &shared.config.buffer_pool;
    let mut buf = pool.take(128 + message.len());
    encode_error(&mut buf, id, code, message, data);
    if buf.len() > shared.max_frame_len {
        let size = buf.len();
        buf.clear();
        let mut message = crate::message::bound_message(message, 256).into_owned();
        message.push_str(&format!(
            " (the full error was {size} bytes, over the frame limit of {} bytes; its data was left out)",
            shared.max_frame_len
        ));
        encode_error(&mut buf, id, code, &message, None);
    }
    pool.freeze(buf)
}

fn handle_response(shared: &Shared, frame: &Bytes, resp: Response<'_>) {
    let completion: Completion = Ok(RawResponse {
        outcome: match resp.outcome {
            Ok(result) => Ok(JsonText::within(frame, result.get())),
            Err(err) => Err(err.to_owned_error()),
        },
    });
    let matched = resp
        .id
        .as_u64()
        .is_some_and(|id| shared.pending.complete(id, completion));
    if !matched {
        shared.metrics.record_unknown_response();
        tracing::debug!(id = %resp.id, "dropped a response that matches no pending call");
    }
}

/// Routes and admits one call.
fn prepare_call(
    shared: &Arc<Shared>,
    frame: &Bytes,
    id: Option<&JsonText>,
    method: &str,
    params: Option<&RawValue>,
) -> Result<(Arc<Dispatcher>, crate::pipeline::Admission, IncomingCall), RpcError> {
    let Some(dispatcher) = &shared.dispatcher else {
        shared.metrics.record_unknown_method();
        return Err(RpcError::method_not_found(method));
    };
    let Some(index) = dispatcher.service.route(method) else {
        shared.metrics.record_unknown_method();
        return Err(RpcError::method_not_found(method));
    };
    let admission = dispatcher.admit(index)?;
    let call = IncomingCall {
        method: index,
        id: id.cloned(),
        params: params.map(|p| JsonText::within(frame, p.get())),
        peer: Peer {
            shared: shared.clone(),
        },
    };
    Ok((dispatcher.clone(), admission, call))
}

/// Serves one call or notification, alone or as a batch element (`batch`): takes its
/// place in the connection's in-flight limit (waiting here stops the reader, so the
/// sender is pushed back), routes and admits it, and starts its task.
async fn serve_call(
    shared: &Arc<Shared>,
    order: &mut Order,
    frame: &Bytes,
    id: Option<JsonText>,
    method: &str,
    params: Option<&RawValue>,
    batch: Option<&Arc<BatchAnswer>>,
) {
    let Some(mut hold) = shared.ledger.take_slot().await else {
        return;
    };
    if batch.is_none() {
        // A batch's frame is charged once, by its answer.
        hold.charge(frame.len());
    }
    let (dispatcher, admission, call) =
        match prepare_call(shared, frame, id.as_ref(), method, params) {
            Ok(prepared) => prepared,
            Err(err) => {
                if let Some(id) = &id {
                    let id = Id::from_json(id.as_str()).unwrap_or(Id::NULL);
                    let answer = rpc_error_frame(shared, id, &err);
                    match batch {
                        Some(batch) => batch.append(answer),
                        None => send_answer(shared, answer, hold).await,
                    }
                }
                return;
            }
        };
    let unordered = dispatcher.service.methods()[call.method].unordered;
    let (after, handled) = match &id {
        Some(_) => (order.barrier(), None),
        None if unordered => (None, None),
        None => {
            // Ordered notifications run one after another: each waits for the one
            // before, and every call after it waits for it.
            let after = order.barrier();
            let handled = CancellationToken::new();
            order.last = Some(handled.clone());
            (after, Some(handled.drop_guard()))
        }
    };
    if let (Some(batch), Some(_)) = (batch, &id) {
        batch.expect();
    }
    let seq = id.as_ref().and_then(|id| register(shared, id, batch));
    let context = CallContext {
        shared: shared.clone(),
        dispatcher: dispatcher.clone(),
        admission,
        hold,
        method: call.method,
        id: id.clone(),
        seq,
        after,
        handled,
        batch: batch.cloned(),
    };
    // The service spawns the task, so that a generated handler's future can live in
    // it unboxed.
    let task = dispatcher
        .service
        .spawn_call(call, crate::service::CallSpawner { context });
    if let (Some(id), Some(seq)) = (id, seq) {
        let mut incoming = shared.incoming.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = incoming.get_mut(id.as_bytes()) {
            if entry.seq == seq {
                entry.abort = Some(task);
            }
        }
    }
}

/// Queues a single call's answer; its hold (the call's slot) now covers the answer's
/// bytes and is given back once the answer is written.
async fn send_answer(shared: &Shared, answer: Bytes, mut hold: Hold) {
    hold.recharge(answer.len());
    let _ = shared
        .writer
        .send_holding(answer, Some(hold.carrying(1)))
        .await;
}

/// What a call's task needs besides the handler's future.
pub(crate) struct CallContext {
    shared: Arc<Shared>,
    dispatcher: Arc<Dispatcher>,
    admission: crate::pipeline::Admission,
    /// The call's place in its connection's in-flight limit, and the bytes of its
    /// frame.
    hold: Hold,
    method: usize,
    id: Option<JsonText>,
    /// The call's entry in the cancellation map, when it has one.
    seq: Option<u64>,
    /// The notification that must be handled before this call starts.
    after: Option<CancellationToken>,
    /// For an ordered notification: cancelled (dropped) once it has been handled.
    handled: Option<tokio_util::sync::DropGuard>,
    /// The batch the call is an element of.
    batch: Option<Arc<BatchAnswer>>,
}

/// Spawns a call's task: runs `future` under the pipeline's rules, then answers unless
/// a cancel answered first.
pub(crate) fn spawn_call<F>(context: CallContext, future: F) -> AbortHandle
where
    F: Future<Output = crate::service::Reply> + Send + 'static,
{
    let CallContext {
        shared,
        dispatcher,
        admission,
        hold,
        method,
        id,
        seq,
        after,
        handled,
        batch,
    } = context;
    let tasks = shared.tasks.clone();
    let task = tasks.spawn(async move {
        let is_notification = id.is_none();
        let reply = execute(
            &shared,
            &dispatcher,
            admission,
            method,
            is_notification,
            after,
            future,
        )
        .await;
        // The next notification, and the calls waiting for this one, may start.
        drop(handled);
        let Some(id) = id else {
            return;
        };
        if let Some(seq) = seq {
            if !unregister(&shared, &id, seq) {
                // Cancelled: the canceller has answered.
                return;
            }
        }
        let answer = reply_frame(&shared, &id, reply);
        // The id was the last piece of the request's frame still held: the answer
        // waits for the writer without it.
        drop(id);
        match batch {
            Some(batch) => {
                drop(hold);
                batch.add(&shared, Some(answer)).await;
            }
            None => send_answer(&shared, answer, hold).await,
        }
    });
    task.abort_handle()
}

fn reply_frame(shared: &Shared, id: &JsonText, reply: crate::service::Reply) -> Bytes {
    match reply {
        Ok(frame) => frame,
        Err(err) => rpc_error_frame(shared, Id::from_json(id.as_str()).unwrap_or(Id::NULL), &err),
    }
}

/// Runs an admitted call to its reply, or to a shutting-down error at the deadline.
async fn execute<F>(
    shared: &Shared,
    dispatcher: &Dispatcher,
    admission: crate::pipeline::Admission,
    method: usize,
    is_notification: bool,
    after: Option<CancellationToken>,
    future: F,
) -> crate::service::Reply
where
    F: Future<Output = crate::service::Reply> + Send + 'static,
{
    let _in_flight = Gauge::new(&shared.metrics, Metrics::add_in_flight);
    let started = Instant::now();
    let span =
        tracing::debug_span!("rpc.call", method = %dispatcher.service.methods()[method].name);
    let run = async {
        if let Some(after) = after {
            after.cancelled().await;
        }
        dispatcher.run(admission, method, future).await
    };
    let reply = tokio::select! {
        biased;
        reply = run.instrument(span) => reply,
        // Notifications run on when their sender leaves; only the deadline stops them.
        () = if is_notification { dispatcher.hard_stop.cancelled() } else { shared.stop_calls.cancelled() } => {
            if dispatcher.hard_stop.is_cancelled() {
                shared.metrics.record_interrupted_by_shutdown();
                Err(RpcError::new(
                    ErrorCode::SHUTTING_DOWN,
                    "server shutting down: the call did not finish before the shutdown deadline",
                ))
            } else {
                Err(RpcError::new(
                    ErrorCode::REQUEST_CANCELLED,
                    "the caller's connection closed before the call finished",
                ))
            }
        }
    };
    if let Some(m) = shared.metrics.method(method) {
        m.record(started.elapsed(), reply.is_err());
    }
    reply
}

fn register(shared: &Shared, id: &JsonText, batch: Option<&Arc<BatchAnswer>>) -> Option<u64> {
    let seq = shared.incoming_seq.fetch_add(1, Ordering::Relaxed);
    let mut incoming = shared.incoming.lock().unwrap_or_else(|e| e.into_inner());
    if incoming.contains_key(id.as_bytes()) {
        // A second call with an id already in flight runs, but cannot be cancelled.
        return None;
    }
    incoming.insert(
        id.as_bytes().clone(),
        InFlight {
            seq,
            abort: None,
            batch: batch.cloned(),
        },
    );
    Some(seq)
}

fn unregister(shared: &Shared, id: &JsonText, seq: u64) -> bool {
    let mut incoming = shared.incoming.lock().unwrap_or_else(|e| e.into_inner());
    match incoming.get(id.as_bytes()) {
        Some(entry) if entry.seq == seq => {
            incoming.remove(id.as_bytes());
            true
        }
        _ => false,
    }
}

async fn cancel(shared: &Shared, params: Option<&RawValue>) {
    #[derive(Deserialize)]
    struct CancelParams<'a> {
        #[serde(borrow)]
        id: &'a RawValue,
    }
    let Some(params) = params.and_then(|p| serde_json::from_str::<CancelParams<'_>>(p.get()).ok())
    else {
        return;
    };
    let Some(id) = Id::from_raw(params.id) else {
        return;
    };
    let entry = shared
        .incoming
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(id.as_json().as_bytes());
    // An unknown or finished id is ignored, as LSP asks.
    let Some(entry) = entry else {
        return;
    };
    if let Some(abort) = entry.abort {
        abort.abort();
    }
    shared.metrics.record_cancellation();
    let frame = encode_error_frame(
        shared,
        id,
        ErrorCode::REQUEST_CANCELLED,
        "Request cancelled by the caller",
    );
    match entry.batch {
        // A batch element's answer belongs in its batch's array.
        Some(batch) => batch.add(shared, Some(frame)).await,
        None => {
            let _ = shared.writer.send(frame).await;
        }
    }
}

/// The answer to one batch, filled in as its elements finish.
///
/// Every element is served like a single call (its own slot in the in-flight limit,
/// registered for `$/cancelRequest`); an element gives its slot back once its answer
/// is in the array, and the array's bytes are charged to the connection until it has
/// been written. The frame's bytes stay charged until the last element is done with it.
pub(crate) struct BatchAnswer {
    state: Mutex<BatchState>,
    /// Elements whose answers are still to come, plus one for the reader while it is
    /// still starting elements.
    outstanding: AtomicUsize,
    /// The batch's frame; given back when the last element is done with it.
    _frame: Hold,
}

struct BatchState {
    out: BytesMut,
    writer: BatchWriter,
    answers: u32,
    /// The bytes of the answers gathered so far.
    hold: Option<Hold>,
}

impl BatchAnswer {
    fn new(shared: &Shared, frame: &Bytes) -> Self {
        let mut frame_hold = shared.ledger.empty_hold();
        frame_hold.charge(frame.len());
        BatchAnswer {
            state: Mutex::new(BatchState {
                out: shared.config.buffer_pool.take(256),
                writer: BatchWriter::new(),
                answers: 0,
                hold: Some(shared.ledger.empty_hold()),
            }),
            outstanding: AtomicUsize::new(1),
            _frame: frame_hold,
        }
    }

    /// One more element will answer through [`BatchAnswer::add`].
    fn expect(&self) {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
    }

    /// Puts an answer in the array now, for an element that was answered at once.
    fn append(&self, answer: Bytes) {
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
    async fn add(&self, shared: &Shared, answer: Option<Bytes>) {
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
        if writer.finish(&mut out) {
            let frame = shared.config.buffer_pool.freeze(out);
            let _ = shared
                .writer
                .send_holding(frame, hold.map(|h| h.carrying(answers)))
                .await;
        }
    }
}

async fn handle_batch(
    shared: &Arc<Shared>,
    order: &mut Order,
    frame: &Bytes,
    elements: Vec<Result<Message<'_>, Invalid<'_>>>,
) {
    let answer = Arc::new(BatchAnswer::new(shared, frame));
    for element in elements {
        match element {
            Err(invalid) => {
                shared.metrics.record_invalid_message();
                if invalid.is_response {
                    shared.metrics.record_undecodable_response();
                } else {
                    answer.append(encode_error_frame(
                        shared,
                        invalid.id,
                        invalid.code,
                        &invalid.reason,
                    ));
                }
            }
            Ok(Message::Response(resp)) => handle_response(shared, frame, resp),
            Ok(Message::Notification(n)) if n.method == CANCEL_METHOD => {
                cancel(shared, n.params).await;
            }
            Ok(Message::Notification(n)) => {
                serve_call(
                    shared,
                    order,
                    frame,
                    None,
                    &n.method,
                    n.params,
                    Some(&answer),
                )
                .await;
            }
            Ok(Message::Request(req)) => {
                let id = JsonText::within(frame, req.id.as_json());
                serve_call(
                    shared,
                    order,
                    frame,
                    Some(id),
                    &req.method,
                    req.params,
                    Some(&answer),
                )
                .await;
            }
        }
    }
    answer.add(shared, None).await;
}
