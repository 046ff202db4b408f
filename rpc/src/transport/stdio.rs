//! This process's standard input and output.

use tokio::io::{Stdin, Stdout};

use super::Connection;
use crate::framing::FrameCodec;

/// A framed connection over stdin (incoming) and stdout (outgoing).
///
/// Nothing else may write to stdout while it is in use (log to stderr instead).
pub fn connection(codec: impl Into<FrameCodec>) -> Connection<Stdin, Stdout> {
    Connection::new(tokio::io::stdin(), tokio::io::stdout(), codec)
}
