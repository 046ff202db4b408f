//! Ending HTTP connections that stay idle ([`super::HttpConfig::idle_timeout`]).
//!
//! A connection is busy while a request on it is being served, or a response body
//! on it waits for what it sends next (an event stream waiting for its answer); it
//! is idle otherwise. A response body that has its bytes ready and that hyper does
//! not take (the client is not reading: an HTTP/2 client that grants no
//! flow-control window) keeps it busy no longer than the idle timeout: each time
//! hyper takes from a body counts as activity, and nothing else does. hyper ends an
//! HTTP/1.1 connection that takes too long to send its next request head, but
//! nothing ends an HTTP/2 connection a client keeps open and unused: each would
//! hold a connection slot and its buffers for good. So the service of each
//! connection is wrapped to count what is busy on it, and a connection idle for the
//! timeout is closed. Nothing accepted is lost: a request
//! that got in makes the connection busy until its answer is written.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::Response;
use http_body::{Body, Frame, SizeHint};

/// What is busy on one connection, and since when it has been idle.
pub(crate) struct Activity {
    busy: AtomicUsize,
    /// Milliseconds from `started` to when the connection last became idle: an
    /// atomic, so that a request costs no lock.
    idle_since: AtomicU64,
    started: Instant,
}

impl Activity {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Activity {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            started: Instant::now(),
        })
    }

    fn enter(self: &Arc<Self>) -> Busy {
        self.busy.fetch_add(1, Ordering::AcqRel);
        Busy(self.clone())
    }

    /// Something happened on the connection: it is idle from now, at the earliest.
    fn touch(&self) {
        self.idle_since.store(self.now_ms(), Ordering::Release);
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// How long the connection has been idle; `None` while it is busy.
    pub(crate) fn idle_for(&self) -> Option<Duration> {
        if self.busy.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.idle_since.load(Ordering::Acquire);
        Some(Duration::from_millis(self.now_ms().saturating_sub(since)))
    }

    /// Waits until the connection has been idle for `limit`.
    pub(crate) async fn idle(&self, limit: Duration) {
        loop {
            let wait = match self.idle_for() {
                Some(idle) if idle >= limit => return,
                Some(idle) => limit - idle,
                None => limit,
            };
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }
}

/// One thing busy on a connection, until dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .idle_since
            .store(activity.now_ms(), Ordering::Release);
        activity.busy.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A connection's service, counting each request busy until its response body is
/// done.
#[derive(Clone)]
pub(crate) struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    pub(crate) fn new(inner: S, activity: Arc<Activity>) -> Self {
        Tracked { inner, activity }
    }
}

impl<S, R, B> tower::Service<R> for Tracked<S>
where
    S: tower::Service<R, Response = Response<B>>,
{
    type Response = Response<TrackedBody<B>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        TrackedFuture {
            busy: Some(self.activity.enter()),
            inner: self.inner.call(request),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response on its way; the request stays busy in its body.
    pub(crate) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        busy: Option<Busy>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = std::task::ready!(this.inner.poll(cx));
        // The request is served: from now on its body keeps the connection busy
        // only while it waits for what it sends next (see `TrackedBody`).
        let busy = this.busy.take();
        Poll::Ready(response.map(|response| {
            response.map(|inner| TrackedBody {
                inner,
                activity: busy.as_ref().map(|busy| busy.0.clone()),
                waiting: None,
            })
        }))
    }
}

pin_project_lite::pin_project! {
    /// A response body, which keeps its connection busy while it waits for what
    /// it sends next (its last poll was `Pending`), and counts as activity each
    /// time hyper takes from it. One whose bytes are ready and never taken (the
    /// client reads nothing) lets the connection go idle: before, it kept the
    /// connection busy until dropped, so an HTTP/2 client that never sent
    /// `WINDOW_UPDATE` held its connection, and up to `max_concurrent_streams`
    /// answers, for good.
    pub(crate) struct TrackedBody<B> {
        #[pin]
        inner: B,
        activity: Option<Arc<Activity>>,
        waiting: Option<Busy>,
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Some(activity) = this.activity.as_ref() {
            match polled {
                Poll::Pending if this.waiting.is_none() => {
                    *this.waiting = Some(activity.enter());
                }
                Poll::Pending => {}
                // Dropping the `Busy` it waited in marks the time too.
                Poll::Ready(_) if this.waiting.take().is_some() => {}
                Poll::Ready(_) => activity.touch(),
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
