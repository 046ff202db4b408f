//! A child process's standard input and output.

use std::io;
use std::process::Stdio;

use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::Connection;
use crate::framing::FrameCodec;

/// A framed connection to a child process: frames are read from its stdout and written
/// to its stdin.
pub type ChildConnection = Connection<ChildStdout, ChildStdin>;

/// Spawns `command` with piped stdin and stdout and frames them.
///
/// The child's stderr is inherited, so its logs stay visible. The child is killed when
/// the returned [`Child`] is dropped; to let it finish, drop the connection's writer
/// (closing its stdin) and wait on the `Child`.
///
/// # Errors
///
/// When the process cannot be started.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use rpc::framing::Framing;
/// use rpc::transport::child;
///
/// let mut command = tokio::process::Command::new("my-server");
/// let (connection, mut process) = child::spawn(&mut command, Framing::Ndjson)?;
/// # Ok(()) }
/// ```
pub fn spawn(
    command: &mut Command,
    codec: impl Into<FrameCodec>,
) -> io::Result<(ChildConnection, Child)> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let missing = || io::Error::other("the child's stdio was not piped");
    let stdin = child.stdin.take().ok_or_else(missing)?;
    let stdout = child.stdout.take().ok_or_else(missing)?;
    Ok((Connection::new(stdout, stdin, codec), child))
}
