//! `GET /metrics` on the JSON-RPC HTTP server: a tower layer around the HTTP service
//! that answers that one path with the Prometheus text of the installed recorder,
//! and hands every other request to JSON-RPC.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use metrics_exporter_prometheus::PrometheusHandle;
use rpc::http::HttpBody;

/// The path the metrics are served on.
pub const PATH: &str = "/metrics";

/// Prometheus's text exposition format, version 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Serves `handle`'s rendering on [`PATH`]; `before` runs first on each scrape (to
/// publish what the server reads rather than records: `Server::publish_metrics`).
#[derive(Clone)]
pub struct MetricsLayer {
    handle: PrometheusHandle,
    before: Arc<dyn Fn() + Send + Sync>,
}

impl MetricsLayer {
    pub fn new(handle: PrometheusHandle, before: impl Fn() + Send + Sync + 'static) -> Self {
        MetricsLayer {
            handle,
            before: Arc::new(before),
        }
    }
}

impl<S> tower::Layer<S> for MetricsLayer {
    type Service = WithMetrics<S>;

    fn layer(&self, inner: S) -> WithMetrics<S> {
        WithMetrics {
            inner,
            layer: self.clone(),
        }
    }
}

/// The HTTP service, with `/metrics` in front of it.
#[derive(Clone)]
pub struct WithMetrics<S> {
    inner: S,
    layer: MetricsLayer,
}

type Answer = Pin<Box<dyn Future<Output = Result<Response<HttpBody>, Infallible>> + Send>>;

impl<S, B> tower::Service<Request<B>> for WithMetrics<S>
where
    S: tower::Service<Request<B>, Response = Response<HttpBody>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<HttpBody>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Answer {
        if request.uri().path() != PATH {
            return Box::pin(self.inner.call(request));
        }
        let response = if request.method() == Method::GET {
            (self.layer.before)();
            let mut response = Response::new(HttpBody::whole(self.layer.handle.render()));
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
            response
        } else {
            let mut response = Response::new(HttpBody::whole("use GET\n"));
            *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
            response
                .headers_mut()
                .insert(http::header::ALLOW, HeaderValue::from_static("GET"));
            response
        };
        Box::pin(async move { Ok(response) })
    }
}
