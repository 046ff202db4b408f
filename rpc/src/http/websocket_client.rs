//! The WebSocket client (feature `websocket`): `ws://`, and `wss://` with the `tls`
//! feature. [`Client::connect_ws`] runs its peer on the WebSocket's messages;
//! [`Client::connect_ws_pipe`] bridges them to a pipe, for a caller that wants a
//! byte-stream connection (to serve a service on it too).

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;

use super::websocket::KeepAlive;
use super::websocket_frames::frames;
use super::HttpClientConfig;
use crate::error::Error;
use crate::framing::{FrameCodec, Framing};
use crate::peer::{ConnectionConfig, Peer};
use crate::transport::{memory, Connection, FrameSource};
use crate::Client;

impl Client {
    /// A client over a WebSocket to `url` (`ws://host:port/path`, or `wss://` with
    /// the `tls` feature), with [`HttpClientConfig::default`]: pipelined calls, and
    /// calls and notifications from the server, as over TCP (serve a service on it
    /// with [`crate::Server::serve_connection`] of [`Client::connect_ws_pipe`] for
    /// that). Pings every 30 s; a server silent for 90 s is disconnected, and the
    /// calls still pending fail with a connection-closed error.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`] naming `url` when the connection, TLS or the upgrade
    /// fails (the server's status when it refused, 403 for an origin it does not
    /// allow), or takes over the connect timeout.
    pub async fn connect_ws(url: &str, config: ConnectionConfig) -> Result<Client, Error> {
        Self::connect_ws_with(url, config, &HttpClientConfig::default()).await
    }

    /// [`Client::connect_ws`] with the transport's own settings: connect timeout,
    /// headers for the upgrade (`Authorization`), keep-alive, largest message, TLS.
    ///
    /// # Errors
    ///
    /// As [`Client::connect_ws`].
    pub async fn connect_ws_with(
        url: &str,
        config: ConnectionConfig,
        http: &HttpClientConfig,
    ) -> Result<Client, Error> {
        let (ws, keep_alive, max) = open(url, http).await?;
        // The peer runs on the WebSocket's halves directly: no pipe, no bridge task.
        let (source, sink) = frames(ws, keep_alive, max);
        Ok(Client::owning(Peer::connect_framed(
            source,
            sink,
            config,
            crate::service::Transport::WebSocket,
        )))
    }

    /// A WebSocket to `url` as a byte-stream connection, to serve a service on it as
    /// well (`Server::serve_connection` returns the [`crate::Peer`]): both ends of
    /// the WebSocket then call each other. A task carries each message to a frame
    /// of an in-process pipe and back, which costs a task hop and a copy each way
    /// that [`Client::connect_ws`] does not pay.
    ///
    /// # Errors
    ///
    /// As [`Client::connect_ws`].
    pub async fn connect_ws_pipe(url: &str) -> Result<memory::MemoryConnection, Error> {
        Self::connect_ws_pipe_with(url, &HttpClientConfig::default()).await
    }

    /// [`Client::connect_ws_pipe`] with the transport's own settings.
    ///
    /// # Errors
    ///
    /// As [`Client::connect_ws`].
    pub async fn connect_ws_pipe_with(
        url: &str,
        http: &HttpClientConfig,
    ) -> Result<memory::MemoryConnection, Error> {
        let (ws, keep_alive, max) = open(url, http).await?;
        let (near, far) = pipe(max);
        tokio::spawn(bridge(ws, far, keep_alive, max));
        Ok(near)
    }
}

/// The stream under a client's WebSocket: TCP, or TLS over TCP.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Connects to `url` and upgrades: the WebSocket, its keep-alive and its largest
/// message.
async fn open(
    url: &str,
    http: &HttpClientConfig,
) -> Result<(WebSocketStream<Box<dyn Io>>, KeepAlive, usize), Error> {
    let failed = |why: String| Error::Connect {
        addr: url.to_owned(),
        source: std::io::Error::other(why),
    };
    let mut request = url
        .into_client_request()
        .map_err(|err| failed(format!("not a WebSocket URL: {err}")))?;
    for (name, value) in &http.headers {
        request.headers_mut().append(name, value.clone());
    }
    let secure = match request.uri().scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(failed("expected a ws://host:port/path URL".to_owned())),
    };
    if secure && !cfg!(feature = "tls") {
        return Err(failed(
            "wss:// URLs need the rpc crate's `tls` feature".to_owned(),
        ));
    }
    // `Uri::host` keeps an IPv6 address's brackets; a socket address has none.
    let host = request
        .uri()
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = request
        .uri()
        .port_u16()
        .unwrap_or(if secure { 443 } else { 80 });
    let max = http.max_answer_bytes;
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(http.ws_read_buffer_bytes.max(1))
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let keep_alive = KeepAlive {
        ping_every: http.ws_ping_interval,
        idle_timeout: http.ws_idle_timeout,
    };
    let connect = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|err| failed(format!("connecting failed: {err}")))?;
        // Each message is written whole; Nagle's wait only adds latency.
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = if secure {
            #[cfg(feature = "tls")]
            {
                use tokio_rustls::rustls::pki_types::ServerName;
                // The upgrade is an HTTP/1.1 request.
                let tls = http.tls_config(&[b"http/1.1"]);
                let name = ServerName::try_from(host.clone())
                    .map_err(|err| failed(format!("not a TLS server name: {err}")))?;
                Box::new(
                    tokio_rustls::TlsConnector::from(std::sync::Arc::new(tls))
                        .connect(name, tcp)
                        .await
                        .map_err(|err| failed(format!("TLS failed: {err}")))?,
                )
            }
            #[cfg(not(feature = "tls"))]
            unreachable!("refused above without the tls feature")
        } else {
            Box::new(tcp)
        };
        let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config))
            .await
            .map_err(|err| failed(format!("the WebSocket upgrade failed: {err}")))?;
        Ok((ws, keep_alive, max))
    };
    match http.connect_timeout {
        Some(limit) => tokio::time::timeout(limit, connect)
            .await
            .unwrap_or_else(|_| Err(failed(timed_out(limit)))),
        None => connect.await,
    }
}

/// Two ends of an in-process pipe framed by `Content-Length` (any message text is
/// one frame) with frames up to `max_message` bytes.
fn pipe(max_message: usize) -> (memory::MemoryConnection, memory::MemoryConnection) {
    let codec: FrameCodec = Framing::ContentLength.codec(max_message.max(1024));
    memory::pair(codec, 1 << 20)
}

/// Carries messages between the WebSocket and the pipe until either ends: each
/// message in is one frame of the pipe, each frame of the pipe one message out. The
/// WebSocket's own rules (pings, the idle timeout, close frames that say why) are
/// its frames' (`websocket_frames`), as for a peer running on them directly; its
/// writing is a connection's writer, fed from the pipe.
async fn bridge<S>(
    ws: WebSocketStream<S>,
    pipe: memory::MemoryConnection,
    keep_alive: KeepAlive,
    max_message: usize,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut source, sink) = frames(ws, keep_alive, max_message);
    let (out, writing) = crate::transport::writer_loop(sink, 1024, None, None);
    source.attach(&out);
    let Connection {
        mut reader,
        mut writer,
    } = pipe;
    let (written, done) = tokio::sync::oneshot::channel::<()>();
    // In: messages to frames. Beside the rest in one task (the WebSocket's halves
    // share a lock), polled apart, so that a full pipe (the peer at its in-flight
    // limit) never stops the answers going out.
    let inbound = async {
        let reading = async {
            while let Some(Ok(frame)) = source.next_frame().await {
                if writer.send(frame).await.is_err() {
                    break;
                }
            }
        };
        // Until the other end closes, or (briefly) after our close went out.
        tokio::select! {
            () = reading => {}
            () = async {
                let _ = done.await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            } => {}
        }
        // The other end stopped sending: the peer sees EOF, answers what it
        // accepted, then closes its side.
        let _ = writer.shutdown().await;
    };
    // Out: frames to messages, then the close frame.
    let outbound = async {
        while let Some(Ok(frame)) = reader.next_frame().await {
            if out.send(frame).await.is_err() {
                break;
            }
        }
        out.close();
    };
    let writing = async {
        let _ = writing.await;
        let _ = written.send(());
    };
    tokio::join!(inbound, outbound, writing);
}

#[cold]
fn timed_out(limit: Duration) -> String {
    format!("not connected within the connect timeout ({limit:?})")
}
