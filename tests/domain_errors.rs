//! Domain errors on the server side: error types with `#[derive(IntoRpcError)]`
//! returned by `#[rpc_service]` methods, checked on the wire (exact frames) and
//! through the typed client (`Error::code`, `Error::data`).

use std::collections::HashMap;

use rpc::message::MAX_MESSAGE_LEN;
use rpc::prelude::*;
use rpc::transport::memory;
use serde::{Deserialize, Serialize};

/// What `InsufficientFunds` carries to the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Shortfall {
    pub balance_cents: u64,
    pub missing_cents: u64,
}

/// A bank's errors, with thiserror's messages and a code per variant.
#[derive(Debug, thiserror::Error, IntoRpcError)]
#[rpc(code = -32050)]
pub enum AccountError {
    #[error("no account `{0}`")]
    #[rpc(code = -32010)]
    UnknownAccount(String),
    #[error("{} cents short", shortfall.missing_cents)]
    #[rpc(code = -32011)]
    InsufficientFunds {
        #[rpc(data)]
        shortfall: Shortfall,
        account: String,
    },
    /// A params check beyond their types: the standard code, a fixed message.
    #[error("amount {0} is not positive")]
    #[rpc(code = -32602, message = "the amount must be positive")]
    NotPositive(i64),
    /// No code of its own: the enum's.
    #[error("the ledger is being reconciled")]
    Reconciling,
    /// Display quotes what the caller sent, however large.
    #[error("no memo like {0}")]
    #[rpc(code = 4001)]
    BadMemo(String),
    /// Data that JSON cannot hold (a map with non-string keys) is left out.
    #[error("unencodable")]
    #[rpc(code = 4002)]
    Unencodable(#[rpc(data)] HashMap<(u8, u8), u8>),
}

/// A struct error: the code and message on the type.
#[derive(Debug, IntoRpcError)]
#[rpc(code = -32030, message = "the account is frozen")]
pub struct Frozen {
    #[rpc(data)]
    pub until: String,
}

#[rpc_service(namespace = "bank")]
pub trait Bank {
    async fn withdraw(&self, account: String, cents: i64) -> Result<u64, AccountError>;
    async fn memo(&self, text: String) -> Result<(), AccountError>;
    async fn broken(&self) -> Result<(), AccountError>;
    async fn thaw(&self, account: String) -> Result<(), Frozen>;
}

struct Ledger;

impl Bank for Ledger {
    async fn withdraw(&self, account: String, cents: i64) -> Result<u64, AccountError> {
        if cents <= 0 {
            return Err(AccountError::NotPositive(cents));
        }
        match account.as_str() {
            "alice" => Err(AccountError::InsufficientFunds {
                shortfall: Shortfall {
                    balance_cents: 100,
                    missing_cents: cents as u64 - 100,
                },
                account,
            }),
            "audit" => Err(AccountError::Reconciling),
            _ => Err(AccountError::UnknownAccount(account)),
        }
    }
    async fn memo(&self, text: String) -> Result<(), AccountError> {
        Err(AccountError::BadMemo(text))
    }
    async fn broken(&self) -> Result<(), AccountError> {
        Err(AccountError::Unencodable(HashMap::from([((1, 2), 3)])))
    }
    async fn thaw(&self, _account: String) -> Result<(), Frozen> {
        Err(Frozen {
            until: "2030-01-01".into(),
        })
    }
}

fn server() -> Server {
    Server::new(BankServer::new(Ledger))
}

/// The answer frame to one request frame, as text.
async fn answer(request: &str) -> String {
    let frame = server()
        .handle_frame(request.to_owned())
        .await
        .expect("a request gets an answer");
    String::from_utf8(frame.to_vec()).unwrap()
}

fn client() -> (BankClient, Server) {
    let server = server();
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let client = BankClient::new(Client::new(ours, ConnectionConfig::default()));
    (client, server)
}

#[tokio::test]
async fn each_variant_answers_its_code_message_and_data_on_the_wire() {
    assert_eq!(
        answer(r#"{"jsonrpc":"2.0","id":1,"method":"bank.withdraw","params":["alice",350]}"#).await,
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32011,"message":"250 cents short","data":{"balance_cents":100,"missing_cents":250}}}"#
    );
    assert_eq!(
        answer(r#"{"jsonrpc":"2.0","id":2,"method":"bank.withdraw","params":["bob",5]}"#).await,
        r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32010,"message":"no account `bob`"}}"#
    );
    assert_eq!(
        answer(r#"{"jsonrpc":"2.0","id":3,"method":"bank.withdraw","params":["bob",-5]}"#).await,
        r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"the amount must be positive"}}"#
    );
    assert_eq!(
        answer(r#"{"jsonrpc":"2.0","id":4,"method":"bank.withdraw","params":["audit",5]}"#).await,
        r#"{"jsonrpc":"2.0","id":4,"error":{"code":-32050,"message":"the ledger is being reconciled"}}"#
    );
    assert_eq!(
        answer(r#"{"jsonrpc":"2.0","id":5,"method":"bank.thaw","params":["carol"]}"#).await,
        r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32030,"message":"the account is frozen","data":"2030-01-01"}}"#
    );
}

#[tokio::test]
async fn data_that_does_not_serialize_is_left_out() {
    assert_eq!(
        answer(r#"{"jsonrpc":"2.0","id":1,"method":"bank.broken"}"#).await,
        r#"{"jsonrpc":"2.0","id":1,"error":{"code":4002,"message":"unencodable"}}"#
    );
}

#[tokio::test]
async fn a_display_message_quoting_a_large_input_is_bounded() {
    let (client, _server) = client();
    let memo = "m".repeat(20_000);
    let err = client.memo(memo).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode(4001)));
    let message = &err.rpc_error().unwrap().message;
    assert!(message.len() <= MAX_MESSAGE_LEN, "{} bytes", message.len());
    assert!(message.starts_with("no memo like mmm"), "{message}");
    assert!(message.contains("bytes cut)"), "{message}");
}

#[tokio::test]
async fn the_typed_client_reads_code_and_data() {
    let (client, _server) = client();

    let err = client.withdraw("alice".into(), 350).await.unwrap_err();
    assert!(err.is_rpc());
    assert_eq!(err.code(), Some(ErrorCode(-32011)));
    assert_eq!(err.rpc_error().unwrap().message, "250 cents short");
    let shortfall: Shortfall = err.data().unwrap().unwrap();
    assert_eq!(
        shortfall,
        Shortfall {
            balance_cents: 100,
            missing_cents: 250
        }
    );

    let err = client.withdraw("bob".into(), 5).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode(-32010)));
    assert!(err.data::<Shortfall>().is_none());

    let err = client.withdraw("bob".into(), 0).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INVALID_PARAMS));

    let err = client.thaw("carol".into()).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode(-32030)));
    // The field's value is the data, not an object around it.
    assert_eq!(err.data::<String>().unwrap().unwrap(), "2030-01-01");
}

#[test]
fn the_conversion_is_an_ordinary_from() {
    let err: RpcError = AccountError::UnknownAccount("x".into()).into();
    assert_eq!(err, RpcError::new(ErrorCode(-32010), "no account `x`"));
    // `IntoRpcError` is the bound methods' errors meet; `RpcError` meets it too.
    fn convert<E: IntoRpcError>(err: E) -> RpcError {
        err.into()
    }
    assert_eq!(
        convert(Frozen {
            until: "soon".into()
        })
        .code,
        ErrorCode(-32030)
    );
    assert_eq!(
        convert(RpcError::internal("x")).code,
        ErrorCode::INTERNAL_ERROR
    );
}
