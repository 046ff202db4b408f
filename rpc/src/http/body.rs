//! The body of the HTTP server's responses: the answer whole, or an event stream
//! that carries it when it comes.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::sse::EventStream;

/// The body of the responses of [`super::HttpService`]: whole (an answer, an error,
/// nothing), or a `text/event-stream` that sends keep-alive comments until the
/// answer is ready. Dropping an event stream (the client went away) stops the calls
/// whose answer it was waiting for.
pub struct HttpBody {
    kind: Kind,
}

enum Kind {
    Whole(Option<Bytes>),
    Events(Box<EventStream>),
}

impl HttpBody {
    /// A body of `bytes`, sent whole.
    pub fn whole(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        HttpBody {
            kind: Kind::Whole((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// An empty body.
    pub fn empty() -> Self {
        HttpBody {
            kind: Kind::Whole(None),
        }
    }

    pub(crate) fn events(stream: EventStream) -> Self {
        HttpBody {
            kind: Kind::Events(Box::new(stream)),
        }
    }
}

impl From<Bytes> for HttpBody {
    fn from(bytes: Bytes) -> Self {
        HttpBody::whole(bytes)
    }
}

impl std::fmt::Debug for HttpBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            Kind::Whole(bytes) => f
                .debug_struct("HttpBody")
                .field("len", &bytes.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Events(_) => f.write_str("HttpBody(text/event-stream)"),
        }
    }
}

impl Body for HttpBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.get_mut().kind {
            Kind::Whole(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Events(stream) => stream
                .poll_next(cx)
                .map(|event| event.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Whole(bytes) => bytes.is_none(),
            Kind::Events(stream) => stream.is_done(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Whole(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            Kind::Events(_) => SizeHint::default(),
        }
    }
}
