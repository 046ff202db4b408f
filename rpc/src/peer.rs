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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{oneshot, Semaphore};
use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::buffer::BufferPool;
use crate::correlation::{Completion, Pending, RawResponse};
use crate::error::Error;
use crate::framing::FrameError;
use crate::message::{
    encode_error, encode_notification, encode_request, parse_with, BatchWriter, ErrorCode, Id,
    Incoming, Invalid, Message, ParseLimits, Response, RpcError,
};
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::pipeline::{Dispatcher, Gauge, ServerConfig};
use crate::service::{IncomingCall, JsonText, Service};
use crate::transport::{spawn_writer_hinted, Connection, FrameReader, WriterHandle};

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
    /// Whether calls still running when the other end closes the connection are
    /// dropped (their answers could not be delivered). Off by default, since a client
    /// on a pipe may close its end to say it has nothing more to send and still read
    /// the answers; a server turns it on for the sockets it accepts
    /// (`ServerConfig::abandon_calls_on_disconnect`). Calls are always dropped once
    /// the connection can no longer be written.
    pub abandon_calls_on_disconnect: bool,
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
            buffer_pool: Arc::new(BufferPool::default()),
        }
    }
}

struct InFlight {
    seq: u64,
    abort: Option<AbortHandle>,
}

struct Shared {
    writer: WriterHandle,
    pending: Pending,
    next_id: AtomicU64,
    dispatcher: Option<Arc<Dispatcher>>,
    /// Incoming calls by id, for cancellation; whoever removes an entry answers it.
    incoming: Mutex<HashMap<Bytes, InFlight>>,
    incoming_seq: AtomicU64,
    in_flight_limit: Arc<Semaphore>,
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
        let (metrics, max_in_flight) = match &dispatcher {
            Some(d) => (d.metrics.clone(), d.config.max_in_flight_per_connection),
            None => (Arc::new(Metrics::new(&[])), 1),
        };
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
            let (writer, _writer_task) = spawn_writer_hinted(
                writer,
                config.write_queue,
                config.write_stall_timeout,
                Some(expected),
            );
            Shared {
                writer,
                pending: Pending::new(),
                next_id: AtomicU64::new(1),
                dispatcher,
                incoming: Mutex::new(HashMap::new()),
                incoming_seq: AtomicU64::new(0),
                in_flight_limit: Arc::new(Semaphore::new(max_in_flight.max(1))),
                tasks: TaskTracker::new(),
                stop_calls,
                close: CancellationToken::new(),
                done: CancellationToken::new(),
                metrics,
                config,
            }
        });
        shared.metrics.add_connections(1);
        tokio::spawn(read_loop(shared.clone(), reader));
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

async fn read_loop<R: AsyncRead + Unpin>(shared: Arc<Shared>, mut reader: FrameReader<R>) {
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
            frame = reader.next_frame() => frame,
        };
        if idle_timeout.is_some() {
            last_frame = tokio::time::Instant::now();
        }
        match frame {
            None => {
                if shared.config.abandon_calls_on_disconnect {
                    shared.stop_calls.cancel();
                }
                break "the other end closed the connection".to_owned();
            }
            Some(Ok(frame)) => handle_frame(&shared, frame).await,
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
                if shared.config.abandon_calls_on_disconnect {
                    shared.stop_calls.cancel();
                }
                if matches!(&err, FrameError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut) {
                    shared.metrics.record_timed_out_connection();
                }
                break format!("reading failed: {err}");
            }
        }
    };
    tracing::debug!(%reason, "connection stops reading");
    shared.pending.fail_all(&reason);
    shared.tasks.close();
    shared.tasks.wait().await;
    shared.writer.close();
    shared.metrics.add_connections(-1);
    shared.done.cancel();
}

async fn handle_frame(shared: &Arc<Shared>, frame: Bytes) {
    match parse_with(&frame, shared.config.parse_limits) {
        Err(invalid) => answer_invalid(shared, invalid).await,
        Ok(Incoming::Single(message)) => match message {
            Message::Request(req) => {
                let id = JsonText::within(&frame, req.id.as_json());
                handle_call(shared, &frame, Some(id), &req.method, req.params).await
            }
            Message::Notification(n) if n.method == CANCEL_METHOD => cancel(shared, n.params).await,
            Message::Notification(n) => {
                handle_call(shared, &frame, None, &n.method, n.params).await
            }
            Message::Response(resp) => handle_response(shared, &frame, resp),
        },
        Ok(Incoming::Batch(elements)) => handle_batch(shared, &frame, elements).await,
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
    let mut buf = shared.config.buffer_pool.take(128 + message.len());
    encode_error(&mut buf, id, code, message, None);
    shared.config.buffer_pool.freeze(buf)
}

fn rpc_error_frame(shared: &Shared, id: Id<'_>, err: &RpcError) -> Bytes {
    let mut buf = shared.config.buffer_pool.take(128 + err.message.len());
    encode_error(&mut buf, id, err.code, &err.message, err.data.as_deref());
    shared.config.buffer_pool.freeze(buf)
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

/// Routes and admits one call; `None` when it was answered (or dropped) at once.
async fn prepare_call(
    shared: &Arc<Shared>,
    frame: &Bytes,
    id: Option<&JsonText>,
    method: &str,
    params: Option<&RawValue>,
) -> Result<(Arc<Dispatcher>, crate::pipeline::Admission, IncomingCall), Option<RpcError>> {
    let Some(dispatcher) = &shared.dispatcher else {
        shared.metrics.record_unknown_method();
        return Err(Some(RpcError::method_not_found(method)));
    };
    let Some(index) = dispatcher.service.route(method) else {
        shared.metrics.record_unknown_method();
        return Err(Some(RpcError::method_not_found(method)));
    };
    let admission = dispatcher.admit(index).map_err(Some)?;
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

async fn handle_call(
    shared: &Arc<Shared>,
    frame: &Bytes,
    id: Option<JsonText>,
    method: &str,
    params: Option<&RawValue>,
) {
    // The connection's own limit: waiting here stops the reader, so the sender is
    // pushed back.
    let Ok(slot) = shared.in_flight_limit.clone().acquire_owned().await else {
        return;
    };
    let (dispatcher, admission, call) =
        match prepare_call(shared, frame, id.as_ref(), method, params).await {
            Ok(prepared) => prepared,
            Err(err) => {
                if let (Some(id), Some(err)) = (&id, err) {
                    let id = Id::from_json(id.as_str()).unwrap_or(Id::NULL);
                    let _ = shared.writer.send(rpc_error_frame(shared, id, &err)).await;
                }
                return;
            }
        };
    let seq = id.as_ref().and_then(|id| register(shared, id));
    let context = CallContext {
        shared: shared.clone(),
        dispatcher: dispatcher.clone(),
        admission,
        slot,
        method: call.method,
        id: id.clone(),
        seq,
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

/// What a call's task needs besides the handler's future.
pub(crate) struct CallContext {
    shared: Arc<Shared>,
    dispatcher: Arc<Dispatcher>,
    admission: crate::pipeline::Admission,
    /// The call's place in its connection's in-flight limit.
    slot: tokio::sync::OwnedSemaphorePermit,
    method: usize,
    id: Option<JsonText>,
    /// The call's entry in the cancellation map, when it has one.
    seq: Option<u64>,
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
        slot,
        method,
        id,
        seq,
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
            future,
        )
        .await;
        drop(slot);
        let Some(id) = id else {
            return;
        };
        if let Some(seq) = seq {
            if !unregister(&shared, &id, seq) {
                // Cancelled: the canceller has answered.
                return;
            }
        }
        let frame = reply_frame(&shared, &id, reply);
        let _ = shared.writer.send(frame).await;
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
    future: F,
) -> crate::service::Reply
where
    F: Future<Output = crate::service::Reply> + Send + 'static,
{
    let _in_flight = Gauge::new(&shared.metrics, Metrics::add_in_flight);
    let started = Instant::now();
    let span =
        tracing::debug_span!("rpc.call", method = %dispatcher.service.methods()[method].name);
    let reply = tokio::select! {
        biased;
        reply = dispatcher.run(admission, method, future).instrument(span) => reply,
        // Notifications run on when their sender leaves; only the deadline stops them.
        () = if is_notification { dispatcher.hard_stop.cancelled() } else { shared.stop_calls.cancelled() } => {
            if dispatcher.hard_stop.is_cancelled() {
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

fn register(shared: &Shared, id: &JsonText) -> Option<u64> {
    let seq = shared.incoming_seq.fetch_add(1, Ordering::Relaxed);
    let mut incoming = shared.incoming.lock().unwrap_or_else(|e| e.into_inner());
    if incoming.contains_key(id.as_bytes()) {
        // A second call with an id already in flight runs, but cannot be cancelled.
        return None;
    }
    incoming.insert(id.as_bytes().clone(), InFlight { seq, abort: None });
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
    let _ = shared.writer.send(frame).await;
}

enum BatchJob {
    Done(Option<Bytes>),
    Running(tokio::task::JoinHandle<crate::service::Reply>, JsonText),
    Notification,
}

async fn handle_batch(
    shared: &Arc<Shared>,
    frame: &Bytes,
    elements: Vec<Result<Message<'_>, Invalid<'_>>>,
) {
    let Ok(slot) = shared.in_flight_limit.clone().acquire_owned().await else {
        return;
    };
    let mut jobs = Vec::with_capacity(elements.len());
    for element in elements {
        let job = match element {
            Err(invalid) => {
                shared.metrics.record_invalid_message();
                if invalid.is_response {
                    shared.metrics.record_undecodable_response();
                    BatchJob::Done(None)
                } else {
                    BatchJob::Done(Some(encode_error_frame(
                        shared,
                        invalid.id,
                        invalid.code,
                        &invalid.reason,
                    )))
                }
            }
            Ok(Message::Response(resp)) => {
                handle_response(shared, frame, resp);
                BatchJob::Done(None)
            }
            Ok(Message::Notification(n)) if n.method == CANCEL_METHOD => {
                cancel(shared, n.params).await;
                BatchJob::Done(None)
            }
            Ok(Message::Notification(n)) => {
                if let Ok((dispatcher, admission, call)) =
                    prepare_call(shared, frame, None, &n.method, n.params).await
                {
                    let task_shared = shared.clone();
                    shared.tasks.spawn(async move {
                        let method = call.method;
                        let future = dispatcher.service.call(call);
                        let _ = execute(&task_shared, &dispatcher, admission, method, true, future)
                            .await;
                    });
                }
                BatchJob::Notification
            }
            Ok(Message::Request(req)) => {
                let id = JsonText::within(frame, req.id.as_json());
                match prepare_call(shared, frame, Some(&id), &req.method, req.params).await {
                    Ok((dispatcher, admission, call)) => {
                        let task_shared = shared.clone();
                        let handle = shared.tasks.spawn(async move {
                            let method = call.method;
                            let future = dispatcher.service.call(call);
                            execute(&task_shared, &dispatcher, admission, method, false, future)
                                .await
                        });
                        BatchJob::Running(handle, id)
                    }
                    Err(err) => {
                        let err = err.unwrap_or_else(|| RpcError::internal("call refused"));
                        BatchJob::Done(Some(rpc_error_frame(shared, req.id, &err)))
                    }
                }
            }
        };
        jobs.push(job);
    }
    let task_shared = shared.clone();
    shared.tasks.spawn(async move {
        let mut out = task_shared.config.buffer_pool.take(256 * jobs.len());
        let mut batch = BatchWriter::new();
        for job in jobs {
            let element = match job {
                BatchJob::Done(element) => element,
                BatchJob::Notification => None,
                BatchJob::Running(handle, id) => {
                    let reply = handle.await.unwrap_or_else(|_| {
                        Err(RpcError::internal("Internal error: the call's task failed"))
                    });
                    Some(reply_frame(&task_shared, &id, reply))
                }
            };
            if let Some(element) = element {
                batch.begin_element(&mut out);
                out.extend_from_slice(&element);
            }
        }
        drop(slot);
        if batch.finish(&mut out) {
            let frame = task_shared.config.buffer_pool.freeze(out);
            let _ = task_shared.writer.send(frame).await;
        }
    });
}
