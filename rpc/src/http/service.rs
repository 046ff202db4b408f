//! One HTTP request, as the serving core sees it: a frame posted in, its answer
//! sent back.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};

use super::HttpConfig;
use crate::engine::{Engine, RequestMeta, Session};
use crate::message::{encode_error, ErrorCode, Id};

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
/// | another method | 405 with `Allow: POST` |
/// | a content type other than `application/json` | 415 |
/// | a body over [`HttpConfig::max_body_bytes`] | 413 with a -32600 error body, refused while it streams in |
/// | `GET` to the health path | 200 `ok` |
/// | another path | 404 |
///
/// From [`crate::Server::http_service`], every request is its own session; the
/// server's own loop ([`crate::Server::serve_http`]) gives each HTTP connection one
/// session, so its requests share the connection's in-flight limit and its calls
/// know the client's address.
#[derive(Clone)]
pub struct HttpService {
    engine: Arc<Engine>,
    config: Arc<HttpConfig>,
    /// The HTTP connection's session; `None` makes one per request.
    session: Option<Session>,
    /// The client's address, when served from a socket (for the WebSocket peers
    /// it upgrades to; HTTP calls have it in their session).
    #[cfg_attr(not(feature = "websocket"), allow(dead_code))]
    remote_addr: Option<std::net::SocketAddr>,
    /// Where upgraded WebSockets are served.
    #[cfg(feature = "websocket")]
    ws: super::websocket::WsHost,
}

/// The response body.
pub type HttpBody = Full<Bytes>;

impl HttpService {
    pub(crate) fn new(
        server: &crate::Server,
        config: Arc<HttpConfig>,
        session: Option<Session>,
        remote_addr: Option<std::net::SocketAddr>,
    ) -> Self {
        HttpService {
            engine: server.engine.clone(),
            config,
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

    fn session(&self) -> Session {
        match &self.session {
            Some(session) => session.clone(),
            None => Session::for_exchanges_from(self.engine.clone(), None),
        }
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
        #[cfg(feature = "websocket")]
        if self.config.websocket
            && request.uri().path() == self.config.path
            && super::websocket::is_upgrade(&request)
        {
            let response =
                super::websocket::upgrade(request, &self.config, &self.ws, self.remote_addr);
            return Box::pin(async move { Ok(response) });
        }
        let config = self.config.clone();
        let session = self.session();
        Box::pin(async move { Ok(answer(&config, session, request).await) })
    }
}

/// The response to one request.
async fn answer<B>(config: &HttpConfig, session: Session, request: Request<B>) -> Response<HttpBody>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = request.uri().path();
    if config.health_path.as_deref() == Some(path) && request.method() == Method::GET {
        return plain(StatusCode::OK, "ok");
    }
    if path != config.path {
        return plain(
            StatusCode::NOT_FOUND,
            "not found: JSON-RPC is served on another path",
        );
    }
    if request.method() != Method::POST {
        let mut response = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "JSON-RPC requests are POSTed",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if !is_json(request.headers().get(CONTENT_TYPE)) {
        return plain(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "JSON-RPC requests have the content type application/json",
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
    let body = match Limited::new(body, max).collect().await {
        Ok(body) => body.to_bytes(),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => return too_large(max),
        Err(_) => {
            return plain(
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        }
    };
    let request = Arc::new(RequestMeta { http: head });
    match session.exchange(body, Some(request)).await {
        Some(answer) => json(StatusCode::OK, answer),
        None => empty(StatusCode::ACCEPTED),
    }
}

/// `application/json`, with parameters (`; charset=utf-8`) or not.
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

fn too_large(max: usize) -> Response<HttpBody> {
    let mut buf = BytesMut::with_capacity(160);
    encode_error(
        &mut buf,
        Id::NULL,
        ErrorCode::INVALID_REQUEST,
        &format!("the request body is over the limit of {max} bytes"),
        None,
    );
    json(StatusCode::PAYLOAD_TOO_LARGE, buf.freeze())
}

fn json(status: StatusCode, body: Bytes) -> Response<HttpBody> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<HttpBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn empty(status: StatusCode) -> Response<HttpBody> {
    let mut response = Response::new(Full::new(Bytes::new()));
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
