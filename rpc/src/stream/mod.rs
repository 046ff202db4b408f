//! Streaming methods: a call answered with a subscription id, then the stream's
//! items as notifications, until the stream ends, the caller unsubscribes or the
//! connection closes.
//!
//! The wire shape is the publish/subscribe one Ethereum and jsonrpsee clients speak:
//!
//! ```text
//! → {"jsonrpc":"2.0","id":1,"method":"subscribe_count","params":[0,3]}
//! ← {"jsonrpc":"2.0","id":1,"result":"0x1"}
//! ← {"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","result":0}}
//! ← {"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","result":1}}
//! ← {"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","result":2}}
//! ← {"jsonrpc":"2.0","method":"count","params":{"subscription":"0x1","closed":"ended"}}
//! → {"jsonrpc":"2.0","id":2,"method":"unsubscribe_count","params":["0x1"]}   (to stop early)
//! ← {"jsonrpc":"2.0","id":2,"result":true}
//! ```
//!
//! The items of one stream are sent in order, and after the call's answer. A
//! stream that ends, fails (`"error": {..}` beside `"closed": "failed"`), falls too
//! far behind (`"closed": "lagged"`) or is stopped by the server's shutdown
//! (`"closed": "shutdown"`) says so in a last notification; a client that ignores
//! unknown fields (an Ethereum library) sees only the items. An unsubscribed
//! stream sends nothing more after the `true`.
//!
//! Streams go over every connection; over HTTP, a streaming call POSTed alone with
//! `Accept: text/event-stream` is answered by an event stream that carries the
//! answer, then each notification, as `message` events, and closing it stops the
//! stream.
//!
//! Each stream has a bounded buffer of items waiting for the connection, and an
//! [`Overflow`] policy for when it is full, so one stream whose reader is slow
//! holds at most its buffer and never the other calls on its connection; a
//! connection holds at most [`crate::ConnectionConfig::max_streams`] streams.

pub(crate) mod client;
pub(crate) mod queue;
pub(crate) mod server;

use std::borrow::Cow;

pub use client::{CloseReason, Subscription};
/// The trait a streaming method's return value implements (`futures_core`'s, which
/// `futures`, `tokio-stream` and `async-stream` use).
pub use futures_core::Stream;

/// What a stream does when its buffer is full: the connection is not taking its
/// items as fast as it makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Overflow {
    /// The stream is not polled until an item has been written: the producer waits
    /// for the reader (the default). Right for streams that make items on demand.
    #[default]
    Wait,
    /// The stream is polled on; while the buffer is full the oldest item waiting is
    /// dropped for the newest (counted in the method's metrics). Right for state
    /// that only its latest value matters for (prices, positions).
    DropOldest,
    /// The stream is closed as lagged (`"closed": "lagged"`) when another item comes
    /// while the buffer is full. Right when a gap would mislead the reader.
    Close,
}

/// How a streaming method sends its items: the notifications' method, the method
/// that unsubscribes, and the stream's buffer and [`Overflow`] policy.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamSpec {
    /// The method of the notifications that carry the items.
    pub item_method: Cow<'static, str>,
    /// The method a client calls with the subscription id to stop the stream; it
    /// answers `true`, or `false` for an id that is not open on the connection.
    pub unsubscribe_method: Cow<'static, str>,
    /// How many items may wait for the connection (64). With [`Overflow::DropOldest`]
    /// as many again wait their turn to be queued.
    pub buffer: usize,
    /// What happens when the buffer is full.
    pub overflow: Overflow,
}

impl StreamSpec {
    /// Items sent as `item_method` notifications, stopped by `unsubscribe_method`,
    /// with a buffer of 64 and [`Overflow::Wait`].
    pub const fn new(item_method: &'static str, unsubscribe_method: &'static str) -> Self {
        StreamSpec {
            item_method: Cow::Borrowed(item_method),
            unsubscribe_method: Cow::Borrowed(unsubscribe_method),
            buffer: 64,
            overflow: Overflow::Wait,
        }
    }

    /// Sets the buffer (at least 1).
    #[must_use]
    pub const fn buffer(mut self, items: usize) -> Self {
        self.buffer = if items == 0 { 1 } else { items };
        self
    }

    /// Sets the overflow policy.
    #[must_use]
    pub const fn overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }
}

/// The params of an item or closing notification, as sent.
#[derive(serde::Serialize)]
pub(crate) struct ItemParams<'a, T: ?Sized> {
    pub(crate) subscription: &'a str,
    pub(crate) result: &'a T,
}
