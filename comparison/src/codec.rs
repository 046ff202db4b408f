//! Workload 1: the codec of one small call, in process, with no I/O.
//!
//! - **decode**: the request bytes [`SMALL_REQUEST`] to the handler's typed arguments.
//!   Ours parses the frame, routes the method through the generated dispatch table and
//!   runs the generated params decoder and the (trivial) handler, as
//!   `benches/message_processing.rs` does; jsonrpsee decodes its
//!   `jsonrpsee::types::Request` and then `params().parse()` (what its server does
//!   before calling a method, less the method-table lookup); the floor is one typed
//!   `serde_json::from_slice` into a struct made for exactly these bytes.
//! - **encode**: the result `3` as a response. Ours is the server's real path, as the
//!   generated code answers a call: `rpc::message::encode_result` into the buffer
//!   pool's room, the frame cut off as `Bytes` (`BufferPool::frame_with`), then given
//!   back as the writer does once it is sent (`BufferPool::recycle`); jsonrpsee is `MethodResponse::response`, which its
//!   server calls for every answer (it builds a fresh `Box<RawValue>` each time); the
//!   floor is `serde_json::to_writer` of a derived struct into a reused `Vec`.
//!
//! Every contender runs its own monomorphized loop (no dynamic call per operation).
//! A sample is one short timed batch of each contender in turn, the order rotating
//! from sample to sample so that machine noise falls on all alike; the figure is the
//! median over samples, and ours' ratio to a peer is the median of the per-sample
//! ratios (on a busy machine the absolute figures move with the load while the
//! paired ratios hold). Allocations per operation are counted over a separate batch.

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use jsonrpsee::types::{Id as JId, Request as JRequest};
use jsonrpsee::{MethodResponse, ResponsePayload};
use rpc::buffer::BufferPool;
use rpc::message::{encode_result, parse, Id, Incoming, Message};
use rpc::service::Service;

use crate::counting::Window;
use crate::services::{
    AddParams, Adder, CalcServer, TypedRequest, TypedResponse, SMALL_REQUEST, SMALL_RESPONSE,
};
use crate::stats::median;

/// How long the codec workload runs.
#[derive(Debug, Clone, Copy)]
pub struct CodecConfig {
    /// Timed samples per contender.
    pub samples: usize,
    /// The least time one timed batch takes (iterations are calibrated to it).
    pub batch: Duration,
}

/// One contender's figure for one operation.
#[derive(Debug, Clone, Copy)]
pub struct OpFigure {
    /// Median nanoseconds per operation over the samples.
    pub ns: f64,
    /// The fastest sample's nanoseconds per operation (the least disturbed by other
    /// work on the machine).
    pub min_ns: f64,
    /// Ours divided by this contender: the median over samples of the ratio of the
    /// two batches of the same sample, which run within a millisecond or two of each
    /// other and so see the same machine.
    pub ours_ratio: f64,
    /// Heap allocations per operation.
    pub allocs: f64,
}

/// The codec figures: per operation, `[ours, jsonrpsee, floor]`.
#[derive(Debug, Clone, Copy)]
pub struct CodecResults {
    /// Decoding the request.
    pub decode: [OpFigure; 3],
    /// Encoding the response.
    pub encode: [OpFigure; 3],
}

/// Polls a future that never waits.
fn ready<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("the handlers never wait"),
    }
}

/// Ours: parse, route, generated params decode and the handler.
fn ours_decode(service: &CalcServer<Adder>, frame: &[u8]) -> i64 {
    let Ok(Incoming::Single(Message::Request(req))) = parse(frame) else {
        unreachable!("a valid request")
    };
    black_box(req.id);
    let params = req.params.map(|p| p.get());
    match service.route(&req.method) {
        Some(0) => ready(CalcServer::<Adder>::__call_add(service.get_ref(), params)).unwrap(),
        _ => unreachable!("add is method 0"),
    }
}

/// jsonrpsee: its request type, then `params().parse()`.
fn jsonrpsee_decode(frame: &[u8]) -> i64 {
    let req: JRequest<'_> = serde_json::from_slice(frame).unwrap();
    black_box((&req.id, req.method_name()));
    let p: AddParams = req.params().parse().unwrap();
    p.a + p.b
}

/// The floor: one typed decode.
fn floor_decode(frame: &[u8]) -> i64 {
    let req: TypedRequest<'_, AddParams> = serde_json::from_slice(frame).unwrap();
    black_box((req.jsonrpc, req.id, req.method));
    req.params.a + req.params.b
}

/// A contender: runs its operation `n` times and returns how long that took.
type Batch<'a> = Box<dyn FnMut(u64) -> Duration + 'a>;

/// Wraps one operation in its own timed loop.
fn batch<'a, R>(mut op: impl FnMut() -> R + 'a) -> Batch<'a> {
    Box::new(move |n| {
        let start = Instant::now();
        for _ in 0..n {
            black_box(op());
        }
        start.elapsed()
    })
}

/// Times the contenders interleaved and counts their allocations.
fn compare(contenders: &mut [Batch<'_>], config: CodecConfig) -> Vec<OpFigure> {
    // Warm up and calibrate: iterations such that one batch takes `config.batch`.
    let iterations: Vec<u64> = contenders
        .iter_mut()
        .map(|run| {
            let mut n = 64;
            loop {
                if run(n) >= config.batch / 2 || n >= 1 << 30 {
                    let per_op = run(n).as_secs_f64() / n as f64;
                    break ((config.batch.as_secs_f64() / per_op) as u64).max(1);
                }
                n *= 2;
            }
        })
        .collect();
    let mut samples = vec![Vec::with_capacity(config.samples); contenders.len()];
    for sample in 0..config.samples {
        for k in 0..contenders.len() {
            let i = (sample + k) % contenders.len();
            let elapsed = contenders[i](iterations[i]);
            samples[i].push(elapsed.as_secs_f64() * 1e9 / iterations[i] as f64);
        }
    }
    const COUNTED: u64 = 10_000;
    let ours = samples[0].clone();
    contenders
        .iter_mut()
        .zip(&mut samples)
        .map(|(run, samples)| {
            let window = Window::open();
            run(COUNTED);
            let allocs = window.finish() as f64 / COUNTED as f64;
            let mut ratios: Vec<f64> = ours.iter().zip(&*samples).map(|(o, s)| o / s).collect();
            OpFigure {
                ns: median(samples),
                min_ns: samples.iter().copied().fold(f64::INFINITY, f64::min),
                ours_ratio: median(&mut ratios),
                allocs,
            }
        })
        .collect()
}

/// Runs the codec workload.
pub fn run(config: CodecConfig) -> CodecResults {
    let frame = SMALL_REQUEST;
    let service = CalcServer::new(Adder);
    // Every decoder must agree on the call before it is timed.
    assert_eq!(ours_decode(&service, frame), 3);
    assert_eq!(jsonrpsee_decode(frame), 3);
    assert_eq!(floor_decode(frame), 3);
    let decode = compare(
        &mut [
            batch(|| ours_decode(&service, black_box(frame))),
            batch(|| jsonrpsee_decode(black_box(frame))),
            batch(|| floor_decode(black_box(frame))),
        ],
        config,
    );

    let id = Id::from_json("1").unwrap();
    let pool = BufferPool::default();
    let mut vec = Vec::with_capacity(256);
    let frame = pool
        .frame_with(512, |buf| encode_result(buf, id, &3i64))
        .unwrap();
    assert_eq!(&frame[..], SMALL_RESPONSE);
    pool.recycle(frame);
    let response =
        MethodResponse::response(JId::Number(1), ResponsePayload::success(3i64), usize::MAX);
    assert_eq!(response.as_json().get().as_bytes(), SMALL_RESPONSE);
    let encode = compare(
        &mut [
            batch(|| {
                let frame = pool
                    .frame_with(512, |buf| {
                        encode_result(buf, black_box(id), &black_box(3i64))
                    })
                    .unwrap();
                let len = frame.len();
                pool.recycle(black_box(frame));
                len
            }),
            batch(|| {
                let response = MethodResponse::response(
                    JId::Number(black_box(1)),
                    ResponsePayload::success(black_box(3i64)),
                    10 * 1024 * 1024,
                );
                response.as_json().get().len()
            }),
            batch(|| {
                vec.clear();
                let response = TypedResponse {
                    jsonrpc: "2.0",
                    id: black_box(1),
                    result: black_box(3i64),
                };
                serde_json::to_writer(&mut vec, &response).unwrap();
                vec.len()
            }),
        ],
        config,
    );
    CodecResults {
        decode: [decode[0], decode[1], decode[2]],
        encode: [encode[0], encode[1], encode[2]],
    }
}
