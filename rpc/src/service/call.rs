//! One incoming call as a handler sees it.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::engine::Session;
use crate::message::{encode_result, Id, JsonText, RpcError};
use crate::peer::Peer;
use crate::service::Reply;

/// One call handed to [`crate::service::Service::call`]: which method, its id and
/// params (borrowed from the received frame) and the session it came in.
pub struct IncomingCall {
    pub(crate) method: usize,
    pub(crate) id: Option<JsonText>,
    pub(crate) params: Option<JsonText>,
    pub(crate) session: Session,
}

impl IncomingCall {
    /// The method's index in the service's table.
    pub fn method(&self) -> usize {
        self.method
    }

    /// The call's id; `None` for a notification.
    pub fn id(&self) -> Option<Id<'_>> {
        self.id.as_ref().and_then(|t| Id::from_json(t.as_str()))
    }

    /// Whether the call is a notification (it gets no response).
    pub fn is_notification(&self) -> bool {
        self.id.is_none()
    }

    /// The params' raw JSON text (an array or an object), if any were sent.
    pub fn params(&self) -> Option<&str> {
        self.params.as_ref().map(JsonText::as_str)
    }

    /// Decodes the params, borrowing from the frame where `T` allows it.
    ///
    /// Missing params decode as an empty array, so a method without parameters accepts
    /// both forms.
    ///
    /// # Errors
    ///
    /// -32602 with serde's message, which names the field or position at fault.
    pub fn decode_params<'a, T: Deserialize<'a>>(&'a self) -> Result<T, RpcError> {
        serde_json::from_str(self.params().unwrap_or("[]")).map_err(RpcError::invalid_params_from)
    }

    /// The peer the call came from, to call it back on the same connection; `None`
    /// for a call that came with no connection (a frame handed in process) or whose
    /// connection has closed.
    pub fn peer(&self) -> Option<Peer> {
        let shared = self.session.state.peer.upgrade()?;
        Some(Peer { shared })
    }

    /// Encodes a success response into a pooled buffer. For a notification it
    /// encodes nothing and returns an empty frame.
    ///
    /// # Errors
    ///
    /// -32603 when `value` fails to serialize.
    pub fn respond<T: Serialize + ?Sized>(&self, value: &T) -> Reply {
        let Some(id) = self.id() else {
            return Ok(Bytes::new());
        };
        let pool = self.session.state.engine.buffer_pool();
        let mut buf = pool.take(512);
        match encode_result(&mut buf, id, value) {
            Ok(()) => Ok(pool.freeze(buf)),
            Err(err) => {
                pool.give(buf);
                Err(RpcError::internal(format!(
                    "failed to encode the result: {err}"
                )))
            }
        }
    }
}

impl std::fmt::Debug for IncomingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingCall")
            .field("method", &self.method)
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}
