//! Decoding and encoding one call on the generated path, against the floors: a bare
//! typed serde_json decode of the same bytes, and serde_json writing into a reused
//! buffer; `serde_json::Value` for reference.
//!
//! The `rpc_server_path` cases encode an answer the way a server does: a buffer from
//! the pool, the response encoded into it, the frame frozen off it, and the frame
//! handed back to the pool once written (what the connection's writer does).
//!
//! Run: `cargo bench --bench message_processing`.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rpc::buffer::BufferPool;
use rpc::message::{encode_result, parse, Id, Incoming, Message};
use rpc::rpc_service;
use rpc::service::Service;
use serde::{Deserialize, Serialize};

#[rpc_service]
pub trait Bench {
    async fn add(&self, a: i64, b: i64) -> i64;
    async fn echo(&self, text: String) -> usize;
    async fn count(&self, points: Vec<Point>) -> usize;
}

struct Impl;

impl Bench for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn echo(&self, text: String) -> usize {
        text.len()
    }
    async fn count(&self, points: Vec<Point>) -> usize {
        points.len()
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

#[derive(Deserialize)]
struct CountParams {
    points: Vec<Point>,
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
        Some(2) => ready(Server::__call_count(service.get_ref(), params)).unwrap(),
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
        b.iter(|| typed_small_result(&mut vec))
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
    let service = Server::new(Impl);
    // 64 KiB of text with an escape every 64 bytes.
    let text: String = (0..1024).map(|i| format!("{:062}\\n", i)).collect();
    let frame =
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"echo","params":{{"text":"{text}"}}}}"#);
    decode_against_typed(
        c,
        "large_params_decode",
        &service,
        frame.as_bytes(),
        |p: &EchoParams| p.text.len(),
    );

    // About 60 KB of small objects: many short strings and numbers.
    let points: Vec<Point> = (0..1000).map(Point::new).collect();
    let frame = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"count","params":{{"points":{}}}}}"#,
        serde_json::to_string(&points).unwrap()
    );
    decode_against_typed(
        c,
        "large_params_decode_structs",
        &service,
        frame.as_bytes(),
        |p: &CountParams| p.points.len(),
    );
}

/// A group of two: the one-pass typed serde_json decode of `frame` (params as `P`,
/// of which `size` reads something), and the generated path.
fn decode_against_typed<P: for<'de> Deserialize<'de>>(
    c: &mut Criterion,
    name: &str,
    service: &Server,
    frame: &[u8],
    size: fn(&P) -> usize,
) {
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("serde_json_typed", |b| {
        b.iter(|| {
            let req: TypedRequest<'_, P> = serde_json::from_slice(black_box(frame)).unwrap();
            black_box(size(&req.params))
        })
    });
    group.bench_function("rpc_generated", |b| {
        b.iter(|| generated(service, black_box(frame)))
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

/// The server's answer path (`rpc::__private::respond`, which the generated code
/// calls): encode into the pool's room and cut the frame off (`frame_with`, that is
/// take, encode, freeze); then the writer's recycle once the frame is sent.
fn server_path<R: Serialize + ?Sized>(pool: &BufferPool, id: Id<'_>, result: &R) -> usize {
    let frame = pool
        .frame_with(512, |buf| encode_result(buf, id, result))
        .unwrap();
    let len = frame.len();
    pool.recycle(black_box(frame));
    len
}

/// The floor for a small answer: serde_json writing a derived response into a
/// reused buffer.
fn typed_small_result(vec: &mut Vec<u8>) -> usize {
    vec.clear();
    let response = TypedResponse {
        jsonrpc: "2.0",
        id: 7,
        result: black_box(3i64),
    };
    serde_json::to_writer(&mut *vec, &response).unwrap();
    black_box(vec.len())
}

fn small_result(c: &mut Criterion) {
    let mut group = c.benchmark_group("small_result_encode");
    let mut vec = Vec::with_capacity(256);
    group.bench_function("serde_json_reused_buffer", |b| {
        b.iter(|| typed_small_result(&mut vec))
    });
    let pool = BufferPool::default();
    let id = Id::from_json("7").unwrap();
    group.bench_function("rpc_server_path", |b| {
        b.iter(|| server_path(&pool, black_box(id), &black_box(3i64)))
    });
    group.finish();
}

/// A struct-heavy result: an array of small objects with numbers and short strings.
#[derive(Serialize, Deserialize)]
pub struct Point {
    x: i64,
    y: f64,
    label: String,
    tags: Vec<u32>,
}

impl Point {
    fn new(i: i64) -> Point {
        Point {
            x: i * 7919,
            y: i as f64 * 0.25,
            label: format!("point-{i}"),
            tags: vec![i as u32, 2, 3],
        }
    }
}

fn large_result(c: &mut Criterion) {
    let text: String = (0..1024).map(|i| format!("{:063}.", i)).collect();
    let points: Vec<Point> = (0..1000).map(Point::new).collect();
    let mut group = c.benchmark_group("large_result_encode");
    let pool = BufferPool::default();
    let id = Id::from_json("1").unwrap();
    fn cases<R: Serialize>(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        pool: &BufferPool,
        id: Id<'_>,
        result: &R,
    ) {
        let size = serde_json::to_vec(result).unwrap().len();
        group.throughput(Throughput::Bytes(size as u64));
        let mut vec = Vec::new();
        group.bench_function(BenchmarkId::new("serde_json_reused_buffer", name), |b| {
            b.iter(|| {
                vec.clear();
                let response = TypedResponse {
                    jsonrpc: "2.0",
                    id: 1,
                    result: black_box(result),
                };
                serde_json::to_writer(&mut vec, &response).unwrap();
                black_box(vec.len())
            })
        });
        group.bench_function(BenchmarkId::new("rpc_server_path", name), |b| {
            b.iter(|| server_path(pool, black_box(id), black_box(result)))
        });
    }
    cases(&mut group, "string_64k", &pool, id, &text);
    cases(&mut group, "structs_64k", &pool, id, &points);
    group.finish();
}

criterion_group!(
    benches,
    small_call,
    small_result,
    large_result,
    large_params,
    batch
);
criterion_main!(benches);
