//! Clients: one connection, a reconnecting connection, or a balanced set of
//! endpoints, all behind one [`Client`] type that generated typed clients wrap.
//!
//! - `mod.rs`: [`Client`] and what a call can say about itself ([`CallOptions`]).
//! - `endpoint.rs`: [`Endpoint`], how to open a connection again (TCP, Unix,
//!   WebSocket, HTTP, or your own).
//! - `backoff.rs`: [`Backoff`], exponential delays with jitter and a cap.
//! - `managed.rs`: the endpoint set behind reconnecting and balanced clients: a task
//!   per endpoint keeps it connected, calls pick a connected one.
//! - `balance.rs`: how a call picks its endpoint (power of two choices, or
//!   rendezvous hashing of a key), and endpoint sets that change ([`Client::discover`]).
//! - `service.rs`: [`Client`] as a `tower::Service` that reports its load.
//! - `pool.rs`: [`ClientPool`], several TCP connections to one server.

mod backoff;
mod balance;
mod endpoint;
mod managed;
mod pool;
mod service;

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::ToSocketAddrs;

use crate::error::Error;
use crate::framing::FrameCodec;
use crate::peer::{ConnectionConfig, Peer, RawResponse};
use crate::stream::Subscription;
use crate::transport::{tcp, Connection};

pub use backoff::Backoff;
pub use endpoint::Endpoint;
pub use managed::{EndpointStatus, Reconnect, WhenDown};
pub use pool::ClientPool;
pub use service::CallRequest;

struct CloseOnDrop(Peer);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A client: one connection, or (from [`Client::reconnecting`], [`Client::balanced`]
/// and [`Client::discover`]) a set of endpoints kept connected in the background.
///
/// Cheap to clone. A client over one connection closes it when the last clone is
/// dropped, unless it was made from a [`Peer`] that someone else owns; a managed
/// client stops reconnecting and closes its connections when its last clone goes.
/// Every generated typed client wraps a `Client`, so all of them work over every
/// kind.
#[derive(Clone)]
pub struct Client {
    route: Route,
}

#[derive(Clone)]
enum Route {
    /// One connection. `owner` is held, never read: the last clone's drop closes the
    /// connection. `None` for a client over a peer it does not own (a server's view
    /// of its client).
    Connection {
        peer: Peer,
        _owner: Option<Arc<CloseOnDrop>>,
    },
    /// A set of endpoints; `key` routes every call of this clone to one endpoint
    /// ([`Client::sticky`]).
    Managed {
        set: Arc<managed::Set>,
        key: Option<u64>,
    },
}

/// A client over a peer it does not own: dropping it leaves the connection open.
/// This is how a server calls its client back ([`crate::service::CallContext::peer`])
/// and how the two ends of a two-way connection type their calls.
impl From<Peer> for Client {
    fn from(peer: Peer) -> Self {
        Client {
            route: Route::Connection { peer, _owner: None },
        }
    }
}

/// How one call is made: its deadline, and whether it may be sent again.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// How long to wait for the response (`None`: the connection's
    /// `request_timeout`). A managed client counts the time it waits for a
    /// connection in it.
    pub timeout: Option<Duration>,
    /// The method may run twice without harm (`#[rpc(idempotent)]`): a managed
    /// client sends it again when its connection dies before the response came (as
    /// [`Reconnect::retries`] allows). Other calls are never sent twice.
    pub idempotent: bool,
}

impl CallOptions {
    /// The connection's deadline, not idempotent.
    pub const fn new() -> Self {
        CallOptions {
            timeout: None,
            idempotent: false,
        }
    }

    /// With this deadline (`None`: the connection's).
    #[must_use]
    pub const fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Marked idempotent, or not.
    #[must_use]
    pub const fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }
}

impl Client {
    /// A client over an established connection.
    pub fn new<R, W>(connection: Connection<R, W>, config: ConnectionConfig) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        Self::owning(Peer::connect(connection, config))
    }

    /// A client over `peer`, which it closes when its last clone is dropped.
    pub(crate) fn owning(peer: Peer) -> Self {
        Client {
            route: Route::Connection {
                _owner: Some(Arc::new(CloseOnDrop(peer.clone()))),
                peer,
            },
        }
    }

    /// Connects over TCP to `addr`: a `SocketAddr`, or a `"host:port"` name, which
    /// is resolved and each of its addresses tried in turn.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`], naming the address, when the name does not resolve or no
    /// connection can be made.
    pub async fn connect_tcp(
        addr: impl ToSocketAddrs + Display,
        codec: impl Into<FrameCodec>,
        config: ConnectionConfig,
    ) -> Result<Self, Error> {
        match tcp::connect(&addr, codec).await {
            Ok(connection) => Ok(Self::new(connection, config)),
            Err(source) => Err(Error::Connect {
                addr: addr.to_string(),
                source,
            }),
        }
    }

    /// A client that keeps one endpoint connected: it connects in the background
    /// (this returns at once), and after the connection closes it connects again,
    /// waiting between attempts as `policy.backoff` says. Calls made while it is
    /// disconnected wait for the connection up to their deadline, or fail at once
    /// with [`Error::NotSent`] ([`Reconnect::when_down`]); calls in flight when the
    /// connection dies fail with [`Error::ConnectionClosed`] naming the endpoint,
    /// unless they are idempotent ([`CallOptions::idempotent`]), which are sent
    /// again. Subscriptions end with [`crate::stream::CloseReason::ConnectionLost`]:
    /// subscribe again to go on.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime: each endpoint is kept connected by a task.
    pub fn reconnecting(endpoint: Endpoint, policy: Reconnect) -> Self {
        Self::balanced([endpoint], policy)
    }

    /// A client over several endpoints, each kept connected as
    /// [`Client::reconnecting`] does: each call goes to a connected endpoint, the
    /// less busy of two picked at random (power of two choices, by pending calls),
    /// or always the same one for a key ([`Client::sticky`]). An endpoint whose
    /// connection fails leaves the choice until it is connected again, retried with
    /// backoff; calls in flight on it fail with a clear error (idempotent ones are
    /// sent again, to another endpoint when one is connected), and new calls go to
    /// the others.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime: each endpoint is kept connected by a task.
    pub fn balanced(endpoints: impl IntoIterator<Item = Endpoint>, policy: Reconnect) -> Self {
        let set = managed::Set::new(policy);
        for endpoint in endpoints {
            set.insert(endpoint);
        }
        Client {
            route: Route::Managed { set, key: None },
        }
    }

    /// A balanced client over a changing set of endpoints: `discover` is a tower
    /// [`Discover`](tower::discover::Discover) (any stream of
    /// [`Change`](tower::discover::Change)s, such as DNS or a service registry
    /// watched by you), whose inserts add an endpoint (replacing one of the same
    /// key) and whose removals close it; calls in flight on a removed endpoint run
    /// to their end. When the stream ends or fails, the set stays as it is.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime: each endpoint is kept connected by a task.
    pub fn discover<D>(discover: D, policy: Reconnect) -> Self
    where
        D: tower::discover::Discover<Service = Endpoint> + Send + 'static,
        D::Key: std::hash::Hash + Eq + Send + 'static,
        D::Error: Display,
    {
        let set = managed::Set::new(policy);
        balance::follow(&set, discover);
        Client {
            route: Route::Managed { set, key: None },
        }
    }

    /// A clone whose calls all go to the endpoint `key` hashes to among the
    /// connected ones (rendezvous hashing: when an endpoint leaves, only its keys
    /// move, and they come back when it returns). On a client over one connection
    /// this is a plain clone.
    #[must_use]
    pub fn sticky(&self, key: &(impl std::hash::Hash + ?Sized)) -> Self {
        match &self.route {
            Route::Connection { .. } => self.clone(),
            Route::Managed { set, .. } => Client {
                route: Route::Managed {
                    set: set.clone(),
                    key: Some(balance::hash_key(key)),
                },
            },
        }
    }

    /// The peer behind a client over one connection; `None` for a managed client,
    /// whose calls go over whichever connection they pick.
    pub fn peer(&self) -> Option<&Peer> {
        match &self.route {
            Route::Connection { peer, .. } => Some(peer),
            Route::Managed { .. } => None,
        }
    }

    /// The endpoints of a managed client and how each is doing; empty for a client
    /// over one connection.
    pub fn endpoints(&self) -> Vec<EndpointStatus> {
        match &self.route {
            Route::Connection { .. } => Vec::new(),
            Route::Managed { set, .. } => set.status(),
        }
    }

    /// How many calls are waiting for responses (over all connections of a managed
    /// client).
    pub fn pending_calls(&self) -> usize {
        match &self.route {
            Route::Connection { peer, .. } => peer.pending_calls(),
            Route::Managed { set, .. } => set.pending_calls(),
        }
    }

    /// Whether the client is closed: its connection, or a managed client after
    /// [`Client::close`] (a managed client is never closed by a failure: it
    /// reconnects).
    pub fn is_closed(&self) -> bool {
        match &self.route {
            Route::Connection { peer, .. } => peer.is_closed(),
            Route::Managed { set, .. } => set.is_closed(),
        }
    }

    /// Closes the connection (a managed client: all of them, and stops
    /// reconnecting). Waiting calls fail.
    pub fn close(&self) {
        match &self.route {
            Route::Connection { peer, .. } => peer.close(),
            Route::Managed { set, .. } => set.close(),
        }
    }

    /// Waits until the client has closed ([`Peer::closed`]; a managed client: after
    /// [`Client::close`], until each of its connections has).
    pub async fn closed(&self) {
        match &self.route {
            Route::Connection { peer, .. } => peer.closed().await,
            Route::Managed { set, .. } => set.closed().await,
        }
    }

    /// Calls `method` with `params` and decodes the result, with the configured
    /// deadline.
    ///
    /// # Errors
    ///
    /// See [`Error`]: the server's error, a timeout, a lost connection, a call that
    /// could not be sent, or a result that does not decode as `R`.
    pub async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, Error>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_with(method, params, CallOptions::new()).await
    }

    /// Calls `method` with `params` and decodes the result, waiting at most
    /// `timeout` for the response (instead of the configured deadline).
    ///
    /// # Errors
    ///
    /// As [`Client::call`]; [`Error::Timeout`] names `timeout`.
    pub async fn call_within<P, R>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, Error>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_with(method, params, CallOptions::new().timeout(Some(timeout)))
            .await
    }

    /// Calls `method` with `params` as `options` say, and decodes the result.
    ///
    /// # Errors
    ///
    /// As [`Client::call`].
    pub async fn call_with<P, R>(
        &self,
        method: &str,
        params: &P,
        options: CallOptions,
    ) -> Result<R, Error>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.call_raw_with(method, Some(params), options)
            .await?
            .decode(method)
    }

    /// Calls `method` and returns the raw response, with an explicit deadline
    /// (`None`: none over one connection; a managed client's
    /// [`Reconnect::request_timeout`]).
    ///
    /// # Errors
    ///
    /// See [`Error`]; a server error is returned inside the [`RawResponse`].
    pub async fn call_raw<P>(
        &self,
        method: &str,
        params: Option<&P>,
        timeout: Option<Duration>,
    ) -> Result<RawResponse, Error>
    where
        P: Serialize + ?Sized,
    {
        match &self.route {
            Route::Connection { peer, .. } => peer.call_raw(method, params, timeout).await,
            Route::Managed { .. } => {
                self.call_raw_with(method, params, CallOptions::new().timeout(timeout))
                    .await
            }
        }
    }

    /// [`Client::call_raw`] as `options` say.
    ///
    /// # Errors
    ///
    /// As [`Client::call_raw`].
    pub async fn call_raw_with<P>(
        &self,
        method: &str,
        params: Option<&P>,
        options: CallOptions,
    ) -> Result<RawResponse, Error>
    where
        P: Serialize + ?Sized,
    {
        match &self.route {
            Route::Connection { peer, .. } => {
                let timeout = options.timeout.or(peer.shared.config().request_timeout);
                peer.call_raw(method, params, timeout).await
            }
            Route::Managed { set, key } => set.call(*key, method, params, options).await,
        }
    }

    /// Sends a notification (no response comes back).
    ///
    /// # Errors
    ///
    /// When the params fail to encode or no connection can take it.
    pub async fn notify<P>(&self, method: &str, params: Option<&P>) -> Result<(), Error>
    where
        P: Serialize + ?Sized,
    {
        match &self.route {
            Route::Connection { peer, .. } => peer.notify(method, params).await,
            Route::Managed { set, key } => {
                let (peer, _) = set.pick(*key, set.deadline(None)).await?;
                peer.notify(method, params).await
            }
        }
    }

    /// Calls the streaming method `method` and returns its stream of items (see
    /// [`Peer::subscribe`]). A managed client subscribes over one of its
    /// connections; when that one is lost, the subscription ends with
    /// [`crate::stream::CloseReason::ConnectionLost`] and a new subscription goes
    /// over another connection.
    ///
    /// # Errors
    ///
    /// As [`Client::call`].
    pub async fn subscribe<P, T>(
        &self,
        method: &str,
        params: &P,
        item_method: &str,
        unsubscribe_method: &str,
    ) -> Result<Subscription<T>, Error>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        match &self.route {
            Route::Connection { peer, .. } => {
                peer.subscribe(method, params, item_method, unsubscribe_method)
                    .await
            }
            Route::Managed { set, key } => {
                let (peer, _) = set.pick(*key, set.deadline(None)).await?;
                peer.subscribe(method, params, item_method, unsubscribe_method)
                    .await
            }
        }
    }

    /// For a batch: the peer to send it over, waiting for a connection as a call
    /// would.
    pub(crate) async fn peer_for_batch(&self) -> Result<Peer, Error> {
        match &self.route {
            Route::Connection { peer, .. } => Ok(peer.clone()),
            Route::Managed { set, key } => Ok(set.pick(*key, set.deadline(None)).await?.0),
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.route {
            Route::Connection { peer, .. } => f.debug_tuple("Client").field(peer).finish(),
            Route::Managed { set, key } => f
                .debug_struct("Client")
                .field("endpoints", &set.status())
                .field("sticky", &key.is_some())
                .finish(),
        }
    }
}
