//! Writing frames to a byte stream, many frames per write.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::buffer::BufferPool;
use crate::framing::FrameCodec;

/// Bodies up to this size are copied next to their headers; larger ones are written
/// from where they lie, as their own slice of a vectored write.
const COPY_THRESHOLD: usize = 2 * 1024;
/// Slices handed to one vectored write (well under every platform's `IOV_MAX`).
const MAX_SLICES: usize = 64;

#[derive(Debug, Clone, Copy)]
enum Segment {
    /// A range of the scratch buffer (headers, trailers, copied small bodies).
    Scratch(usize, usize),
    /// The body of the frame at this index.
    Body(usize),
}

/// Counters of a [`FrameWriter`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Frames written.
    pub frames: u64,
    /// Write calls made on the stream (each may carry many frames).
    pub writes: u64,
    /// Bytes written, framing included.
    pub bytes: u64,
}

/// Writes frames to an `AsyncWrite`, gathering many frames into one write.
///
/// [`FrameWriter::write_frames`] frames a whole list at once: headers, trailers and small
/// bodies are copied into one scratch buffer, and large bodies are passed as their own
/// slices to a vectored write, so a 16 MiB frame is never copied. Written frames go back
/// to the buffer pool when one is set.
pub struct FrameWriter<W> {
    io: W,
    codec: FrameCodec,
    scratch: BytesMut,
    segments: Vec<Segment>,
    pool: Option<Arc<BufferPool>>,
    stats: WriterStats,
}

impl<W: AsyncWrite + Unpin> FrameWriter<W> {
    /// Writes frames to `io` with `codec`.
    pub fn new(io: W, codec: impl Into<FrameCodec>) -> Self {
        FrameWriter {
            io,
            codec: codec.into(),
            scratch: BytesMut::with_capacity(16 * 1024),
            segments: Vec::with_capacity(3 * MAX_SLICES),
            pool: None,
            stats: WriterStats::default(),
        }
    }

    /// Returns written frames to `pool`.
    pub fn with_pool(mut self, pool: Arc<BufferPool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Writes one frame and flushes.
    ///
    /// # Errors
    ///
    /// When the stream fails; the frame may have been partly written.
    pub async fn send(&mut self, frame: Bytes) -> io::Result<()> {
        let mut frames = vec![frame];
        self.write_frames(&mut frames).await?;
        self.flush().await
    }

    /// Writes every frame of `frames`, in order, with as few write calls as the
    /// stream allows, and empties `frames`. Does not flush.
    ///
    /// # Errors
    ///
    /// When the stream fails; some frames may have been written.
    pub async fn write_frames(&mut self, frames: &mut Vec<Bytes>) -> io::Result<()> {
        self.scratch.clear();
        self.segments.clear();
        let mut start = 0;
        for (index, frame) in frames.iter().enumerate() {
            self.codec.write_header(frame.len(), &mut self.scratch);
            if frame.len() <= COPY_THRESHOLD {
                self.scratch.extend_from_slice(frame);
                self.codec.write_trailer(&mut self.scratch);
            } else {
                if self.scratch.len() > start {
                    self.segments
                        .push(Segment::Scratch(start, self.scratch.len()));
                }
                self.segments.push(Segment::Body(index));
                start = self.scratch.len();
                self.codec.write_trailer(&mut self.scratch);
            }
        }
        if self.scratch.len() > start {
            self.segments
                .push(Segment::Scratch(start, self.scratch.len()));
        }
        self.write_segments(frames).await?;
        self.stats.frames += frames.len() as u64;
        match &self.pool {
            Some(pool) => frames.drain(..).for_each(|f| pool.recycle(f)),
            None => frames.clear(),
        }
        Ok(())
    }

    async fn write_segments(&mut self, frames: &[Bytes]) -> io::Result<()> {
        let mut segment = 0;
        let mut offset = 0;
        while segment < self.segments.len() {
            let mut slices = [IoSlice::new(&[]); MAX_SLICES];
            let mut count = 0;
            for (i, seg) in self.segments[segment..].iter().enumerate() {
                if count == MAX_SLICES {
                    break;
                }
                let bytes = match *seg {
                    Segment::Scratch(a, b) => &self.scratch[a..b],
                    Segment::Body(index) => &frames[index][..],
                };
                slices[count] = IoSlice::new(if i == 0 { &bytes[offset..] } else { bytes });
                count += 1;
            }
            let mut written = self.io.write_vectored(&slices[..count]).await?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            self.stats.writes += 1;
            self.stats.bytes += written as u64;
            while written > 0 {
                let len = match self.segments[segment] {
                    Segment::Scratch(a, b) => b - a,
                    Segment::Body(index) => frames[index].len(),
                } - offset;
                if written >= len {
                    written -= len;
                    segment += 1;
                    offset = 0;
                } else {
                    offset += written;
                    written = 0;
                }
            }
        }
        Ok(())
    }

    /// Flushes the stream.
    ///
    /// # Errors
    ///
    /// When the stream fails.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.io.flush().await
    }

    /// Shuts the stream down for writing (for sockets, sends FIN).
    ///
    /// # Errors
    ///
    /// When the stream fails.
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.io.shutdown().await
    }

    /// The counters so far.
    pub fn stats(&self) -> WriterStats {
        self.stats
    }

    /// The codec in use.
    pub fn codec(&self) -> &FrameCodec {
        &self.codec
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &W {
        &self.io
    }

    /// Gives back the underlying stream.
    pub fn into_inner(self) -> W {
        self.io
    }
}

impl<W> std::fmt::Debug for FrameWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameWriter")
            .field("codec", &self.codec)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Frames gathered into one write at most.
const MAX_FRAMES_PER_WRITE: usize = 256;

/// A cloneable handle that queues frames for a writer task.
///
/// The task sends whatever is queued when it wakes in one gathered write, and flushes
/// when the queue is empty, so frames produced together leave together.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Bytes>,
    close: CancellationToken,
}

/// The writer task has stopped (the stream failed or closed); the frame was not sent.
#[derive(Debug, thiserror::Error)]
#[error("the connection's writer has stopped; the frame was not sent")]
pub struct WriterClosed(pub Bytes);

impl WriterHandle {
    /// Queues a frame, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// When the writer task has stopped.
    pub async fn send(&self, frame: Bytes) -> Result<(), WriterClosed> {
        self.tx.send(frame).await.map_err(|e| WriterClosed(e.0))
    }

    /// Queues a frame if there is room now.
    ///
    /// # Errors
    ///
    /// When the queue is full or the writer has stopped; the frame is handed back.
    pub fn try_send(&self, frame: Bytes) -> Result<(), mpsc::error::TrySendError<Bytes>> {
        self.tx.try_send(frame)
    }

    /// Whether the writer task has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Asks the writer task to write what is queued, shut the stream down and stop,
    /// even while other handles exist. Frames queued after this are refused.
    pub fn close(&self) {
        self.close.cancel();
    }

    /// Waits until the writer task has stopped (closed, failed or stalled).
    pub async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// Starts a task that writes the frames queued on the returned handle, with no limit
/// on how long a write may wait for the other end; see [`spawn_writer_with`].
pub fn spawn_writer<W>(
    writer: FrameWriter<W>,
    queue_capacity: usize,
) -> (WriterHandle, JoinHandle<io::Result<WriterStats>>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    spawn_writer_with(writer, queue_capacity, None)
}

/// Starts a task that writes the frames queued on the returned handle.
///
/// The task ends when every handle is dropped or [`WriterHandle::close`] is called
/// (after writing what was queued and shutting the stream down), when the stream
/// fails, or when one write makes no progress for `stall_timeout`: a peer that stops
/// reading cannot hold the queue, and the calls waiting on it, forever. Its result
/// carries the counters or the error.
pub fn spawn_writer_with<W>(
    writer: FrameWriter<W>,
    queue_capacity: usize,
    stall_timeout: Option<Duration>,
) -> (WriterHandle, JoinHandle<io::Result<WriterStats>>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    spawn_writer_hinted(writer, queue_capacity, stall_timeout, None)
}

/// How many frames the writer's owner expects to queue soon (calls in flight, say);
/// when it is more than the writer holds, the writer lets them come before writing.
pub(crate) type ExpectedFrames = Box<dyn Fn() -> usize + Send>;

/// [`spawn_writer_with`], with a hint of how many frames are on their way. Without
/// one, the writer waits for more only when frames kept coming during its last write.
pub(crate) fn spawn_writer_hinted<W>(
    mut writer: FrameWriter<W>,
    queue_capacity: usize,
    stall_timeout: Option<Duration>,
    expected: Option<ExpectedFrames>,
) -> (WriterHandle, JoinHandle<io::Result<WriterStats>>)
where
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::channel::<Bytes>(queue_capacity.max(1));
    let close = CancellationToken::new();
    let closing = close.clone();
    let task = tokio::spawn(async move {
        let mut frames = Vec::with_capacity(MAX_FRAMES_PER_WRITE);
        // Whether frames were queued while the last write ran.
        let mut busy = false;
        loop {
            tokio::select! {
                received = rx.recv_many(&mut frames, MAX_FRAMES_PER_WRITE) => {
                    if received == 0 {
                        break;
                    }
                    let more_coming = match &expected {
                        Some(expected) => expected() > frames.len(),
                        None => busy,
                    };
                    if more_coming && frames.len() < MAX_FRAMES_PER_WRITE {
                        // Other frames are on their way: let the tasks that woke with
                        // this one queue theirs too. With many calls in flight that turns
                        // a write per frame into a write per wake-up. One call at a time
                        // never gets here, and pays nothing (a yield costs a poll of the
                        // IO driver).
                        tokio::task::yield_now().await;
                        while frames.len() < MAX_FRAMES_PER_WRITE {
                            match rx.try_recv() {
                                Ok(frame) => frames.push(frame),
                                Err(_) => break,
                            }
                        }
                    }
                    within(stall_timeout, writer.write_frames(&mut frames)).await?;
                    busy = !rx.is_empty();
                    if !busy {
                        within(stall_timeout, writer.flush()).await?;
                    }
                }
                () = closing.cancelled() => {
                    rx.close();
                    while rx.recv_many(&mut frames, MAX_FRAMES_PER_WRITE).await > 0 {
                        within(stall_timeout, writer.write_frames(&mut frames)).await?;
                    }
                    break;
                }
            }
        }
        within(stall_timeout, writer.flush()).await?;
        // The peer may already be gone; what was queued has been written.
        let _ = within(stall_timeout, writer.shutdown()).await;
        Ok(writer.stats())
    });
    (WriterHandle { tx, close }, task)
}

async fn within<F: std::future::Future<Output = io::Result<()>>>(
    limit: Option<Duration>,
    write: F,
) -> io::Result<()> {
    match limit {
        None => write.await,
        Some(limit) => tokio::time::timeout(limit, write)
            .await
            .unwrap_or_else(|_| {
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("the other end has not read for {limit:?}; the connection is given up"),
                ))
            }),
    }
}
