//! The HTTP client: a [`Client`] whose frames are POSTed.
//!
//! The client's peer writes frames into an in-process pipe as over any stream; a
//! bridge task POSTs each frame (a call, a notification, a batch as one POST) over a
//! pooled hyper client, and writes each answer back into the pipe. So everything a
//! stream client does (deadlines, cancellation on drop, typed clients, typed
//! batches) works unchanged over HTTP; only calls from the server to the client do
//! not exist over plain HTTP.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, Semaphore};

use crate::error::Error;
use crate::framing::Framing;
use crate::message::{encode_error, ErrorCode, Id};
use crate::peer::ConnectionConfig;
use crate::transport::{memory, Connection};
use crate::Client;

type Pool = hyper_util::client::legacy::Client<HttpConnector, Full<Bytes>>;

/// The pipe between the peer and the bridge: `Content-Length` framing, so that any
/// answer body (pretty-printed, with newlines) is one frame.
const PIPE_BYTES: usize = 1 << 20;

impl Client {
    /// A client that POSTs its calls to `url` (`http://host:port/path`), reusing
    /// connections between calls. Nothing is connected until the first call.
    ///
    /// A call that the server answers with an HTTP error carrying a JSON-RPC error
    /// body (413 over the body limit, 503 over capacity) fails with that error; one
    /// that gets no answer (the connection failed, another status) fails with
    /// -32603 naming the URL and what happened.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when `url` is not an `http://` URL.
    pub fn connect_http(url: &str, config: ConnectionConfig) -> Result<Client, Error> {
        let invalid = |why: &str| Error::Connect {
            addr: url.to_owned(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, why.to_owned()),
        };
        let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(invalid("expected an http://host:port/path URL"));
        }
        let mut connector = HttpConnector::new();
        // Each request is written whole; Nagle's wait only adds latency.
        connector.set_nodelay(true);
        let pool: Pool =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build(connector);
        let (client_end, bridge_end) = memory::pair(Framing::ContentLength, PIPE_BYTES);
        let in_flight = config.max_in_flight.max(1);
        tokio::spawn(bridge(bridge_end, pool, Arc::new(uri), in_flight));
        Ok(Client::new(client_end, config))
    }
}

/// POSTs each frame the peer writes, at most `in_flight` at once, and writes each
/// answer back; ends when the peer closes its end.
async fn bridge(
    connection: Connection<tokio::io::DuplexStream, tokio::io::DuplexStream>,
    pool: Pool,
    uri: Arc<Uri>,
    in_flight: usize,
) {
    let Connection {
        mut reader,
        mut writer,
    } = connection;
    let (answers, mut to_write) = mpsc::channel::<Bytes>(64);
    let write = tokio::spawn(async move {
        while let Some(answer) = to_write.recv().await {
            if writer.send(answer).await.is_err() {
                break;
            }
        }
    });
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(Ok(frame)) = reader.next_frame().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let (pool, uri, answers) = (pool.clone(), uri.clone(), answers.clone());
        tokio::spawn(async move {
            if let Some(answer) = post(&pool, &uri, frame).await {
                let _ = answers.send(answer).await;
            }
            drop(slot);
        });
    }
    // The peer has closed: answers still coming back have nobody to read them.
    drop(answers);
    let _ = write.await;
}

/// One POST: the answer to write back, if any.
async fn post(pool: &Pool, uri: &Uri, frame: Bytes) -> Option<Bytes> {
    let mut request = Request::post(uri.clone())
        .body(Full::new(frame.clone()))
        .ok()?;
    let headers = request.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let response = match pool.request(request).await {
        Ok(response) => response,
        Err(err) => {
            return failed(
                &frame,
                ErrorCode::INTERNAL_ERROR,
                &format!("HTTP request to {uri} failed: {err}"),
            );
        }
    };
    let status = response.status();
    let body = match response.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(err) => {
            return failed(
                &frame,
                ErrorCode::INTERNAL_ERROR,
                &format!("reading the answer from {uri} failed: {err}"),
            );
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
            failed(
                &frame,
                code,
                &format!("HTTP {}: {message}", status.as_u16()),
            )
        }
    }
}

/// Error answers addressed to the calls in `frame` (one, or a batch's), so that each
/// fails at once rather than at its deadline; `None` when it held only notifications.
#[cold]
fn failed(frame: &[u8], code: ErrorCode, message: &str) -> Option<Bytes> {
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
            encode_error(&mut buf, id, code, message, None);
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
