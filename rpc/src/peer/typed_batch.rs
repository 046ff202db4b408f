//! Typed batches: several calls sent as one frame, each answered with its own type.
//!
//! The generated `{Trait}Batch` wraps a [`Batch`]; by hand, [`Batch::call`] names the
//! result type of each call.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::DeserializeOwned;
use serde::Serialize;

use serde_json::value::RawValue;

use super::{BatchBuilder, RawResponse};
use crate::client::Client;
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
    building: Building<'a>,
    batch: u64,
    calls: usize,
}

/// Over one connection, calls are encoded into the frame as they are added; a
/// managed client picks its connection (and so the ids) only when the batch is
/// sent, so until then each call is kept as its encoded params.
enum Building<'a> {
    Frame(Option<BatchBuilder<'a>>),
    Deferred {
        client: &'a Client,
        items: Vec<Deferred>,
        error: Option<Error>,
    },
}

struct Deferred {
    method: String,
    params: Box<RawValue>,
    call: bool,
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
    /// An empty batch, to be sent over `client` (a managed client sends it whole
    /// over one of its connections).
    pub fn new(client: &'a Client) -> Self {
        let building = match client.peer() {
            Some(peer) => Building::Frame(Some(peer.batch())),
            None => Building::Deferred {
                client,
                items: Vec::new(),
                error: None,
            },
        };
        Batch {
            building,
            batch: NEXT_BATCH.fetch_add(1, Ordering::Relaxed),
            calls: 0,
        }
    }

    fn add<P: Serialize + ?Sized>(&mut self, method: &str, params: &P, call: bool) {
        match &mut self.building {
            Building::Frame(builder) => {
                let taken = builder
                    .take()
                    .expect("the builder is put back after each call");
                *builder = Some(if call {
                    taken.call(method, params)
                } else {
                    taken.notify(method, params)
                });
            }
            Building::Deferred { items, error, .. } => {
                match serde_json::value::to_raw_value(params) {
                    Ok(params) => items.push(Deferred {
                        method: method.to_owned(),
                        params,
                        call,
                    }),
                    Err(err) => {
                        error.get_or_insert(Error::Encode(err.into()));
                    }
                }
            }
        }
    }

    /// Adds a call of `method`, whose result decodes as `R`.
    pub fn call<P, R>(&mut self, method: impl Into<Cow<'static, str>>, params: &P) -> BatchCall<R>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let method = method.into();
        self.add(&method, params, true);
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
        self.add(method, params, false);
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
    pub async fn send(self) -> Result<BatchResponses, Error> {
        let responses = match self.building {
            Building::Frame(builder) => builder.expect("a batch is sent once").send().await?,
            Building::Deferred {
                client,
                items,
                error,
            } => {
                if let Some(err) = error {
                    return Err(err);
                }
                let peer = client.peer_for_batch().await?;
                let mut builder = peer.batch();
                for item in &items {
                    builder = if item.call {
                        builder.call(&item.method, &item.params)
                    } else {
                        builder.notify(&item.method, &item.params)
                    };
                }
                builder.send().await?
            }
        };
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
            .field(
                "deferred",
                &matches!(self.building, Building::Deferred { .. }),
            )
            .finish_non_exhaustive()
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
