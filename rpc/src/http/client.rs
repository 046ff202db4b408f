//! The HTTP client: a [`Client`] whose frames are POSTed.
//!
//! The client's peer runs as over any stream, on a sink and a source of frames of
//! its own: its writer hands each frame (a call, a notification, a batch as one
//! POST) to a task that POSTs it over a pooled hyper client, and each answer comes
//! back to its reader as a frame. So everything a stream client does (deadlines,
//! cancellation on drop, typed clients, typed batches) works unchanged over HTTP;
//! only calls from the server to the client do not exist over plain HTTP.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{HeaderMap, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::AbortHandle;

use super::HttpClientConfig;
use crate::error::Error;
use crate::framing::FrameError;
use crate::message::{encode_error, ErrorCode, Id};
use crate::peer::{ConnectionConfig, Peer};
use crate::transport::{FrameSink, FrameSource, Progress, WriterStats};
use crate::Client;

/// Plain TCP, or (feature `tls`) TCP or TLS by the URL's scheme.
#[cfg(feature = "tls")]
type Connector = hyper_rustls::HttpsConnector<HttpConnector>;
#[cfg(not(feature = "tls"))]
type Connector = HttpConnector;

type Pool = hyper_util::client::legacy::Client<Connector, Full<Bytes>>;

/// What each POST needs: where, with what, and within what bounds.
struct Target {
    uri: Uri,
    headers: HeaderMap,
    request_timeout: Option<std::time::Duration>,
    max_answer_bytes: usize,
}

impl Client {
    /// A client that POSTs its calls to `url` (`http://host:port/path`, or
    /// `https://` with the `tls` feature), reusing connections between calls, with
    /// [`HttpClientConfig::default`]. Nothing is connected until the first call.
    ///
    /// A call that the server answers with an HTTP error carrying a JSON-RPC error
    /// body (413 over the body limit, 503 over capacity) fails with that error; one
    /// that gets no answer (the connection failed, another status, the request
    /// timeout) fails with -32603 naming the URL and what happened.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when `url` is not an `http://` (or `https://`) URL.
    pub fn connect_http(url: &str, config: ConnectionConfig) -> Result<Client, Error> {
        Self::connect_http_with(url, config, HttpClientConfig::default())
    }

    /// [`Client::connect_http`] with the transport's own settings: timeouts,
    /// pooling, HTTP/2, headers, TLS.
    ///
    /// # Errors
    ///
    /// As [`Client::connect_http`]; an `https://` URL without the `tls` feature.
    pub fn connect_http_with(
        url: &str,
        config: ConnectionConfig,
        http: HttpClientConfig,
    ) -> Result<Client, Error> {
        let invalid = |why: &str| Error::Connect {
            addr: url.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned()),
        };
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") if cfg!(feature = "tls") => {}
            Some("https") => {
                return Err(invalid("https:// URLs need the rpc crate's `tls` feature"))
            }
            _ => return Err(invalid("expected an http://host:port/path URL")),
        }
        if uri.authority().is_none() {
            return Err(invalid("expected an http://host:port/path URL"));
        }
        let pool = pool(&http);
        let max_frame_len = http
            .max_answer_bytes
            .max(crate::framing::DEFAULT_MAX_FRAME_LEN);
        let in_flight = config.max_in_flight.max(1);
        let target = Target {
            uri,
            headers: http.headers,
            request_timeout: http.request_timeout,
            max_answer_bytes: http.max_answer_bytes,
        };
        // Answers come back as they are read; the peer's in-flight limit bounds
        // how many can wait here.
        let (answers, coming) = mpsc::unbounded_channel();
        let sink = Posts {
            pool,
            target: Arc::new(target),
            slots: Arc::new(Semaphore::new(in_flight)),
            out: Arc::default(),
            answers: Some(answers),
            stats: WriterStats::default(),
        };
        let source = Answers {
            coming,
            max_frame_len,
        };
        Ok(Client::owning(Peer::connect_framed(
            source,
            sink,
            config,
            crate::service::Transport::Http,
        )))
    }
}

/// The frames a client's peer writes: each is POSTed by a task of its own, at most
/// as many at once as the peer may have in flight.
struct Posts {
    pool: Pool,
    target: Arc<Target>,
    slots: Arc<Semaphore>,
    /// The POSTs of single calls still out, by id: a `$/cancelRequest` for one of
    /// them aborts its POST instead of being POSTed itself (see `cancelled`).
    out: Arc<Mutex<HashMap<u64, AbortHandle>>>,
    /// Where answers go; dropped at shutdown, so the source ends once the POSTs
    /// still out have answered.
    answers: Option<mpsc::UnboundedSender<Bytes>>,
    stats: WriterStats,
}

impl FrameSink for Posts {
    async fn write_frames(
        &mut self,
        frames: &mut Vec<Bytes>,
        mut progress: Option<&mut Progress>,
    ) -> std::io::Result<()> {
        let closed = || std::io::Error::other("the HTTP client has shut down");
        for frame in frames.drain(..).filter(|frame| !frame.is_empty()) {
            let call = match Sent::of(&frame) {
                Sent::Cancel(id) => {
                    if let Some(post) = lock(&self.out).remove(&id) {
                        post.abort();
                        continue;
                    }
                    None
                }
                Sent::Call(id) => Some(id),
                Sent::Other => None,
            };
            let answers = self.answers.clone().ok_or_else(closed)?;
            let acquire = async {
                self.slots
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| closed())
            };
            let slot = match progress.as_deref_mut() {
                Some(progress) => progress.within(acquire).await?,
                None => acquire.await?,
            };
            if let Some(progress) = progress.as_deref_mut() {
                progress.wrote(frame.len());
            }
            self.stats.frames += 1;
            self.stats.writes += 1;
            self.stats.bytes += frame.len() as u64;
            let (pool, target, out) = (self.pool.clone(), self.target.clone(), self.out.clone());
            // Held while the task is spawned, so that it cannot take its entry out
            // before it is in.
            let mut posts = lock(&self.out);
            let post = tokio::spawn(async move {
                let answer = match target.request_timeout {
                    Some(limit) => tokio::time::timeout(limit, post(&pool, &target, &frame))
                        .await
                        .unwrap_or_else(|_| {
                            failed(
                                &frame,
                                ErrorCode::INTERNAL_ERROR,
                                &format!(
                                    "no answer from {} within the request timeout ({limit:?})",
                                    target.uri
                                ),
                            )
                        }),
                    None => post(&pool, &target, &frame).await,
                };
                if let Some(id) = call {
                    lock(&out).remove(&id);
                }
                if let Some(answer) = answer {
                    let _ = answers.send(answer);
                }
                drop(slot);
            });
            if let Some(id) = call {
                posts.insert(id, post.abort_handle());
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }

    async fn shutdown(&mut self) -> std::io::Result<()> {
        self.answers = None;
        Ok(())
    }

    fn stats(&self) -> WriterStats {
        self.stats
    }
}

/// What a frame the peer writes is, for cancelling: over HTTP a call's POST is
/// its own exchange, which a `$/cancelRequest` POSTed beside it cannot reach (the
/// server serves each connection, or request, in a session of its own). So the
/// client cancels a call by dropping its POST, which the server sees as the client
/// gone and stops the call. Before, a dropped call's POST ran on to its answer or
/// the request timeout, holding one of the client's in-flight slots all along:
/// calls dropped or timed out in numbers stalled every other call (found by
/// `tests/soak_web.rs`).
enum Sent {
    /// `$/cancelRequest` for this id.
    Cancel(u64),
    /// A single call with this id.
    Call(u64),
    /// A notification, a batch, anything else.
    Other,
}

impl Sent {
    fn of(frame: &[u8]) -> Sent {
        use crate::message::{parse, Incoming, Message};
        #[derive(serde::Deserialize)]
        struct CancelParams {
            id: u64,
        }
        match parse(frame) {
            Ok(Incoming::Single(Message::Request(r))) => {
                r.id.as_u64().map_or(Sent::Other, Sent::Call)
            }
            Ok(Incoming::Single(Message::Notification(n)))
                if n.method == crate::engine::CANCEL_METHOD =>
            {
                n.params
                    .and_then(|p| serde_json::from_str::<CancelParams>(p.get()).ok())
                    .map_or(Sent::Other, |p| Sent::Cancel(p.id))
            }
            _ => Sent::Other,
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The answers to a client's POSTs, as the frames its peer reads.
struct Answers {
    coming: mpsc::UnboundedReceiver<Bytes>,
    max_frame_len: usize,
}

impl FrameSource for Answers {
    async fn next_frame(&mut self) -> Option<Result<Bytes, FrameError>> {
        self.coming.recv().await.map(Ok)
    }

    fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }
}

/// hyper's pooling client, set up as `config` says.
fn pool(config: &HttpClientConfig) -> Pool {
    let mut http = HttpConnector::new();
    // Each request is written whole; Nagle's wait only adds latency.
    http.set_nodelay(true);
    http.set_connect_timeout(config.connect_timeout);
    #[cfg(feature = "tls")]
    let connector = {
        // The TLS connector hands `https://` to the inner one as well.
        http.enforce_http(false);
        hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config.tls_config(&[]))
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http)
    };
    #[cfg(not(feature = "tls"))]
    let connector = http;
    let mut builder = hyper_util::client::legacy::Client::builder(TokioExecutor::new());
    builder
        // Without a timer the pool never reaps a connection for being idle: it
        // only drops an expired one when a request would pick it, so
        // `pool_idle_timeout` did not close anything on time.
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .pool_idle_timeout(config.pool_idle_timeout)
        .pool_max_idle_per_host(config.pool_max_idle_per_host)
        .http2_only(config.http2_prior_knowledge);
    builder.build(connector)
}

/// One POST: the answer to write back, if any.
async fn post(pool: &Pool, target: &Target, frame: &Bytes) -> Option<Bytes> {
    let uri = &target.uri;
    let mut request = Request::post(uri.clone())
        .body(Full::new(frame.clone()))
        .ok()?;
    let headers = request.headers_mut();
    for (name, value) in &target.headers {
        headers.append(name, value.clone());
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let response = match pool.request(request).await {
        Ok(response) => response,
        Err(err) => {
            // hyper's own text is terse ("client error (Connect)"); its source says
            // what went wrong (refused, TLS, certificate).
            let cause = std::error::Error::source(&err)
                .map(|source| format!(": {source}"))
                .unwrap_or_default();
            // No connection opened: the request was not sent; or the connection
            // failed under it. The error's data says which, so that a managed
            // client sends the first elsewhere, and the second again only when
            // it is idempotent.
            let data = if err.is_connect() { UNREACHABLE } else { LOST };
            return failed_with(
                frame,
                ErrorCode::INTERNAL_ERROR,
                &format!("HTTP request to {uri} failed: {err}{cause}"),
                Some(data),
            );
        }
    };
    let status = response.status();
    let body = match Limited::new(response.into_body(), target.max_answer_bytes)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            let why = if err.is::<http_body_util::LengthLimitError>() {
                format!(
                    "the answer from {uri} is over the client's limit of {} bytes",
                    target.max_answer_bytes
                )
            } else {
                format!("reading the answer from {uri} failed: {err}")
            };
            return failed(frame, ErrorCode::INTERNAL_ERROR, &why);
        }
    };
    match status {
        StatusCode::OK if !body.is_empty() => Some(body),
        StatusCode::OK | StatusCode::ACCEPTED | StatusCode::NO_CONTENT => None,
        _ => {
            // An HTTP error with a JSON-RPC error body (413, 503): that error, for
            // each call the frame held.
            let error = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").cloned());
            let code = error
                .as_ref()
                .and_then(|e| e.get("code")?.as_i64())
                .map_or(ErrorCode::INTERNAL_ERROR, ErrorCode);
            let message = error
                .as_ref()
                .and_then(|e| e.get("message")?.as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("{uri} answered HTTP {status}"));
            failed(frame, code, &format!("HTTP {}: {message}", status.as_u16()))
        }
    }
}

/// The `data` of the error a call gets when its POST could not connect.
const UNREACHABLE: &str = r#"{"sent":false,"reason":"unreachable"}"#;
/// The `data` of the error a call gets when the connection failed under its POST.
const LOST: &str = r#"{"sent":"unknown","reason":"connection lost"}"#;

/// How an HTTP call failed short of an answer, as this client reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportFailure {
    /// The POST could not connect: the server never saw the call.
    Unreachable,
    /// The connection failed while the POST was out: the call may have run.
    Lost,
}

/// Whether `response` is this client's report of a failed POST, and which.
pub(crate) fn transport_failure(response: &crate::peer::RawResponse) -> Option<TransportFailure> {
    let err = response.result().err()?;
    if err.code != ErrorCode::INTERNAL_ERROR {
        return None;
    }
    match err.data.as_deref().map(RawValue::get) {
        Some(UNREACHABLE) => Some(TransportFailure::Unreachable),
        Some(LOST) => Some(TransportFailure::Lost),
        _ => None,
    }
}

/// Whether a TCP connection to `url`'s host opens within `timeout`: how an HTTP
/// endpoint of a balanced client tells that its server is back.
pub(crate) async fn probe(url: &str, timeout: Option<std::time::Duration>) -> Result<(), Error> {
    let failed = |source: std::io::Error| Error::Connect {
        addr: url.to_owned(),
        source,
    };
    let uri: Uri = url.parse().map_err(|_| {
        failed(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a URL",
        ))
    })?;
    let host = uri.host().unwrap_or("localhost").trim_matches(['[', ']']);
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let connect = tokio::net::TcpStream::connect((host, port));
    match timeout {
        Some(limit) => match tokio::time::timeout(limit, connect).await {
            Ok(result) => result.map(drop).map_err(failed),
            Err(_) => Err(failed(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {limit:?}"),
            ))),
        },
        None => connect.await.map(drop).map_err(failed),
    }
}

/// Error answers addressed to the calls in `frame` (one, or a batch's), so that each
/// fails at once rather than at its deadline; `None` when it held only notifications.
#[cold]
fn failed(frame: &[u8], code: ErrorCode, message: &str) -> Option<Bytes> {
    failed_with(frame, code, message, None)
}

/// [`failed`], with the errors' `data`.
#[cold]
fn failed_with(frame: &[u8], code: ErrorCode, message: &str, data: Option<&str>) -> Option<Bytes> {
    let data: Option<Box<RawValue>> = data.and_then(|d| RawValue::from_string(d.to_owned()).ok());
    #[derive(serde::Deserialize)]
    struct Call<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
    }
    let ids: Vec<&RawValue> = match serde_json::from_slice::<Vec<Call<'_>>>(frame) {
        Ok(calls) => calls.into_iter().filter_map(|c| c.id).collect(),
        Err(_) => serde_json::from_slice::<Call<'_>>(frame)
            .ok()
            .and_then(|c| c.id)
            .into_iter()
            .collect(),
    };
    let answers: Vec<BytesMut> = ids
        .into_iter()
        .filter_map(Id::from_raw)
        .map(|id| {
            let mut buf = BytesMut::new();
            encode_error(&mut buf, id, code, message, data.as_deref());
            buf
        })
        .collect();
    match answers.len() {
        0 => None,
        1 => answers.into_iter().next().map(BytesMut::freeze),
        _ => {
            let mut batch = BytesMut::from(&b"["[..]);
            for (i, answer) in answers.iter().enumerate() {
                if i > 0 {
                    batch.extend_from_slice(b",");
                }
                batch.extend_from_slice(answer);
            }
            batch.extend_from_slice(b"]");
            Some(batch.freeze())
        }
    }
}
