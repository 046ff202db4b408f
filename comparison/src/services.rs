//! The one service every contender serves: `add(a: i64, b: i64) -> i64`, declared
//! the way each stack's users declare it (a typed trait with generated client and
//! server), with an async handler on every side.
//!
//! Params go by name (`{"a":1,"b":2}`) on both JSON-RPC stacks, so our frames and
//! jsonrpsee's carry the same JSON-RPC text.

#![allow(missing_docs)] // generated items

use serde::{Deserialize, Serialize};

/// The implementation shared by all contenders.
#[derive(Clone, Copy, Debug, Default)]
pub struct Adder;

/// Ours: `#[rpc::rpc_service]` generates `CalcClient` and `CalcServer<T>`.
#[rpc::rpc_service]
pub trait Calc {
    /// Adds two numbers.
    async fn add(&self, a: i64, b: i64) -> i64;
}

impl Calc for Adder {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

/// jsonrpsee: `#[rpc(server, client)]` generates the `JsonrpseeCalcServer` trait (with
/// `into_rpc`) and the `JsonrpseeCalcClient` extension trait of its clients.
#[jsonrpsee::proc_macros::rpc(server, client)]
pub trait JsonrpseeCalc {
    /// Adds two numbers; params by name, as ours sends them.
    #[method(name = "add", param_kind = map)]
    async fn add(&self, a: i64, b: i64) -> jsonrpsee::core::RpcResult<i64>;
}

#[jsonrpsee::core::async_trait]
impl JsonrpseeCalcServer for Adder {
    async fn add(&self, a: i64, b: i64) -> jsonrpsee::core::RpcResult<i64> {
        Ok(a + b)
    }
}

/// tarpc: `#[tarpc::service]` generates `TarpcCalcClient` and `ServeTarpcCalc`.
#[tarpc::service]
pub trait TarpcCalc {
    /// Adds two numbers.
    async fn add(a: i64, b: i64) -> i64;
}

impl TarpcCalc for Adder {
    async fn add(self, _: tarpc::context::Context, a: i64, b: i64) -> i64 {
        a + b
    }
}

/// The request of the small call, as the codec workload decodes it and as the bare
/// echo sizes its lines (our client's frame for id 1, without the newline).
pub const SMALL_REQUEST: &[u8] =
    br#"{"jsonrpc":"2.0","id":1,"method":"add","params":{"a":1,"b":2}}"#;

/// The response to [`SMALL_REQUEST`] (without the newline).
pub const SMALL_RESPONSE: &[u8] = br#"{"jsonrpc":"2.0","id":1,"result":3}"#;

/// The floor's request type: exactly the fields of the frame, decoded by serde_json
/// with no JSON-RPC rules (no id kinds, no positional params, no routing).
#[derive(Deserialize)]
pub struct TypedRequest<'a, P> {
    #[serde(borrow)]
    pub jsonrpc: &'a str,
    pub id: u64,
    #[serde(borrow)]
    pub method: &'a str,
    pub params: P,
}

/// `add`'s params by name.
#[derive(Deserialize, Serialize, Clone, Copy, Debug)]
pub struct AddParams {
    pub a: i64,
    pub b: i64,
}

/// The floor's response type.
#[derive(Serialize)]
pub struct TypedResponse<'a, R> {
    pub jsonrpc: &'a str,
    pub id: u64,
    pub result: R,
}
