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
use crate::transport::FrameQueue;

/// One exchange's answer, still to come; dropping it stops the exchange's calls.
pub(crate) type PendingAnswer = Pin<Box<dyn Future<Output = Exchanged> + Send>>;

/// What a keep-alive is: an SSE comment, which readers skip.
const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The events of one answer: a comment at once and every `keep_alive` until the
/// answer is ready, then the answer, then the end.
pub(crate) struct EventStream {
    answer: Option<PendingAnswer>,
    /// For a streaming call: its items, as events after the answer, until the
    /// stream's last notification.
    items: Option<FrameQueue>,
    keep_alive: Interval,
}

impl EventStream {
    pub(crate) fn new(answer: PendingAnswer, keep_alive: Duration) -> Self {
        let mut keep_alive = tokio::time::interval(keep_alive);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        EventStream {
            answer: Some(answer),
            items: None,
            keep_alive,
        }
    }

    /// The events of a streaming call: its answer, then its items.
    pub(crate) fn with_items(
        answer: PendingAnswer,
        keep_alive: Duration,
        items: FrameQueue,
    ) -> Self {
        let mut stream = Self::new(answer, keep_alive);
        stream.items = Some(items);
        stream
    }

    /// The next bytes of the stream; `None` once the answer has been sent.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        if let Some(answer) = &mut self.answer {
            if let Poll::Ready(exchanged) = answer.as_mut().poll(cx) {
                self.answer = None;
                match exchanged.answer {
                    Some(answer) => return Poll::Ready(Some(message_event(&answer))),
                    None if self.items.is_none() => return Poll::Ready(None),
                    None => {}
                }
            }
        } else {
            let Some(items) = &mut self.items else {
                return Poll::Ready(None);
            };
            match items.poll_recv(cx) {
                Poll::Ready(Some(item)) => return Poll::Ready(Some(message_event(&item))),
                Poll::Ready(None) => {
                    self.items = None;
                    return Poll::Ready(None);
                }
                Poll::Pending => {}
            }
        }
        if self.keep_alive.poll_tick(cx).is_ready() {
            return Poll::Ready(Some(Bytes::from_static(KEEP_ALIVE)));
        }
        Poll::Pending
    }

    pub(crate) fn is_done(&self) -> bool {
        self.answer.is_none() && self.items.is_none()
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
