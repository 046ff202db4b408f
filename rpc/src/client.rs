//! Clients: a peer that closes its connection when the last clone is dropped, and a
//! pool of connections.

use std::fmt::Display;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::ToSocketAddrs;

use crate::error::Error;

use crate::framing::FrameCodec;
use crate::peer::{ConnectionConfig, Peer};
use crate::transport::{tcp, Connection};

struct CloseOnDrop(Peer);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// A client connection. Cheap to clone; the connection closes when the last clone is
/// dropped, unless the client was made from a [`Peer`] that someone else owns.
/// Derefs to [`Peer`] for calls.
#[derive(Clone)]
pub struct Client {
    peer: Peer,
    /// Held, never read: the last clone's drop closes the connection. `None` for a
    /// client over a peer it does not own (a server's view of its client).
    _owner: Option<Arc<CloseOnDrop>>,
}

/// A client over a peer it does not own: dropping it leaves the connection open.
/// This is how a server calls its client back ([`crate::service::CallContext::peer`])
/// and how the two ends of a two-way connection type their calls.
impl From<Peer> for Client {
    fn from(peer: Peer) -> Self {
        Client { peer, _owner: None }
    }
}

impl Client {
    /// A client over an established connection.
    pub fn new<R, W>(connection: Connection<R, W>, config: ConnectionConfig) -> Self
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let peer = Peer::connect(connection, config);
        Client {
            _owner: Some(Arc::new(CloseOnDrop(peer.clone()))),
            peer,
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

    /// The peer behind this client.
    pub fn peer(&self) -> &Peer {
        &self.peer
    }
}

impl Deref for Client {
    type Target = Peer;

    fn deref(&self) -> &Peer {
        &self.peer
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Client").field(self.peer()).finish()
    }
}

/// Several TCP connections to one server; each call goes to the connection with the
/// fewest calls pending, and a closed connection is replaced on next use.
pub struct ClientPool {
    /// As given; resolved again at each reconnection.
    addr: String,
    codec: FrameCodec,
    config: ConnectionConfig,
    clients: Vec<Mutex<Client>>,
}

impl ClientPool {
    /// Opens `size` connections to `addr` (as [`Client::connect_tcp`]; a name is
    /// resolved again for each reconnection).
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when a connection cannot be made.
    pub async fn connect(
        addr: impl ToSocketAddrs + Display,
        codec: impl Into<FrameCodec>,
        config: ConnectionConfig,
        size: usize,
    ) -> Result<Self, Error> {
        let addr = addr.to_string();
        let codec = codec.into();
        let mut clients = Vec::with_capacity(size.max(1));
        for _ in 0..size.max(1) {
            clients.push(Mutex::new(
                Client::connect_tcp(addr.as_str(), codec.clone(), config.clone()).await?,
            ));
        }
        Ok(ClientPool {
            addr,
            codec,
            config,
            clients,
        })
    }

    /// The connection with the fewest pending calls, reconnecting it first if it has
    /// closed.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] when a closed connection cannot be replaced.
    pub async fn get(&self) -> Result<Client, Error> {
        let (index, client) = self
            .clients
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.lock().unwrap_or_else(|e| e.into_inner()).clone()))
            .min_by_key(|(_, c)| (c.is_closed(), c.pending_calls()))
            .expect("a pool has at least one connection");
        if !client.is_closed() {
            return Ok(client);
        }
        let fresh =
            Client::connect_tcp(self.addr.as_str(), self.codec.clone(), self.config.clone())
                .await?;
        *self.clients[index]
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// The pending calls of each connection.
    pub fn pending_calls(&self) -> Vec<usize> {
        self.clients
            .iter()
            .map(|c| c.lock().unwrap_or_else(|e| e.into_inner()).pending_calls())
            .collect()
    }

    /// How many connections the pool holds.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether the pool is empty (never: it holds at least one connection).
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

impl std::fmt::Debug for ClientPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientPool")
            .field("addr", &self.addr)
            .field("pending_calls", &self.pending_calls())
            .finish()
    }
}
