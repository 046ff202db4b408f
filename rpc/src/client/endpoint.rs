//! [`Endpoint`]: how a managed client opens a connection, again and again.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::Client;
use crate::error::Error;
use crate::framing::FrameCodec;
use crate::peer::ConnectionConfig;

type Connect =
    dyn Fn() -> Pin<Box<dyn Future<Output = Result<Client, Error>> + Send>> + Send + Sync;

/// Where a managed client ([`Client::reconnecting`], [`Client::balanced`]) connects,
/// and how: a name for errors and status, and a function that opens one connection
/// each time it is called. Cheap to clone.
#[derive(Clone)]
pub struct Endpoint {
    name: Arc<str>,
    connect: Arc<Connect>,
    /// The connection opens but nothing says whether the server is there (HTTP): a
    /// call that cannot reach it tells the client to try the endpoint again later.
    pub(crate) connectionless: bool,
}

impl Endpoint {
    /// An endpoint of your own: `connect` opens one connection (any transport, a
    /// child process, a proxy), `name` says which in errors and status.
    pub fn new<F, Fut>(name: impl Into<String>, connect: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Client, Error>> + Send + 'static,
    {
        Endpoint {
            name: name.into().into(),
            connect: Arc::new(move || Box::pin(connect())),
            connectionless: false,
        }
    }

    /// TCP to `addr` (`host:port`, resolved again at each connection), as
    /// [`Client::connect_tcp`].
    pub fn tcp(
        addr: impl Into<String>,
        codec: impl Into<FrameCodec>,
        config: ConnectionConfig,
    ) -> Self {
        let addr: Arc<str> = addr.into().into();
        let codec = codec.into();
        Self::new(format!("tcp://{addr}"), move || {
            let (addr, codec, config) = (addr.clone(), codec.clone(), config.clone());
            async move { Client::connect_tcp(&*addr, codec, config).await }
        })
    }

    /// A Unix socket at `path`.
    #[cfg(unix)]
    pub fn unix(
        path: impl Into<std::path::PathBuf>,
        codec: impl Into<FrameCodec>,
        config: ConnectionConfig,
    ) -> Self {
        let path: Arc<std::path::Path> = path.into().into();
        let codec = codec.into();
        Self::new(format!("unix:{}", path.display()), move || {
            let (path, codec, config) = (path.clone(), codec.clone(), config.clone());
            async move {
                match crate::transport::unix::connect(&*path, codec).await {
                    Ok(connection) => Ok(Client::new(connection, config)),
                    Err(source) => Err(Error::Connect {
                        addr: path.display().to_string(),
                        source,
                    }),
                }
            }
        })
    }

    /// A WebSocket to `url` (`ws://`, or `wss://` with the `tls` feature), as
    /// [`Client::connect_ws_with`].
    #[cfg(feature = "websocket")]
    pub fn websocket(
        url: impl Into<String>,
        config: ConnectionConfig,
        http: crate::http::HttpClientConfig,
    ) -> Self {
        let url: Arc<str> = url.into().into();
        let http = Arc::new(http);
        Self::new(url.to_string(), move || {
            let (url, config, http) = (url.clone(), config.clone(), http.clone());
            async move { Client::connect_ws_with(&url, config, &http).await }
        })
    }

    /// HTTP POSTs to `url`, as [`Client::connect_http_with`]. HTTP has no
    /// connection to lose, so the endpoint counts as down when a call cannot reach
    /// the server (the request could not connect: it was not sent, and goes to
    /// another endpoint), and as up again once a TCP connection to its host opens.
    #[cfg(feature = "http")]
    pub fn http(
        url: impl Into<String>,
        config: ConnectionConfig,
        http: crate::http::HttpClientConfig,
    ) -> Self {
        let url: Arc<str> = url.into().into();
        let http = Arc::new(http);
        let mut endpoint = Self::new(url.to_string(), move || {
            let (url, config, http) = (url.clone(), config.clone(), http.clone());
            async move {
                crate::http::probe(&url, http.connect_timeout).await?;
                Client::connect_http_with(&url, config, (*http).clone())
            }
        });
        endpoint.connectionless = true;
        endpoint
    }

    /// The name given, or the address or URL.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens one connection.
    pub(crate) fn connect(&self) -> Pin<Box<dyn Future<Output = Result<Client, Error>> + Send>> {
        (self.connect)()
    }
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Endpoint").field(&self.name).finish()
    }
}
