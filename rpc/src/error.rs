//! The error a caller gets from a call.

use std::time::Duration;

use crate::message::{EncodeError, ErrorCode, RpcError};

/// Why a call failed.
///
/// Every way a call can end without a result maps to one variant, so a caller can
/// tell a server's answer ([`Error::Rpc`]) from a local condition.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error object.
    #[error("the server answered with error {0}")]
    Rpc(RpcError),
    /// No response came within the call's deadline; the call was abandoned.
    #[error("no response to `{method}` within {after:?}")]
    Timeout {
        /// The method called.
        method: String,
        /// The deadline.
        after: Duration,
    },
    /// The connection closed (or failed) before the response came.
    #[error("the connection closed before the response came: {reason}")]
    ConnectionClosed {
        /// What closed it.
        reason: String,
    },
    /// The call was not sent: the connection had closed (or its writer stopped)
    /// before it could go out, or a managed client had no connection for it in time
    /// ([`crate::client::Reconnect`]). The server never saw it, so sending it again
    /// is safe.
    #[error("the call was not sent: {reason}")]
    NotSent {
        /// Why, naming the endpoints and what they last said, for a managed client.
        reason: String,
    },
    /// The params could not be encoded; nothing was sent.
    #[error("could not encode the params: {0}")]
    Encode(#[from] EncodeError),
    /// No connection could be made (the name did not resolve, or the other end
    /// refused or did not answer).
    #[error("could not connect to {addr}: {source}")]
    Connect {
        /// The address as it was given (`host:port`).
        addr: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// A subscription's items came faster than they were read: the server closed
    /// the stream as lagged, or this client's buffer for it overflowed (see
    /// [`crate::ConnectionConfig::subscription_buffer`]). The subscription has
    /// ended; subscribe again to go on.
    #[error("the subscription {subscription} fell behind its items and was closed")]
    Lagged {
        /// The subscription id.
        subscription: String,
    },
    /// The response came but its result did not fit the expected type.
    #[error("the result of `{method}` did not decode: {source}")]
    Decode {
        /// The method called.
        method: String,
        /// serde's description of the mismatch.
        source: serde_json::Error,
    },
}

impl Error {
    /// Whether the server answered with an error object.
    pub fn is_rpc(&self) -> bool {
        matches!(self, Error::Rpc(_))
    }

    /// Whether the call timed out locally.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether the connection was lost.
    pub fn is_connection_closed(&self) -> bool {
        matches!(self, Error::ConnectionClosed { .. })
    }

    /// Whether the call was not sent (safe to send again).
    pub fn is_not_sent(&self) -> bool {
        matches!(self, Error::NotSent { .. })
    }

    /// Whether no connection could be made.
    pub fn is_connect(&self) -> bool {
        matches!(self, Error::Connect { .. })
    }

    /// Whether the result failed to decode.
    pub fn is_decode(&self) -> bool {
        matches!(self, Error::Decode { .. })
    }

    /// The server's error object, if it answered with one.
    pub fn rpc_error(&self) -> Option<&RpcError> {
        match self {
            Error::Rpc(err) => Some(err),
            _ => None,
        }
    }

    /// The `data` of the server's error decoded as `T`, if it answered with an error
    /// that has data (see [`RpcError::data`]).
    pub fn data<'a, T: serde::Deserialize<'a>>(&'a self) -> Option<Result<T, serde_json::Error>> {
        self.rpc_error()?.data()
    }

    /// The server's error code, if it answered with an error.
    pub fn code(&self) -> Option<ErrorCode> {
        self.rpc_error().map(|e| e.code)
    }

    pub(crate) fn not_sent(reason: impl Into<String>) -> Self {
        Error::NotSent {
            reason: reason.into(),
        }
    }

    pub(crate) fn closed(reason: impl Into<String>) -> Self {
        Error::ConnectionClosed {
            reason: reason.into(),
        }
    }
}
