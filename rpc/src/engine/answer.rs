//! The last step of a call: encode its answer, and send it where its frame's answer
//! goes.

use bytes::Bytes;
use serde_json::value::RawValue;

use super::budget::Hold;
use super::call::Destination;
use super::session::{SessionState, Sink};
use crate::message::{bound_message, encode_error, ErrorCode, Id, JsonText, RpcError};
use crate::service::Reply;

impl SessionState {
    /// Sends a call's answer: a single call's to its frame's sink, with the call's
    /// hold (its slot) now covering the answer's bytes until the answer is delivered;
    /// a batch element's into its batch's array, giving its slot back.
    pub(crate) async fn answer(&self, to: &Destination, answer: Bytes, mut hold: Hold) {
        match to {
            Destination::Frame(sink) => {
                hold.recharge(answer.len());
                self.send(sink, answer, Some(hold.carrying(1))).await;
            }
            Destination::Batch(batch) => {
                drop(hold);
                batch.add(self, Some(answer)).await;
            }
        }
    }

    /// Sends one frame of answers to `sink`. The hold travels with it and is
    /// counted as delivered once the frame has been handed over (to the socket, or to
    /// the exchange's caller).
    pub(crate) async fn send(&self, sink: &Sink, answer: Bytes, hold: Option<Hold>) {
        self.engine
            .metrics
            .record_sent(self.info.transport, answer.len());
        match sink {
            Sink::Connection => {
                if let Some(writer) = &self.writer {
                    let _ = writer.send_holding(answer, hold).await;
                }
            }
            Sink::Exchange(slot) => {
                if slot.deliver(Some(answer)) {
                    if let Some(hold) = hold {
                        hold.delivered();
                    }
                }
            }
        }
    }

    /// The answer frame of a call that ran: the handler's encoded response, or its
    /// error encoded with the call's id.
    pub(crate) fn reply_frame(&self, id: &JsonText, reply: Reply) -> Bytes {
        match reply {
            Ok(frame) => frame,
            Err(err) => self.rpc_error_frame(id_of(id), &err),
        }
    }

    pub(crate) fn rpc_error_frame(&self, id: Id<'_>, err: &RpcError) -> Bytes {
        self.error_frame(id, err.code, &err.message, err.data.as_deref())
    }

    /// Encodes an error response; one that would not fit in a frame (a huge message or
    /// `data`) is replaced by a short one with the same code, so the other end, whose
    /// frame limit is likely ours, does not drop it and wait for an answer forever.
    pub(crate) fn error_frame(
        &self,
        id: Id<'_>,
        code: ErrorCode,
        message: &str,
        data: Option<&RawValue>,
    ) -> Bytes {
        let pool = self.engine.buffer_pool();
        let written = pool.frame_with(128 + message.len(), |buf| {
            encode_error(buf, id, code, message, data);
            if buf.len() > self.max_frame_len {
                let size = buf.len();
                buf.clear();
                let mut message = bound_message(message, 256).into_owned();
                message.push_str(&format!(
                    " (the full error was {size} bytes, over the frame limit of {} bytes; its data was left out)",
                    self.max_frame_len
                ));
                encode_error(buf, id, code, &message, None);
            }
            Ok::<(), std::convert::Infallible>(())
        });
        match written {
            Ok(frame) => frame,
            Err(never) => match never {},
        }
    }
}

/// The id a call's text holds (null if it somehow does not parse).
pub(crate) fn id_of(id: &JsonText) -> Id<'_> {
    Id::from_json(id.as_str()).unwrap_or(Id::NULL)
}
