//! Decoding and encoding one call on the generated path, against the floors: a bare
//! typed serde_json decode of the same bytes, and serde_json writing into a reused
//! buffer; `serde_json::Value` for reference.
//!
//! Run: `cargo bench --bench message_processing`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rpc::message::{encode_result, parse, Id, Incoming, Message};
use rpc::rpc_service;
use rpc::service::Service;
use serde::{Deserialize, Serialize};

#[rpc_service]
pub trait Bench {
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn echo(&self, text: String) -> usize;
}

struct Impl;

impl Bench for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn echo(&self, text: String) -> usize {
        text.len()
    }
}

type Server = BenchServer<Impl>;

fn ready<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("the handlers never wait"),
    }
}

/// The floor: the same request decoded by serde_json into a type made for it.
#[derive(Deserialize)]
struct TypedRequest<'a, P> {
    #[serde(borrow)]
    #[allow(dead_code)]
    jsonrpc: &'a str,
    id: u64,
    #[serde(borrow)]
    method: &'a str,
    params: P,
}

#[derive(Deserialize)]
struct AddParams {
    a: i64,
    b: i64,
}

#[derive(Deserialize)]
struct EchoParams {
    text: String,
}

#[derive(Serialize)]
struct TypedResponse<'a, R> {
    jsonrpc: &'a str,
    id: u64,
    result: R,
}

/// Routes and runs a request frame on the generated path.
fn generated(service: &Server, frame: &[u8]) -> usize {
    let Ok(Incoming::Single(Message::Request(req))) = parse(frame) else {
        unreachable!()
    };
    let params = req.params.map(|p| p.get());
    match service.route(&req.method) {
        Some(0) => ready(Server::__call_add(service.get_ref(), params)).unwrap() as usize,
        Some(1) => ready(Server::__call_echo(service.get_ref(), params)).unwrap(),
        _ => unreachable!(),
    }
}

fn small_call(c: &mut Criterion) {
    let frame = br#"{"jsonrpc":"2.0","id":7,"method":"add","params":{"a":1,"b":2}}"#;
    let service = Server::new(Impl);
    let mut group = c.benchmark_group("small_call_decode");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("serde_json_typed", |b| {
        b.iter(|| {
            let req: TypedRequest<'_, AddParams> =
                serde_json::from_slice(black_box(frame)).unwrap();
            black_box((req.id, req.method, req.params.a + req.params.b))
        })
    });
    group.bench_function("rpc_generated", |b| {
        b.iter(|| generated(&service, black_box(frame)))
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(frame)).unwrap())
    });
    group.finish();

    let mut group = c.benchmark_group("small_call_encode");
    let mut buf = BytesMut::with_capacity(256);
    let mut vec = Vec::with_capacity(256);
    group.bench_function("serde_json_reused_buffer", |b| {
        b.iter(|| {
            vec.clear();
            let response = TypedResponse {
                jsonrpc: "2.0",
                id: 7,
                result: black_box(3i64),
            };
            serde_json::to_writer(&mut vec, &response).unwrap();
            black_box(vec.len())
        })
    });
    let id = Id::from_json("7").unwrap();
    group.bench_function("rpc_encode_result", |b| {
        b.iter(|| {
            buf.clear();
            encode_result(&mut buf, black_box(id), &black_box(3i64)).unwrap();
            black_box(buf.len())
        })
    });
    group.finish();
}

fn large_params(c: &mut Criterion) {
    // 64 KiB of text with an escape every 64 bytes.
    let text: String = (0..1024).map(|i| format!("{:062}\\n", i)).collect();
    let frame =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":{{"text":"{text}"}}}}"#);
    let frame = frame.as_bytes();
    let service = Server::new(Impl);
    let mut group = c.benchmark_group("large_params_decode");
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("serde_json_typed", |b| {
        b.iter(|| {
            let req: TypedRequest<'_, EchoParams> =
                serde_json::from_slice(black_box(frame)).unwrap();
            black_box(req.params.text.len())
        })
    });
    group.bench_function("rpc_generated", |b| {
        b.iter(|| generated(&service, black_box(frame)))
    });
    group.finish();
}

fn batch(c: &mut Criterion) {
    let element = r#"{"jsonrpc":"2.0","id":7,"method":"add","params":[1,2]}"#;
    let frame = format!("[{}]", vec![element; 100].join(","));
    let frame = frame.as_bytes();
    let mut group = c.benchmark_group("batch_of_100_parse");
    group.throughput(Throughput::Elements(100));
    group.bench_function("rpc_parse", |b| {
        b.iter(|| match parse(black_box(frame)) {
            Ok(Incoming::Batch(elements)) => elements.len(),
            _ => unreachable!(),
        })
    });
    group.bench_function("serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(frame)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, small_call, large_params, batch);
criterion_main!(benches);
