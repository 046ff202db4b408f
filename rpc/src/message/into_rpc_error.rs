//! [`IntoRpcError`]: what a method's error type must be to become an error response,
//! and the runtime half of `#[derive(IntoRpcError)]`.
//!
//! The trait is an alias of `Into<RpcError>` that exists for its diagnostic: bounding
//! the generated handler on `Into<RpcError>` makes rustc report the nested
//! `RpcError: From<E>` obligation ("the trait bound `RpcError: From<String>` is not
//! satisfied"), which names neither the problem nor a fix. Bounding it on this trait,
//! whose one impl is marked `#[diagnostic::do_not_recommend]`, makes rustc report
//! `E: IntoRpcError` instead, with the message below. Both attributes are stable
//! since Rust 1.85, the workspace's minimum.
//!
//! Strings are deliberately not errors: a `String` carries no code, and any code we
//! picked for it would be wrong for someone. -32603 would hide a domain error (a
//! refused transfer, an unknown user) behind "internal error", so clients could not
//! tell it from a crash and could not react; -32000 is the runtime's own "server
//! overloaded". And an implicit conversion sends whatever text the string holds (a
//! database's error, a path) to the caller. Mapping it is one explicit
//! `.map_err(RpcError::internal)`, which the error message suggests.

use std::borrow::Cow;
use std::fmt::Display;

use serde::Serialize;

use super::error::{bound_message, RpcError, MAX_MESSAGE_LEN};

/// A type that converts into an error response: every `E` with
/// `impl From<E> for RpcError`, and so every type with `#[derive(IntoRpcError)]`.
///
/// `#[rpc_service]` methods return `Result<T, E>` with `E: IntoRpcError`. The trait has
/// no methods and one blanket impl (on `Into<RpcError>`); do not implement it, convert
/// instead: derive [`IntoRpcError`](derive@crate::IntoRpcError) or write
/// `impl From<MyError> for RpcError`. It exists so that a type that does not convert
/// draws an error that says so and names these fixes.
///
/// # Examples
///
/// ```
/// use rpc::{ErrorCode, IntoRpcError, RpcError};
///
/// #[derive(Debug, IntoRpcError)]
/// #[rpc(code = -32010, message = "the account is locked")]
/// struct Locked;
///
/// fn to_response<E: IntoRpcError>(err: E) -> RpcError {
///     err.into()
/// }
///
/// assert_eq!(to_response(Locked).code, ErrorCode(-32010));
/// assert_eq!(to_response(RpcError::internal("boom")).code, ErrorCode::INTERNAL_ERROR);
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot become a JSON-RPC error response",
    label = "this error type does not convert into `rpc::RpcError`",
    note = "for an error type of your own, add `#[derive(rpc::IntoRpcError)]` with a code (`#[rpc(code = -32010)]`), or write `impl From<{Self}> for rpc::RpcError`",
    note = "otherwise return `Result<_, rpc::RpcError>` and map the error in the method: `.map_err(|e| rpc::RpcError::internal(e.to_string()))` answers -32603, `rpc::RpcError::new(rpc::ErrorCode(-32010), ..)` a code of your choosing"
)]
pub trait IntoRpcError: Into<RpcError> {}

// Without `do_not_recommend`, rustc would look through this impl and report the
// failed `RpcError: From<E>` instead of the message above.
#[diagnostic::do_not_recommend]
impl<E: Into<RpcError>> IntoRpcError for E {}

/// What `#[derive(IntoRpcError)]` takes a message from when a variant gives none:
/// `Display` (as `thiserror` writes it). An alias of `Display`, for its diagnostic.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no message for its JSON-RPC error",
    label = "`#[derive(IntoRpcError)]` takes the message from `Display`, which `{Self}` does not implement",
    note = "implement `Display` for `{Self}` (with thiserror: `#[derive(thiserror::Error)]` and `#[error(\"...\")]`), or give every variant `#[rpc(message = \"...\")]`"
)]
pub trait ErrorMessage: Display {}

#[diagnostic::do_not_recommend]
impl<T: Display + ?Sized> ErrorMessage for T {}

/// The message of a derived error from its `Display`, cut to [`MAX_MESSAGE_LEN`]
/// bytes: a message that quotes what the caller sent (`#[error("no user {0}")]`)
/// stays small however large that was. Details belong in `data`.
#[doc(hidden)]
#[cold]
pub fn error_message<E: ErrorMessage + ?Sized>(err: &E) -> Cow<'static, str> {
    bound_message(err.to_string(), MAX_MESSAGE_LEN)
}

/// A derived error's `data` field attached to its error (see [`RpcError::with_data`]:
/// data that fails to serialize is left out; the engine leaves out data that would
/// make the answer larger than the frame limit). With the type as an explicit
/// argument, a field type that is not `Serialize` draws one error, on that type.
#[doc(hidden)]
#[cold]
pub fn error_data<T: Serialize + ?Sized>(err: RpcError, data: &T) -> RpcError {
    err.with_data(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Long;

    impl Display for Long {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&"x".repeat(10_000))
        }
    }

    #[test]
    fn a_display_message_is_bounded() {
        assert_eq!(error_message("short"), "short");
        let message = error_message(&Long);
        assert!(message.len() <= MAX_MESSAGE_LEN, "{}", message.len());
        assert!(message.contains("bytes cut)"), "{message}");
    }
}
