//! `floor-tasks`: the floor's line echo, no JSON, moved through the same tasks as a
//! call of ours over TCP, to tell what ours' task structure costs from what its
//! per-call work costs.
//!
//! A call of ours crosses six task hops: the caller queues its frame for the client's
//! writer task, which writes it; the server's reading task reads it, runs the call and
//! queues the answer for the server's writer task, which writes it; the client's
//! reading task reads it and hands it to the caller through a oneshot. Here:
//! - the caller sends a oneshot to a writer task over a channel; the writer task
//!   queues it in a first-in first-out list of callers waiting and writes a request
//!   line (one write per line);
//! - the server reads lines and sends one response per line over a channel to its
//!   writer task, which writes it;
//! - the client's reader task reads lines and wakes the oldest waiting caller for
//!   each one (the server answers in order).
//!
//! Its p50 over the floor's is what the hops alone cost; ours over it is what ours
//! does per call besides.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::loopback::{floor_lines, measure, Caller, LoopbackConfig, Round};

/// The callers waiting for an answer, oldest first.
type Waiting = Arc<Mutex<VecDeque<oneshot::Sender<()>>>>;

/// The client: a channel to its writer task.
#[derive(Clone)]
pub(crate) struct FloorTasks(mpsc::Sender<oneshot::Sender<()>>);

impl Caller for FloorTasks {
    async fn add(&self, a: i64, b: i64) -> i64 {
        let (answered, answer) = oneshot::channel();
        self.0
            .send(answered)
            .await
            .expect("floor-tasks: the writer");
        answer.await.expect("floor-tasks: the reader");
        a + b
    }
}

/// Reads once: how many complete lines arrived (`pending` carries a partly read
/// line from read to read), or `None` once the connection has ended.
async fn read_lines(
    reader: &mut OwnedReadHalf,
    input: &mut [u8],
    pending: &mut usize,
) -> Option<usize> {
    let filled = match reader.read(&mut input[*pending..]).await {
        Ok(0) | Err(_) => return None,
        Ok(n) => *pending + n,
    };
    let lines = input[..filled].iter().filter(|&&b| b == b'\n').count();
    let consumed = input[..filled]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    input.copy_within(consumed..filled, 0);
    *pending = filled - consumed;
    Some(lines)
}

/// Writes `line` once for every value that comes on `queue` (after `before` sees the
/// value), until the channel ends or the connection fails.
async fn writer_task<T>(
    mut writer: OwnedWriteHalf,
    mut queue: mpsc::Receiver<T>,
    line: Arc<[u8]>,
    mut before: impl FnMut(T) + Send,
) {
    while let Some(value) = queue.recv().await {
        before(value);
        if writer.write_all(&line).await.is_err() {
            return;
        }
    }
}

/// The server side of one connection: a reading task (this) and a writer task.
async fn serve(stream: TcpStream, response: Arc<[u8]>) {
    let (mut reader, writer) = stream.into_split();
    let (answers, queue) = mpsc::channel::<()>(1024);
    tokio::spawn(writer_task(writer, queue, response, |()| {}));
    let mut input = vec![0u8; 64 * 1024];
    let mut pending = 0;
    loop {
        let Some(lines) = read_lines(&mut reader, &mut input, &mut pending).await else {
            return;
        };
        for _ in 0..lines {
            if answers.send(()).await.is_err() {
                return;
            }
        }
    }
}

/// One round of `floor-tasks`, measured as the RPC stacks are.
pub(crate) async fn round(config: LoopbackConfig) -> Round {
    let (request, response) = floor_lines();
    let response: Arc<[u8]> = response.into();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let serving = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            stream.set_nodelay(true).unwrap();
            tokio::spawn(serve(stream, response.clone()));
        }
    });
    let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (mut reader, writer) = stream.into_split();
    let waiting: Waiting = Arc::default();
    let (calls, queue) = mpsc::channel(1024);
    let writing = tokio::spawn(writer_task(writer, queue, request.into(), {
        let waiting = waiting.clone();
        move |caller| waiting.lock().unwrap().push_back(caller)
    }));
    let reading = tokio::spawn(async move {
        let mut input = vec![0u8; 64 * 1024];
        let mut pending = 0;
        while let Some(lines) = read_lines(&mut reader, &mut input, &mut pending).await {
            for _ in 0..lines {
                let caller = waiting.lock().unwrap().pop_front();
                // A caller gone at the end of the round has no one to tell.
                let _ = caller.expect("an answer with no call").send(());
            }
        }
    });
    let round = measure(vec![FloorTasks(calls)], config, port).await;
    for task in [serving, writing, reading] {
        task.abort();
    }
    round
}
