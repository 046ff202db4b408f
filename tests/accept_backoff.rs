//! Out of file descriptors, the TCP accept loop of the server backs off instead of
//! retrying at once: it uses almost no CPU while it cannot accept, keeps serving the
//! connections it has, and accepts again once descriptors are given back.
//!
//! The `spec_server` example runs as a child process under `ulimit -n 40`; the test
//! opens more connections than that and holds them. Linux only: it reads the child's
//! CPU time and descriptors from `/proc`.
//!
//! `SPEC_SERVER_BIN=/path/to/spec_server` runs the test against another build of the
//! example, e.g. one of an older commit whose accept loop retried at once on EMFILE
//! (the test fails there: the child spins a core).

#![cfg(target_os = "linux")]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio::task::JoinSet;
use tokio::time::{sleep, timeout};

#[path = "support/examples.rs"]
mod examples;

/// The child's descriptor limit. About 10 go to stdio, the runtime (epoll, waker) and
/// the listener, so it can accept about 30 connections.
const FD_LIMIT: usize = 40;
/// Connections opened and held: well over the limit; those beyond it wait in the
/// listen backlog (1024 for tokio's listener).
const CLIENTS: usize = 100;
/// How long an accepted connection may take to answer while the others are held.
const ANSWER_WAIT: Duration = Duration::from_secs(2);
/// The window in which the child's CPU time is measured while it is out of descriptors.
const WINDOW: Duration = Duration::from_secs(2);
/// A loop retrying accept at once uses the whole window (a core); backing off uses
/// next to nothing.
const MAX_CPU: Duration = Duration::from_millis(500);
/// Back-off is at most 1 s, so a new connection must be served well within this.
const SERVES_AGAIN_WITHIN: Duration = Duration::from_secs(10);
/// Bound on the other waits (start-up, connects, reaching the limit).
const LIMIT: Duration = Duration::from_secs(20);

const REQUEST: &[u8] = b"{\"jsonrpc\":\"2.0\",\"method\":\"get_data\",\"id\":1}\n";

fn spec_server() -> PathBuf {
    // See the module documentation: an override to run this test against another build.
    match std::env::var_os("SPEC_SERVER_BIN") {
        Some(path) => PathBuf::from(path),
        None => examples::example("spec_server"),
    }
}

fn clock_ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .filter(|&ticks| ticks > 0)
        .unwrap_or(100)
}

/// User plus system CPU time of process `pid`, all threads (fields 14 and 15 of
/// `/proc/<pid>/stat`).
fn cpu_time(pid: u32, ticks_per_second: u64) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("the server runs");
    // Field 2, the command name, is in parentheses and may hold spaces: field 3 and
    // the ones after it follow the last ')'.
    let after_name = &stat[stat.rfind(')').expect("a stat line") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> u64 { fields[n - 3].parse().expect("a number of clock ticks") };
    let ticks = field(14) + field(15);
    Duration::from_secs_f64(ticks as f64 / ticks_per_second as f64)
}

/// How many of the descriptor numbers below the limit process `pid` holds. accept(2)
/// fails with EMFILE when it holds them all (descriptors it inherited above the limit,
/// such as a jobserver pipe, do not count).
fn descriptors_below_limit(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the server runs")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<usize>().ok())
        .filter(|&fd| fd < FD_LIMIT)
        .count()
}

/// Reads one answer line, or `None` when none comes within `wait`.
async fn answer(reader: &mut BufReader<TcpStream>, wait: Duration) -> Option<Value> {
    let mut line = String::new();
    match timeout(wait, reader.read_line(&mut line)).await {
        Ok(Ok(n)) if n > 0 => Some(serde_json::from_str(&line).expect("an answer is JSON")),
        Ok(Ok(_)) => panic!("the server closed a connection it should serve"),
        Ok(Err(err)) => panic!("reading an answer failed: {err}"),
        Err(_) => None,
    }
}

async fn connect_and_ask(addr: &str) -> BufReader<TcpStream> {
    let mut stream = timeout(LIMIT, TcpStream::connect(addr))
        .await
        .expect("connected in time")
        .expect("connected");
    timeout(LIMIT, stream.write_all(REQUEST))
        .await
        .expect("request written in time")
        .expect("request written");
    BufReader::new(stream)
}

#[tokio::test]
async fn out_of_descriptors_the_server_backs_off_and_serves_again() {
    let started = Instant::now();
    let expected = json!({"jsonrpc": "2.0", "result": ["hello", 5], "id": 1});

    // `sh` execs the server, so the child's pid is the server's.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -n {FD_LIMIT} && exec \"$0\" --tcp 127.0.0.1:0"
        ))
        .arg(spec_server())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("sh starts");
    let pid = child.id().expect("the child runs");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    timeout(LIMIT, stdout.read_line(&mut first))
        .await
        .expect("the server starts in time")
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .to_owned();

    // More connections than the server has descriptors, each with one request, all
    // kept open.
    let mut clients = Vec::with_capacity(CLIENTS);
    for _ in 0..CLIENTS {
        clients.push(connect_and_ask(&addr).await);
    }

    // The server accepts until every descriptor below the limit is taken: accept(2)
    // fails with EMFILE exactly when the process holds `FD_LIMIT` descriptors.
    let reached = timeout(LIMIT, async {
        while descriptors_below_limit(pid) < FD_LIMIT {
            sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let held = descriptors_below_limit(pid);
    assert!(
        reached.is_ok(),
        "the server should run out of descriptors: it holds {held} of {FD_LIMIT}"
    );

    // It answers the connections it accepted; the others get no answer while every
    // descriptor is held.
    let mut readers = JoinSet::new();
    for mut client in clients {
        readers.spawn(async move {
            let got = answer(&mut client, ANSWER_WAIT).await;
            (client, got)
        });
    }
    let mut clients = Vec::with_capacity(CLIENTS);
    let mut served = 0;
    while let Some(joined) = readers.join_next().await {
        let (client, got) = joined.expect("a reader task ends");
        if let Some(got) = got {
            assert_eq!(got, expected);
            served += 1;
        }
        clients.push(client);
    }
    let waiting = CLIENTS - served;
    println!("out of descriptors: {held} of {FD_LIMIT} open, {served} connections served, {waiting} waiting");
    assert!(
        served > 0,
        "the server should serve the connections it accepted"
    );
    assert!(
        served < FD_LIMIT && waiting > 0,
        "with {CLIENTS} connections held, some should wait for a descriptor ({served} served)"
    );

    // Out of descriptors, the accept loop must not spin.
    let ticks = clock_ticks_per_second();
    let cpu_before = cpu_time(pid, ticks);
    let window_start = Instant::now();
    sleep(WINDOW).await;
    let cpu = cpu_time(pid, ticks) - cpu_before;
    let window = window_start.elapsed();
    let still_held = descriptors_below_limit(pid);
    println!(
        "CPU while out of descriptors: {:.3} s in {:.3} s ({still_held} of {FD_LIMIT} descriptors open)",
        cpu.as_secs_f64(),
        window.as_secs_f64()
    );
    assert_eq!(
        still_held, FD_LIMIT,
        "the server should have stayed out of descriptors during the window"
    );
    assert!(
        cpu < MAX_CPU,
        "out of descriptors, the server used {:.3} s of CPU in {:.3} s: its accept loop spins",
        cpu.as_secs_f64(),
        window.as_secs_f64()
    );

    // Once the clients go, their descriptors come back and a new connection is served.
    drop(clients);
    let again = Instant::now();
    let mut client = connect_and_ask(&addr).await;
    let got = answer(&mut client, SERVES_AGAIN_WITHIN).await;
    let took = again.elapsed();
    println!(
        "a new connection was answered {:.3} s after the clients left",
        took.as_secs_f64()
    );
    assert_eq!(
        got,
        Some(expected),
        "the server should serve again within {SERVES_AGAIN_WITHIN:?} once descriptors are free"
    );
    assert!(
        child
            .try_wait()
            .expect("the child can be waited on")
            .is_none(),
        "the server should still run"
    );

    drop(client);
    child.start_kill().expect("the server can be killed");
    timeout(LIMIT, child.wait())
        .await
        .expect("the server exits in time")
        .unwrap();
    println!("test took {:.3} s", started.elapsed().as_secs_f64());
}
