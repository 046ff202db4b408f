//! The reader of a stream connection: it hands each frame to the call engine, keeps
//! the connection's timeouts, and ends the connection only once every accepted call
//! has been answered and its answer written.

use std::sync::Arc;
use std::time::Duration;

use super::Shared;
use crate::engine::Sink;
use crate::framing::FrameError;
use crate::message::{ErrorCode, Id};
use crate::transport::{FrameSource, Quiet, WriterStats};

/// Why reading stops, other than the frames ending.
enum Stop {
    ClosedLocally,
    ShuttingDown,
    WriterStopped,
}

pub(super) async fn read_loop<S: FrameSource>(
    shared: Arc<Shared>,
    mut reader: S,
    writer_done: impl std::future::Future<Output = Option<std::io::Result<WriterStats>>>,
    idle_timeout: Option<Duration>,
) {
    let session = &shared.session;
    let state = &*session.state;
    let engine = &*state.engine;
    let config = &engine.config.connection;
    let stop_reading = engine.stop_reading.clone();
    // One timer for the whole connection, moved only when it fires: arming a timer per
    // frame would cost every frame a trip through the timer wheel.
    let mut last_frame = tokio::time::Instant::now();
    let idle = tokio::time::sleep(idle_timeout.unwrap_or(Duration::MAX / 4));
    tokio::pin!(idle);
    // Made once for the whole connection (a wait made afresh for every frame would
    // join and leave each one's list of waiters, a lock each way), and polled only
    // when one of them fires (see `Quiet`).
    let stop = Quiet::new(async {
        tokio::select! {
            biased;
            () = shared.close.cancelled() => Stop::ClosedLocally,
            () = stop_reading.cancelled() => Stop::ShuttingDown,
            () = shared.writer.closed() => Stop::WriterStopped,
        }
    });
    tokio::pin!(stop);
    // Whether reading ended because the other end closed its sending side.
    let mut half_closed = false;
    let reason = loop {
        let frame = tokio::select! {
            biased;
            stop = &mut stop => match stop {
                Stop::ClosedLocally => break "the connection was closed locally".to_owned(),
                Stop::ShuttingDown => break "the server is shutting down".to_owned(),
                Stop::WriterStopped => {
                    // Nothing more can be answered on this connection.
                    state.stop_calls.cancel();
                    break "the connection's writer stopped (the stream failed, or the other end stopped reading)".to_owned()
                }
            },
            () = &mut idle, if idle_timeout.is_some() => {
                let limit = idle_timeout.unwrap_or_default();
                let now = tokio::time::Instant::now();
                if last_frame + limit > now {
                    idle.as_mut().reset(last_frame + limit);
                } else if state.tasks.is_empty() && shared.pending.is_empty() {
                    engine.metrics.record_timed_out_connection();
                    break format!("no frame for {limit:?} and nothing in flight (idle timeout)");
                } else {
                    idle.as_mut().reset(now + limit);
                }
                continue;
            }
            // While the connection holds more bytes than it may (answers its peer has
            // not read, frames of calls in flight), nothing more is read: the sender is
            // pushed back by its transport.
            frame = async {
                state.ledger.within_byte_limit().await;
                reader.next_frame().await
            } => frame,
        };
        if idle_timeout.is_some() {
            last_frame = tokio::time::Instant::now();
        }
        match frame {
            None => {
                // The other end has nothing more to send; it may still read (a pipe's
                // writer closed, a TCP half-close), so calls run on to their answers
                // unless the config says a closed end means a client gone.
                if config.abandon_calls_on_disconnect {
                    state.stop_calls.cancel();
                }
                half_closed = true;
                break "the other end closed the connection".to_owned();
            }
            Some(Ok(frame)) => {
                session
                    .serve_frame(frame, Sink::Connection, Some(&*shared))
                    .await;
            }
            Some(Err(err)) if err.is_recoverable() => {
                engine.metrics.record_invalid_message();
                let answer =
                    state.error_frame(Id::NULL, ErrorCode::INVALID_REQUEST, &err.to_string(), None);
                state.send(&Sink::Connection, answer, None).await;
            }
            Some(Err(err)) => {
                let timed_out =
                    matches!(&err, FrameError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut);
                let broken = matches!(&err, FrameError::Io(_)) && !timed_out;
                if timed_out {
                    engine.metrics.record_timed_out_connection();
                }
                // A failed read (a reset) means the connection is gone both ways; a
                // half-sent or malformed frame, or one that took too long, ends reading
                // but the other end may still read the answers.
                if broken || config.abandon_calls_on_disconnect {
                    state.stop_calls.cancel();
                }
                half_closed = !broken;
                break format!("reading failed: {err}");
            }
        }
    };
    tracing::debug!(
        connection = state.info.id,
        transport = %state.info.transport,
        %reason,
        "connection stops reading"
    );
    shared.pending.fail_all(&reason);
    shared.subscriptions.close_all(&reason);
    // Streams end with reading: their client has gone, or the server is shutting
    // down (then each says so in a last notification).
    state.streams.stop_all(stop_reading.is_cancelled());
    state.tasks.close();
    match config.half_close_grace {
        Some(grace) if half_closed => {
            if tokio::time::timeout(grace, state.tasks.wait())
                .await
                .is_err()
            {
                // A client gone for good cannot be told from one still reading; the
                // grace bounds what it can hold.
                state.stop_calls.cancel();
                state.tasks.wait().await;
            }
        }
        _ => state.tasks.wait().await,
    }
    // Every call has queued its answer; the connection counts as closed only once the
    // writer has written them (or the stream failed, or the reader stalled).
    shared.writer.close();
    if let Some(Err(err)) = writer_done.await {
        tracing::debug!(%err, "the connection's writer failed");
    }
    engine.metrics.add_connections(state.info.transport, -1);
    tracing::debug!(
        connection = state.info.id,
        transport = %state.info.transport,
        %reason,
        "connection closed"
    );
    shared.done.cancel();
}
