//! Answers as server-sent events: a `text/event-stream` response that carries
//! keep-alive comments while a call runs and its answer as one `message` event, for
//! clients that accept it (MCP's Streamable HTTP, browsers' `EventSource`-style
//! readers). Closing the stream stops the call.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderMap, HeaderValue, ACCEPT};
use tokio::time::{Interval, MissedTickBehavior};

use crate::engine::Exchanged;
use crate::transport::{FrameQueue, Queued};

/// One exchange's answer, still to come; dropping it stops the exchange's calls.
pub(crate) type PendingAnswer = Pin<Box<dyn Future<Output = Exchanged> + Send>>;

/// What a keep-alive is: an SSE comment, which readers skip.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The events of one answer: a comment at once and every `keep_alive` until the
/// answer is ready, the notifications its handler sent before answering
/// ([`crate::CallContext::notify`]: progress), then the answer, then (for a
/// streaming call) its items, then the end.
pub(crate) struct EventStream {
    /// The answer, until it is ready.
    answer: Option<PendingAnswer>,
    /// The answer once ready, until every notification sent before it is out.
    ready: Option<Option<Bytes>>,
    /// Whether the answer has been sent (or there was none to send).
    answered: bool,
    /// Frames the call's handler or its stream sent: notifications before the answer,
    /// a streaming call's items after it.
    queue: Option<FrameQueue>,
    /// A frame taken from the queue before its turn: a notification taken while
    /// choosing between JSON and an event stream, or a stream's item taken while
    /// looking for notifications (sent after the answer).
    held: Option<Queued>,
    /// Whether the queue goes on after the answer (a streaming call's items) or the
    /// response ends with the answer.
    items_follow: bool,
    keep_alive: Interval,
}

impl EventStream {
    /// The events of a call (or a batch) whose handler may send notifications into
    /// `queue` before answering; with `items_follow`, a streaming call's items
    /// after it, until the stream's last notification.
    pub(crate) fn new(
        answer: PendingAnswer,
        keep_alive: Duration,
        queue: Option<FrameQueue>,
        items_follow: bool,
    ) -> Self {
        let mut keep_alive = tokio::time::interval(keep_alive);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        EventStream {
            answer: Some(answer),
            ready: None,
            answered: false,
            queue,
            held: None,
            items_follow,
            keep_alive,
        }
    }

    /// The stream, with `first` taken from its queue already.
    pub(crate) fn holding(mut self, first: Option<Queued>) -> Self {
        self.held = first;
        self
    }

    /// The next frame of the queue: one already held first.
    fn poll_queued(&mut self, cx: &mut Context<'_>) -> Poll<Option<Queued>> {
        if let Some(held) = self.held.take() {
            return Poll::Ready(Some(held));
        }
        let Some(queue) = &mut self.queue else {
            return Poll::Ready(None);
        };
        let next = queue.poll_recv(cx);
        if let Poll::Ready(None) = next {
            self.queue = None;
        }
        next
    }

    /// The next bytes of the stream; `None` once it is over.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if !self.answered {
            // The answer first: once it is seen, every notification sent before it
            // is in the queue, and goes out ahead of it.
            if let Some(answer) = &mut self.answer {
                if let Poll::Ready(exchanged) = answer.as_mut().poll(cx) {
                    self.answer = None;
                    self.ready = Some(exchanged.answer);
                }
            }
            match self.poll_queued(cx) {
                Poll::Ready(Some(note)) if note.precedes_answer => {
                    return Poll::Ready(Some(message_event(&note.frame)));
                }
                // A stream's item: its answer is on its way; the item follows it.
                Poll::Ready(Some(item)) => self.held = Some(item),
                Poll::Ready(None) | Poll::Pending => {}
            }
            if let Some(answer) = self.ready.take() {
                self.answered = true;
                if !self.items_follow {
                    self.queue = None;
                    self.held = None;
                }
                if let Some(answer) = answer {
                    return Poll::Ready(Some(message_event(&answer)));
                }
            }
        }
        if self.answered {
            match self.poll_queued(cx) {
                Poll::Ready(Some(item)) => return Poll::Ready(Some(message_event(&item.frame))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => {}
            }
        }
        if self.keep_alive.poll_tick(cx).is_ready() {
            return Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE)));
        }
        Poll::Pending
    }

    pub(crate) fn is_done(&self) -> bool {
        self.answered && self.queue.is_none() && self.held.is_none()
    }
}

/// `answer` as one `message` event. A line break in the JSON (a handler's raw,
/// pretty-printed result) starts another `data:` line, which readers join back with
/// a line feed: the JSON is unchanged.
pub(crate) fn message_event(answer: &[u8]) -> Bytes {
    let mut event = BytesMut::with_capacity(answer.len() + 24);
    event.put_slice(b"event: message\n");
    for line in answer.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        event.put_slice(b"data: ");
        event.put_slice(line);
        event.put_u8(b'\n');
    }
    event.put_u8(b'\n');
    event.freeze()
}

/// What the `Accept` headers of a request allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Accepts {
    pub(crate) json: bool,
    pub(crate) event_stream: bool,
}

/// Reads the `Accept` headers: no header accepts anything (JSON, not events: an
/// event stream is only for a client that asks for one); `*/*` and `application/*`
/// accept JSON; a media type with `q=0` is refused.
pub(crate) fn accepts(headers: &HeaderMap) -> Accepts {
    let mut values = headers.get_all(ACCEPT).iter().peekable();
    if values.peek().is_none() {
        return Accepts {
            json: true,
            event_stream: false,
        };
    }
    let mut accepts = Accepts {
        json: false,
        event_stream: false,
    };
    for range in values
        .filter_map(|v: &HeaderValue| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let refused = parts.any(|p| {
            let p = p.trim();
            p.eq_ignore_ascii_case("q=0")
                || p.eq_ignore_ascii_case("q=0.0")
                || p.eq_ignore_ascii_case("q=0.00")
                || p.eq_ignore_ascii_case("q=0.000")
        });
        if refused {
            continue;
        }
        if media.eq_ignore_ascii_case("application/json")
            || media.eq_ignore_ascii_case("application/*")
            || media == "*/*"
        {
            accepts.json = true;
        }
        if media.eq_ignore_ascii_case("text/event-stream") {
            accepts.event_stream = true;
        }
    }
    accepts
}

#[cfg(test)]
mod tests {
    use super::{accepts, message_event, Accepts};
    use http::header::{HeaderMap, HeaderValue, ACCEPT};

    fn with(accept: &[&'static str]) -> Accepts {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(ACCEPT, HeaderValue::from_static(value));
        }
        accepts(&headers)
    }

    #[test]
    fn accept_headers_name_json_and_event_streams() {
        let both = Accepts {
            json: true,
            event_stream: true,
        };
        assert_eq!(with(&["application/json, text/event-stream"]), both);
        assert_eq!(with(&["application/json", "text/event-stream"]), both);
        assert_eq!(with(&["*/*;q=0.8, Text/Event-Stream"]), both);
        assert_eq!(
            with(&[]),
            Accepts {
                json: true,
                event_stream: false
            }
        );
        assert_eq!(
            with(&["text/html"]),
            Accepts {
                json: false,
                event_stream: false
            }
        );
        assert_eq!(
            with(&["application/json;q=0, text/event-stream"]),
            Accepts {
                json: false,
                event_stream: true
            }
        );
    }

    #[test]
    fn line_breaks_in_an_answer_become_data_lines() {
        assert_eq!(
            &message_event(b"{\"a\":1}")[..],
            b"event: message\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(
            &message_event(b"{\r\n\"a\": 1\n}")[..],
            b"event: message\ndata: {\ndata: \"a\": 1\ndata: }\n\n"
        );
    }
}
