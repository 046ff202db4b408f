//! JSON-RPC 2.0 messages: parsing that borrows from the frame, and encoding straight
//! into buffers.
//!
//! ```text
//! frame bytes ──parse──▶ Incoming::Single(Message) | Incoming::Batch(Vec<..>)
//!                          Message = Request | Notification | Response
//! Id, method, params ──encode_*──▶ BytesMut
//! ```

mod encode;
mod error;
mod id;
// Reached by `__private` for the derive's runtime half.
pub(crate) mod into_rpc_error;
mod json_text;
mod parse;
// Reached by the generated params decoders' walk too (`service/params_walk.rs`).
pub(crate) mod scan;
pub(crate) mod unescape;

pub use encode::{
    encode_error, encode_error_object, encode_notification, encode_raw_result, encode_request,
    encode_result, write_json, BatchWriter, EncodeError,
};
pub use error::{bound_message, ErrorCode, ErrorObject, RpcError, MAX_MESSAGE_LEN, MAX_QUOTE_LEN};
pub use id::{Id, IdKind, OwnedId};
pub use into_rpc_error::IntoRpcError;
pub use json_text::JsonText;
pub(crate) use parse::present;
pub use parse::{
    parse, parse_with, Incoming, Invalid, Message, Notification, ParseLimits, Request, Response,
    MAX_DEPTH,
};
