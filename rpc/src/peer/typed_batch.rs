//! Typed batches: several calls sent as one frame, each answered with its own type.
//!
//! The generated `{Trait}Batch` wraps a [`Batch`]; by hand, [`Batch::call`] names the
//! result type of each call.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{BatchBuilder, Peer, RawResponse};
use crate::error::Error;

/// Tells batches apart, so that a handle is only ever redeemed in its own batch.
static NEXT_BATCH: AtomicU64 = AtomicU64::new(1);

/// Calls and notifications gathered into one batch frame, each call giving back a
/// typed handle to its result.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rpc::Error> {
/// use rpc::prelude::*;
/// use rpc::service::{MethodInfo, Router};
///
/// let (client_end, server_end) = rpc::transport::memory::pair(Framing::Ndjson, 1 << 16);
/// let router = Router::new()
///     .method(MethodInfo::new("add"), |call| async move {
///         let (a, b): (i64, i64) = call.decode_params()?;
///         call.respond(&(a + b))
///     })
///     .method(MethodInfo::new("shout"), |call| async move {
///         let (text,): (String,) = call.decode_params()?;
///         call.respond(&text.to_uppercase())
///     });
/// let server = Server::new(router);
/// server.serve_connection(server_end);
/// let client = Client::new(client_end, ConnectionConfig::default());
///
/// let mut batch = rpc::Batch::new(&client);
/// let sum = batch.call::<_, i64>("add", &(2, 3));
/// let loud = batch.call::<_, String>("shout", &("hi",));
/// let mut answers = batch.send().await?;
/// assert_eq!(answers.take(sum)?, 5);
/// assert_eq!(answers.take(loud)?, "HI");
/// # Ok(())
/// # }
/// ```
pub struct Batch<'a> {
    builder: Option<BatchBuilder<'a>>,
    batch: u64,
    calls: usize,
}

/// The handle of one call in a [`Batch`]: redeem it with [`BatchResponses::take`]
/// for the call's result, decoded as `R`.
#[must_use = "a batch call's result is read by handing its handle to `BatchResponses::take`"]
pub struct BatchCall<R> {
    batch: u64,
    index: usize,
    method: Cow<'static, str>,
    result: PhantomData<fn() -> R>,
}

/// The responses of a sent [`Batch`], one per call.
pub struct BatchResponses {
    batch: u64,
    responses: Vec<Option<Result<RawResponse, Error>>>,
}

impl<'a> Batch<'a> {
    /// An empty batch, to be sent over `peer`.
    pub fn new(peer: &'a Peer) -> Self {
        Batch {
            builder: Some(peer.batch()),
            batch: NEXT_BATCH.fetch_add(1, Ordering::Relaxed),
            calls: 0,
        }
    }

    fn builder(&mut self, add: impl FnOnce(BatchBuilder<'a>) -> BatchBuilder<'a>) {
        let builder = self
            .builder
            .take()
            .expect("the builder is put back after each call");
        self.builder = Some(add(builder));
    }

    /// Adds a call of `method`, whose result decodes as `R`.
    pub fn call<P, R>(&mut self, method: impl Into<Cow<'static, str>>, params: &P) -> BatchCall<R>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let method = method.into();
        self.builder(|b| b.call(&method, params));
        let index = self.calls;
        self.calls += 1;
        BatchCall {
            batch: self.batch,
            index,
            method,
            result: PhantomData,
        }
    }

    /// Adds a notification.
    pub fn notify<P: Serialize + ?Sized>(&mut self, method: &str, params: &P) {
        self.builder(|b| b.notify(method, params));
    }

    /// How many calls (not notifications) the batch holds.
    pub fn len(&self) -> usize {
        self.calls
    }

    /// Whether the batch holds no calls.
    pub fn is_empty(&self) -> bool {
        self.calls == 0
    }

    /// Sends the batch and waits for every call's response (under the connection's
    /// `request_timeout`, counted from the send).
    ///
    /// # Errors
    ///
    /// The whole batch fails when a params value fails to encode or the connection
    /// is closed; each call's own outcome is read with [`BatchResponses::take`].
    pub async fn send(mut self) -> Result<BatchResponses, Error> {
        let builder = self.builder.take().expect("a batch is sent once");
        let responses = builder.send().await?;
        Ok(BatchResponses {
            batch: self.batch,
            responses: responses.into_iter().map(Some).collect(),
        })
    }
}

impl BatchResponses {
    /// The result of the call `call` stands for, decoded as its type.
    ///
    /// # Errors
    ///
    /// The server's error for that call ([`Error::Rpc`]), a timeout, a lost
    /// connection, or a result that does not decode.
    ///
    /// # Panics
    ///
    /// When `call` belongs to another batch.
    pub fn take<R: DeserializeOwned>(&mut self, call: BatchCall<R>) -> Result<R, Error> {
        assert_eq!(
            call.batch, self.batch,
            "a `BatchCall` handle was redeemed in another batch's responses"
        );
        let response = self.responses[call.index]
            .take()
            .expect("each handle is redeemed once: `take` consumes it");
        response?.decode(&call.method)
    }
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("calls", &self.calls)
            .field("builder", &self.builder)
            .finish()
    }
}

impl<R> std::fmt::Debug for BatchCall<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchCall")
            .field("index", &self.index)
            .field("method", &self.method)
            .finish()
    }
}

impl std::fmt::Debug for BatchResponses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchResponses")
            .field(
                "pending",
                &self.responses.iter().filter(|r| r.is_some()).count(),
            )
            .finish()
    }
}
