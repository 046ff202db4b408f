//! [`ClientPool`]: several TCP connections to one server.

use std::fmt::Display;
use std::sync::Mutex;

use tokio::net::ToSocketAddrs;

use super::Client;
use crate::error::Error;
use crate::framing::FrameCodec;
use crate::peer::ConnectionConfig;

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
