//! Transports: every transport carries frames both ways, and the reader and the
//! coalescing writer behave on any stream.

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rpc::buffer::BufferPool;
use rpc::framing::{ContentLengthCodec, FrameCodec, FrameError, Framing, NdjsonCodec};
use rpc::transport::{child, memory, stdio, tcp, Connection, FrameReader, FrameWriter};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use tokio_util::codec::Encoder;

const FRAMINGS: [Framing; 2] = [Framing::Ndjson, Framing::ContentLength];

/// Runs a test body with a time limit, so a hang fails instead of stalling the run.
async fn bounded<T>(body: impl Future<Output = T>) -> T {
    timeout(Duration::from_secs(10), body)
        .await
        .expect("test timed out")
}

/// Frames of varied sizes, including one large enough to be written from where it lies.
fn sample_frames() -> Vec<Bytes> {
    let mut frames: Vec<Bytes> = (0..40)
        .map(|i| {
            Bytes::from(format!(
                r#"{{"jsonrpc":"2.0","id":{i},"method":"m","params":["a\nb\"c"]}}"#
            ))
        })
        .collect();
    frames.push(Bytes::from_static(b"1"));
    frames.push(Bytes::from(
        serde_json::to_vec(&serde_json::json!({ "big": "z".repeat(200_000) })).unwrap(),
    ));
    frames.push(Bytes::from(vec![b'7'; 3000]));
    frames.push(Bytes::from_static(b"{\"last\":true}"));
    frames
}

fn encode(framing: Framing, frames: &[Bytes]) -> Vec<u8> {
    let mut codec = framing.codec(1 << 30);
    let mut wire = BytesMut::new();
    for frame in frames {
        codec.encode(&frame[..], &mut wire).unwrap();
    }
    wire.to_vec()
}

/// Sends `frames` from one connection's writer while the other end's reader collects
/// them; the two run concurrently so no pipe buffer can fill up and stall either side.
async fn send_and_receive<W, R>(
    writer: &mut FrameWriter<W>,
    reader: &mut FrameReader<R>,
    frames: &[Bytes],
) where
    W: AsyncWrite + Unpin,
    R: AsyncRead + Unpin,
{
    let send = async {
        let mut batch = frames.to_vec();
        writer.write_frames(&mut batch).await.unwrap();
        assert!(batch.is_empty());
        writer.flush().await.unwrap();
    };
    let receive = async {
        let mut received = Vec::new();
        while received.len() < frames.len() {
            let frame = reader.next_frame().await.expect("stream ended early");
            received.push(frame.unwrap());
        }
        received
    };
    let ((), received) = tokio::join!(send, receive);
    assert_eq!(received.len(), frames.len());
    for (i, (got, want)) in received.iter().zip(frames).enumerate() {
        assert!(
            got == want,
            "frame {i} differs ({} vs {} bytes)",
            got.len(),
            want.len()
        );
    }
}

/// Checks frames travel from `a` to `b` and from `b` to `a`, then that closing one
/// side's writer ends the other side's reader.
async fn assert_carries_frames_both_ways<R1, W1, R2, W2>(
    mut a: Connection<R1, W1>,
    mut b: Connection<R2, W2>,
) where
    R1: AsyncRead + Unpin,
    W1: AsyncWrite + Unpin,
    R2: AsyncRead + Unpin,
    W2: AsyncWrite + Unpin,
{
    let frames = sample_frames();
    send_and_receive(&mut a.writer, &mut b.reader, &frames).await;
    send_and_receive(&mut b.writer, &mut a.reader, &frames).await;
    a.writer
        .send(Bytes::from_static(b"{\"one\":1}"))
        .await
        .unwrap();
    assert_eq!(
        b.reader.next_frame().await.unwrap().unwrap(),
        &b"{\"one\":1}"[..]
    );
    a.writer.shutdown().await.unwrap();
    assert!(
        b.reader.next_frame().await.is_none(),
        "end of stream after shutdown"
    );
}

#[tokio::test]
async fn memory_pair_carries_frames_both_ways() {
    bounded(async {
        for framing in FRAMINGS {
            let (a, b) = memory::pair(framing, 64 * 1024);
            assert_eq!(a.reader.codec().framing(), framing);
            assert_eq!(b.writer.codec().framing(), framing);
            assert_carries_frames_both_ways(a, b).await;
        }
    })
    .await;
}

#[tokio::test]
async fn boxed_connections_carry_frames_both_ways() {
    bounded(async {
        for framing in FRAMINGS {
            let (a, b) = memory::pair(framing, 64 * 1024);
            let (a, b) = (a.boxed(), b.boxed());
            assert_eq!(a.reader.codec().framing(), framing);
            assert_carries_frames_both_ways(a, b).await;
        }
    })
    .await;
}

#[tokio::test]
async fn tcp_carries_frames_both_ways_in_both_framings() {
    bounded(async {
        for framing in FRAMINGS {
            let listener = tcp::Listener::bind("127.0.0.1:0", framing).await.unwrap();
            let addr = listener.local_addr().unwrap();
            assert!(addr.ip().is_loopback() && addr.port() != 0);
            let (client, accepted) = tokio::join!(tcp::connect(addr, framing), listener.accept());
            let (server, peer) = accepted.unwrap();
            let client = client.unwrap();
            assert_eq!(server.reader.codec().framing(), framing);
            assert!(peer.ip().is_loopback());
            assert_carries_frames_both_ways(client, server).await;
        }
    })
    .await;
}

/// A socket path in the temporary directory, removed when dropped.
struct SocketPath(std::path::PathBuf);

impl SocketPath {
    fn new(name: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "rpc-test-{}-{}-{name}.sock",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&path);
        SocketPath(path)
    }
}

impl Drop for SocketPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn unix_socket_carries_frames_both_ways_in_both_framings() {
    use rpc::transport::unix;
    bounded(async {
        for framing in FRAMINGS {
            let path = SocketPath::new(&framing.to_string());
            let listener = unix::Listener::bind(&path.0, framing).unwrap();
            let (client, server) = tokio::join!(unix::connect(&path.0, framing), listener.accept());
            assert_carries_frames_both_ways(client.unwrap(), server.unwrap()).await;
        }
    })
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn child_process_echoes_frames_in_both_framings() {
    bounded(async {
        for framing in FRAMINGS {
            let mut command = tokio::process::Command::new("cat");
            let (mut connection, mut process) = child::spawn(&mut command, framing).unwrap();
            let frames = sample_frames();
            let mut writer = connection.writer;
            send_and_receive(&mut writer, &mut connection.reader, &frames).await;
            // Closing its stdin lets `cat` finish, which ends its stdout.
            drop(writer);
            assert!(connection.reader.next_frame().await.is_none());
            assert!(process.wait().await.unwrap().success());
        }
    })
    .await;
}

#[tokio::test]
async fn stdio_connection_is_framed_as_asked() {
    // Only built: reading the test process's own stdin would hang or steal input.
    for framing in FRAMINGS {
        let connection = stdio::connection(framing);
        assert_eq!(connection.reader.codec().framing(), framing);
        assert_eq!(connection.writer.codec().framing(), framing);
        let connection = stdio::connection(ContentLengthCodec::with_max_frame_len(99));
        assert_eq!(connection.reader.codec().max_frame_len(), 99);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slice {
    ptr: usize,
    len: usize,
}

/// An `AsyncWrite` that records every write call and the slices it was given, and
/// accepts at most `limit` bytes per call.
struct RecordingWriter {
    limit: usize,
    calls: Vec<Vec<Slice>>,
    data: Vec<u8>,
    flushes: usize,
}

impl RecordingWriter {
    fn new(limit: usize) -> Self {
        RecordingWriter {
            limit,
            calls: Vec::new(),
            data: Vec::new(),
            flushes: 0,
        }
    }

    fn accept(&mut self, slices: &[&[u8]]) -> usize {
        self.calls.push(
            slices
                .iter()
                .map(|s| Slice {
                    ptr: s.as_ptr() as usize,
                    len: s.len(),
                })
                .collect(),
        );
        let mut room = self.limit;
        let mut written = 0;
        for slice in slices {
            let n = slice.len().min(room);
            self.data.extend_from_slice(&slice[..n]);
            room -= n;
            written += n;
            if room == 0 {
                break;
            }
        }
        written
    }
}

impl AsyncWrite for RecordingWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(self.accept(&[buf])))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let slices: Vec<&[u8]> = bufs.iter().map(|b| &b[..]).collect();
        Poll::Ready(Ok(self.accept(&slices)))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.flushes += 1;
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn many_small_frames_leave_in_one_write() {
    for framing in FRAMINGS {
        let frames: Vec<Bytes> = (0..50)
            .map(|i| Bytes::from(format!("{{\"id\":{i}}}")))
            .collect();
        let mut writer = FrameWriter::new(RecordingWriter::new(usize::MAX), framing);
        let mut batch = frames.clone();
        writer.write_frames(&mut batch).await.unwrap();
        assert!(batch.is_empty(), "write_frames empties its list");
        let recorder = writer.get_ref();
        assert_eq!(recorder.calls.len(), 1, "{framing}: {:?}", recorder.calls);
        assert_eq!(recorder.data, encode(framing, &frames), "{framing}");
        assert_eq!(recorder.flushes, 0, "write_frames does not flush");
        let stats = writer.stats();
        assert_eq!(stats.frames, 50);
        assert_eq!(stats.writes, 1);
        assert_eq!(stats.bytes, encode(framing, &frames).len() as u64);
    }
}

#[tokio::test]
async fn large_frame_is_written_from_where_it_lies() {
    for framing in FRAMINGS {
        let big = Bytes::from(vec![b'b'; 1 << 20]);
        let big_slice = Slice {
            ptr: big.as_ptr() as usize,
            len: big.len(),
        };
        let frames = vec![
            Bytes::from_static(b"{\"before\":1}"),
            big.clone(),
            Bytes::from_static(b"{\"after\":2}"),
        ];
        let mut writer = FrameWriter::new(RecordingWriter::new(usize::MAX), framing);
        let mut batch = frames.clone();
        writer.write_frames(&mut batch).await.unwrap();
        let recorder = writer.get_ref();
        assert_eq!(recorder.data, encode(framing, &frames), "{framing}");
        assert!(
            recorder.calls.iter().flatten().any(|s| *s == big_slice),
            "{framing}: the 1 MiB body was not passed as its own slice: {:?}",
            recorder.calls
        );
        // Nothing else of that size was handed over, so it was never copied.
        let copied: usize = recorder
            .calls
            .iter()
            .flatten()
            .filter(|s| **s != big_slice)
            .map(|s| s.len)
            .sum();
        assert!(copied < 1024, "{framing}: {copied} bytes besides the body");
        assert_eq!(recorder.calls.len(), 1, "{framing}: one gathered write");
    }
}

#[tokio::test]
async fn partial_writes_still_produce_the_exact_byte_stream() {
    for framing in FRAMINGS {
        let frames = sample_frames();
        let wire = encode(framing, &frames);
        let mut writer = FrameWriter::new(RecordingWriter::new(7), framing);
        let mut batch = frames.clone();
        writer.write_frames(&mut batch).await.unwrap();
        let recorder = writer.get_ref();
        assert!(recorder.data == wire, "{framing}: the bytes differ");
        // Every call but the last made full progress.
        assert_eq!(recorder.calls.len(), wire.len().div_ceil(7), "{framing}");
        let stats = writer.stats();
        assert_eq!(stats.bytes, wire.len() as u64);
        assert_eq!(stats.writes, recorder.calls.len() as u64);
        assert_eq!(stats.frames, frames.len() as u64);
    }
}

#[tokio::test]
async fn many_large_frames_are_gathered_within_the_slice_limit() {
    for framing in FRAMINGS {
        let frames: Vec<Bytes> = (0..300u32)
            .map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; 3000]))
            .collect();
        let mut writer = FrameWriter::new(RecordingWriter::new(usize::MAX), framing);
        let mut batch = frames.clone();
        writer.write_frames(&mut batch).await.unwrap();
        let recorder = writer.get_ref();
        assert!(recorder.data == encode(framing, &frames), "{framing}");
        let widest = recorder.calls.iter().map(Vec::len).max().unwrap();
        // Linux's IOV_MAX.
        assert!(widest <= 1024, "{framing}: {widest} slices in one call");
        assert!(
            recorder.calls.len() < frames.len() / 4,
            "{framing}: {} writes for {} frames",
            recorder.calls.len(),
            frames.len()
        );
    }
}

#[tokio::test]
async fn send_writes_and_flushes_one_frame() {
    let mut writer = FrameWriter::new(RecordingWriter::new(usize::MAX), Framing::ContentLength);
    writer.send(Bytes::from_static(b"{}")).await.unwrap();
    assert_eq!(writer.get_ref().data, b"Content-Length: 2\r\n\r\n{}");
    assert_eq!(writer.get_ref().flushes, 1);
    assert_eq!(writer.stats().frames, 1);
}

/// An `AsyncWrite` whose every write fails.
struct FailingWriter;

impl AsyncWrite for FailingWriter {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// An `AsyncWrite` that accepts nothing.
struct ZeroWriter;

impl AsyncWrite for ZeroWriter {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(0))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn write_errors_are_reported() {
    let mut writer = FrameWriter::new(FailingWriter, Framing::Ndjson);
    let err = writer.send(Bytes::from_static(b"{}")).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);

    let mut writer = FrameWriter::new(ZeroWriter, Framing::Ndjson);
    let err = bounded(writer.send(Bytes::from_static(b"{}")))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WriteZero);
}

/// Writes `wire` into a small pipe in pieces from another task, so the reader sees it
/// arrive over many reads.
fn streamed(wire: Vec<u8>) -> tokio::io::DuplexStream {
    let (mut tx, rx) = tokio::io::duplex(512);
    tokio::spawn(async move {
        for piece in wire.chunks(300) {
            tx.write_all(piece).await.unwrap();
        }
    });
    rx
}

#[tokio::test]
async fn frame_reader_skips_an_oversized_frame_and_goes_on() {
    bounded(async {
        const MAX: usize = 1024;
        for framing in FRAMINGS {
            let first = Bytes::from_static(b"{\"first\":1}");
            let big = Bytes::from(vec![b'x'; 100 * 1024]);
            let next = Bytes::from(vec![b'n'; MAX]);
            let wire = encode(framing, &[first.clone(), big, next.clone()]);
            let mut reader = FrameReader::new(streamed(wire), framing.codec(MAX));
            assert_eq!(reader.next_frame().await.unwrap().unwrap(), first);
            let err = reader.next_frame().await.unwrap().unwrap_err();
            assert!(
                err.is_too_large() && err.is_recoverable(),
                "{framing}: {err:?}"
            );
            assert_eq!(
                reader.next_frame().await.unwrap().unwrap(),
                next,
                "{framing}"
            );
            assert!(reader.next_frame().await.is_none(), "{framing}");
            let (_, rest) = reader.into_parts();
            assert!(rest.is_empty());
        }
    })
    .await;
}

#[tokio::test]
async fn frame_reader_stops_at_a_malformed_header() {
    bounded(async {
        let wire = b"Content-Length: 2\r\n\r\n[]Content-Length: two\r\n\r\n{}\
            Content-Length: 2\r\n\r\n{}"
            .to_vec();
        let mut reader = FrameReader::new(streamed(wire), ContentLengthCodec::new());
        assert_eq!(reader.next_frame().await.unwrap().unwrap(), &b"[]"[..]);
        let err = reader.next_frame().await.unwrap().unwrap_err();
        assert!(matches!(err, FrameError::Malformed(_)), "{err:?}");
        assert!(reader.next_frame().await.is_none());
        assert!(reader.next_frame().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn frame_reader_reports_a_stream_cut_inside_a_frame() {
    bounded(async {
        let wire = b"Content-Length: 2\r\n\r\n[]Content-Length: 10\r\n\r\n{\"a\"".to_vec();
        let mut reader = FrameReader::new(streamed(wire), ContentLengthCodec::new());
        assert_eq!(reader.next_frame().await.unwrap().unwrap(), &b"[]"[..]);
        let err = reader.next_frame().await.unwrap().unwrap_err();
        assert!(matches!(err, FrameError::Truncated(4)), "{err:?}");
        assert!(reader.next_frame().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn frame_reader_returns_the_last_ndjson_line_without_newline() {
    bounded(async {
        let wire = b"{\"a\":1}\n\r\n{\"b\":2}".to_vec();
        let mut reader = FrameReader::new(streamed(wire), NdjsonCodec::new());
        assert_eq!(
            reader.next_frame().await.unwrap().unwrap(),
            &b"{\"a\":1}"[..]
        );
        assert_eq!(
            reader.next_frame().await.unwrap().unwrap(),
            &b"{\"b\":2}"[..]
        );
        assert!(reader.next_frame().await.is_none());
    })
    .await;
}

#[tokio::test]
async fn writer_with_pool_returns_written_frames_to_the_pool() {
    bounded(async {
        // Exact-size buffers, so each frozen frame is its buffer's only owner.
        let pool = Arc::new(BufferPool::new(rpc::buffer::PoolConfig {
            min_allocation: 0,
            ..rpc::buffer::PoolConfig::default()
        }));
        let (a, mut b) = memory::pair(FrameCodec::default(), 1 << 20);
        let mut writer = a.writer.with_pool(Arc::clone(&pool));
        let mut frames = Vec::new();
        for i in 0..10 {
            let mut buf = pool.take(64);
            buf.extend_from_slice(format!("{{\"id\":{i}}}").as_bytes());
            frames.push(buf.freeze());
        }
        // A frame someone else still holds cannot go back.
        let kept = frames[0].clone();
        assert_eq!(pool.stats().in_use, 10);
        let mut batch = frames;
        writer.write_frames(&mut batch).await.unwrap();
        writer.flush().await.unwrap();
        let stats = pool.stats();
        assert_eq!(stats.in_use, 0);
        assert_eq!(stats.returned, 9);
        assert_eq!(stats.discarded, 1);
        assert_eq!(stats.pooled_bytes, 9 * 512);
        let _ = pool.take(64);
        assert_eq!(pool.stats().hits, 1);
        for i in 0..10 {
            let frame = b.reader.next_frame().await.unwrap().unwrap();
            assert_eq!(frame, format!("{{\"id\":{i}}}").as_bytes());
        }
        assert_eq!(&kept[..], b"{\"id\":0}");
    })
    .await;
}
