//! In-memory pipes, for tests and for running client and server in one process.

use tokio::io::DuplexStream;

use super::Connection;
use crate::framing::FrameCodec;

/// One end of an in-memory pair.
pub type MemoryConnection = Connection<DuplexStream, DuplexStream>;

/// Two connected ends: frames written on one are read on the other.
///
/// Each direction is its own pipe buffering up to `capacity` bytes, so the halves of
/// an end never contend for a lock.
pub fn pair(codec: impl Into<FrameCodec>, capacity: usize) -> (MemoryConnection, MemoryConnection) {
    let codec = codec.into();
    let (a_to_b_write, a_to_b_read) = tokio::io::duplex(capacity);
    let (b_to_a_write, b_to_a_read) = tokio::io::duplex(capacity);
    (
        Connection::new(b_to_a_read, a_to_b_write, codec.clone()),
        Connection::new(a_to_b_read, b_to_a_write, codec),
    )
}
