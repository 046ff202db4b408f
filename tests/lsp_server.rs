//! The `lsp_server` example, run as a separate process the way an editor runs a
//! language server: `Content-Length` frames on its stdin and stdout. The test speaks
//! the framing itself (std::process and a reader thread), so it does not depend on the
//! runtime under test; every wait is bounded, and a child left running is killed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "support/examples.rs"]
mod examples;

/// How long any one answer (or the process's exit) may take.
const LIMIT: Duration = Duration::from_secs(10);

/// One `lsp_server` process and the frames it writes.
struct Lsp {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Frames read from stdout; disconnected once stdout ends.
    frames: Receiver<Value>,
    /// The id of the next request.
    next_id: u64,
}

impl Lsp {
    fn start() -> Lsp {
        let mut child = Command::new(examples::example("lsp_server"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("lsp_server starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, frames) = mpsc::channel();
        thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            while let Some(frame) = read_frame(&mut stdout) {
                if tx.send(frame).is_err() {
                    break;
                }
            }
        });
        Lsp {
            child,
            stdin,
            frames,
            next_id: 1,
        }
    }

    /// Writes `messages` back to back, in one write.
    fn send_all(&mut self, messages: &[Value]) {
        let mut bytes = Vec::new();
        for message in messages {
            let body = serde_json::to_vec(message).unwrap();
            bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
            bytes.extend_from_slice(&body);
        }
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(&bytes).unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, message: Value) {
        self.send_all(&[message]);
    }

    /// The next frame the server writes.
    fn recv(&self) -> Value {
        match self.frames.recv_timeout(LIMIT) {
            Ok(frame) => frame,
            Err(RecvTimeoutError::Timeout) => panic!("no frame from lsp_server within {LIMIT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("lsp_server closed its stdout"),
        }
    }

    /// A request with a fresh id (without params when `params` is null), and the id.
    fn request_message(&mut self, method: &str, params: Value) -> (Value, u64) {
        let id = self.next_id;
        self.next_id += 1;
        let mut request = notification(method, params);
        request["id"] = json!(id);
        (request, id)
    }

    /// Sends a request and returns its answer, which must be the next frame.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let (request, id) = self.request_message(method, params);
        self.send(request);
        let answer = self.recv();
        assert_eq!(
            answer["id"], id,
            "the next frame answers request {id}: {answer}"
        );
        assert_eq!(answer["jsonrpc"], "2.0");
        answer
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(notification(method, params));
    }

    fn initialize(&mut self) {
        let answer = self.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": {}, "trace": "off"}),
        );
        assert_eq!(
            answer["result"]["capabilities"]["textDocumentSync"],
            json!({"openClose": true, "change": 2}),
            "{answer}"
        );
        assert_eq!(answer["result"]["serverInfo"]["name"], "rpc-lsp-example");
        self.notify("initialized", json!({}));
    }

    /// The answer to `example/documentText` for `uri`.
    fn document_text(&mut self, uri: &str) -> Value {
        self.request("example/documentText", json!({"uri": uri}))
    }

    /// Asks for the text of `uri` until it is `expected` (`None`: until the uri is
    /// unknown), and fails with the last answer after [`LIMIT`].
    ///
    /// Only `notifications_are_applied_in_arrival_order` relies on a request seeing
    /// the effect of the notifications sent before it; the other tests ask again, so
    /// they pin the synchronization itself whether or not the runtime orders
    /// notifications before later requests.
    fn settled_text(&mut self, uri: &str, expected: Option<&str>, context: &str) {
        let start = Instant::now();
        loop {
            let answer = self.document_text(uri);
            let settled = match expected {
                Some(text) => answer["result"] == text,
                None => answer["error"]["code"] == -32602,
            };
            if settled {
                return;
            }
            assert!(
                start.elapsed() < LIMIT,
                "{context}: expected the text {expected:?}; the last answer: {answer}"
            );
            thread::sleep(Duration::from_millis(1));
        }
    }

    /// Asserts that stdout ends with no more frames, and returns the exit status. Stdin
    /// stays open: the server must exit on its own, as editors expect.
    fn expect_exit(&mut self) -> ExitStatus {
        match self.frames.recv_timeout(LIMIT) {
            Err(RecvTimeoutError::Disconnected) => {}
            Ok(frame) => panic!("a frame after exit: {frame}"),
            Err(RecvTimeoutError::Timeout) => panic!("stdout still open {LIMIT:?} after exit"),
        }
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                start.elapsed() < LIMIT,
                "lsp_server still running {LIMIT:?} after exit"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        // On failure (or a test that does not end the server), leave nothing running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Reads one `Content-Length` frame; `None` at the end of the stream.
fn read_frame(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("a header line");
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse::<usize>().expect("a length"));
        }
    }
    let mut body = vec![0; length.expect("a Content-Length header")];
    reader.read_exact(&mut body).ok()?;
    Some(serde_json::from_slice(&body).expect("a JSON frame"))
}

/// A notification; without params when `params` is null (JSON-RPC's params, when
/// present, are an array or an object).
fn notification(method: &str, params: Value) -> Value {
    let mut message = json!({"jsonrpc": "2.0", "method": method});
    if !params.is_null() {
        message["params"] = params;
    }
    message
}

fn did_open(uri: &str, text: &str) -> Value {
    notification(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "plaintext", "version": 1, "text": text}}),
    )
}

/// A ranged change: `start` and `end` are (line, UTF-16 character).
fn ranged(start: (u32, u32), end: (u32, u32), text: &str) -> Value {
    json!({
        "range": {
            "start": {"line": start.0, "character": start.1},
            "end": {"line": end.0, "character": end.1},
        },
        "text": text,
    })
}

fn did_change(uri: &str, version: u64, changes: Vec<Value>) -> Value {
    notification(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}),
    )
}

#[test]
fn incremental_sync_applies_utf16_ranges_and_exit_after_shutdown_writes_every_answer() {
    let mut lsp = Lsp::start();
    lsp.initialize();
    let uri = "file:///sync.txt";
    lsp.send(did_open(uri, "hello\nworld\n"));
    lsp.settled_text(uri, Some("hello\nworld\n"), "after didOpen");

    // Each step: the changes of one didChange, and the text they leave.
    let steps: Vec<(Vec<Value>, &str)> = vec![
        // A one-line replacement with multi-byte UTF-8 (ö: 2 bytes, 1 UTF-16 unit).
        (vec![ranged((1, 0), (1, 5), "wörld")], "hello\nwörld\n"),
        // An offset after ö counts it as one unit.
        (vec![ranged((1, 2), (1, 2), "X")], "hello\nwöXrld\n"),
        // A multi-line replacement.
        (vec![ranged((0, 3), (1, 2), "p\nhe")], "help\nheXrld\n"),
        // A whole-document change, with CRLF, CR and LF line ends and an emoji.
        (
            vec![json!({"text": "a😀b\r\nsecond\rthird\n"})],
            "a😀b\r\nsecond\rthird\n",
        ),
        // Several changes in one notification apply in order, each to the text the
        // previous left: after the emoji (a = 1 unit, 😀 = 2), a line ended by CR, and
        // the line after it.
        (
            vec![
                ranged((0, 3), (0, 3), "!"),
                ranged((1, 0), (1, 6), "2nd"),
                ranged((2, 0), (2, 0), "3: "),
            ],
            "a😀!b\r\n2nd\r3: third\n",
        ),
        // A character past the line's end means its end (before "\r\n"); `rangeLength`
        // is accepted.
        (
            vec![json!({
                "range": {"start": {"line": 0, "character": 99}, "end": {"line": 0, "character": 99}},
                "rangeLength": 0,
                "text": "?",
            })],
            "a😀!b?\r\n2nd\r3: third\n",
        ),
        // A line past the last line means the end of the document.
        (
            vec![ranged((10, 0), (10, 0), "END")],
            "a😀!b?\r\n2nd\r3: third\nEND",
        ),
        // Deleting the surrogate pair.
        (
            vec![ranged((0, 1), (0, 3), "")],
            "a!b?\r\n2nd\r3: third\nEND",
        ),
        // A deletion across a CRLF line end.
        (vec![ranged((0, 4), (1, 3), "")], "a!b?\r3: third\nEND"),
        // Inserting an emoji, then addressing the text after it.
        (
            vec![ranged((1, 0), (1, 0), "🦀"), ranged((1, 2), (1, 4), "#")],
            "a!b?\r🦀# third\nEND",
        ),
    ];
    for (version, (changes, expected)) in steps.into_iter().enumerate() {
        let context = format!(
            "after the changes {}",
            serde_json::to_string(&changes).unwrap()
        );
        lsp.send(did_change(uri, version as u64 + 2, changes));
        lsp.settled_text(uri, Some(expected), &context);
    }

    // Closing forgets the document.
    lsp.notify(
        "textDocument/didClose",
        json!({"textDocument": {"uri": uri}}),
    );
    lsp.settled_text(uri, None, "a closed document is unknown");
    lsp.send(did_open("file:///last.txt", "still here"));
    lsp.settled_text("file:///last.txt", Some("still here"), "after didOpen");

    let answer = lsp.request("shutdown", json!(null));
    assert_eq!(answer["result"], Value::Null, "{answer}");
    assert!(answer.get("error").is_none(), "{answer}");
    // A request and `exit` back to back: the request's answer is still written.
    let (request, id) =
        lsp.request_message("example/documentText", json!({"uri": "file:///last.txt"}));
    lsp.send_all(&[request, notification("exit", json!(null))]);
    let answer = lsp.recv();
    assert_eq!(
        answer,
        json!({"jsonrpc": "2.0", "id": id, "result": "still here"})
    );
    let status = lsp.expect_exit();
    assert_eq!(status.code(), Some(0), "exit after shutdown: {status}");
}

#[test]
fn notifications_are_applied_in_arrival_order() {
    const RUNS: usize = 20;
    const CHANGES: usize = 1_000;
    const ALPHABET: &[u8] = b"abcdefghij";
    let mut lsp = Lsp::start();
    lsp.initialize();
    let expected: String = (0..CHANGES)
        .map(|i| char::from(ALPHABET[i % ALPHABET.len()]))
        .collect();
    let mut wrong = Vec::new();
    let started = Instant::now();
    for run in 0..RUNS {
        let uri = format!("file:///order-{run}.txt");
        let mut messages = vec![did_open(&uri, "")];
        for i in 0..CHANGES {
            let c = char::from(ALPHABET[i % ALPHABET.len()]).to_string();
            let at = (0, i as u32);
            messages.push(did_change(&uri, i as u64 + 2, vec![ranged(at, at, &c)]));
        }
        let (request, id) = lsp.request_message("example/documentText", json!({"uri": uri}));
        messages.push(request);
        lsp.send_all(&messages);
        let answer = lsp.recv();
        assert_eq!(answer["id"], id, "{answer}");
        if answer["result"] != expected.as_str() {
            wrong.push(format!("run {run}: {}", describe(&answer, &expected)));
        }
    }
    let elapsed = started.elapsed();
    assert!(
        wrong.is_empty(),
        "{} of {RUNS} runs saw the {CHANGES} didChange notifications applied out of order \
         or not before the request that followed them (in {elapsed:?}):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// How a `documentText` answer differs from `expected` (ASCII), in one line.
fn describe(answer: &Value, expected: &str) -> String {
    let Some(text) = answer["result"].as_str() else {
        return format!("not a text: {answer}");
    };
    let first_difference = text
        .bytes()
        .zip(expected.bytes())
        .position(|(a, b)| a != b)
        .unwrap_or(text.len().min(expected.len()));
    let from = first_difference.saturating_sub(5);
    let to = (first_difference + 15).min(text.len());
    format!(
        "{} characters, the first difference at {first_difference}: {:?}",
        text.chars().count(),
        text.get(from..to).unwrap_or(text)
    )
}

#[test]
fn document_text_of_an_unknown_uri_is_an_invalid_params_error() {
    let mut lsp = Lsp::start();
    lsp.initialize();
    lsp.send(did_open("file:///known.txt", "x"));
    let answer = lsp.document_text("file:///unknown.txt");
    assert!(answer.get("result").is_none(), "{answer}");
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let message = answer["error"]["message"].as_str().expect("a message");
    assert!(
        message.contains("file:///unknown.txt"),
        "the message names the uri: {message}"
    );
    lsp.settled_text("file:///known.txt", Some("x"), "after didOpen");
}

#[test]
fn cancel_request_for_an_unknown_id_is_ignored() {
    let mut lsp = Lsp::start();
    lsp.initialize();
    lsp.send(did_open("file:///c.txt", "text"));
    lsp.settled_text("file:///c.txt", Some("text"), "after didOpen");
    lsp.notify("$/cancelRequest", json!({"id": 12345}));
    lsp.notify("$/cancelRequest", json!({"id": "no-such-request"}));
    // The next frames are the answers to the next requests (`request` checks the
    // ids): nothing answered the cancellations.
    assert_eq!(lsp.document_text("file:///c.txt")["result"], "text");
    // A cancellation of a request already answered is ignored too.
    let (request, id) =
        lsp.request_message("example/documentText", json!({"uri": "file:///c.txt"}));
    lsp.send(request);
    assert_eq!(
        lsp.recv(),
        json!({"jsonrpc": "2.0", "id": id, "result": "text"})
    );
    lsp.notify("$/cancelRequest", json!({"id": id}));
    assert_eq!(lsp.document_text("file:///c.txt")["result"], "text");
    let answer = lsp.request("shutdown", json!(null));
    assert_eq!(answer["result"], Value::Null);
    assert!(answer.get("error").is_none(), "{answer}");
}

#[test]
fn exit_without_shutdown_exits_with_status_1() {
    let mut lsp = Lsp::start();
    lsp.initialize();
    lsp.notify("exit", json!(null));
    let status = lsp.expect_exit();
    assert_eq!(status.code(), Some(1), "exit without shutdown: {status}");
}
