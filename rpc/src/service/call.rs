//! One incoming call as a handler sees it.

use std::time::Instant;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use std::sync::Arc;

use crate::engine::{RequestMeta, Session};
use crate::message::{encode_result, ErrorCode, Id, JsonText, RpcError};
use crate::peer::Peer;
use crate::service::{CallContext, MethodInfo, Reply, Service};

/// One call handed to [`crate::service::Service::call`]: which method, its id and
/// params (borrowed from the received frame) and the session it came in.
pub struct IncomingCall {
    pub(crate) method: usize,
    /// The address of the table `method` indexes (see [`IncomingCall::is_routed_by`]).
    pub(crate) table: usize,
    /// The method's index in the server's table (which names it).
    pub(crate) served_as: usize,
    pub(crate) id: Option<JsonText>,
    pub(crate) params: Option<JsonText>,
    pub(crate) session: Session,
    /// For a method whose [`MethodInfo::takes_context`] is set: what its context
    /// holds beyond the session (one box, so that other calls carry one pointer).
    pub(crate) extras: Option<Arc<CallExtras>>,
}

/// The parts of a call's context that only methods taking one pay for.
#[derive(Debug)]
pub(crate) struct CallExtras {
    /// Cancelled when the call is over.
    pub(crate) cancel: CancellationToken,
    pub(crate) deadline: Option<Instant>,
    /// What the call's frame came with (an HTTP request's head).
    pub(crate) request: Option<Arc<RequestMeta>>,
    /// For a streaming method: where [`IncomingCall::stream`] leaves the stream
    /// (here rather than in the call, so that other calls carry nothing for it).
    pub(crate) stream_start: Option<Arc<crate::stream::server::StreamStart>>,
    /// For a call over an exchange that carries them (an HTTP event stream): where
    /// its stream's items and its handler's notifications go.
    pub(crate) events: Option<crate::transport::WriterHandle>,
    /// The caller's trace, when the server reads them ([`crate::ServerConfig::trace_context`]).
    pub(crate) trace_context: Option<crate::trace_context::TraceContext>,
}

/// The address that identifies a method table, as [`IncomingCall::is_routed_by`]
/// compares them.
pub(crate) fn table_address(table: &[MethodInfo]) -> usize {
    table.as_ptr() as usize
}

impl IncomingCall {
    /// The method's index in the table of the service the call was routed by.
    pub fn method(&self) -> usize {
        self.method
    }

    /// The method's wire name, as the server's table has it (the name an alias
    /// stands for).
    pub fn method_name(&self) -> &str {
        &self.session.state.engine.service.methods()[self.served_as].name
    }

    /// Whether [`IncomingCall::method`] is an index into `table`: true for a call
    /// handed to the service whose route chose it. A service that indexes its own
    /// table with the call checks this first, so that a call forwarded unchanged
    /// by a hand-written outer service (whose index means another table) is refused
    /// instead of running the wrong method; see [`IncomingCall::misrouted`] and
    /// [`IncomingCall::reroute`].
    pub fn is_routed_by(&self, table: &[MethodInfo]) -> bool {
        self.table == table_address(table)
    }

    /// The -32603 error for a call that reached a service whose table it was not
    /// routed by (see [`IncomingCall::is_routed_by`]).
    #[cold]
    pub fn misrouted(&self) -> RpcError {
        RpcError::new(
            ErrorCode::INTERNAL_ERROR,
            format!(
                "`{}` was handed to a service by another service's route, so its method \
                 index means nothing here; forward calls with `IncomingCall::reroute`, \
                 or serve services together with `rpc::service::Services`",
                self.method_name()
            ),
        )
    }

    /// Prepares the call for another service: routes its wire name with `to`'s
    /// [`Service::route`] and renumbers it for `to`'s table. `Err` gives the call
    /// back unchanged when `to` has no such method.
    ///
    /// This is how a hand-written service forwards calls to the services it holds;
    /// [`crate::service::Services`] does it for you.
    ///
    /// # Errors
    ///
    /// The call itself, when `to` does not answer its wire name.
    pub fn reroute<S: Service + ?Sized>(mut self, to: &S) -> Result<IncomingCall, IncomingCall> {
        match to.route(self.method_name()) {
            Some(index) => {
                self.method = index;
                self.table = table_address(to.methods());
                Ok(self)
            }
            None => Err(self),
        }
    }

    /// The call's context: the calling peer, the connection, its deadline and
    /// cancellation (see [`CallContext`]).
    ///
    /// Its cancellation token is the runtime's only for methods whose
    /// [`MethodInfo::takes_context`] is set (the macro sets it for methods that take
    /// a `CallContext`); for others it is a fresh token that nothing cancels.
    pub fn context(&self) -> CallContext {
        let extras = self.extras.as_deref();
        CallContext {
            session: self.session.clone(),
            id: self.id.clone(),
            method: self.served_as,
            cancel: extras.map(|e| e.cancel.clone()).unwrap_or_default(),
            deadline: extras.and_then(|e| e.deadline),
            request: extras.and_then(|e| e.request.clone()),
            events: extras.and_then(|e| e.events.clone()),
            trace_context: extras.and_then(|e| e.trace_context),
        }
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
        // Written where this thread's pooled room lies, as generated servers answer.
        self.session
            .state
            .engine
            .buffer_pool()
            .frame_with(512, |buf| encode_result(buf, id, value))
            .map_err(|err| RpcError::internal(format!("failed to encode the result: {err}")))
    }
}

impl std::fmt::Debug for IncomingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingCall")
            .field("method", &self.method)
            .field("name", &self.method_name())
            .field("id", &self.id)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}
