//! The checks behind the cargo-fuzz targets, one public function per target.
//!
//! Each function takes the raw fuzz input, reads its shape out of the bytes with
//! [`Input`] (no `arbitrary`, so that `tests/fuzz_regressions.rs` in the root package can
//! include this very file with `#[path]` and replay stored inputs through the same
//! checks), and panics when a property fails:
//!
//! - [`ndjson_decoder`] / [`content_length_decoder`]: the stream cut into arbitrary
//!   chunks decodes to the same frames and errors as the stream in one piece; no panic;
//!   every decode call makes progress; the buffer stays within the frame and header
//!   limits between calls; no frame exceeds the maximum.
//! - [`message_parser`]: parsing never panics; a message it accepts re-encodes with the
//!   encoders and parses back with the same id, method, params, result or error; what it
//!   refuses answers as a well-formed error response.
//! - [`dispatch`]: frames of calls to a `#[rpc_service]` server over an in-memory pipe;
//!   every request (and every invalid frame) gets exactly one well-formed response with
//!   its id, every batch one batch response with its ids in order, notifications none.
//! - [`client_responses`]: a client with calls pending receives arbitrary bytes as
//!   "responses"; each call resolves exactly once, with the first matching response or
//!   else the proper response sent afterwards (so the connection survived), nothing is
//!   left pending, and the client only ever answers with well-formed responses.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rpc::framing::{ContentLengthCodec, FrameError, Framing, NdjsonCodec};
use rpc::message::{
    encode_error, encode_error_object, encode_notification, encode_raw_result, encode_request,
    parse, parse_with, BatchWriter, ErrorCode, Id, Incoming, Invalid, Message, ParseLimits,
};
use rpc::transport::{memory, Connection};
use rpc::{ConnectionConfig, Peer, RpcError, Server, ServerConfig};
use serde_json::value::RawValue;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::Decoder;

/// How long one input may take before it counts as a hang.
pub(crate) const HANG: Duration = Duration::from_secs(10);

/// Reads structure out of fuzz input; past the end every read gives zeros.
pub(crate) struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn u64(&mut self) -> u64 {
        let mut le = [0u8; 8];
        for b in &mut le {
            *b = self.u8();
        }
        u64::from_le_bytes(le)
    }

    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// Up to `max - 1` bytes, the count read first.
    pub(crate) fn bytes_upto(&mut self, max: u8) -> &'a [u8] {
        let n = usize::from(self.u8() % max);
        self.bytes(n)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.data.len())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// The runtime every input runs on: one thread, built once.
pub(crate) fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
    })
}

// ---------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------

const FRAME_LIMITS: [usize; 16] = [
    0,
    1,
    2,
    3,
    4,
    5,
    7,
    8,
    16,
    31,
    64,
    100,
    255,
    1024,
    4096,
    1 << 16,
];
const HEADER_LIMITS: [usize; 16] = [0, 1, 2, 4, 8, 16, 17, 18, 19, 20, 21, 24, 32, 64, 256, 8192];

/// What a decoder produced, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Frame(Bytes),
    TooLarge,
    Malformed,
    Truncated,
}

fn event_of(err: &FrameError) -> Event {
    match err {
        FrameError::TooLarge { .. } => Event::TooLarge,
        FrameError::Malformed(_) => Event::Malformed,
        FrameError::Truncated(_) => Event::Truncated,
        FrameError::Io(err) => panic!("a decoder reported an i/o error: {err}"),
    }
}

/// Feeds `stream` to `codec` in chunks of the given sizes (cycled; all of it at once
/// when there are none), then ends it, the way `FramedRead` and `FrameReader` drive a
/// decoder. Checks progress, frame sizes and the buffer bound on the way.
fn run_decoder<D>(
    mut codec: D,
    stream: &[u8],
    chunks: &[usize],
    max_frame: usize,
    bound: usize,
) -> Vec<Event>
where
    D: Decoder<Item = Bytes, Error = FrameError>,
{
    let mut events = Vec::new();
    let mut buf = BytesMut::new();
    let mut pos = 0;
    let mut next_chunk = 0;
    loop {
        let eof = pos == stream.len();
        if !eof {
            let n = if chunks.is_empty() {
                stream.len() - pos
            } else {
                chunks[next_chunk % chunks.len()].min(stream.len() - pos)
            };
            next_chunk += 1;
            buf.extend_from_slice(&stream[pos..pos + n]);
            pos += n;
        }
        // Every call that does not return `Ok(None)` must consume something.
        let mut calls = 0;
        loop {
            calls += 1;
            assert!(
                calls <= stream.len() + 4,
                "the decoder keeps returning without consuming its buffer"
            );
            let decoded = if eof {
                codec.decode_eof(&mut buf)
            } else {
                codec.decode(&mut buf)
            };
            match decoded {
                Ok(Some(frame)) => {
                    assert!(
                        frame.len() <= max_frame,
                        "a frame of {} bytes passed the limit of {max_frame}",
                        frame.len()
                    );
                    events.push(Event::Frame(frame));
                }
                Ok(None) => break,
                Err(err) => {
                    let recoverable = err.is_recoverable();
                    events.push(event_of(&err));
                    if !recoverable {
                        // A reader stops at the first unrecoverable error.
                        return events;
                    }
                }
            }
        }
        assert!(
            buf.len() <= bound,
            "the decoder keeps {} bytes buffered, more than its limits allow ({bound})",
            buf.len()
        );
        if eof {
            return events;
        }
    }
}

/// Reads the fuzz input's chunk plan: a count and that many sizes (0 means "decode
/// again with nothing new"); all-zero plans become "one chunk".
fn chunk_plan(inp: &mut Input<'_>) -> Vec<usize> {
    let count = usize::from(inp.u8() % 16);
    let chunks: Vec<usize> = (0..count).map(|_| usize::from(inp.u8())).collect();
    if chunks.iter().all(|&n| n == 0) {
        Vec::new()
    } else {
        chunks
    }
}

/// Checks newline-delimited framing on arbitrary bytes; see the module docs.
pub fn ndjson_decoder(data: &[u8]) {
    let mut inp = Input::new(data);
    let max_frame = FRAME_LIMITS[usize::from(inp.u8() % 16)];
    let chunks = chunk_plan(&mut inp);
    let stream = inp.rest();
    let codec = || NdjsonCodec::with_max_frame_len(max_frame);
    // A line is buffered until its newline, up to the limit plus a `\r`.
    let bound = max_frame + 1;
    let whole = run_decoder(codec(), stream, &[], max_frame, bound);
    let chunked = run_decoder(codec(), stream, &chunks, max_frame, bound);
    assert_eq!(whole, chunked, "chunks {chunks:?} change what is decoded");
    let bytewise = run_decoder(codec(), stream, &[1], max_frame, bound);
    assert_eq!(whole, bytewise, "byte-by-byte reads change what is decoded");
}

/// Checks `Content-Length` framing on arbitrary bytes; see the module docs.
pub fn content_length_decoder(data: &[u8]) {
    let mut inp = Input::new(data);
    let limits = inp.u8();
    let max_frame = FRAME_LIMITS[usize::from(limits % 16)];
    let max_header = HEADER_LIMITS[usize::from(limits / 16)];
    let chunks = chunk_plan(&mut inp);
    let stream = inp.rest();
    let codec = || ContentLengthCodec::with_max_frame_len(max_frame).max_header_len(max_header);
    // Between calls the buffer holds part of a header block (up to its limit plus a
    // `\r`) or part of a body (under the frame limit).
    let bound = max_frame.max(max_header + 1);
    let whole = run_decoder(codec(), stream, &[], max_frame, bound);
    let chunked = run_decoder(codec(), stream, &chunks, max_frame, bound);
    assert_eq!(whole, chunked, "chunks {chunks:?} change what is decoded");
    let bytewise = run_decoder(codec(), stream, &[1], max_frame, bound);
    assert_eq!(whole, bytewise, "byte-by-byte reads change what is decoded");
}

// ---------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------

/// A parsed message reduced to what must survive a round trip.
#[derive(Debug, PartialEq)]
enum Shape {
    Request {
        id: String,
        method: String,
        params: Option<String>,
    },
    Notification {
        method: String,
        params: Option<String>,
    },
    Result {
        id: String,
        result: String,
    },
    Error {
        id: String,
        error: RpcError,
    },
}

fn shape(message: &Message<'_>) -> Shape {
    let params = |p: Option<&RawValue>| p.map(|p| p.get().to_owned());
    match message {
        Message::Request(r) => Shape::Request {
            id: r.id.as_json().to_owned(),
            method: r.method.clone().into_owned(),
            params: params(r.params),
        },
        Message::Notification(n) => Shape::Notification {
            method: n.method.clone().into_owned(),
            params: params(n.params),
        },
        Message::Response(r) => match &r.outcome {
            Ok(result) => Shape::Result {
                id: r.id.as_json().to_owned(),
                result: result.get().to_owned(),
            },
            Err(error) => Shape::Error {
                id: r.id.as_json().to_owned(),
                error: error.to_owned_error(),
            },
        },
    }
}

/// Encodes a message with the encoders.
fn encode_message(buf: &mut BytesMut, message: &Message<'_>) {
    match message {
        Message::Request(r) => {
            encode_request(buf, r.id, &r.method, r.params).expect("a parsed request re-encodes")
        }
        Message::Notification(n) => {
            encode_notification(buf, &n.method, n.params).expect("a parsed notification re-encodes")
        }
        Message::Response(r) => match &r.outcome {
            Ok(result) => encode_raw_result(buf, r.id, result),
            Err(error) => encode_error_object(buf, r.id, error),
        },
    }
}

/// Checks that a message the parser accepted agrees with a plain JSON reading of it.
fn agrees_with_json(message: &Message<'_>, text: &[u8]) {
    let value: serde_json::Value =
        serde_json::from_slice(text).expect("an accepted message is valid JSON");
    assert_eq!(value["jsonrpc"], "2.0", "accepted without jsonrpc 2.0");
    let same_id = |id: Id<'_>| {
        let id: serde_json::Value = serde_json::from_str(id.as_json()).expect("an id is JSON");
        assert_eq!(value["id"], id, "the id differs from the JSON's");
    };
    match message {
        Message::Request(r) => {
            same_id(r.id);
            assert_eq!(
                value["method"], *r.method,
                "the method differs from the JSON's"
            );
        }
        Message::Notification(n) => {
            assert!(value.get("id").is_none(), "a notification with an id");
            assert_eq!(
                value["method"], *n.method,
                "the method differs from the JSON's"
            );
        }
        Message::Response(r) => {
            same_id(r.id);
            assert!(value.get("method").is_none(), "a response with a method");
            match &r.outcome {
                Ok(result) => {
                    let result: serde_json::Value =
                        serde_json::from_str(result.get()).expect("a result is JSON");
                    assert_eq!(
                        value["result"], result,
                        "the result differs from the JSON's"
                    );
                }
                Err(error) => {
                    let json = &value["error"];
                    assert_eq!(json["code"], error.code.code(), "the error code differs");
                    assert_eq!(json["message"], *error.message, "the message differs");
                    assert_eq!(
                        json.get("data").is_some(),
                        error.data.is_some(),
                        "error data present in one and not the other"
                    );
                }
            }
        }
    }
}

/// Checks an answer to a refused frame: it must be an error response with its id.
fn check_invalid(invalid: &Invalid<'_>) {
    assert!(
        invalid.code == ErrorCode::PARSE_ERROR || invalid.code == ErrorCode::INVALID_REQUEST,
        "unexpected code {}",
        invalid.code
    );
    let mut buf = BytesMut::new();
    encode_error(&mut buf, invalid.id, invalid.code, &invalid.reason, None);
    match parse(&buf) {
        Ok(Incoming::Single(Message::Response(r))) => {
            assert_eq!(r.id.as_json(), invalid.id.as_json());
            let err = r.outcome.expect_err("an error response");
            assert_eq!(err.code, invalid.code);
            assert_eq!(err.message, invalid.reason);
        }
        other => panic!("the error response to a refused frame does not parse: {other:?}"),
    }
}

/// Checks the parser on arbitrary bytes; see the module docs.
pub fn message_parser(data: &[u8]) {
    let (limit, frame) = match data.split_first() {
        Some((&limit, frame)) => (limit, frame),
        None => return,
    };
    let limits = ParseLimits {
        max_batch_len: usize::from(limit % 8),
        // Depth limits of 1 to 16, or none.
        max_depth: (limit >= 16).then_some(usize::from(limit / 16)),
    };
    let limit = limits.max_batch_len;
    let _ = parse(frame);
    let parsed = parse_with(frame, limits);
    match parsed {
        Err(invalid) => {
            check_invalid(&invalid);
            // The batch limit cannot matter to a single message.
            let unbounded = ParseLimits {
                max_batch_len: usize::MAX,
                ..limits
            };
            if let Ok(Incoming::Single(_)) = parse_with(frame, unbounded) {
                panic!("a single message depends on the batch limit");
            }
        }
        Ok(Incoming::Single(message)) => {
            agrees_with_json(&message, frame);
            let mut buf = BytesMut::new();
            encode_message(&mut buf, &message);
            match parse(&buf) {
                Ok(Incoming::Single(again)) => assert_eq!(shape(&message), shape(&again)),
                other => panic!("a re-encoded message does not parse: {other:?}"),
            }
        }
        Ok(Incoming::Batch(elements)) => {
            assert!(
                !elements.is_empty() && elements.len() <= limit,
                "batch limit"
            );
            let mut buf = BytesMut::new();
            let mut batch = BatchWriter::new();
            let mut kept = Vec::new();
            for element in &elements {
                match element {
                    Ok(message) => {
                        batch.begin_element(&mut buf);
                        encode_message(&mut buf, message);
                        kept.push(shape(message));
                    }
                    Err(invalid) => check_invalid(invalid),
                }
            }
            if batch.finish(&mut buf) {
                match parse(&buf) {
                    Ok(Incoming::Batch(again)) => {
                        let again: Vec<Shape> = again
                            .iter()
                            .map(|m| shape(m.as_ref().expect("a re-encoded element parses")))
                            .collect();
                        assert_eq!(kept, again);
                    }
                    other => panic!("a re-encoded batch does not parse: {other:?}"),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Dispatch through a generated server
// ---------------------------------------------------------------------------------------

/// A struct parameter.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// Across.
    pub x: i32,
    /// Up.
    pub y: i32,
}

/// Methods of many shapes, to cover the generated params decoders.
#[rpc::rpc_service(namespace = "fz")]
pub trait Fuzzed {
    /// Two integers.
    async fn add(&self, a: i64, b: i64) -> i64;
    /// An error result.
    async fn div(&self, a: i32, b: i32) -> Result<i32, RpcError>;
    /// A string borrowed from the frame.
    #[rpc(aliases = ["echo"])]
    async fn echo(&self, text: &str) -> String;
    /// A string borrowed unless it has escapes.
    async fn len_of(&self, text: Cow<'_, str>) -> usize;
    /// An owned string, a renamed parameter and an optional one.
    async fn greet(
        &self,
        #[rpc(rename = "firstName")] first_name: String,
        title: Option<String>,
    ) -> String;
    /// Small integers, sent by position.
    #[rpc(positional)]
    async fn sub(&self, a: u8, b: u8) -> Result<u8, RpcError>;
    /// A vector and an optional struct.
    async fn total(&self, items: Vec<f64>, p: Option<Point>) -> f64;
    /// A struct.
    async fn mirror(&self, p: Point) -> Point;
    /// The whole params value as a vector.
    #[rpc(raw_params)]
    async fn sum(&self, numbers: Vec<i64>) -> i64;
    /// The whole params value raw.
    #[rpc(raw_params, name = "fz/raw")]
    async fn raw_text(&self, params: &RawValue) -> String;
    /// A notification.
    #[rpc(notification)]
    async fn log(&self, line: &str);
    /// No parameters.
    async fn ping(&self) -> String;
    /// Bytes, a boolean and an optional integer.
    async fn flags(&self, data: Vec<u8>, flag: bool, maybe: Option<u64>) -> (usize, bool, u64);
}

/// The implementation behind [`FuzzedServer`]; it never panics itself.
pub struct Impl;

impl Fuzzed for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
    async fn div(&self, a: i32, b: i32) -> Result<i32, RpcError> {
        a.checked_div(b)
            .ok_or_else(|| RpcError::invalid_params("division by zero or overflow"))
    }
    async fn echo(&self, text: &str) -> String {
        text.to_owned()
    }
    async fn len_of(&self, text: Cow<'_, str>) -> usize {
        text.len()
    }
    async fn greet(&self, first_name: String, title: Option<String>) -> String {
        format!("{} {first_name}", title.unwrap_or_default())
    }
    async fn sub(&self, a: u8, b: u8) -> Result<u8, RpcError> {
        a.checked_sub(b)
            .ok_or_else(|| RpcError::invalid_params("negative"))
    }
    async fn total(&self, items: Vec<f64>, p: Option<Point>) -> f64 {
        items.iter().sum::<f64>() + p.map_or(0.0, |p| f64::from(p.x))
    }
    async fn mirror(&self, p: Point) -> Point {
        Point { x: p.y, y: p.x }
    }
    async fn sum(&self, numbers: Vec<i64>) -> i64 {
        numbers.iter().fold(0i64, |a, &b| a.wrapping_add(b))
    }
    async fn raw_text(&self, params: &RawValue) -> String {
        params.get().to_owned()
    }
    async fn log(&self, _line: &str) {}
    async fn ping(&self) -> String {
        "pong".into()
    }
    async fn flags(&self, data: Vec<u8>, flag: bool, maybe: Option<u64>) -> (usize, bool, u64) {
        (data.len(), flag, maybe.unwrap_or(0))
    }
}

const METHODS: &[&str] = &[
    "fz.add",
    "fz.div",
    "fz.echo",
    "echo",
    "fz.len_of",
    "fz.greet",
    "fz.sub",
    "fz.total",
    "fz.mirror",
    "fz.sum",
    "fz/raw",
    "fz.log",
    "fz.ping",
    "fz.flags",
    "fz.nope",
    "",
    "$/cancelRequest",
    "fz.add ",
    "rpc.discover",
];

const KEYS: &[&str] = &[
    "a",
    "b",
    "text",
    "firstName",
    "first_name",
    "title",
    "items",
    "p",
    "x",
    "y",
    "numbers",
    "data",
    "flag",
    "maybe",
    "line",
    "_meta",
    "id",
];

const NUMBERS: &[&str] = &[
    "0",
    "-0",
    "1",
    "-1",
    "0.5",
    "-1.5e-3",
    "1E2",
    "1e400",
    "255",
    "256",
    "-129",
    "2147483648",
    "4294967296",
    "9007199254740993",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775809",
];

const STRINGS: &[&str] = &[
    r#""""#,
    r#""\u00e9""#,
    r#""\ud83d\ude00""#,
    r#""a\"b""#,
    r#""\ud800""#,
    r#""\n""#,
    r#""x""#,
    "\"\u{e9}\u{1f600}\"",
];

/// Appends a JSON value read from the input (nested at most a few levels).
fn json_value(inp: &mut Input<'_>, depth: u32, out: &mut String) {
    let tag = inp.u8() % if depth >= 3 { 10 } else { 12 };
    match tag {
        0 => out.push_str("null"),
        1 => out.push_str("true"),
        2 => out.push_str("false"),
        3 => out.push_str(&(inp.u8() as i8).to_string()),
        4 => out.push_str(&inp.u64().to_string()),
        5 => {
            let f = f64::from_bits(inp.u64());
            out.push_str(&if f.is_finite() {
                format!("{f:?}")
            } else {
                "1e400".to_owned()
            });
        }
        6 => out.push_str(NUMBERS[usize::from(inp.u8()) % NUMBERS.len()]),
        7 => {
            let len = usize::from(inp.u8() % 24);
            let text = String::from_utf8_lossy(inp.bytes(len));
            out.push_str(&serde_json::to_string(&text).expect("a string serializes"));
        }
        8 | 9 => out.push_str(STRINGS[usize::from(inp.u8()) % STRINGS.len()]),
        10 => {
            out.push('[');
            for i in 0..inp.u8() % 5 {
                if i > 0 {
                    out.push(',');
                }
                json_value(inp, depth + 1, out);
            }
            out.push(']');
        }
        _ => {
            out.push('{');
            for i in 0..inp.u8() % 5 {
                if i > 0 {
                    out.push(',');
                }
                json_key(inp, out);
                out.push(':');
                json_value(inp, depth + 1, out);
            }
            out.push('}');
        }
    }
}

fn json_key(inp: &mut Input<'_>, out: &mut String) {
    let pick = usize::from(inp.u8());
    if pick < 224 {
        out.push('"');
        out.push_str(KEYS[pick % KEYS.len()]);
        out.push('"');
    } else {
        let len = usize::from(inp.u8() % 12);
        let text = String::from_utf8_lossy(inp.bytes(len));
        out.push_str(&serde_json::to_string(&text).expect("a string serializes"));
    }
}

/// Raw bytes from the input as one line (newlines become spaces).
pub(crate) fn raw_line(inp: &mut Input<'_>, max: u8) -> Vec<u8> {
    let len = usize::from(inp.u8() % max);
    inp.bytes(len)
        .iter()
        .map(|&b| if b == b'\n' { b' ' } else { b })
        .collect()
}

/// Appends one JSON-RPC call (request or notification) read from the input.
pub(crate) fn call_text(inp: &mut Input<'_>, index: usize, out: &mut Vec<u8>) {
    let mut text = String::from(r#"{"jsonrpc":"2.0""#);
    match inp.u8() % 8 {
        0 => {}
        1 => text.push_str(&format!(r#","id":{index}"#)),
        2 => text.push_str(&format!(r#","id":"r{index}""#)),
        3 => text.push_str(r#","id":null"#),
        4 => text.push_str(&format!(r#","id":18446744073709551616{index}"#)),
        5 => text.push_str(&format!(r#","id":"\u00e9\n{index}""#)),
        6 => text.push_str(&format!(r#","id":-{index}.5"#)),
        _ => {
            text.push_str(r#","id":"#);
            json_value(inp, 3, &mut text);
        }
    }
    text.push_str(r#","method":"#);
    let pick = usize::from(inp.u8());
    if pick < 224 {
        text.push('"');
        text.push_str(METHODS[pick % METHODS.len()]);
        text.push('"');
    } else {
        let len = usize::from(inp.u8() % 16);
        let name = String::from_utf8_lossy(inp.bytes(len));
        text.push_str(&serde_json::to_string(&name).expect("a string serializes"));
    }
    match inp.u8() % 6 {
        0 => {}
        1 => {
            text.push_str(r#","params":["#);
            for i in 0..inp.u8() % 4 {
                if i > 0 {
                    text.push(',');
                }
                json_value(inp, 1, &mut text);
            }
            text.push(']');
        }
        2 => {
            text.push_str(r#","params":{"#);
            for i in 0..inp.u8() % 4 {
                if i > 0 {
                    text.push(',');
                }
                json_key(inp, &mut text);
                text.push(':');
                json_value(inp, 1, &mut text);
            }
            text.push('}');
        }
        3 => {
            text.push_str(r#","params":"#);
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(&raw_line(inp, 32));
            out.push(b'}');
            return;
        }
        4 => text.push_str(r#","params":null"#),
        _ => {
            text.push_str(r#","params":"#);
            json_value(inp, 0, &mut text);
        }
    }
    text.push('}');
    out.extend_from_slice(text.as_bytes());
}

/// The bytes of a stream of frames read from the input.
fn dispatch_stream(inp: &mut Input<'_>) -> Vec<u8> {
    let mut stream = Vec::new();
    let mut index = 0;
    for _ in 0..8 {
        if inp.is_empty() {
            break;
        }
        match inp.u8() % 8 {
            0..=4 => {
                call_text(inp, index, &mut stream);
                index += 1;
            }
            5 | 6 => {
                stream.push(b'[');
                for i in 0..1 + inp.u8() % 4 {
                    if i > 0 {
                        stream.push(b',');
                    }
                    if inp.u8().is_multiple_of(8) {
                        stream.extend_from_slice(&raw_line(inp, 16));
                    } else {
                        call_text(inp, index, &mut stream);
                        index += 1;
                    }
                }
                stream.push(b']');
            }
            _ => stream.extend_from_slice(&raw_line(inp, 255)),
        }
        stream.push(b'\n');
    }
    stream
}

/// What the other end must send back for one frame: a single response with this id,
/// or a batch response with these ids in this order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Reply {
    Single(String),
    Batch(Vec<String>),
}

/// The frames a reader cuts from `stream` (all of it, to its end).
fn frames_of(mut codec: NdjsonCodec, stream: &[u8]) -> Vec<Bytes> {
    let mut buf = BytesMut::from(stream);
    let mut frames = Vec::new();
    while let Some(frame) = codec.decode(&mut buf).transpose() {
        if let Ok(frame) = frame {
            frames.push(frame);
        }
    }
    while let Some(frame) = codec.decode_eof(&mut buf).transpose() {
        if let Ok(frame) = frame {
            frames.push(frame);
        }
    }
    frames
}

/// The reply a peer owes for one frame (`answer_calls`: whether it serves methods, so
/// that a notification in a batch is run rather than refused).
pub(crate) fn expected_reply(frame: &[u8], limits: ParseLimits) -> Option<Reply> {
    let owed = |m: &Result<Message<'_>, Invalid<'_>>| match m {
        Err(invalid) if !invalid.is_response => Some(invalid.id.as_json().to_owned()),
        Ok(Message::Request(r)) => Some(r.id.as_json().to_owned()),
        _ => None,
    };
    match parse_with(frame, limits) {
        Err(invalid) => owed(&Err(invalid)).map(Reply::Single),
        Ok(Incoming::Single(message)) => owed(&Ok(message)).map(Reply::Single),
        Ok(Incoming::Batch(elements)) => {
            let ids: Vec<String> = elements.iter().filter_map(owed).collect();
            (!ids.is_empty()).then_some(Reply::Batch(ids))
        }
    }
}

/// Reads a reply frame; panics unless it is a well-formed response or batch of them.
pub(crate) fn reply_of(frame: &[u8]) -> Reply {
    let id_of = |m: &Message<'_>| match m {
        Message::Response(r) => r.id.as_json().to_owned(),
        other => panic!("a reply that is not a response: {other:?}"),
    };
    match parse(frame) {
        Ok(Incoming::Single(message)) => Reply::Single(id_of(&message)),
        Ok(Incoming::Batch(elements)) => Reply::Batch(
            elements
                .iter()
                .map(|e| id_of(e.as_ref().expect("a well-formed batch element")))
                .collect(),
        ),
        Err(invalid) => panic!(
            "a malformed reply {:?}: {invalid:?}",
            String::from_utf8_lossy(frame)
        ),
    }
}

pub(crate) fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// Replies with each batch's ids sorted: a batch's answers may come in any order.
pub(crate) fn normalized(replies: Vec<Reply>) -> Vec<Reply> {
    let replies = replies.into_iter().map(|reply| match reply {
        Reply::Batch(ids) => Reply::Batch(sorted(ids)),
        single => single,
    });
    sorted(replies.collect())
}

/// Checks a generated server on calls read from arbitrary bytes; see the module docs.
pub fn dispatch(data: &[u8]) {
    let stream = dispatch_stream(&mut Input::new(data));
    let limits = ServerConfig::default().connection.parse_limits;
    let expected: Vec<Reply> = frames_of(NdjsonCodec::new(), &stream)
        .iter()
        .filter_map(|f| expected_reply(f, limits))
        .collect();
    let replies = runtime().block_on(async {
        tokio::time::timeout(HANG, serve(&stream))
            .await
            .expect("the server hung")
    });
    let replies: Vec<Reply> = replies.iter().map(|f| reply_of(f)).collect();
    assert_eq!(
        normalized(expected),
        normalized(replies),
        "replies to {:?}",
        String::from_utf8_lossy(&stream)
    );
}

/// Writes `stream` to a fresh connection of the shared server, closes it, and returns
/// every frame the server sent before closing its end.
async fn serve(stream: &[u8]) -> Vec<Bytes> {
    static SERVER: OnceLock<Server> = OnceLock::new();
    let server = SERVER.get_or_init(|| Server::new(FuzzedServer::new(Impl)));
    let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
    server.serve_connection(theirs);
    let Connection { mut reader, writer } = ours;
    let drain = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(frame) = reader.next_frame().await {
            frames.push(frame.expect("the server's frames decode"));
        }
        frames
    });
    let mut io = writer.into_inner();
    io.write_all(stream)
        .await
        .expect("the pipe takes the calls");
    io.shutdown().await.expect("the pipe closes");
    drain.await.expect("the drain task")
}

// ---------------------------------------------------------------------------------------
// A client fed garbage responses
// ---------------------------------------------------------------------------------------

/// A call's outcome as the caller sees it.
#[derive(Debug, PartialEq)]
enum Outcome {
    Result(String),
    Error(RpcError),
}

const FINAL_RESULT: &str = r#""final""#;

/// Checks a client with calls pending against arbitrary bytes; see the module docs.
pub fn client_responses(data: &[u8]) {
    let mut inp = Input::new(data);
    let shape = inp.u8();
    let singles = 1 + usize::from(shape % 3);
    let with_batch = shape & 4 != 0;
    let max_frame = [64, 512, 4096, 1 << 16][usize::from(shape >> 3) % 4];
    let garbage = inp.rest();
    runtime().block_on(async {
        tokio::time::timeout(HANG, converse(singles, with_batch, max_frame, garbage))
            .await
            .expect("the client hung")
    });
}

async fn converse(singles: usize, with_batch: bool, max_frame: usize, garbage: &[u8]) {
    let codec = NdjsonCodec::with_max_frame_len(max_frame);
    // The client reads with the small limit; this end reads what it sends whole.
    let (to_client, client_reads) = tokio::io::duplex(1 << 16);
    let (client_writes, from_client) = tokio::io::duplex(1 << 16);
    let client_end = Connection::new(client_reads, client_writes, codec.clone());
    let server_end = Connection::new(from_client, to_client, NdjsonCodec::new());
    let peer = Peer::connect(
        client_end,
        ConnectionConfig {
            request_timeout: None,
            ..ConnectionConfig::default()
        },
    );
    let mut calls = Vec::new();
    for i in 0..singles {
        let peer = peer.clone();
        calls.push(tokio::spawn(async move {
            let r = peer.call_raw::<()>(&format!("m{i}"), None, None).await;
            vec![(format!("m{i}"), r)]
        }));
    }
    if with_batch {
        let peer = peer.clone();
        calls.push(tokio::spawn(async move {
            let results = peer
                .batch()
                .call("b0", &())
                .call("b1", &[1])
                .send()
                .await
                .expect("the batch is sent");
            ["b0", "b1"]
                .into_iter()
                .map(str::to_owned)
                .zip(results)
                .collect()
        }));
    }

    // Read the calls' requests: once they are here, every call is pending.
    let Connection { mut reader, writer } = server_end;
    let mut ids: HashMap<String, u64> = HashMap::new();
    let mut requests = 0;
    while requests < singles + usize::from(with_batch) {
        let frame = reader
            .next_frame()
            .await
            .expect("the client sends its calls")
            .expect("the calls decode");
        requests += 1;
        let mut note = |m: &Message<'_>| match m {
            Message::Request(r) => {
                ids.insert(
                    r.method.clone().into_owned(),
                    r.id.as_u64().expect("a numeric id"),
                );
            }
            other => panic!("the client sent {other:?}"),
        };
        match parse(&frame).expect("the client's calls parse") {
            Incoming::Single(m) => note(&m),
            Incoming::Batch(ms) => ms.iter().for_each(|m| note(m.as_ref().expect("a call"))),
        }
    }
    assert_eq!(peer.pending_calls(), ids.len(), "every call is pending");

    // The client's answers to the garbage (to requests and invalid frames in it).
    let drain = tokio::spawn(async move {
        let mut frames = Vec::new();
        while let Some(frame) = reader.next_frame().await {
            frames.push(frame.expect("the client's frames decode"));
        }
        frames
    });

    let mut io = writer.into_inner();
    io.write_all(garbage)
        .await
        .expect("the pipe takes the garbage");
    io.write_all(b"\n").await.expect("the pipe takes a newline");
    let mut finals = Vec::new();
    for &id in ids.values() {
        finals.extend_from_slice(
            format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{FINAL_RESULT}}}"#).as_bytes(),
        );
        finals.push(b'\n');
    }
    io.write_all(&finals)
        .await
        .expect("the pipe takes the responses");

    // What each call must have received: the first response in the garbage that
    // matches its id, else the final one.
    let limits = ConnectionConfig::default().parse_limits;
    let mut first: HashMap<u64, Outcome> = HashMap::new();
    let mut owed = Vec::new();
    let mut garbage_line = garbage.to_vec();
    garbage_line.push(b'\n');
    for frame in frames_of(codec, &garbage_line) {
        owed.extend(expected_reply(&frame, limits));
        let mut record = |m: &Message<'_>| {
            if let Message::Response(r) = m {
                if let Some(id) = r.id.as_u64().filter(|id| ids.values().any(|v| v == id)) {
                    first.entry(id).or_insert_with(|| match &r.outcome {
                        Ok(result) => Outcome::Result(result.get().to_owned()),
                        Err(error) => Outcome::Error(error.to_owned_error()),
                    });
                }
            }
        };
        match parse_with(&frame, limits) {
            Ok(Incoming::Single(m)) => record(&m),
            Ok(Incoming::Batch(ms)) => ms.iter().flatten().for_each(&mut record),
            Err(_) => {}
        }
    }

    for call in calls {
        for (method, result) in call.await.expect("a call's task") {
            let response = result.unwrap_or_else(|e| panic!("call {method} failed: {e}"));
            let got = match response.result() {
                Ok(text) => Outcome::Result(text.to_owned()),
                Err(err) => Outcome::Error(err.clone()),
            };
            let id = ids[&method];
            let want = first
                .remove(&id)
                .unwrap_or_else(|| Outcome::Result(FINAL_RESULT.to_owned()));
            assert_eq!(got, want, "call {method} (id {id})");
        }
    }
    assert_eq!(peer.pending_calls(), 0, "calls left pending");
    assert!(!peer.is_closed(), "the garbage closed the connection");

    drop(io);
    peer.closed().await;
    let replies: Vec<Reply> = drain
        .await
        .expect("the drain task")
        .iter()
        .map(|f| reply_of(f))
        .collect();
    assert_eq!(sorted(owed), sorted(replies), "the client's answers");
}
