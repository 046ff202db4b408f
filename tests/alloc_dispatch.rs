//! Exact allocation counts of the code `#[rpc_service]` generates for the server's hot
//! path: decoding a method's params (array or object) and calling the handler.
//!
//! A counting global allocator wraps the system one; this file is its own test binary
//! so nothing else allocates on its count. Each measurement runs on one thread and
//! counts only that thread's allocations. What is measured is the generated
//! `__call_{method}` function that `Service::call` runs inside the one boxed future the
//! runtime's `Service` interface requires; the runtime's own costs (the `IncomingCall`,
//! that box, the pooled response buffer) are counted by its own tests.

use rpc::message::{parse, Incoming, Message};
use rpc::service::Service;
use rpc::{rpc_service, RpcError};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/ready.rs"]
mod ready;

use counting_alloc::allocations_in;
use ready::ready;

#[rpc_service]
pub trait Calculator {
    async fn add(&self, a: i64, b: i64) -> i64;
    /// The address of the text's first byte, to show it was not copied.
    async fn locate(&self, text: &str) -> usize;
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;
    #[rpc(strict)]
    async fn mul(&self, a: i64, b: i64) -> i64;
}

struct Calc;

impl Calculator for Calc {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn locate(&self, text: &str) -> usize {
        text.as_ptr() as usize
    }
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError> {
        Ok(a / b)
    }
    async fn mul(&self, a: i64, b: i64) -> i64 {
        a * b
    }
}

type Server = CalculatorServer<Calc>;

#[test]
fn decoding_add_params_and_dispatching_allocates_nothing() {
    let calc = Calc;
    // Warm up anything lazily initialised on first use.
    assert_eq!(ready(Server::__call_add(&calc, Some("[1,2]"))).unwrap(), 3);
    let count = allocations_in(|| {
        for _ in 0..100 {
            let named = std::hint::black_box(r#"{"a":1,"b":2}"#);
            assert_eq!(ready(Server::__call_add(&calc, Some(named))).unwrap(), 3);
            let positional = std::hint::black_box("[1,2]");
            assert_eq!(
                ready(Server::__call_add(&calc, Some(positional))).unwrap(),
                3
            );
            let spaced = std::hint::black_box(r#" { "b" : 2 , "a" : 1 } "#);
            assert_eq!(ready(Server::__call_add(&calc, Some(spaced))).unwrap(), 3);
            let ok = ready(Server::__call_divide(&calc, Some("[1.0,4.0]"))).unwrap();
            assert_eq!(ok, 0.25);
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn unknown_names_and_strict_methods_allocate_nothing() {
    let calc = Calc;
    assert_eq!(ready(Server::__call_mul(&calc, Some("[2,3]"))).unwrap(), 6);
    let count = allocations_in(|| {
        for _ in 0..100 {
            // Lenient: the first unknown key is remembered, borrowed from the text.
            // (Its value is skipped by serde_json, which allocates its scratch buffer
            // for a value nested two deep, like `{"k":[1]}`: not this crate's cost.)
            let extra = std::hint::black_box(r#"{"a":1,"_meta":{"k":1},"b":2,"c":[3]}"#);
            assert_eq!(ready(Server::__call_add(&calc, Some(extra))).unwrap(), 3);
            // Strict: the same scan of the names.
            let named = std::hint::black_box(r#"{"b":3,"a":2}"#);
            assert_eq!(ready(Server::__call_mul(&calc, Some(named))).unwrap(), 6);
            let positional = std::hint::black_box("[2,3]");
            assert_eq!(
                ready(Server::__call_mul(&calc, Some(positional))).unwrap(),
                6
            );
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn routing_allocates_nothing() {
    let server = CalculatorServer::new(Calc);
    let count = allocations_in(|| {
        for _ in 0..100 {
            assert_eq!(server.route(std::hint::black_box("add")), Some(0));
            assert_eq!(server.route(std::hint::black_box("divide")), Some(2));
            assert_eq!(server.route(std::hint::black_box("nope")), None);
            assert_eq!(server.methods().len(), 4);
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn a_str_parameter_points_into_the_received_frame() {
    let calc = Calc;
    let frame: &[u8] = br#"{"jsonrpc":"2.0","id":1,"method":"locate","params":{"text":"hello"}}"#;
    let mut at = 0;
    let count = allocations_in(|| {
        let Ok(Incoming::Single(Message::Request(req))) = parse(frame) else {
            panic!("not a request")
        };
        let params = req.params.map(|p| p.get());
        at = ready(Server::__call_locate(&calc, params)).unwrap();
    });
    assert_eq!(count, 0);
    let hello = frame.windows(5).position(|w| w == b"hello").unwrap();
    assert_eq!(at, frame.as_ptr() as usize + hello);
}

#[test]
fn a_bad_parameter_is_reported_without_panicking() {
    let calc = Calc;
    let err = ready(Server::__call_add(&calc, Some(r#"{"a":1}"#))).unwrap_err();
    assert_eq!(err.message, "invalid params: missing parameter `b`");
}
