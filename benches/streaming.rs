//! Framing throughput: how fast [`NdjsonCodec`] and [`ContentLengthCodec`] (tokio-util
//! `Decoder`s) cut frames out of a byte stream, for frames of 1 KiB, 64 KiB, 1 MiB and
//! 16 MiB arriving in reads of 1 B, 4 KiB and 64 KiB.
//!
//! Why: the design holds framing to memory speed on large frames (GiB/s), with the cost
//! of a frame linear in its size whatever the size of the reads. A decoder that rescans
//! its buffer from the start on every read is quadratic: its time per byte grows with
//! the frame size, and grows fastest with small reads. Compare the time per byte (the
//! reported throughput) across sizes within one read size: it should stay flat.
//!
//! Each iteration appends one frame to a reused `BytesMut`, `read` bytes at a time (as a
//! reader's `read_buf` would), calls `decode` after every read, and drops the frame it
//! gets, so the buffer's room is reclaimed in place and the steady state allocates
//! nothing. The copy into the buffer is counted, as it is part of reading.
//!
//! 1-byte reads are measured only for frames up to 64 KiB (a 16 MiB frame would take 16
//! million decode calls per iteration and make the run long); for those, the figure is
//! the per-call cost of `decode`, and linearity shows as the same throughput at 1 KiB
//! and 64 KiB.
//!
//! `streaming/copy_baseline` is the floor: the same reads appended to the same kind of
//! buffer with no decoding, i.e. what "memory speed" means here.
//!
//! Throughput is in bytes of frame body.
//!
//! Run: `cargo bench --bench streaming`.

use std::hint::black_box;
use std::time::Duration;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rpc::framing::{ContentLengthCodec, NdjsonCodec};
use tokio_util::codec::{Decoder, Encoder};

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

/// Feeds `wire` to `codec` in reads of `read` bytes and returns the frame's length.
fn decode_one<D: Decoder<Item = bytes::Bytes>>(
    codec: &mut D,
    buf: &mut BytesMut,
    wire: &[u8],
    read: usize,
) -> usize
where
    D::Error: std::fmt::Debug,
{
    for chunk in wire.chunks(read) {
        buf.extend_from_slice(chunk);
        if let Some(frame) = codec.decode(buf).unwrap() {
            return black_box(frame).len();
        }
    }
    unreachable!("the wire holds one whole frame")
}

fn bench_codec<D, F>(c: &mut Criterion, group_name: &str, make: F)
where
    D: Decoder<Item = bytes::Bytes> + for<'a> Encoder<&'a [u8]>,
    <D as Decoder>::Error: std::fmt::Debug,
    for<'a> <D as Encoder<&'a [u8]>>::Error: std::fmt::Debug,
    F: Fn() -> D,
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
            let mut codec = make();
            let mut buf = BytesMut::with_capacity(16 * KIB);
            group.bench_with_input(
                BenchmarkId::new(format!("read_{}", label(read)), label(size)),
                &wire,
                |b, wire| {
                    b.iter(|| {
                        let len = decode_one(&mut codec, &mut buf, wire, read);
                        debug_assert_eq!(len, size);
                        len
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
            let mut buf = BytesMut::with_capacity(16 * KIB);
            group.bench_with_input(
                BenchmarkId::new(format!("read_{}", label(read)), label(size)),
                &wire,
                |b, wire| {
                    b.iter(|| {
                        for chunk in wire.chunks(read) {
                            buf.extend_from_slice(chunk);
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
