//! What generated code reaches the runtime's dependencies through; not a public API.
//!
//! `#[rpc_service]` names everything as `::rpc::__private::...`, so users need no
//! direct dependency on serde, and the expansion cannot be
//! broken by names in the user's scope.

pub use serde;

pub use crate::client::Client;
pub use crate::engine::CallSpawner;
pub use crate::error::Error;
pub use crate::message::{ErrorCode, RpcError};
// The runtime half of `#[derive(IntoRpcError)]` (`message/into_rpc_error.rs`).
pub use crate::engine::Started;
pub use crate::message::into_rpc_error::{error_data, error_message, ErrorMessage};
pub use crate::peer::{Batch, BatchCall, BatchResponses, Peer};
pub use crate::service::{
    BoxFuture, CallContext, Execution, IncomingCall, MethodInfo, Reply, Service,
};

pub use crate::stream::{Overflow, Stream, StreamSpec, Subscription};

pub use crate::__rpc_if_openrpc as if_openrpc;
/// What generated code describes its methods with (feature `openrpc`); the switch
/// below keeps that code out of builds without the feature.
#[cfg(feature = "openrpc")]
pub use crate::openrpc::{
    ContentDescriptor, DeclaredErrors, Describer, ErrorDoc, ErrorsOf, Info, MethodDoc,
    ParamStructure, SchemaOf, ViaAnySchema, ViaDeclaredErrors, ViaJsonSchema, ViaNoErrors,
};
#[cfg(feature = "openrpc")]
pub use serde_json::Value as JsonValue;

/// Its input with feature `openrpc`, nothing without: generated code's
/// descriptions compile only where the runtime has them.
#[cfg(feature = "openrpc")]
#[doc(hidden)]
#[macro_export]
macro_rules! __rpc_if_openrpc {
    ($($tokens:tt)*) => { $($tokens)* };
}

#[cfg(not(feature = "openrpc"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __rpc_if_openrpc {
    ($($tokens:tt)*) => {};
}

pub use std::borrow::Cow;
pub use std::boxed::Box;
pub use std::sync::Arc;
pub use std::time::Duration;

pub use crate::client::CallOptions;

pub use core::future::{Future, IntoFuture};

// Params decoding and the bounded helpers through which handlers meet user types
// (`service/params.rs`).
pub use crate::service::params::{
    decode_generated_params, decode_params, duplicate_param, into_rpc_error, missing_param,
    respond, too_many_params, CowStrSeed, OptionSeed, ParamKey, ParamSeed, StrSeed,
};
