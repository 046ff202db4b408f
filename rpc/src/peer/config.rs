//! How one connection behaves, at either end: the limits and timeouts of what comes
//! in, the queue of what goes out, and the deadline of the calls it makes.

use std::sync::Arc;
use std::time::Duration;

use crate::buffer::BufferPool;
use crate::message::ParseLimits;

/// How one connection behaves; the same struct configures a client ([`crate::Client`],
/// [`crate::Peer::connect`]) and every connection a server serves
/// ([`crate::ServerConfig::connection`]).
///
/// The frame size limit belongs to the connection's codec
/// ([`crate::framing::Framing::codec`]).
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// How long a call this end makes waits for its answer when made without a
    /// deadline of its own (`None`: forever). Not to be confused with
    /// [`crate::ServerConfig::handler_timeout`], how long a server lets a handler run.
    pub request_timeout: Option<Duration>,
    /// Whether a call of this end that times out or is dropped sends
    /// `$/cancelRequest` to the other end.
    pub cancel_on_drop: bool,
    /// Incoming calls and notifications that may be in flight before the connection
    /// stops being read. Each batch element counts as one; a call keeps its place
    /// until its answer has been handed to the socket, so answers waiting for a slow
    /// reader count too.
    pub max_in_flight: usize,
    /// Elements of one batch that may run at once; the others wait, and the
    /// connection is not read meanwhile (each element also takes its place in
    /// `max_in_flight`). A batch's answer holds every element's answer however many
    /// run at a time.
    pub max_batch_concurrency: usize,
    /// Bytes the connection may hold (frames of calls in flight, answers waiting to
    /// be written) before it stops being read. It may go over by the one frame being
    /// read when the limit is reached.
    pub max_buffered_bytes: usize,
    /// Limits on what one incoming frame may hold.
    pub parse_limits: ParseLimits,
    /// Frames queued for the writer before senders wait.
    pub write_queue: usize,
    /// Streams (see [`crate::stream`]) one connection may have open on this end's
    /// server; a streaming call over it is answered -32000.
    pub max_streams: usize,
    /// Items of one subscription this end's client keeps for its reader (1024).
    pub subscription_buffer: usize,
    /// How long the connection's reader waits for room in a full subscription
    /// buffer (250 ms). Meanwhile the connection is not read, so the server's
    /// stream slows to its reader's pace (and answers to other calls wait at most
    /// this long); a subscription still full after it is closed as lagged (its
    /// stream yields [`crate::Error::Lagged`]) and unsubscribed. `ZERO` closes it at
    /// once, never holding the connection back.
    pub subscription_wait: Duration,
    /// How long a write may wait for the other end to read before the connection is
    /// closed (`None`: forever); the other end must also take at least
    /// [`crate::transport::MIN_WRITE_PROGRESS`] bytes per period.
    pub write_stall_timeout: Option<Duration>,
    /// How long one incoming frame may take to arrive, from its first byte to its
    /// last, before the connection is closed: a peer that trickles bytes cannot hold
    /// the read buffer forever (`None`: no limit).
    pub frame_timeout: Option<Duration>,
    /// How long the connection may go without an incoming frame while nothing is in
    /// flight either way (no call being served, no call waiting for its answer) before
    /// it is closed (`None`: forever). Checked when the time runs out, so a connection
    /// is closed at the first moment it has been quiet that long and has nothing in
    /// flight. Sockets a server accepts use
    /// [`crate::ServerConfig::accepted_idle_timeout`] instead.
    pub idle_timeout: Option<Duration>,
    /// Whether calls still running when the other end closes its sending side are
    /// dropped (answered -32800) instead of run to their answers. Off by default: a
    /// client on a pipe, or one that half-closes a socket, closes its end to say it
    /// has nothing more to send and still reads the answers. Calls are always dropped
    /// once the connection can no longer be written, or when reading fails (a reset).
    pub abandon_calls_on_disconnect: bool,
    /// How long calls still running when the other end closes its sending side may go
    /// on to their answers before they are dropped (answered -32800); `None`: until
    /// they finish. A client that half-closes gets every answer that comes within it;
    /// one that has gone away holds its workers no longer than it.
    pub half_close_grace: Option<Duration>,
    /// Where messages are encoded; shared by every connection of a server.
    pub buffer_pool: Arc<BufferPool>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            request_timeout: Some(Duration::from_secs(30)),
            cancel_on_drop: true,
            max_in_flight: 1024,
            max_batch_concurrency: 64,
            max_buffered_bytes: 16 * 1024 * 1024,
            parse_limits: ParseLimits::default(),
            write_queue: 1024,
            max_streams: 1024,
            subscription_buffer: 1024,
            subscription_wait: Duration::from_millis(250),
            write_stall_timeout: Some(Duration::from_secs(30)),
            frame_timeout: Some(Duration::from_secs(60)),
            idle_timeout: None,
            abandon_calls_on_disconnect: false,
            half_close_grace: Some(Duration::from_secs(5)),
            buffer_pool: Arc::new(BufferPool::default()),
        }
    }
}
