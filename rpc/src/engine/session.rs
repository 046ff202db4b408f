//! A session: the state a run of frames shares (one connection's, or one embedder's),
//! and the first step of every frame: parse it and hand each message on.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::batch::BatchAnswer;
use super::budget::Ledger;
use super::call::{serve_call, Destination};
use super::cancel::{Registry, CANCEL_METHOD};
use super::order::Order;
use super::Engine;
use crate::framing::DEFAULT_MAX_FRAME_LEN;
use crate::message::{parse_with, Id, Incoming, Invalid, JsonText, Message, Response};
use crate::service::{ConnectionInfo, Transport};
use crate::transport::WriterHandle;

/// Where the answer to one frame goes.
#[derive(Clone)]
pub(crate) enum Sink {
    /// The session's connection writer.
    Connection,
    /// The caller of one exchange, waiting for the frame's answer as a value.
    Exchange(Arc<ExchangeSlot>),
}

/// One exchange: the answer its caller waits for (taken by whichever answer comes
/// first), and what the frame came with (an HTTP request's head), for the contexts
/// of its calls.
pub(crate) struct ExchangeSlot {
    /// Where the answer goes; taken by the answer, or by the slot's drop when the
    /// frame's last call went without one (a frame of notifications).
    answer: Mutex<Option<oneshot::Sender<Exchanged>>>,
    pub(crate) request: Option<Arc<RequestMeta>>,
    /// Cancelled when the caller stops waiting (an HTTP client that went away):
    /// the exchange's calls stop, as a closed connection's do.
    pub(crate) abandoned: CancellationToken,
    /// Whether a single call or notification is refused when an in-flight limit is
    /// full, rather than waiting for a place (an HTTP request: its client is told to
    /// retry, where a stream's sender would be pushed back).
    pub(crate) refuse_when_busy: bool,
    /// Set when the frame was refused for overload (a limit full, a pool
    /// rejecting): the HTTP status says so.
    pub(crate) overloaded: std::sync::atomic::AtomicBool,
    /// Where a streaming call's items go, for an exchange that can carry them (an
    /// HTTP event stream).
    pub(crate) events: Option<WriterHandle>,
}

impl ExchangeSlot {
    /// Hands the exchange's caller its answer (with whether the frame was refused
    /// for overload); `false` when it was answered already or stopped waiting.
    pub(crate) fn deliver(&self, answer: Option<Bytes>) -> bool {
        let waiting = self.answer.lock().unwrap_or_else(|e| e.into_inner()).take();
        waiting.is_some_and(|tx| {
            tx.send(Exchanged {
                answer,
                overloaded: self.overloaded.load(Ordering::Relaxed),
            })
            .is_ok()
        })
    }
}

impl Drop for ExchangeSlot {
    fn drop(&mut self) {
        // The frame's last call is done and none answered: the caller stops
        // waiting, with nothing.
        self.deliver(None);
    }
}

/// What an exchange's caller gets back.
#[derive(Debug)]
pub(crate) struct Exchanged {
    /// The answer: an encoded response, a batch's array, or nothing.
    pub(crate) answer: Option<Bytes>,
    /// Whether the frame was refused for overload.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) overloaded: bool,
}

/// What a frame handed in process came with, beyond its bytes.
#[derive(Debug)]
pub(crate) struct RequestMeta {
    /// The HTTP request's method, URI, headers and extensions.
    #[cfg(feature = "http")]
    pub(crate) http: http::request::Parts,
}

impl Sink {
    /// What the frame this sink answers came with.
    pub(crate) fn request(&self) -> Option<&Arc<RequestMeta>> {
        match self {
            Sink::Connection => None,
            Sink::Exchange(slot) => slot.request.as_ref(),
        }
    }

    /// For an exchange that carries them: where a stream's items go.
    pub(crate) fn events(&self) -> Option<&WriterHandle> {
        match self {
            Sink::Connection => None,
            Sink::Exchange(slot) => slot.events.as_ref(),
        }
    }

    /// For an exchange: what tells that its caller stopped waiting.
    pub(crate) fn abandoned(&self) -> Option<&CancellationToken> {
        match self {
            Sink::Connection => None,
            Sink::Exchange(slot) => Some(&slot.abandoned),
        }
    }
}

/// Where the responses to this end's own calls go (a connection's waiting callers).
pub(crate) trait Responses: Sync {
    /// A response arrived in `frame`.
    fn response(&self, frame: &Bytes, response: Response<'_>);

    /// A notification arrived in `frame`: taken here (an item of a subscription
    /// this end made), possibly after waiting, rather than served.
    fn notification<'a>(
        &'a self,
        _frame: &Bytes,
        _method: &str,
        _params: Option<&serde_json::value::RawValue>,
    ) -> Notified<'a> {
        Notified::NotOurs
    }
}

/// What became of a notification offered to [`Responses::notification`].
pub(crate) enum Notified<'a> {
    /// Not a subscription's: it is served.
    NotOurs,
    /// Handed over.
    Taken,
    /// To be handed over once this resolves (its subscription's buffer is full);
    /// the connection is not read meanwhile.
    Wait(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>),
}

pub(crate) struct SessionState {
    pub(crate) engine: Arc<Engine>,
    /// Calls in flight and bytes held, against the session's limits.
    pub(crate) ledger: Arc<Ledger>,
    /// Calls in flight by id, for `$/cancelRequest`.
    pub(crate) registry: Registry,
    pub(crate) order: Mutex<Order>,
    /// The session's call tasks; a connection closes only once they have answered.
    pub(crate) tasks: TaskTracker,
    /// Stops the calls being served: cancelled at the server's shutdown deadline (a
    /// child of its token) or when their answers can no longer be delivered.
    pub(crate) stop_calls: CancellationToken,
    /// The connection's writer, for a session that is one connection's.
    pub(crate) writer: Option<WriterHandle>,
    /// The peer that calls came from, so handlers can call it back.
    pub(crate) peer: Weak<crate::peer::Shared>,
    /// The largest frame the other end reads; error answers are kept within it.
    pub(crate) max_frame_len: usize,
    /// Which connection this is, for call contexts.
    pub(crate) info: ConnectionInfo,
    /// The request that opened the session (a WebSocket's upgrade), for the
    /// contexts of calls whose frame came without one of its own.
    pub(crate) opened_by: Option<Arc<RequestMeta>>,
    /// The streams open on the session, by subscription id.
    pub(crate) streams: crate::stream::server::Streams,
}

/// Numbers sessions, for [`ConnectionInfo::id`].
static NEXT_SESSION: AtomicU64 = AtomicU64::new(1);

/// The state a run of frames shares: the in-flight limit and byte budget, the ids
/// that `$/cancelRequest` can name, and the order of notifications.
///
/// Each connection a [`crate::Server`] serves has one. [`crate::Server::session`]
/// makes one for frames handed in process, without a socket: for embedding the
/// server in another transport, and for tests. Cloning is cheap and shares the
/// session.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use rpc::service::{MethodInfo, Router};
/// use rpc::Server;
///
/// let router = Router::new().method(MethodInfo::new("ping"), |call| async move { call.respond("pong") });
/// let session = Server::new(router).session();
/// let answer = session
///     .handle_frame(r#"{"jsonrpc":"2.0","method":"ping","id":1}"#.into())
///     .await
///     .expect("a request gets an answer");
/// assert_eq!(&answer[..], br#"{"jsonrpc":"2.0","id":1,"result":"pong"}"#);
/// # }
/// ```
#[derive(Clone)]
pub struct Session {
    pub(crate) state: Arc<SessionState>,
}

impl Session {
    /// The session of one stream connection, whose answers go to `writer`.
    pub(crate) fn for_connection(
        engine: Arc<Engine>,
        writer: WriterHandle,
        peer: Weak<crate::peer::Shared>,
        max_frame_len: usize,
        remote_addr: Option<SocketAddr>,
        transport: Transport,
        opened_by: Option<Arc<RequestMeta>>,
    ) -> Session {
        let tasks = TaskTracker::new();
        Self::new(
            engine,
            Some(writer),
            peer,
            max_frame_len,
            tasks,
            (remote_addr, transport),
            opened_by,
        )
    }

    /// A session for frames handed in process; its calls are tracked with the
    /// engine's exchanges, so a server's shutdown waits for them.
    pub(crate) fn for_exchanges(engine: Arc<Engine>) -> Session {
        let tasks = engine.exchanges.clone();
        Self::new(
            engine,
            None,
            Weak::new(),
            DEFAULT_MAX_FRAME_LEN,
            tasks,
            (None, Transport::InProcess),
            None,
        )
    }

    /// As [`Session::for_exchanges`], for frames that came from `remote_addr` (one
    /// HTTP connection's requests).
    #[cfg(feature = "http")]
    pub(crate) fn for_exchanges_from(
        engine: Arc<Engine>,
        remote_addr: Option<SocketAddr>,
    ) -> Session {
        let tasks = engine.exchanges.clone();
        Self::new(
            engine,
            None,
            Weak::new(),
            DEFAULT_MAX_FRAME_LEN,
            tasks,
            (remote_addr, Transport::Http),
            None,
        )
    }

    fn new(
        engine: Arc<Engine>,
        writer: Option<WriterHandle>,
        peer: Weak<crate::peer::Shared>,
        max_frame_len: usize,
        tasks: TaskTracker,
        (remote_addr, transport): (Option<SocketAddr>, Transport),
        opened_by: Option<Arc<RequestMeta>>,
    ) -> Session {
        let connection = &engine.config.connection;
        let ledger = Ledger::new(
            connection.max_in_flight,
            engine.in_flight.clone(),
            connection.max_buffered_bytes,
            engine.metrics.clone(),
        );
        Session {
            state: Arc::new(SessionState {
                ledger,
                registry: Registry::default(),
                order: Mutex::new(Order::default()),
                tasks,
                stop_calls: engine.hard_stop.child_token(),
                writer,
                peer,
                max_frame_len,
                info: ConnectionInfo {
                    id: NEXT_SESSION.fetch_add(1, Ordering::Relaxed),
                    remote_addr,
                    transport,
                },
                opened_by,
                streams: crate::stream::server::Streams::default(),
                engine,
            }),
        }
    }

    /// Serves one frame handed in process and waits for its answer: the encoded
    /// response, or the array of a batch's responses; `None` when nothing is to be
    /// answered (a notification, a batch of notifications).
    ///
    /// The frame is served as if it had come on a connection: the same admission,
    /// limits, deadlines and cancellation, and notifications of the session handled
    /// in order. Once the server is shutting down, a frame is answered -32002
    /// (nothing for a notification) without being served.
    pub async fn handle_frame(&self, frame: Bytes) -> Option<Bytes> {
        self.exchange(frame, None, false, None).await.answer
    }

    /// [`Session::handle_frame`] for a frame that came with `request` (its calls'
    /// contexts see it). Dropping the future before the answer stops the frame's
    /// calls (answered -32800 to nobody); its notifications run on. With
    /// `refuse_when_busy`, a single message that finds an in-flight limit full is
    /// refused (-32000) instead of waiting.
    pub(crate) async fn exchange(
        &self,
        frame: Bytes,
        request: Option<Arc<RequestMeta>>,
        refuse_when_busy: bool,
        events: Option<WriterHandle>,
    ) -> Exchanged {
        let (tx, rx) = oneshot::channel();
        let slot = Arc::new(ExchangeSlot {
            answer: Mutex::new(Some(tx)),
            request,
            abandoned: CancellationToken::new(),
            refuse_when_busy,
            overloaded: Default::default(),
            events,
        });
        // Not the slot itself: it must go when the frame's last call does, so that a
        // frame without an answer ends the wait.
        let waiting = slot.abandoned.clone().drop_guard();
        if self.state.engine.stop_reading.is_cancelled() {
            self.state.refuse_during_shutdown(&frame, slot);
        } else {
            self.serve_frame(frame, Sink::Exchange(slot), None).await;
        }
        // The slot's drop sends "no answer" when there is none to give.
        let exchanged = rx.await.unwrap_or(Exchanged {
            answer: None,
            overloaded: false,
        });
        waiting.disarm();
        exchanged
    }

    /// Parses one received frame and starts what it holds: calls, notifications,
    /// cancels; responses go to `responses`.
    pub(crate) async fn serve_frame(
        &self,
        frame: Bytes,
        sink: Sink,
        responses: Option<&dyn Responses>,
    ) {
        let state = &*self.state;
        state
            .engine
            .metrics
            .record_received(state.info.transport, frame.len());
        match parse_with(&frame, state.engine.config.connection.parse_limits) {
            Err(invalid) => {
                if let Some(answer) = state.invalid_answer(&invalid) {
                    state.send(&sink, answer, None).await;
                }
            }
            Ok(Incoming::Single(message)) => {
                let to = move || Destination::Frame(sink);
                self.serve_message(&frame, message, to, responses).await;
            }
            Ok(Incoming::Batch(elements)) => {
                let batch = Arc::new(BatchAnswer::new(state, &frame, sink));
                for element in elements {
                    match element {
                        Err(invalid) => {
                            if let Some(answer) = state.invalid_answer(&invalid) {
                                batch.append(answer);
                            }
                        }
                        Ok(message) => {
                            let to = || Destination::Batch(batch.clone());
                            self.serve_message(&frame, message, to, responses).await;
                        }
                    }
                }
                // The reader's own share: the last element done sends the array.
                batch.add(state, None).await;
            }
        }
    }

    /// Starts one message of `frame`, alone or as a batch element: a call answers to
    /// `to()`, a cancel stops the call it names, a response goes to `responses`.
    async fn serve_message(
        &self,
        frame: &Bytes,
        message: Message<'_>,
        to: impl FnOnce() -> Destination,
        responses: Option<&dyn Responses>,
    ) {
        match message {
            Message::Request(req) => {
                let id = JsonText::within(frame, req.id.as_json());
                serve_call(self, frame, Some(id), &req.method, req.params, to()).await;
            }
            Message::Notification(n) if n.method == CANCEL_METHOD => {
                self.state.cancel(n.params).await;
            }
            Message::Notification(n) => {
                if let Some(responses) = responses {
                    match responses.notification(frame, &n.method, n.params) {
                        Notified::NotOurs => {}
                        Notified::Taken => return,
                        Notified::Wait(wait) => return wait.await,
                    }
                }
                serve_call(self, frame, None, &n.method, n.params, to()).await;
            }
            Message::Response(resp) => self.state.response(responses, frame, resp),
        }
    }

    /// How many call tasks are running: a connection's own, or, for in-process
    /// sessions, those of every in-process session of the server. A task counts until
    /// it has ended, a little after its answer was delivered.
    pub fn calls_in_flight(&self) -> usize {
        self.state.tasks.len()
    }
}

impl SessionState {
    /// The error answer to a message that is not a valid request, if it gets one.
    fn invalid_answer(&self, invalid: &Invalid<'_>) -> Option<Bytes> {
        self.engine.metrics.record_invalid_message();
        tracing::debug!(
            connection = self.info.id,
            transport = %self.info.transport,
            code = invalid.code.0,
            reason = %invalid.reason,
            "message refused"
        );
        if invalid.is_response {
            // Answering a broken response could start an endless exchange of errors.
            self.engine.metrics.record_undecodable_response();
            return None;
        }
        Some(self.error_frame(invalid.id, invalid.code, &invalid.reason, None))
    }

    fn response(&self, responses: Option<&dyn Responses>, frame: &Bytes, resp: Response<'_>) {
        match responses {
            Some(responses) => responses.response(frame, resp),
            None => {
                self.engine.metrics.record_unknown_response();
                tracing::debug!(id = %resp.id, "dropped a response: this session makes no calls");
            }
        }
    }

    /// Answers an exchange's frame with -32002 while the server shuts down: one
    /// error with the request's id, or with a null id for a batch or a frame that
    /// does not parse; nothing for notifications.
    fn refuse_during_shutdown(&self, frame: &Bytes, slot: Arc<ExchangeSlot>) {
        let id = match parse_with(frame, self.engine.config.connection.parse_limits) {
            Ok(Incoming::Single(Message::Request(req))) => Some(req.id),
            Ok(Incoming::Single(_)) => None,
            Ok(Incoming::Batch(_)) | Err(_) => Some(Id::NULL),
        };
        let Some(id) = id else {
            return;
        };
        let answer = self.error_frame(
            id,
            crate::message::ErrorCode::SHUTTING_DOWN,
            "server shutting down: no new calls are accepted",
            None,
        );
        slot.deliver(Some(answer));
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("calls_in_flight", &self.state.tasks.len())
            .field("connection", &self.state.writer.is_some())
            .finish_non_exhaustive()
    }
}
