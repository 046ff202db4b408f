//! Exact allocation counts of the message and framing hot paths.
//!
//! A counting global allocator wraps the system one; this file is its own test binary
//! so nothing else allocates on its count. Each measurement runs on one thread and
//! counts only that thread's allocations.

use bytes::BytesMut;
use rpc::buffer::BufferPool;
use rpc::framing::{ContentLengthCodec, NdjsonCodec};
use rpc::message::{encode_result, parse, Incoming, Message};
use tokio_util::codec::{Decoder, Encoder};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::allocations_in;

const ADD: &[u8] = br#"{"jsonrpc":"2.0","id":7,"method":"add","params":{"a":1,"b":2}}"#;

#[test]
fn parsing_a_request_allocates_nothing() {
    let count = allocations_in(|| {
        for _ in 0..100 {
            let Ok(Incoming::Single(Message::Request(req))) = parse(std::hint::black_box(ADD))
            else {
                panic!("not a request")
            };
            assert_eq!(req.method, "add");
            std::hint::black_box(req);
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn encoding_a_result_into_a_reused_buffer_allocates_nothing() {
    let mut buf = BytesMut::with_capacity(256);
    let Ok(Incoming::Single(Message::Request(req))) = parse(ADD) else {
        panic!()
    };
    let count = allocations_in(|| {
        for _ in 0..100 {
            buf.clear();
            encode_result(&mut buf, req.id, &3i64).unwrap();
        }
    });
    assert_eq!(count, 0);
    assert_eq!(&buf[..], br#"{"jsonrpc":"2.0","id":7,"result":3}"#);
}

#[test]
fn encoding_a_small_answer_on_the_server_path_allocates_nothing_once_the_pool_is_warm() {
    // What a server does per answer: a pooled buffer, the response, the frame frozen
    // off it; then what the writer does once the frame is sent: recycle it.
    let pool = BufferPool::default();
    let Ok(Incoming::Single(Message::Request(req))) = parse(ADD) else {
        panic!()
    };
    // The generated code's `respond` writes with `frame_with`; hand-written
    // services take, encode and freeze.
    let answer = |pool: &BufferPool| {
        let frame = pool
            .frame_with(512, |buf| encode_result(buf, req.id, &3i64))
            .unwrap();
        assert_eq!(&frame[..], br#"{"jsonrpc":"2.0","id":7,"result":3}"#);
        pool.recycle(frame);
    };
    let by_hand = |pool: &BufferPool| {
        let mut buf = pool.take(512);
        encode_result(&mut buf, req.id, &3i64).unwrap();
        let frame = pool.freeze(buf);
        assert_eq!(&frame[..], br#"{"jsonrpc":"2.0","id":7,"result":3}"#);
        pool.recycle(frame);
    };
    // The first answer allocates the buffer (and `freeze` the handle it shares).
    answer(&pool);
    let count = allocations_in(|| {
        for _ in 0..10_000 {
            answer(&pool);
            by_hand(&pool);
        }
    });
    assert_eq!(count, 0);
    let stats = pool.stats();
    assert_eq!((stats.misses, stats.hits), (1, 20_000));
}

/// Feeds `stream` in `chunk`-byte reads into a buffer that is reserved the way the
/// transports' reader does it, decoding and dropping every frame.
fn frames_decoded<D: Decoder<Item = bytes::Bytes>>(
    codec: &mut D,
    buf: &mut BytesMut,
    stream: &[u8],
    chunk: usize,
) -> usize
where
    D::Error: std::fmt::Debug,
{
    let mut frames = 0;
    for piece in stream.chunks(chunk) {
        if buf.capacity() - buf.len() < piece.len() {
            buf.reserve(piece.len().max(buf.len()));
        }
        buf.extend_from_slice(piece);
        while let Some(frame) = codec.decode(buf).unwrap() {
            assert_eq!(&frame[..], ADD);
            frames += 1;
        }
    }
    frames
}

fn assert_framing_is_allocation_free<D: Decoder<Item = bytes::Bytes>>(mut codec: D, stream: &[u8])
where
    D::Error: std::fmt::Debug,
{
    let mut buf = BytesMut::with_capacity(16 * 1024);
    // Warm-up: the buffer reaches its working size and becomes shareable.
    frames_decoded(&mut codec, &mut buf, stream, 4096);
    for chunk in [4096, 1000, 97, 1] {
        let mut frames = 0;
        let count = allocations_in(|| frames = frames_decoded(&mut codec, &mut buf, stream, chunk));
        assert_eq!(frames, 1000, "chunk {chunk}");
        assert_eq!(count, 0, "allocations with {chunk}-byte reads");
    }
}

#[test]
fn ndjson_framing_allocates_nothing_per_frame_once_warm() {
    let mut stream = Vec::new();
    for _ in 0..1000 {
        stream.extend_from_slice(ADD);
        stream.push(b'\n');
    }
    assert_framing_is_allocation_free(NdjsonCodec::new(), &stream);
}

#[test]
fn content_length_framing_allocates_nothing_per_frame_once_warm() {
    let mut out = BytesMut::new();
    let mut codec = ContentLengthCodec::new();
    for _ in 0..1000 {
        codec.encode(ADD, &mut out).unwrap();
    }
    assert_framing_is_allocation_free(ContentLengthCodec::new(), &out);
}

/// An endless stream of `wire` repeated, handed out `read` bytes at a time, noting
/// where in memory each repetition's first bytes were read to.
struct Repeating {
    wire: Vec<u8>,
    at: usize,
    read: usize,
    starts: Vec<usize>,
}

impl tokio::io::AsyncRead for Repeating {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = self
            .read
            .min(self.wire.len() - self.at)
            .min(buf.remaining());
        let at = self.at;
        if at == 0 && self.starts.len() < self.starts.capacity() {
            let to = buf.filled().as_ptr() as usize + buf.filled().len();
            self.starts.push(to);
        }
        buf.put_slice(&self.wire[at..at + n]);
        self.at = (at + n) % self.wire.len();
        std::task::Poll::Ready(Ok(()))
    }
}

/// Large frames, one after another, each dropped before the next: the reader takes
/// its allocation back from the start for each, so every frame is read in place,
/// where it is handed out, with no allocation, and never moved (a frame begun at the
/// end of the room the last one left would be copied to the front).
#[test]
fn large_frames_are_read_in_place_into_one_reused_allocation() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    const SIZE: usize = 1 << 20;
    let body = format!(r#"{{"text":"{}"}}"#, "a".repeat(SIZE - 11));
    for framing in [
        rpc::framing::Framing::Ndjson,
        rpc::framing::Framing::ContentLength,
    ] {
        let mut wire = BytesMut::new();
        framing
            .codec(4 * SIZE)
            .encode(body.as_bytes(), &mut wire)
            .unwrap();
        // Where the frame's body starts on the wire (after a Content-Length header).
        let header = wire.iter().position(|&b| b == b'{').unwrap();
        for read in [4096, 64 * 1024] {
            let source = Repeating {
                wire: wire.to_vec(),
                at: 0,
                read,
                starts: Vec::with_capacity(16),
            };
            let mut reader = rpc::transport::FrameReader::new(source, framing.codec(4 * SIZE));
            let mut next = || {
                let mut frame = std::pin::pin!(reader.next_frame());
                match frame.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                    Poll::Ready(Some(Ok(frame))) => frame.as_ptr() as usize,
                    _ => unreachable!("an in-memory stream is always ready"),
                }
            };
            // Warm-up: the buffer grows to hold a frame.
            next();
            let mut frames = [0; 8];
            let count = allocations_in(|| frames.iter_mut().for_each(|f| *f = next()));
            assert_eq!(count, 0, "{framing}, {read}-byte reads: allocations");
            let starts = &reader.get_ref().starts[1..];
            for (frame, start) in frames.iter().zip(starts) {
                assert_eq!(
                    *frame,
                    start + header,
                    "{framing}, {read}-byte reads: a frame was moved after it was read"
                );
            }
            assert!(
                frames.iter().all(|&f| f == frames[0]),
                "{framing}: {frames:?}"
            );
        }
    }
}
