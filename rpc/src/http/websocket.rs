//! JSON-RPC over WebSocket (feature `websocket`): an upgrade of a `GET` on the HTTP
//! server's path (the client is in `websocket_client`).
//!
//! An upgraded WebSocket is served as any stream connection, its messages being the
//! frames (`websocket_frames`): so a WebSocket peer has exactly a TCP peer's
//! semantics (many calls in flight, calls and notifications from the server to the
//! client, `$/cancelRequest`, notification order, exactly one answer per call), plus
//! the WebSocket's own rules: pings at an interval and a close when nothing (not even
//! a pong) came for the idle timeout, a maximum message size, and close frames with a
//! reason.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_util::task::TaskTracker;

use super::{HttpBody, HttpConfig};
use crate::engine::{Engine, RequestMeta};
use crate::peer::Peer;

/// What serving an upgraded connection needs from its server.
#[derive(Clone)]
pub(crate) struct WsHost {
    pub(crate) engine: Arc<Engine>,
    pub(crate) connections: TaskTracker,
    pub(crate) open: Arc<AtomicUsize>,
}

/// The WebSocket's own rules, on either end.
#[derive(Debug, Clone, Copy)]
pub(super) struct KeepAlive {
    pub(super) ping_every: Option<Duration>,
    pub(super) idle_timeout: Option<Duration>,
}

/// Whether `request` asks for a WebSocket (RFC 6455 section 4.2.1).
pub(crate) fn is_upgrade<B>(request: &Request<B>) -> bool {
    let has = |name, token: &str| {
        request.headers().get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    request.method() == Method::GET && has(UPGRADE, "websocket") && has(CONNECTION, "upgrade")
}

/// Answers a WebSocket request with 101 and serves the upgraded connection as a
/// peer of `host`'s server, from `remote_addr`.
pub(crate) fn upgrade<B: Send + 'static>(
    mut request: Request<B>,
    config: &HttpConfig,
    host: &WsHost,
    remote_addr: Option<SocketAddr>,
) -> Response<HttpBody> {
    let version_ok = request
        .headers()
        .get(SEC_WEBSOCKET_VERSION)
        .is_some_and(|v| v.as_bytes() == b"13");
    let Some(key) = request
        .headers()
        .get(SEC_WEBSOCKET_KEY)
        .filter(|_| version_ok)
    else {
        let mut response = Response::new(HttpBody::whole(Bytes::from_static(
            b"a WebSocket upgrade needs Sec-WebSocket-Key and Sec-WebSocket-Version: 13",
        )));
        *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return response;
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(&mut request);
    // Every call on the WebSocket sees the upgrade's head (its headers, and what
    // layers put in its extensions), as an HTTP call sees its request's.
    let (head, _) = request.into_parts();
    let opened_by = Some(Arc::new(RequestMeta {
        http: detached(head),
    }));
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.websocket_read_buffer_bytes.max(1))
        .max_message_size(Some(config.websocket_max_message_bytes))
        .max_frame_size(Some(config.websocket_max_message_bytes));
    let keep_alive = KeepAlive {
        ping_every: config.websocket_ping_interval,
        idle_timeout: config.websocket_idle_timeout,
    };
    let max_message = config.websocket_max_message_bytes;
    let host = host.clone();
    let connections = host.connections.clone();
    connections.spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(upgraded) => upgraded,
            Err(err) => {
                tracing::debug!(%err, "a WebSocket upgrade did not complete");
                return;
            }
        };
        // A client that closes its sending side without a close frame still gets
        // the answers to the calls it sent (`SeesEof`).
        let eof = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let io = super::websocket_frames::SeesEof::new(TokioIo::new(upgraded), eof.clone());
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(ws_config)).await;
        let (source, sink) = super::websocket_frames::frames(ws, keep_alive, max_message);
        let source = source.ending_at(eof);
        let peer = Peer::start_framed(
            source,
            sink,
            host.engine.clone(),
            None,
            (remote_addr, crate::service::Transport::WebSocket),
            opened_by,
        );
        host.open.fetch_add(1, Ordering::Relaxed);
        let open = host.open.clone();
        // Tracked until the peer has closed, so that the server's shutdown waits for
        // its answers to be written.
        host.connections.spawn(async move {
            peer.closed().await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    });
    let mut response = Response::new(HttpBody::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

/// `head` with its own copies of the URI and header values. hyper parses them as
/// slices of the connection's read buffer, which they would keep alive (16 KiB) for
/// as long as the WebSocket lives.
fn detached(mut head: http::request::Parts) -> http::request::Parts {
    let mut headers = http::HeaderMap::with_capacity(head.headers.len());
    for (name, value) in &head.headers {
        if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
            copy.set_sensitive(value.is_sensitive());
            headers.append(name.clone(), copy);
        }
    }
    head.headers = headers;
    if let Ok(uri) = head.uri.to_string().parse() {
        head.uri = uri;
    }
    head
}
