//! Writing frames to a byte stream, many frames per write.

use std::io::{self, IoSlice};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
#[cfg(test)]
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::buffer::BufferPool;
use crate::engine::budget::Hold;
use crate::framing::FrameCodec;
use crate::slots::OwnedPlace;

use super::frames::FrameSink;
use super::outbox::{self, TrySendError};
use super::quiet::Quiet;

/// Bodies up to this size are copied next to their headers; larger ones are written
/// from where they lie, as their own slice of a vectored write.
const COPY_THRESHOLD: usize = 2 * 1024;
/// Slices handed to one vectored write (well under every platform's `IOV_MAX`).
const MAX_SLICES: usize = 64;
/// What a writer must get through in each stall period to count as progressing (or
/// everything it holds, when that is less): a reader that takes a few bytes now and
/// then is not reading.
pub const MIN_WRITE_PROGRESS: usize = 64 * 1024;

/// The stall rule of a writer task: in every period of `limit` while frames wait, at
/// least [`MIN_WRITE_PROGRESS`] bytes are written, or everything waiting.
///
/// A period starts at the first write that has to wait for the other end: almost
/// every write on a connection whose peer reads completes at once, and reading the
/// clock and arming a timer for each was a tenth of a writer's own work.
#[derive(Debug)]
pub(crate) struct Progress {
    limit: Duration,
    /// When the current period ends; `None` until a write of the period waits.
    deadline: Option<Instant>,
    since: usize,
}

impl Progress {
    fn new(limit: Duration) -> Self {
        Progress {
            limit,
            deadline: None,
            since: 0,
        }
    }

    /// A new period starts: the writer had nothing left to write.
    fn restart(&mut self) {
        self.deadline = None;
        self.since = 0;
    }

    pub(crate) fn wrote(&mut self, bytes: usize) {
        self.since += bytes;
        if self.since >= MIN_WRITE_PROGRESS {
            self.restart();
        }
    }

    fn stalled(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!(
                "the other end read less than {} KiB in {:?}; the connection is given up",
                MIN_WRITE_PROGRESS / 1024,
                self.limit
            ),
        )
    }

    pub(crate) async fn within<T>(
        &mut self,
        io: impl std::future::Future<Output = io::Result<T>>,
    ) -> io::Result<T> {
        let mut io = std::pin::pin!(io);
        // Polled once before any timer is made: most writes are done by then.
        let first = std::future::poll_fn(|cx| std::task::Poll::Ready(io.as_mut().poll(cx))).await;
        if let std::task::Poll::Ready(done) = first {
            return done;
        }
        let limit = self.limit;
        let deadline = *self.deadline.get_or_insert_with(|| Instant::now() + limit);
        tokio::time::timeout_at(deadline, io)
            .await
            .unwrap_or_else(|_| Err(self.stalled()))
    }
}

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
            // Both grow with the first writes and keep their size: an idle
            // connection holds neither.
            scratch: BytesMut::new(),
            segments: Vec::new(),
            pool: None,
            stats: WriterStats::default(),
        }
    }

    /// Returns written frames to `pool`.
    #[must_use]
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
        self.write_frames_watched(frames, None).await
    }

    /// [`FrameWriter::write_frames`] under a stall rule: each write must end before
    /// the rule's deadline, and what it writes counts as progress.
    pub(crate) async fn write_frames_watched(
        &mut self,
        frames: &mut Vec<Bytes>,
        progress: Option<&mut Progress>,
    ) -> io::Result<()> {
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
        self.write_segments(frames, progress).await?;
        self.stats.frames += frames.len() as u64;
        match &self.pool {
            Some(pool) => frames.drain(..).for_each(|f| pool.recycle(f)),
            None => frames.clear(),
        }
        Ok(())
    }

    async fn write_segments(
        &mut self,
        frames: &[Bytes],
        mut progress: Option<&mut Progress>,
    ) -> io::Result<()> {
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
            let write = self.io.write_vectored(&slices[..count]);
            let mut written = match progress.as_deref_mut() {
                Some(progress) => {
                    let written = progress.within(write).await?;
                    progress.wrote(written);
                    written
                }
                None => write.await?,
            };
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

/// A frame on its way to the writer task, with what it holds of its connection's
/// budget (given back once the frame is written, or dropped with the connection).
pub(crate) struct Outgoing {
    frame: Bytes,
    hold: Option<Hold>,
    /// A stream item's place in its stream's buffer, given back once it is written.
    place: Option<OwnedPlace>,
    /// A notification a handler sent its caller before answering
    /// ([`crate::CallContext::notify`]): an event stream carries it ahead of the
    /// answer, where a stream's items follow the answer.
    precedes_answer: bool,
}

/// A cloneable handle that queues frames for a writer task.
///
/// The task sends whatever is queued when it wakes in one gathered write, and flushes
/// when the queue is empty, so frames produced together leave together.
#[derive(Debug, Clone)]
pub(crate) struct WriterHandle {
    tx: outbox::Sender<Outgoing>,
    close: CancellationToken,
}

/// The receiving end of [`frame_queue`]: frames for something other than a byte
/// stream to carry (an HTTP event stream).
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) struct FrameQueue(outbox::Receiver<Outgoing>);

/// A frame taken from a [`FrameQueue`].
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) struct Queued {
    pub(crate) frame: Bytes,
    /// Sent by a handler before its answer ([`WriterHandle::send_note`]).
    pub(crate) precedes_answer: bool,
}

#[cfg_attr(not(feature = "http"), allow(dead_code))]
impl FrameQueue {
    /// Whether no frame is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next frame; what it held (a stream item's place) is given back as it is
    /// taken. `None` once every handle has gone.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Queued>> {
        self.0.poll_recv(cx).map(|outgoing| {
            outgoing.map(|o| {
                if let Some(hold) = o.hold {
                    hold.delivered();
                }
                Queued {
                    frame: o.frame,
                    precedes_answer: o.precedes_answer,
                }
            })
        })
    }
}

/// A handle whose frames are taken from a [`FrameQueue`] instead of being written.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) fn frame_queue(capacity: usize) -> (WriterHandle, FrameQueue) {
    let (tx, rx) = outbox::channel(capacity);
    (
        WriterHandle {
            tx,
            close: CancellationToken::new(),
        },
        FrameQueue(rx),
    )
}

/// Room kept in a writer's queue for one frame ([`WriterHandle::reserve`]).
pub(crate) struct WriterSlot<'a>(outbox::Permit<'a, Outgoing>);

impl WriterSlot<'_> {
    /// Queues a stream's item holding its place in the stream's buffer; the place
    /// is given back once the frame has been written.
    pub(crate) fn send_with_place(self, frame: Bytes, place: OwnedPlace) {
        self.0.send(Outgoing {
            frame,
            hold: None,
            place: Some(place),
            precedes_answer: false,
        });
    }
}

/// The writer task has stopped (the stream failed or closed); the frame was not sent.
#[derive(Debug, thiserror::Error)]
#[error("the connection's writer has stopped; the frame was not sent")]
pub(crate) struct WriterClosed(pub(crate) Bytes);

impl WriterHandle {
    /// Queues a frame, waiting while the queue is full.
    ///
    /// # Errors
    ///
    /// When the writer task has stopped.
    pub(crate) async fn send(&self, frame: Bytes) -> Result<(), WriterClosed> {
        self.send_holding(frame, None).await
    }

    /// Queues a frame with the budget it holds; the hold is given back once the frame
    /// has been written.
    pub(crate) async fn send_holding(
        &self,
        frame: Bytes,
        hold: Option<Hold>,
    ) -> Result<(), WriterClosed> {
        self.tx
            .send(Outgoing {
                frame,
                hold,
                place: None,
                precedes_answer: false,
            })
            .await
            .map_err(|e| WriterClosed(e.frame))
    }

    /// Queues a notification a handler sends its caller before answering, waiting
    /// while the queue is full.
    ///
    /// # Errors
    ///
    /// When the writer task (or the event stream) has stopped.
    pub(crate) async fn send_note(&self, frame: Bytes) -> Result<(), WriterClosed> {
        self.tx
            .send(Outgoing {
                frame,
                hold: None,
                place: None,
                precedes_answer: true,
            })
            .await
            .map_err(|e| WriterClosed(e.frame))
    }

    /// Waits for room in the queue and keeps it for one frame, which can then be
    /// queued without waiting; `None` when the writer has stopped.
    pub(crate) async fn reserve(&self) -> Option<WriterSlot<'_>> {
        self.tx.reserve().await.map(WriterSlot)
    }

    /// Queues a frame if there is room now.
    ///
    /// # Errors
    ///
    /// When the queue is full or the writer has stopped; the frame is handed back.
    pub(crate) fn try_send(&self, frame: Bytes) -> Result<(), TrySendError<Bytes>> {
        self.tx
            .try_send(Outgoing {
                frame,
                hold: None,
                place: None,
                precedes_answer: false,
            })
            .map_err(|err| match err {
                TrySendError::Full(o) => TrySendError::Full(o.frame),
                TrySendError::Closed(o) => TrySendError::Closed(o.frame),
            })
    }

    /// How many frames wait for the writer (queued, or with a place reserved).
    pub(crate) fn waiting(&self) -> usize {
        self.tx.taken()
    }

    /// Asks the writer task to write what is queued, shut the stream down and stop,
    /// even while other handles exist. Frames queued after this are refused.
    pub(crate) fn close(&self) {
        self.close.cancel();
    }

    /// Waits until the writer task has stopped (closed, failed or stalled).
    pub(crate) async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// How many frames the writer's owner expects to queue soon (calls in flight, say);
/// when it is more than the writer holds, the writer lets them come before writing.
pub(crate) type ExpectedFrames = Box<dyn Fn() -> usize + Send>;

/// A task that writes the frames queued on the returned handle ([`writer_loop`]).
#[cfg(test)]
pub(crate) fn spawn_writer_hinted<S: FrameSink>(
    writer: S,
    queue_capacity: usize,
    stall_timeout: Option<Duration>,
    expected: Option<ExpectedFrames>,
) -> (WriterHandle, JoinHandle<io::Result<WriterStats>>) {
    let (handle, writing) = writer_loop(writer, queue_capacity, stall_timeout, expected);
    (handle, tokio::spawn(writing))
}

/// The writer of a connection: a future that writes the frames queued on the
/// returned handle, for the caller to spawn, or to drive in the task that reads for
/// a transport whose two halves share a lock (a WebSocket), so that neither half
/// waits on a task elsewhere for the other.
///
/// It ends when every handle is dropped or [`WriterHandle::close`] is called (after
/// writing what was queued and shutting the stream down), when the stream fails, or
/// when the other end stops reading: while frames wait, every period of
/// `stall_timeout` must see at least [`MIN_WRITE_PROGRESS`] bytes written (or all that
/// was waiting), so a peer that never reads, or reads a few bytes now and then,
/// cannot hold the queue and the calls waiting on it (`None`: a write may wait for the
/// other end forever). Its result carries the counters or the error.
///
/// `expected` hints how many frames are on their way. Without one, the writer waits
/// for more only when frames kept coming during its last write.
pub(crate) fn writer_loop<S: FrameSink>(
    writer: S,
    queue_capacity: usize,
    stall_timeout: Option<Duration>,
    expected: Option<ExpectedFrames>,
) -> (
    WriterHandle,
    impl std::future::Future<Output = io::Result<WriterStats>> + Send,
) {
    let (tx, rx) = outbox::channel::<Outgoing>(queue_capacity);
    let close = CancellationToken::new();
    let writing = write_loop(writer, rx, close.clone(), stall_timeout, expected);
    (WriterHandle { tx, close }, writing)
}

/// The frames of one gathered write and the holds given back once it is written.
struct Gathered {
    frames: Vec<Bytes>,
    holds: Vec<Hold>,
    places: Vec<OwnedPlace>,
}

impl Gathered {
    fn push(&mut self, outgoing: Outgoing) {
        self.frames.push(outgoing.frame);
        if let Some(hold) = outgoing.hold {
            self.holds.push(hold);
        }
        if let Some(place) = outgoing.place {
            self.places.push(place);
        }
    }

    fn delivered(&mut self) {
        self.holds.drain(..).for_each(Hold::delivered);
        self.places.clear();
    }
}

async fn write_loop<S: FrameSink>(
    mut writer: S,
    mut rx: outbox::Receiver<Outgoing>,
    closing: CancellationToken,
    stall_timeout: Option<Duration>,
    expected: Option<ExpectedFrames>,
) -> io::Result<WriterStats> {
    // Grown by what comes, up to MAX_FRAMES_PER_WRITE, and kept: an idle
    // connection holds none of it (at full size these were 34 KiB a connection).
    let mut received = Vec::new();
    let mut out = Gathered {
        frames: Vec::new(),
        holds: Vec::new(),
        places: Vec::new(),
    };
    let mut progress = stall_timeout.map(Progress::new);
    // Whether frames were queued while the last write ran.
    let mut busy = false;
    // Polled only when it fires: see `Quiet`.
    let closing = Quiet::new(closing.cancelled());
    tokio::pin!(closing);
    loop {
        tokio::select! {
            count = rx.recv_many(&mut received, MAX_FRAMES_PER_WRITE) => {
                if count == 0 {
                    break;
                }
                if !busy {
                    // The writer had written everything: a new stall period starts.
                    if let Some(progress) = &mut progress {
                        progress.restart();
                    }
                }
                received.drain(..).for_each(|o| out.push(o));
                let more_coming = match &expected {
                    Some(expected) => expected() > out.frames.len(),
                    None => busy,
                };
                if more_coming && out.frames.len() < MAX_FRAMES_PER_WRITE {
                    // Other frames are on their way: let the tasks that woke with
                    // this one queue theirs too. With many calls in flight that turns
                    // a write per frame into a write per wake-up. One call at a time
                    // never gets here, and pays nothing (a yield costs a poll of the
                    // IO driver).
                    tokio::task::yield_now().await;
                    while out.frames.len() < MAX_FRAMES_PER_WRITE {
                        match rx.try_recv() {
                            Some(o) => out.push(o),
                            None => break,
                        }
                    }
                }
                writer.write_frames(&mut out.frames, progress.as_mut()).await?;
                out.delivered();
                busy = !rx.is_empty();
                if !busy {
                    watched(progress.as_mut(), writer.flush()).await?;
                }
            }
            () = &mut closing => {
                rx.close();
                loop {
                    if rx.recv_many(&mut received, MAX_FRAMES_PER_WRITE).await == 0 {
                        break;
                    }
                    received.drain(..).for_each(|o| out.push(o));
                    writer.write_frames(&mut out.frames, progress.as_mut()).await?;
                    out.delivered();
                }
                break;
            }
        }
    }
    if let Some(progress) = &mut progress {
        progress.restart();
    }
    watched(progress.as_mut(), writer.flush()).await?;
    // The peer may already be gone; what was queued has been written.
    let _ = watched(progress.as_mut(), writer.shutdown()).await;
    Ok(writer.stats())
}

/// Runs `io` under the stall rule's deadline, when there is one.
async fn watched<T>(
    progress: Option<&mut Progress>,
    io: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match progress {
        Some(progress) => progress.within(io).await,
        None => io.await,
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio_util::codec::Encoder;

    use super::*;
    use crate::framing::Framing;
    use crate::transport::memory;
    use crate::transport::test_support::bounded;

    /// A writer task with no stall limit and no hint of frames to come.
    fn spawn_writer<W>(
        writer: FrameWriter<W>,
        queue_capacity: usize,
    ) -> (WriterHandle, JoinHandle<io::Result<WriterStats>>)
    where
        W: AsyncWrite + Unpin + Send + 'static,
    {
        spawn_writer_hinted(writer, queue_capacity, None, None)
    }

    /// Frames of varied sizes, including one large enough to be written from where it
    /// lies.
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

    /// An `AsyncWrite` whose every write fails.
    struct FailingWriter;

    impl AsyncWrite for FailingWriter {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn writer_task_gathers_frames_queued_together() {
        bounded(async {
            let (a, mut b) = memory::pair(Framing::Ndjson, 1 << 20);
            let (handle, task) = spawn_writer(a.writer, 1024);
            let frames: Vec<Bytes> = (0..200)
                .map(|i| Bytes::from(format!("{{\"id\":{i}}}")))
                .collect();
            // On a current-thread runtime the task cannot run before this test yields,
            // so all of these are queued when it first wakes.
            for frame in &frames {
                handle.try_send(frame.clone()).unwrap();
            }
            let other = handle.clone();
            drop(handle);
            assert!(!other.tx.is_closed());
            drop(other);
            let stats = task.await.unwrap().unwrap();
            assert_eq!(stats.frames, 200);
            assert!(
                stats.writes < 200 / 10,
                "{} writes for 200 frames",
                stats.writes
            );

            let mut received = Vec::new();
            while let Some(frame) = b.reader.next_frame().await {
                received.push(frame.unwrap());
            }
            // Intact, in order, and then the end of the stream: the task shut it down.
            assert_eq!(received, frames);
        })
        .await;
    }

    #[tokio::test]
    async fn writer_task_ends_with_its_stats_when_every_handle_is_dropped() {
        bounded(async {
            let (a, mut b) = memory::pair(Framing::ContentLength, 64 * 1024);
            let (handle, task) = spawn_writer(a.writer, 4);
            let clones: Vec<_> = (0..3).map(|_| handle.clone()).collect();
            let frames = sample_frames();
            let reading = tokio::spawn(async move {
                let mut received = Vec::new();
                while let Some(frame) = b.reader.next_frame().await {
                    received.push(frame.unwrap());
                }
                received
            });
            // More frames than the queue holds: `send` waits for room.
            for (i, frame) in frames.iter().enumerate() {
                clones[i % clones.len()].send(frame.clone()).await.unwrap();
            }
            drop(handle);
            drop(clones);
            let stats = task.await.unwrap().unwrap();
            assert_eq!(stats.frames, frames.len() as u64);
            assert_eq!(
                stats.bytes,
                encode(Framing::ContentLength, &frames).len() as u64
            );
            assert_eq!(reading.await.unwrap(), frames);
        })
        .await;
    }

    #[tokio::test]
    async fn writer_task_stops_when_the_stream_fails_and_hands_frames_back() {
        bounded(async {
            let writer = FrameWriter::new(FailingWriter, Framing::Ndjson);
            let (handle, task) = spawn_writer(writer, 8);
            handle.send(Bytes::from_static(b"{}")).await.unwrap();
            let err = task.await.unwrap().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
            assert!(handle.tx.is_closed());
            let frame = Bytes::from_static(b"{\"late\":1}");
            let closed = handle.send(frame.clone()).await.unwrap_err();
            assert_eq!(closed.0, frame);
            assert!(handle.try_send(frame).is_err());
        })
        .await;
    }
}
