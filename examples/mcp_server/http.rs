//! MCP's Streamable HTTP transport on `/mcp`, over the SDK's HTTP server.
//!
//! The HTTP transport does the generic parts: sessions named by `Mcp-Session-Id`
//! (started by `initialize`, ended by `DELETE`), answers as server-sent events with
//! keep-alive comments when a call takes a while (closing the stream stops the
//! call), 202 for notifications, the `Origin` and `Host` allowlists. This layer
//! adds what is MCP's own:
//!
//! - `MCP-Protocol-Version` names a version this server speaks, else 400;
//! - revision 2026-07-28 is stateless: each request carries its protocol version
//!   and client capabilities in `params._meta`, and the `MCP-Protocol-Version`,
//!   `Mcp-Method` and `Mcp-Name` headers must say what the body says (400 with a
//!   -32020 error body otherwise); errors map to HTTP statuses (404 for an unknown
//!   method, 400 for invalid params), and a batch is refused.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue, ALLOW, CONTENT_TYPE};
use http::request::Parts;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, Limited};
use rpc::http::HttpBody;
use serde_json::{json, Value};

use crate::{HANDSHAKE_VERSIONS, MODERN_VERSIONS};

/// The path MCP is served on.
pub const PATH: &str = "/mcp";
/// The largest request body this layer reads (the HTTP server's default).
const MAX_BODY: usize = 1 << 20;

const PROTOCOL_VERSION: &str = "mcp-protocol-version";
const METHOD: &str = "mcp-method";
const NAME: &str = "mcp-name";

/// MCP's error codes for a request whose headers disagree with its body, and for a
/// protocol version the server does not speak.
const HEADER_MISMATCH: i64 = -32020;
const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// The protocol version a request's head names, if any.
fn version_of(head: &HeaderMap) -> Option<&str> {
    head.get(PROTOCOL_VERSION).and_then(|v| v.to_str().ok())
}

/// Whether a request is of the stateless revision (it needs no session).
pub fn is_stateless(head: &Parts) -> bool {
    version_of(&head.headers).is_some_and(|v| MODERN_VERSIONS.contains(&v))
}

/// Wraps the HTTP service in [`McpHttp`].
#[derive(Debug, Clone, Copy, Default)]
pub struct McpHttpLayer;

impl<S> tower::Layer<S> for McpHttpLayer {
    type Service = McpHttp<S>;

    fn layer(&self, inner: S) -> McpHttp<S> {
        McpHttp { inner }
    }
}

/// MCP's own rules in front of the HTTP service `S`.
#[derive(Debug, Clone)]
pub struct McpHttp<S> {
    inner: S,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<HttpBody>, Infallible>> + Send>>;

impl<S, B> tower::Service<Request<B>> for McpHttp<S>
where
    S: tower::Service<Request<Full<Bytes>>, Response = Response<HttpBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<HttpBody>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Answer {
        let mut inner = self.inner.clone();
        Box::pin(async move {
            let (head, body) = request.into_parts();
            let body = match Limited::new(body, MAX_BODY).collect().await {
                Ok(body) => body.to_bytes(),
                // The HTTP service says what is wrong (413 over the limit).
                Err(_) => Bytes::new(),
            };
            if head.uri.path() != PATH {
                return inner.call(Request::from_parts(head, Full::new(body))).await;
            }
            let stateless = match version_of(&head.headers) {
                None => false,
                Some(v) if HANDSHAKE_VERSIONS.contains(&v) => false,
                Some(v) if MODERN_VERSIONS.contains(&v) => true,
                Some(v) => {
                    let requested = v.to_owned();
                    return Ok(error(
                        StatusCode::BAD_REQUEST,
                        UNSUPPORTED_PROTOCOL_VERSION,
                        "Unsupported protocol version",
                        Some(supported(&requested)),
                    ));
                }
            };
            if !stateless {
                // Sessions, 202s and event streams are the HTTP transport's.
                return inner.call(Request::from_parts(head, Full::new(body))).await;
            }
            if head.method != Method::POST {
                let mut response = Response::new(HttpBody::empty());
                *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
                response
                    .headers_mut()
                    .insert(ALLOW, HeaderValue::from_static("POST"));
                return Ok(response);
            }
            if let Err(refused) = check_stateless(&head.headers, &body) {
                return Ok(refused);
            }
            let response = inner
                .call(Request::from_parts(head, Full::new(body)))
                .await?;
            Ok(with_error_status(response).await)
        })
    }
}

/// The `data` of an unsupported-version error: what the server speaks.
fn supported(requested: &str) -> Value {
    let mut supported: Vec<&str> = HANDSHAKE_VERSIONS.to_vec();
    supported.extend_from_slice(MODERN_VERSIONS);
    json!({ "supported": supported, "requested": requested })
}

/// The stateless revision's checks of one POST: a single message whose envelope
/// (`params._meta`) and routing headers agree.
#[allow(clippy::result_large_err)] // a response built once per refusal
fn check_stateless(headers: &HeaderMap, body: &[u8]) -> Result<(), Response<HttpBody>> {
    let message: Value = serde_json::from_slice(body).map_err(|_| {
        error(
            StatusCode::BAD_REQUEST,
            rpc::ErrorCode::PARSE_ERROR.0,
            "Parse error",
            None,
        )
    })?;
    let Some(message) = message.as_object() else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            rpc::ErrorCode::INVALID_REQUEST.0,
            "the body must be a single JSON-RPC request or notification object (no batches)",
            None,
        ));
    };
    if !message.contains_key("id") {
        // A notification: acknowledged (202) by the HTTP service.
        return Ok(());
    }
    for name in [PROTOCOL_VERSION, METHOD, NAME] {
        if headers.get_all(name).iter().count() > 1 {
            return Err(mismatch(&format!("{name} header appears more than once")));
        }
    }
    let meta = message
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(Value::as_object);
    let version = meta.and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"));
    let capabilities = meta.and_then(|m| m.get("io.modelcontextprotocol/clientCapabilities"));
    let (Some(version), Some(_)) = (version, capabilities) else {
        return Err(error(
            StatusCode::BAD_REQUEST,
            rpc::ErrorCode::INVALID_PARAMS.0,
            "params._meta must carry io.modelcontextprotocol/protocolVersion and \
             io.modelcontextprotocol/clientCapabilities",
            None,
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header(PROTOCOL_VERSION) != version.as_str() {
        return Err(mismatch(
            "mcp-protocol-version header does not match the request envelope's protocol version",
        ));
    }
    let method = message.get("method").and_then(Value::as_str);
    if header(METHOD) != method {
        return Err(mismatch(
            "mcp-method header does not match the request body's method",
        ));
    }
    let name_key = match method {
        Some("tools/call" | "prompts/get") => Some("name"),
        Some("resources/read") => Some("uri"),
        _ => None,
    };
    if let Some(key) = name_key {
        let named = message
            .get("params")
            .and_then(|p| p.get(key))
            .and_then(Value::as_str);
        if named.is_some() && header(NAME).and_then(decode_header_value).as_deref() != named {
            return Err(mismatch(&format!(
                "mcp-name header does not match the request body's {key:?} parameter"
            )));
        }
    }
    Ok(())
}

/// A header value as MCP writes it: as is, or `=?base64?…?=` around the UTF-8 of a
/// value that is not plain printable ASCII.
fn decode_header_value(value: &str) -> Option<String> {
    let Some(payload) = value
        .strip_prefix("=?base64?")
        .and_then(|v| v.strip_suffix("?="))
    else {
        return Some(value.to_owned());
    };
    String::from_utf8(base64_decode(payload)?).ok()
}

/// Standard base64 with padding (the alphabet MCP's header sentinel uses).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.as_bytes();
    if bytes.len() % 4 != 0 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 {
            return None;
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | value(c)?;
        }
        n <<= 6 * pad as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - pad]);
    }
    Some(out)
}

fn mismatch(message: &str) -> Response<HttpBody> {
    error(StatusCode::BAD_REQUEST, HEADER_MISMATCH, message, None)
}

/// `status` with a JSON-RPC error body (null id).
fn error(status: StatusCode, code: i64, message: &str, data: Option<Value>) -> Response<HttpBody> {
    let mut error = json!({ "code": code, "message": message });
    if let Some(data) = data {
        error["data"] = data;
    }
    let body = json!({ "jsonrpc": "2.0", "id": null, "error": error });
    let mut response = Response::new(HttpBody::whole(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The stateless revision answers an error with the HTTP status its code maps to
/// (404 for an unknown method, 400 for bad params); results, and answers already
/// streaming as events, keep 200.
async fn with_error_status(response: Response<HttpBody>) -> Response<HttpBody> {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() != StatusCode::OK || !is_json {
        return response;
    }
    let (mut head, body) = response.into_parts();
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(never) => match never {},
    };
    let code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|answer| answer.get("error")?.get("code")?.as_i64());
    head.status = match code {
        Some(-32601) => StatusCode::NOT_FOUND,
        Some(
            -32700 | -32600 | -32602 | HEADER_MISMATCH | -32021 | UNSUPPORTED_PROTOCOL_VERSION,
        ) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    Response::from_parts(head, HttpBody::whole(body))
}

#[cfg(test)]
mod tests {
    use super::decode_header_value;

    #[test]
    fn header_values_plain_and_base64() {
        assert_eq!(decode_header_value("echo").as_deref(), Some("echo"));
        assert_eq!(
            decode_header_value("=?base64?aMOpbGxv?=").as_deref(),
            Some("héllo")
        );
        assert_eq!(decode_header_value("=?base64?a?=").as_deref(), None);
    }
}
