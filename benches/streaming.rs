//! Framing throughput: how fast a [`FrameReader`] with [`NdjsonCodec`] or
//! [`ContentLengthCodec`] cuts frames out of a byte stream, for frames of 1 KiB,
//! 64 KiB, 1 MiB and 16 MiB arriving in reads of 1 B, 4 KiB and 64 KiB.
//!
//! Why: the design holds framing to memory speed on large frames (GiB/s), with the cost
//! of a frame linear in its size whatever the size of the reads. A decoder that rescans
//! its buffer from the start on every read is quadratic: its time per byte grows with
//! the frame size, and grows fastest with small reads. Compare the time per byte (the
//! reported throughput) across sizes within one read size: it should stay flat.
//!
//! Each iteration reads one frame through the reader a connection uses, over an
//! in-memory stream that hands out `read` bytes per read (the copy into the reader's
//! buffer is counted, as it is part of reading), and drops the frame, so the buffer's
//! room is taken back and the steady state allocates nothing.
//!
//! 1-byte reads are measured only for frames up to 64 KiB (a 16 MiB frame would take 16
//! million reads per iteration and make the run long); for those, the figure is the
//! per-read cost, and linearity shows as the same throughput at 1 KiB and 64 KiB.
//!
//! `streaming/copy_baseline` is the floor: the same reads into a reused buffer with
//! no decoding, i.e. what "memory speed" means here.
//!
//! Throughput is in bytes of frame body.
//!
//! Run: `cargo bench --bench streaming`.

use std::future::Future;
use std::hint::black_box;
use std::io;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rpc::framing::{ContentLengthCodec, FrameCodec, NdjsonCodec};
use rpc::transport::FrameReader;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::Encoder;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;

const FRAME_SIZES: [usize; 4] = [KIB, 64 * KIB, MIB, 16 * MIB];
const READ_SIZES: [usize; 3] = [1, 4 * KIB, 64 * KIB];
/// The largest frame measured with 1-byte reads.
const MAX_FRAME_FOR_BYTE_READS: usize = 64 * KIB;
/// Large enough for the 16 MiB frames.
const MAX_FRAME_LEN: usize = 32 * MIB;

/// A JSON request of exactly `size` bytes with no newline in it.
fn body(size: usize) -> Vec<u8> {
    let head = br#"{"jsonrpc":"2.0","id":1,"method":"echo","params":{"text":""#;
    let tail = br#""}}"#;
    assert!(size >= head.len() + tail.len());
    let mut body = Vec::with_capacity(size);
    body.extend_from_slice(head);
    let fill = size - head.len() - tail.len();
    body.extend((0..fill).map(|i| b'a' + (i % 26) as u8));
    body.extend_from_slice(tail);
    assert_eq!(body.len(), size);
    body
}

/// The bytes on the wire for one frame of `size` bytes, framed by `codec`.
fn wire<C: for<'a> Encoder<&'a [u8]>>(mut codec: C, size: usize) -> Vec<u8>
where
    for<'a> <C as Encoder<&'a [u8]>>::Error: std::fmt::Debug,
{
    let mut out = BytesMut::new();
    codec.encode(&body(size)[..], &mut out).unwrap();
    out.to_vec()
}

/// An endless stream of `wire` repeated, handed out `read` bytes at a time.
struct Chunked {
    wire: Vec<u8>,
    at: usize,
    read: usize,
}

impl AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self
            .read
            .min(self.wire.len() - self.at)
            .min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.wire[at..at + n]);
        self.at = (at + n) % self.wire.len();
        Poll::Ready(Ok(()))
    }
}

/// Runs a future that never waits (the stream is always ready).
fn ready<F: Future>(fut: F) -> F::Output {
    match pin!(fut).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("an in-memory stream never waits"),
    }
}

fn bench_codec<C, F>(c: &mut Criterion, group_name: &str, make: F)
where
    C: for<'a> Encoder<&'a [u8]> + Into<FrameCodec>,
    for<'a> <C as Encoder<&'a [u8]>>::Error: std::fmt::Debug,
    F: Fn() -> C,
{
    let mut group = c.benchmark_group(group_name);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    for size in FRAME_SIZES {
        let wire = wire(make(), size);
        group.throughput(Throughput::Bytes(size as u64));
        if size >= MIB {
            group.sample_size(20);
        } else {
            group.sample_size(50);
        }
        for read in READ_SIZES {
            if read == 1 && size > MAX_FRAME_FOR_BYTE_READS {
                continue;
            }
            let source = Chunked {
                wire: wire.clone(),
                at: 0,
                read,
            };
            let mut reader = FrameReader::new(source, make());
            group.bench_function(
                BenchmarkId::new(format!("read_{}", label(read)), label(size)),
                |b| {
                    b.iter(|| {
                        let frame = ready(reader.next_frame()).unwrap().unwrap();
                        debug_assert_eq!(frame.len(), size);
                        black_box(frame).len()
                    })
                },
            );
        }
    }
    group.finish();
}

fn label(bytes: usize) -> String {
    match bytes {
        b if b >= MIB => format!("{}MiB", b / MIB),
        b if b >= KIB => format!("{}KiB", b / KIB),
        b => format!("{b}B"),
    }
}

fn ndjson(c: &mut Criterion) {
    bench_codec(c, "streaming/ndjson", || {
        NdjsonCodec::with_max_frame_len(MAX_FRAME_LEN)
    });
}

fn content_length(c: &mut Criterion) {
    bench_codec(c, "streaming/content_length", || {
        ContentLengthCodec::with_max_frame_len(MAX_FRAME_LEN)
    });
}

/// The same reads, copied into a reused buffer with no decoder.
fn copy_baseline(c: &mut Criterion) {
    let mut group = c.benchmark_group("streaming/copy_baseline");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(2));
    for size in FRAME_SIZES {
        let wire = wire(NdjsonCodec::with_max_frame_len(MAX_FRAME_LEN), size);
        group.throughput(Throughput::Bytes(size as u64));
        group.sample_size(if size >= MIB { 20 } else { 50 });
        for read in READ_SIZES.into_iter().filter(|&r| r > 1) {
            let mut source = Chunked {
                wire: wire.clone(),
                at: 0,
                read,
            };
            let mut buf = BytesMut::with_capacity(16 * KIB);
            let len = wire.len();
            group.bench_function(
                BenchmarkId::new(format!("read_{}", label(read)), label(size)),
                |b| {
                    b.iter(|| {
                        while buf.len() < len {
                            buf.reserve(read);
                            let mut room = ReadBuf::uninit(buf.spare_capacity_mut());
                            ready(std::future::poll_fn(|cx| {
                                Pin::new(&mut source).poll_read(cx, &mut room)
                            }))
                            .unwrap();
                            let n = room.filled().len();
                            // SAFETY: `poll_read` initialised `n` bytes of the room.
                            unsafe { buf.set_len(buf.len() + n) };
                        }
                        let len = black_box(&buf).len();
                        buf.clear();
                        len
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, ndjson, content_length, copy_baseline);
criterion_main!(benches);
