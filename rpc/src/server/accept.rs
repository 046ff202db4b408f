//! Accepting connections: the accept loops, the connection limit, and what a failed
//! accept means.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Server;
use crate::message::{encode_error, ErrorCode, Id};
use crate::service::Transport;
use crate::transport::{tcp, Connection};

impl Server {
    /// Answers a connection over the limit with one error and closes it, off the
    /// accept loop so a client that does not read cannot stall it.
    fn refuse<R, W>(&self, connection: Connection<R, W>)
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        self.engine.metrics.record_refused_connection();
        let max = self.engine.config.max_connections;
        tracing::debug!(max, "connection refused: the server serves its maximum");
        let Connection { reader, mut writer } = connection;
        drop(reader);
        self.connections.spawn(async move {
            let mut buf = BytesMut::with_capacity(160);
            encode_error(
                &mut buf,
                Id::NULL,
                ErrorCode::SERVER_OVERLOADED,
                &format!("too many connections: this server serves at most {max} at once; try again later"),
                None,
            );
            let goodbye = async {
                writer.send(buf.freeze()).await?;
                writer.shutdown().await
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
        });
    }

    /// Accepts and serves TCP connections until [`Server::shutdown`] is called.
    ///
    /// # Errors
    ///
    /// When accepting fails for a reason other than a per-connection error (those are
    /// logged and skipped).
    pub async fn serve_tcp(&self, listener: &tcp::Listener) -> io::Result<()> {
        self.accept_loop(|| async {
            listener
                .accept()
                .await
                .map(|(c, addr)| (c, (Some(addr), Transport::Tcp)))
        })
        .await
    }

    /// Accepts and serves Unix socket connections until [`Server::shutdown`] is called.
    ///
    /// # Errors
    ///
    /// As [`Server::serve_tcp`].
    #[cfg(unix)]
    pub async fn serve_unix(&self, listener: &crate::transport::unix::Listener) -> io::Result<()> {
        self.accept_loop(|| async {
            listener
                .accept()
                .await
                .map(|c| (c, (None, Transport::Unix)))
        })
        .await
    }

    /// Serves what `accept` yields until shutdown; errors that concern one connection
    /// are logged and skipped.
    async fn accept_loop<R, W, F, Fut>(&self, mut accept: F) -> io::Result<()>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
        F: FnMut() -> Fut,
        Fut: std::future::Future<
            Output = io::Result<(Connection<R, W>, (Option<SocketAddr>, Transport))>,
        >,
    {
        let mut exhausted = Exhaustion::default();
        loop {
            let accepted = tokio::select! {
                () = self.stop_accepting.cancelled() => return Ok(()),
                accepted = accept() => accepted,
            };
            if accepted.is_ok() {
                exhausted.ended();
            }
            match accepted {
                Ok((connection, _))
                    if self.open_connections.load(Ordering::Relaxed)
                        >= self.engine.config.max_connections =>
                {
                    self.refuse(connection);
                }
                Ok((connection, remote_addr)) => {
                    let idle = self.engine.config.accepted_idle_timeout;
                    self.serve_with(connection, Some(idle), remote_addr);
                }
                Err(err) => match classify(&err) {
                    AcceptError::OneConnection => {
                        tracing::debug!(%err, "accepting a connection failed");
                    }
                    AcceptError::Exhausted => {
                        // The listener stays readable while there is no descriptor to
                        // accept with: retrying at once would spin a core. Wait, and
                        // let connections that end give their descriptors back.
                        self.engine.metrics.record_accept_error();
                        let pause = exhausted.next_pause(&err);
                        tokio::select! {
                            () = self.stop_accepting.cancelled() => return Ok(()),
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                    AcceptError::Fatal => return Err(err),
                },
            }
        }
    }
}

/// What a failed accept means for the accept loop.
#[derive(Debug, PartialEq, Eq)]
enum AcceptError {
    /// One connection failed before it was accepted; accept the next at once.
    OneConnection,
    /// The process or system is out of descriptors or memory: wait, then go on.
    Exhausted,
    /// The listener itself is broken.
    Fatal,
}

fn classify(err: &io::Error) -> AcceptError {
    match err.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::Interrupted
        | io::ErrorKind::WouldBlock
        | io::ErrorKind::TimedOut => return AcceptError::OneConnection,
        io::ErrorKind::OutOfMemory => return AcceptError::Exhausted,
        _ => {}
    }
    #[cfg(unix)]
    if let Some(code) = err.raw_os_error() {
        if [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM].contains(&code) {
            return AcceptError::Exhausted;
        }
        // accept(2) passes on network errors of the pending connection; Linux's
        // manual asks to treat them like EAGAIN. EPERM is a firewall refusing it.
        let of_the_connection = [
            libc::ENETDOWN,
            libc::EPROTO,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
            libc::EPERM,
            #[cfg(target_os = "linux")]
            libc::ENONET,
        ];
        if of_the_connection.contains(&code) {
            return AcceptError::OneConnection;
        }
    }
    AcceptError::Fatal
}

/// An episode of failed accepts for want of descriptors or memory: the pause before
/// the next try doubles from 10 ms up to 1 s, and the episode is logged once when it
/// starts and once when it ends.
#[derive(Debug, Default)]
struct Exhaustion {
    failures: u64,
    pause: Duration,
}

impl Exhaustion {
    const FIRST_PAUSE: Duration = Duration::from_millis(10);
    const MAX_PAUSE: Duration = Duration::from_secs(1);

    fn next_pause(&mut self, err: &io::Error) -> Duration {
        if self.failures == 0 {
            tracing::warn!(
                %err,
                "cannot accept connections: out of file descriptors or memory; retrying with back-off (raise `ulimit -n` or lower ServerConfig::max_connections)"
            );
            self.pause = Self::FIRST_PAUSE;
        } else {
            self.pause = (self.pause * 2).min(Self::MAX_PAUSE);
        }
        self.failures += 1;
        self.pause
    }

    fn ended(&mut self) {
        if self.failures > 0 {
            tracing::warn!(failures = self.failures, "accepting connections again");
            *self = Exhaustion::default();
        }
    }
}
