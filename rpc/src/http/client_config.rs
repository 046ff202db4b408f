//! How the HTTP and WebSocket clients connect: timeouts, pooling, HTTP/2, headers
//! sent with every request, and (feature `tls`) the TLS configuration.

use std::time::Duration;

use http::HeaderMap;

/// How [`crate::Client::connect_http_with`] and [`crate::Client::connect_ws_with`]
/// connect. [`Default`] is what [`crate::Client::connect_http`] and
/// [`crate::Client::connect_ws`] use; each field says its default.
///
/// These bound the transport. The call's own deadline is
/// [`crate::ConnectionConfig::request_timeout`], which works the same over every
/// transport.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpClientConfig {
    /// How long a connection (TCP, TLS and, for a WebSocket, the upgrade) may take
    /// to open (10 s). Over it the call, or `connect_ws`, fails naming the URL.
    pub connect_timeout: Option<Duration>,
    /// How long one POST may take, from sending to the last byte of its answer (30
    /// s). Over it the request is dropped (the server sees the client go away,
    /// which stops the calls it carried) and each call in it fails with -32603
    /// naming the URL and the timeout. Applies to notifications too, which then
    /// fail silently.
    pub request_timeout: Option<Duration>,
    /// How long an unused pooled connection is kept for the next POST (90 s).
    pub pool_idle_timeout: Option<Duration>,
    /// How many unused connections are kept per host (1024, a connection's default
    /// `max_in_flight`): fewer would close, at every lull, connections that the
    /// next burst of calls opens again (a client with 64 calls in flight and 32
    /// kept reopened thousands of connections a second).
    pub pool_max_idle_per_host: usize,
    /// Whether `http://` connections speak HTTP/2 from the first byte (`false`:
    /// HTTP/1.1). Over `https://` the protocol is agreed by ALPN, HTTP/2 when the
    /// server offers it, whatever this says.
    pub http2_prior_knowledge: bool,
    /// The largest answer accepted: an HTTP response body, or a WebSocket message
    /// or frame (4 MiB). A larger HTTP answer fails the calls it answered with
    /// -32603; a larger WebSocket message closes the WebSocket.
    pub max_answer_bytes: usize,
    /// Headers sent with every POST and with the WebSocket upgrade (none), such as
    /// `Authorization`. `Content-Type` and `Accept` are the client's own.
    pub headers: HeaderMap,
    /// How often a WebSocket client pings the server (30 s).
    pub ws_ping_interval: Option<Duration>,
    /// How long a WebSocket server may stay silent, pongs included, before the
    /// client closes the connection (90 s; checked at each ping). Pending calls
    /// then fail with a connection-closed error.
    pub ws_idle_timeout: Option<Duration>,
    /// A WebSocket's read buffer (4 KiB), as the server's
    /// [`super::HttpConfig::websocket_read_buffer_bytes`]: tungstenite allocates it
    /// when the WebSocket opens and zero-fills its free room before every read, so
    /// its own default of 128 KiB cost every client WebSocket 128 KiB held and a
    /// 128 KiB `memset` per message read. A larger message is read in several reads.
    pub ws_read_buffer_bytes: usize,
    /// The TLS configuration for `https://` and `wss://` (feature `tls`). `None`
    /// trusts the web's public certificate authorities (Mozilla's list, from
    /// `webpki-roots`) with rustls's safe defaults; give your own
    /// `rustls::ClientConfig` for a private authority, client certificates or the
    /// platform's store. Its ALPN list is replaced by the client's own.
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: Some(Duration::from_secs(30)),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            pool_max_idle_per_host: 1024,
            http2_prior_knowledge: false,
            max_answer_bytes: crate::framing::DEFAULT_MAX_FRAME_LEN,
            headers: HeaderMap::new(),
            ws_ping_interval: Some(Duration::from_secs(30)),
            ws_idle_timeout: Some(Duration::from_secs(90)),
            ws_read_buffer_bytes: 4 * 1024,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl HttpClientConfig {
    /// Sets (or, with `None`, removes) the bound on each POST.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets (or, with `None`, removes) the bound on opening a connection.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Speaks HTTP/2 from the first byte over `http://`.
    #[must_use]
    pub fn http2_prior_knowledge(mut self, on: bool) -> Self {
        self.http2_prior_knowledge = on;
        self
    }

    /// Sets the largest answer accepted.
    #[must_use]
    pub fn max_answer_bytes(mut self, bytes: usize) -> Self {
        self.max_answer_bytes = bytes;
        self
    }

    /// Sends `name: value` with every request (replacing an earlier value).
    #[must_use]
    pub fn header(mut self, name: http::HeaderName, value: http::HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Sets the WebSocket ping interval and idle timeout (`None` turns each off).
    #[must_use]
    pub fn ws_keep_alive(mut self, ping: Option<Duration>, idle: Option<Duration>) -> Self {
        self.ws_ping_interval = ping;
        self.ws_idle_timeout = idle;
        self
    }

    /// Uses `config` for `https://` and `wss://` (feature `tls`).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls(mut self, config: std::sync::Arc<tokio_rustls::rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// The TLS configuration to connect with, offering `alpn` (the user's own, or
    /// the public authorities').
    #[cfg(feature = "tls")]
    pub(crate) fn tls_config(&self, alpn: &[&[u8]]) -> tokio_rustls::rustls::ClientConfig {
        use tokio_rustls::rustls;
        let mut config = match &self.tls {
            Some(config) => (**config).clone(),
            None => {
                let roots = rustls::RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                };
                rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports rustls's default protocol versions")
                .with_root_certificates(roots)
                .with_no_client_auth()
            }
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        config
    }
}
