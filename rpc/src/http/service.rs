//! One HTTP request, as the serving core sees it: a frame posted in, its answer
//! sent back.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{
    HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HOST, ORIGIN, RETRY_AFTER,
};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;

use super::body::HttpBody;
use super::request_body::{read_whole, BodyError};
use super::sessions::SessionTable;
use super::sse::{self, EventStream, PendingAnswer};
use super::HttpConfig;
use crate::engine::{Engine, Exchanged, RequestMeta, Session};
use crate::message::{encode_error, ErrorCode, Id};
use crate::transport::{frame_queue, FrameQueue, Queued};

/// JSON-RPC over HTTP POST as a `tower::Service` over `http::Request`: serve it with
/// [`crate::Server::serve_http`], or nest it in an axum or hyper application and
/// wrap it in tower-http layers.
///
/// Each request body is one frame for the serving core (a call, a notification or
/// a batch), served as a connection's frames are: the same admission, limits,
/// deadlines and panic isolation. The rules:
///
/// | request | response |
/// |---|---|
/// | `POST` to the path, JSON body | 200 with the answer (errors included), or an empty 202 for a notification or a batch of notifications |
/// | the same, from a client that accepts `text/event-stream`, when the answer takes longer than [`HttpConfig::sse_keep_alive`] | 200 `text/event-stream`: keep-alive comments, then the answer as one `message` event |
/// | another method | 405 with `Allow: POST` (`POST, DELETE` with sessions) |
/// | a content type other than `application/json` | 415 |
/// | an `Accept` that names neither JSON nor event streams | 406 |
/// | a body over [`HttpConfig::max_body_bytes`] | 413 with a -32600 error body, refused while it streams in |
/// | a body slower than [`HttpConfig::body_read_timeout`] | 408 with a -32600 error body |
/// | a call or notification over an in-flight limit (the connection's or [`crate::ServerConfig::max_in_flight`]), or refused by a pool that rejects when full | 503 with `Retry-After: 1` and the -32000 error |
/// | a `Host` outside [`HttpConfig::allowed_hosts`] | 421 with a -32600 error body |
/// | an `Origin` outside [`HttpConfig::allowed_origins`] | 403 with a -32600 error body |
/// | `GET` to the health path | 200 `ok` |
/// | another path | 404 |
///
/// Sessions ([`HttpConfig::sessions`]) add their own rules: see
/// [`super::HttpSessions`].
///
/// A client that goes away before its answer (it closes the connection or the
/// event stream, or an HTTP/2 stream is reset) stops the calls of its request, as
/// a closed connection stops its calls; its notifications run on.
///
/// From [`crate::Server::http_service`], every request is its own session; the
/// server's own loop ([`crate::Server::serve_http`]) gives each HTTP connection one
/// session, so its requests share the connection's in-flight limit and its calls
/// know the client's address.
#[derive(Clone)]
pub struct HttpService {
    engine: Arc<Engine>,
    config: Arc<HttpConfig>,
    /// The sessions named by a header, shared by every connection of the server.
    sessions: Option<Arc<SessionTable>>,
    /// The HTTP connection's session; `None` makes one per request.
    session: Option<Session>,
    /// The client's address, when served from a socket.
    remote_addr: Option<std::net::SocketAddr>,
    /// Where upgraded WebSockets are served.
    #[cfg(feature = "websocket")]
    ws: super::websocket::WsHost,
}

impl HttpService {
    pub(crate) fn new(
        server: &crate::Server,
        config: Arc<HttpConfig>,
        sessions: Option<Arc<SessionTable>>,
        session: Option<Session>,
        remote_addr: Option<std::net::SocketAddr>,
    ) -> Self {
        HttpService {
            engine: server.engine.clone(),
            config,
            sessions,
            session,
            remote_addr,
            #[cfg(feature = "websocket")]
            ws: super::websocket::WsHost {
                engine: server.engine.clone(),
                connections: server.connections.clone(),
                open: server.open_connections.clone(),
            },
        }
    }

    /// The table of sessions `config` asks for, to share among the services of one
    /// server.
    pub(crate) fn session_table(config: &HttpConfig) -> Option<Arc<SessionTable>> {
        config
            .sessions
            .clone()
            .map(|sessions| Arc::new(SessionTable::new(sessions)))
    }

    fn session(&self) -> Session {
        match &self.session {
            Some(session) => session.clone(),
            None => self.fresh_session(),
        }
    }

    /// What `body`, when it is one call, may send its caller besides its answer: a
    /// streaming method's items, or notifications from a handler that reads its
    /// context ([`crate::CallContext::notify`]).
    fn sends_notifications(&self, body: &[u8]) -> Option<Sends> {
        let service = &self.engine.service;
        let info = &service.methods()[service.route(&method_of(body)?)?];
        if info.stream.is_some() {
            Some(Sends::Items)
        } else if info.context {
            Some(Sends::Notes)
        } else {
            None
        }
    }

    fn fresh_session(&self) -> Session {
        Session::for_exchanges_from(self.engine.clone(), self.remote_addr)
    }
}

impl std::fmt::Debug for HttpService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<B> tower::Service<Request<B>> for HttpService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<HttpBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let config = &*self.config;
        let path = request.uri().path();
        if config.health_path.as_deref() == Some(path) && request.method() == Method::GET {
            return ready(plain(StatusCode::OK, "ok"));
        }
        if path != config.path {
            return ready(plain(
                StatusCode::NOT_FOUND,
                "not found: JSON-RPC is served on another path",
            ));
        }
        if let Some(refused) = refuse_host_or_origin(config, &request) {
            return ready(refused);
        }
        #[cfg(feature = "websocket")]
        if config.websocket && super::websocket::is_upgrade(&request) {
            return ready(super::websocket::upgrade(
                request,
                config,
                &self.ws,
                self.remote_addr,
            ));
        }
        let this = self.clone();
        Box::pin(async move { Ok(this.answer(request).await) })
    }
}

fn ready(
    response: Response<HttpBody>,
) -> Pin<Box<dyn Future<Output = Result<Response<HttpBody>, Infallible>> + Send>> {
    Box::pin(std::future::ready(Ok(response)))
}

/// 421 or 403 for a request whose `Host` or `Origin` is not allowed.
fn refuse_host_or_origin<B>(
    config: &HttpConfig,
    request: &Request<B>,
) -> Option<Response<HttpBody>> {
    if config.allowed_hosts != super::Allowlist::Any {
        let host = request
            .uri()
            .authority()
            .map(|a| a.as_str())
            .or_else(|| request.headers().get(HOST).and_then(|h| h.to_str().ok()));
        if !host.is_some_and(|host| config.allowed_hosts.allows_host(host)) {
            let shown = host.unwrap_or("(none)");
            return Some(error_response(
                StatusCode::MISDIRECTED_REQUEST,
                ErrorCode::INVALID_REQUEST,
                &format!("this server does not answer requests for the host {shown:?}"),
            ));
        }
    }
    if config.allowed_origins != super::Allowlist::Any {
        if let Some(origin) = request.headers().get(ORIGIN) {
            let origin = origin.to_str().unwrap_or("(not text)");
            if !config.allowed_origins.allows_origin(origin) {
                return Some(error_response(
                    StatusCode::FORBIDDEN,
                    ErrorCode::INVALID_REQUEST,
                    &format!("requests from the origin {origin:?} are not allowed"),
                ));
            }
        }
    }
    None
}

/// Which session a request is served in.
enum Place {
    /// The connection's (or, embedded, the request's own).
    Connection,
    /// A session named by the request's header.
    Named(Session),
    /// A new session, which opens if the request's answer is a result.
    Starting(Session),
}

impl HttpService {
    /// The response to a request on the path that is not a WebSocket upgrade.
    async fn answer<B>(self, request: Request<B>) -> Response<HttpBody>
    where
        B: Body,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let config = &*self.config;
        match *request.method() {
            Method::POST => {}
            Method::DELETE if self.sessions.is_some() => return self.delete(request.headers()),
            _ => {
                let allow = if self.sessions.is_some() {
                    "POST, DELETE"
                } else {
                    "POST"
                };
                let mut response = plain(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "JSON-RPC requests are POSTed",
                );
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static(allow));
                return response;
            }
        }
        if !is_json(request.headers().get(CONTENT_TYPE)) {
            return plain(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "JSON-RPC requests have the content type application/json",
            );
        }
        let accepts = sse::accepts(request.headers());
        let events = config.sse_keep_alive.filter(|_| accepts.event_stream);
        if !accepts.json && events.is_none() {
            return plain(
                StatusCode::NOT_ACCEPTABLE,
                "JSON-RPC answers are application/json (or text/event-stream): accept one",
            );
        }
        let max = config.max_body_bytes;
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > max as u64) {
            return too_large(max);
        }
        // Counted as it streams in: a body without a length, or lying about it, stops
        // being read at the limit.
        let (head, body) = request.into_parts();
        let reading = read_whole(body, max);
        // Bounded in time too: without it a client sending a byte now and then (or
        // announcing a chunk it never sends) held its connection, and the body read
        // so far, for as long as it liked; the request is busy meanwhile, so the
        // idle timeout does not end it.
        // A body that is all there already (a small request's, with its head) is
        // read without the timer: arming it and taking it out again cost two trips
        // through the runtime's timer wheel per request.
        let mut reading = std::pin::pin!(reading);
        let first = std::future::poll_fn(|cx| Poll::Ready(reading.as_mut().poll(cx))).await;
        let read = match (first, config.body_read_timeout) {
            (Poll::Ready(read), _) => read,
            (Poll::Pending, Some(limit)) => match tokio::time::timeout(limit, reading).await {
                Ok(read) => read,
                Err(_) => return too_slow(limit),
            },
            (Poll::Pending, None) => reading.await,
        };
        let body = match read {
            Ok(body) => body,
            Err(BodyError::TooLarge) => return too_large(max),
            Err(BodyError::Failed) => {
                return plain(
                    StatusCode::BAD_REQUEST,
                    "the request body could not be read",
                )
            }
        };
        let place = match self.place(&head, &body) {
            Ok(place) => place,
            Err(refused) => return refused,
        };
        let request = Some(Arc::new(RequestMeta { http: head }));
        let session = match &place {
            Place::Connection => self.session(),
            Place::Named(session) | Place::Starting(session) => session.clone(),
        };
        // A call POSTed alone, by a client that reads event streams, whose handler
        // may send notifications before answering (it reads its context: progress)
        // or streams its results: what it sends goes on the event stream (closing it
        // stops the call, or the stream).
        let sends = events.and_then(|_| self.sends_notifications(&body));
        let (to_queue, mut queue) = match sends {
            Some(_) => {
                let (handle, queue) = frame_queue(64);
                (Some(handle), Some(queue))
            }
            None => (None, None),
        };
        if let Place::Starting(starting) = place {
            // The session's id goes in the response's head: wait for the answer.
            let exchanged = session.exchange(body, request, true, to_queue).await;
            return self.start(starting, exchanged);
        }
        let Some(keep_alive) = events else {
            // The answer is all there is to wait for: no box to keep it in.
            return whole_answer(session.exchange(body, request, true, to_queue).await);
        };
        let mut pending: PendingAnswer =
            Box::pin(async move { session.exchange(body, request, true, to_queue).await });
        if sends == Some(Sends::Items) {
            return event_stream(EventStream::new(pending, keep_alive, queue, true));
        }
        let wait = if accepts.json {
            // JSON if the answer is ready in time, with nothing sent before it; an
            // event stream if not.
            keep_alive
        } else {
            std::time::Duration::ZERO
        };
        let mut first = None;
        tokio::select! {
            biased;
            exchanged = &mut pending => {
                let noted = queue.as_ref().is_some_and(|q| !q.is_empty());
                if (accepts.json && !noted) || exchanged.overloaded {
                    return whole_answer(exchanged);
                }
                // Ready at once, for a client that reads only event streams, or
                // after notifications that go ahead of it.
                pending = Box::pin(std::future::ready(exchanged));
            }
            Some(note) = next_queued(&mut queue) => first = Some(note),
            () = tokio::time::sleep(wait) => {}
        }
        event_stream(EventStream::new(pending, keep_alive, queue, false).holding(first))
    }

    /// Which session a `POST` is served in, or why it is refused (a response built
    /// once per refusal: not worth a box).
    #[allow(clippy::result_large_err)]
    fn place(&self, head: &Parts, body: &[u8]) -> Result<Place, Response<HttpBody>> {
        let Some(table) = &self.sessions else {
            return Ok(Place::Connection);
        };
        let header = &table.config.header;
        if let Some(id) = head.headers.get(header) {
            let id = id.to_str().unwrap_or("");
            return match table.get(id) {
                Some(session) => Ok(Place::Named(session)),
                None => Err(error_response(
                    StatusCode::NOT_FOUND,
                    ErrorCode::INVALID_REQUEST,
                    &format!("no session {id:?} is open (it ended or expired): start a new one"),
                )),
            };
        }
        let starts =
            method_of(body).is_some_and(|m| table.config.started_by.iter().any(|s| *s == m));
        if starts {
            if !table.has_room() {
                let mut response = error_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::SERVER_OVERLOADED,
                    &format!(
                        "too many sessions: this server keeps at most {} open; try again later",
                        table.config.max_sessions
                    ),
                );
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                return Err(response);
            }
            return Ok(Place::Starting(self.fresh_session()));
        }
        if (table.config.required)(head) {
            let starters = table.config.started_by.join(", ");
            return Err(error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::INVALID_REQUEST,
                &format!("this request needs the {header} header of a session; a request to one of [{starters}] starts one"),
            ));
        }
        Ok(Place::Connection)
    }

    /// The response to a session's first request: with the new session's id when
    /// the answer is a result.
    fn start(&self, session: Session, exchanged: Exchanged) -> Response<HttpBody> {
        let Some(table) = &self.sessions else {
            return whole_answer(exchanged);
        };
        let opens = !exchanged.overloaded && exchanged.answer.as_deref().is_some_and(is_result);
        let mut response = whole_answer(exchanged);
        if opens {
            match table
                .insert(session)
                .and_then(|id| HeaderValue::from_str(&id).ok())
            {
                Some(id) => {
                    response
                        .headers_mut()
                        .insert(table.config.header.clone(), id);
                }
                None => {
                    let mut refused = error_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorCode::SERVER_OVERLOADED,
                        "no session could be opened (too many are open); try again later",
                    );
                    refused
                        .headers_mut()
                        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
                    return refused;
                }
            }
        }
        response
    }

    /// `DELETE`: ends the session the request names.
    fn delete(&self, headers: &http::HeaderMap) -> Response<HttpBody> {
        let Some(table) = &self.sessions else {
            return empty(StatusCode::METHOD_NOT_ALLOWED);
        };
        let header = &table.config.header;
        match headers.get(header).map(|id| id.to_str().unwrap_or("")) {
            None => error_response(
                StatusCode::BAD_REQUEST,
                ErrorCode::INVALID_REQUEST,
                &format!("DELETE ends the session its {header} header names, and it has none"),
            ),
            Some(id) if table.remove(id) => empty(StatusCode::NO_CONTENT),
            Some(id) => error_response(
                StatusCode::NOT_FOUND,
                ErrorCode::INVALID_REQUEST,
                &format!("no session {id:?} is open"),
            ),
        }
    }
}

/// The method of a frame that is one request, if it is.
fn method_of(body: &[u8]) -> Option<Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct Request<'a> {
        #[serde(borrow)]
        method: Cow<'a, str>,
    }
    serde_json::from_slice::<Request<'_>>(body)
        .ok()
        .map(|r| r.method)
}

/// Whether an answer is one result (not an error, not a batch).
fn is_result(answer: &[u8]) -> bool {
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        result: Option<&'a serde_json::value::RawValue>,
    }
    serde_json::from_slice::<Answer<'_>>(answer).is_ok_and(|a| a.result.is_some())
}

/// 200 with the answer, or 202 when there is none; 503 with `Retry-After` when the
/// frame was refused for overload (with its -32000 answer, or one with a null id
/// for a notification).
fn whole_answer(exchanged: Exchanged) -> Response<HttpBody> {
    if exchanged.overloaded {
        let mut response = match exchanged.answer {
            Some(answer) => json(StatusCode::SERVICE_UNAVAILABLE, answer),
            None => error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::SERVER_OVERLOADED,
                "server busy: the notification was not handled; retry later",
            ),
        };
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    match exchanged.answer {
        Some(answer) => json(StatusCode::OK, answer),
        None => empty(StatusCode::ACCEPTED),
    }
}

/// What a call may send its caller over an event stream besides its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sends {
    /// Notifications before the answer (progress).
    Notes,
    /// A stream's items after it.
    Items,
}

/// The next frame of an exchange's queue; never, without one.
async fn next_queued(queue: &mut Option<FrameQueue>) -> Option<Queued> {
    match queue {
        Some(queue) => std::future::poll_fn(|cx| queue.poll_recv(cx)).await,
        None => std::future::pending().await,
    }
}

fn event_stream(stream: EventStream) -> Response<HttpBody> {
    let mut response = Response::new(HttpBody::events(stream));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers responses unless told not to: events would wait in it.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// `application/json`, with parameters (`; charset=utf-8`) or not.
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// 413, and the connection closed after it: the rest of the body is not read, so
/// the connection cannot carry another request. Said in the response, so that a
/// pooling client does not pick the connection for its next request while the
/// close is on its way (httpx then fails that request: "Server disconnected").
/// HTTP/2 has no such header; hyper leaves it out there, where the stream alone
/// is reset.
fn too_large(max: usize) -> Response<HttpBody> {
    let mut response = error_response(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::INVALID_REQUEST,
        &format!("the request body is over the limit of {max} bytes"),
    );
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// 408 for a body that did not arrive within `limit`, and the connection closed
/// after it, as after a 413: the rest of the body was not read.
fn too_slow(limit: std::time::Duration) -> Response<HttpBody> {
    let mut response = error_response(
        StatusCode::REQUEST_TIMEOUT,
        ErrorCode::INVALID_REQUEST,
        &format!("the request body did not arrive within {limit:?}"),
    );
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// `status` with a JSON-RPC error body (null id) of `code` and `message`.
pub(crate) fn error_response(
    status: StatusCode,
    code: ErrorCode,
    message: &str,
) -> Response<HttpBody> {
    let mut buf = BytesMut::with_capacity(96 + message.len());
    encode_error(&mut buf, Id::NULL, code, message, None);
    json(status, buf.freeze())
}

fn json(status: StatusCode, body: Bytes) -> Response<HttpBody> {
    let mut response = Response::new(HttpBody::whole(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<HttpBody> {
    let mut response = Response::new(HttpBody::whole(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn empty(status: StatusCode) -> Response<HttpBody> {
    let mut response = Response::new(HttpBody::empty());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::is_json;
    use http::HeaderValue;

    #[test]
    fn json_content_types_with_and_without_parameters() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
        ] {
            assert!(is_json(Some(&HeaderValue::from_static(ok))), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", ""] {
            assert!(!is_json(Some(&HeaderValue::from_static(bad))), "{bad}");
        }
        assert!(!is_json(None));
    }
}
