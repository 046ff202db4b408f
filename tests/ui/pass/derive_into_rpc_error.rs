//! `#[derive(IntoRpcError)]` with every option, on enums, structs and generic types,
//! compiled with warnings denied, then used as a method's error.
#![deny(warnings, missing_docs, unused_qualifications)]
#![deny(clippy::all)]

use rpc::{rpc_service, ErrorCode, IntoRpcError, RpcError};
use serde::Serialize;

/// Data of a variant.
#[derive(Debug, Serialize)]
pub struct Detail {
    /// Which item.
    pub item: u32,
}

/// Every option on an enum, with thiserror's messages.
#[derive(Debug, thiserror::Error, IntoRpcError)]
#[rpc(code = 1000)]
pub enum Domain {
    /// The enum's code, `Display`'s message.
    #[error("plain")]
    Plain,
    /// Its own code and message, data in a tuple field.
    #[error("detailed {0}")]
    #[rpc(code = -32602, message = "bad detail")]
    Detailed(u8, #[rpc(data)] Detail),
    /// Data in a named field, a code in the server-error range, options in two
    /// attributes.
    #[error("named")]
    #[rpc(code = -32099)]
    #[rpc(message = "named")]
    Named {
        /// Not data.
        other: String,
        /// The data.
        #[rpc(data)]
        detail: Vec<u32>,
    },
    /// A source error, as thiserror writes it: not data.
    #[error("io")]
    #[rpc(code = -32603)]
    Io(#[from] std::io::Error),
}

/// A unit struct with a fixed message, and no `Display`.
#[derive(Debug, IntoRpcError)]
#[rpc(code = -31999, message = "locked")]
pub struct Locked;

/// A tuple struct with data.
#[derive(Debug, thiserror::Error, IntoRpcError)]
#[error("tuple")]
#[rpc(code = 7)]
pub struct Tuple(#[rpc(data)] pub Detail);

/// Generic, with a borrowed field and a generic data field.
#[derive(Debug, IntoRpcError)]
#[rpc(code = 8)]
pub enum Generic<'a, T, const N: usize> {
    /// `T` is data: the impl asks `T: Serialize`.
    Data(#[rpc(data)] Vec<T>, &'a str),
    /// Arrays of `N`.
    #[rpc(message = "array")]
    Array([u8; N]),
}

impl<T, const N: usize> std::fmt::Display for Generic<'_, T, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("generic")
    }
}

/// No variants at all.
#[derive(Debug, IntoRpcError)]
pub enum Never {}

/// The derived errors as methods' errors.
#[rpc_service]
pub trait Uses {
    /// An enum.
    async fn domain(&self) -> Result<u8, Domain>;
    /// A struct.
    async fn locked(&self) -> Result<u8, Locked>;
    /// A generic type.
    async fn generic(&self) -> Result<u8, Generic<'static, u64, 2>>;
    /// An empty enum.
    async fn never(&self) -> Result<u8, Never>;
}

fn code<E: IntoRpcError>(err: E) -> ErrorCode {
    let err: RpcError = err.into();
    err.code
}

fn main() {
    assert_eq!(code(Domain::Plain), ErrorCode(1000));
    assert_eq!(code(Domain::Detailed(1, Detail { item: 2 })), ErrorCode(-32602));
    let named = Domain::Named {
        other: String::new(),
        detail: vec![1],
    };
    assert_eq!(code(named), ErrorCode(-32099));
    assert_eq!(code(Domain::Io(std::io::Error::other("x"))), ErrorCode::INTERNAL_ERROR);
    assert_eq!(code(Locked), ErrorCode(-31999));
    assert_eq!(code(Tuple(Detail { item: 1 })), ErrorCode(7));
    assert_eq!(code(Generic::<u64, 2>::Data(vec![1], "x")), ErrorCode(8));
    assert_eq!(code(Generic::<u64, 2>::Array([0; 2])), ErrorCode(8));
    let _ = |n: Never| code(n);
}
