//! The checks behind the cargo-fuzz targets of the HTTP server, one public function
//! per target, read and replayed as those of `checks.rs` are (a byte cursor, no
//! `arbitrary`; `tests/fuzz_regressions.rs` includes this file too):
//!
//! - [`http_request`]: one or more HTTP/1.1 requests built from fuzz-chosen pieces
//!   (method, path, `Host`, `Content-Type`, `Accept`, `Connection`, `Expect`,
//!   `Upgrade`, a body as JSON-RPC pieces or raw bytes, sent with `Content-Length` or
//!   chunked), maybe followed by malformed requests or raw bytes, written pipelined to
//!   `Server::serve_http` on a loopback socket. Every well-formed request gets exactly
//!   one well-formed response, in order, with the status the rules of `HttpService`
//!   give it; a JSON-RPC body gets a well-formed answer (ids matching, one per call,
//!   a batch's as a batch) or an empty 202; what follows the malformed part is
//!   answered only with well-formed responses; the connection closes when the
//!   client's side does; the server is left with no connection, call or buffered
//!   byte.
//! - [`websocket_messages`]: after an upgrade on the same server, fuzz-chosen
//!   WebSocket frames (text and binary messages of JSON-RPC, fragmented ones with
//!   pings between their fragments, pings, pongs, closes with any code, protocol
//!   violations, messages over the limit, raw bytes), checked against what a client
//!   is owed: exactly one answer per call when the client closes after reading them
//!   or its frames break a rule (the answers come before the close), at most one
//!   when it closed first; a pong for a ping; a close frame with the code the
//!   WebSocket's rules give (the client's own echoed, 1002 for a protocol error or
//!   a bad close frame, 1007 for text or a close reason that is not UTF-8, 1009 for
//!   a message over the limit); then the connection
//!   closes and the server holds nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use rpc::http::HttpConfig;
use rpc::message::Id;
use rpc::{Server, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};

use crate::checks::{
    call_text, expected_reply, normalized, raw_line, reply_of, runtime, sorted, FuzzedServer, Impl,
    Input, Reply, HANG,
};

/// The largest request body of the HTTP server under test (small, so that inputs
/// reach it).
const MAX_BODY: usize = 2048;
/// The largest WebSocket message of the server under test.
const MAX_MESSAGE: usize = 1024;

/// A server of the fuzzed service on a loopback port, serving `config`.
struct Served {
    server: Server,
    addr: OnceLock<SocketAddr>,
}

fn serve(cell: &'static OnceLock<Served>, config: fn() -> HttpConfig) -> &'static Served {
    let served = cell.get_or_init(|| Served {
        server: Server::with_config(FuzzedServer::new(Impl), ServerConfig::default()),
        addr: OnceLock::new(),
    });
    served.addr.get_or_init(|| {
        let listener = runtime()
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("a loopback port");
        let addr = listener.local_addr().expect("its address");
        let server = &served.server;
        runtime().spawn(async move {
            server
                .serve_http(listener, config())
                .await
                .expect("the server serves");
        });
        addr
    });
    served
}

fn http_server() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    serve(&SERVED, || {
        let mut config = HttpConfig::default().max_body_bytes(MAX_BODY);
        config.websocket_ping_interval = None;
        config.websocket_idle_timeout = None;
        config
    })
}

fn ws_server() -> &'static Served {
    static SERVED: OnceLock<Served> = OnceLock::new();
    serve(&SERVED, || {
        let mut config = HttpConfig::default();
        config.websocket_max_message_bytes = MAX_MESSAGE;
        config.websocket_ping_interval = None;
        config.websocket_idle_timeout = None;
        config
    })
}

/// Waits until `server` holds no connection, call or buffered byte (a leak hangs).
async fn settled(server: &Server) {
    loop {
        let m = server.metrics();
        if m.connections == 0 && m.in_flight == 0 && m.queued == 0 && m.buffered_bytes == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Runs `exchange` with the hang guard, then waits for the server to settle.
fn guarded<F: std::future::Future<Output = ()>>(served: &'static Served, what: &str, exchange: F) {
    runtime().block_on(async {
        tokio::time::timeout(HANG, exchange)
            .await
            .unwrap_or_else(|_| panic!("the {what} exchange hung"));
        tokio::time::timeout(HANG, settled(&served.server))
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "the server still holds work after the {what} exchange: {:?}",
                    served.server.metrics()
                )
            });
    });
}

// ---------------------------------------------------------------------------------------
// HTTP/1.1 requests
// ---------------------------------------------------------------------------------------

const METHODS: &[&str] = &[
    "POST", "POST", "POST", "GET", "PUT", "DELETE", "HEAD", "OPTIONS",
];
const PATHS: &[&str] = &["/", "/", "/", "/?q=1", "/health", "/nope", "//"];
const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("Application/JSON"),
    None,
    Some("text/plain"),
    Some("application/jsonx"),
];
const ACCEPTS: &[Option<&str>] = &[
    None,
    None,
    Some("*/*"),
    Some("application/json"),
    Some("text/event-stream"),
    Some("application/json, text/event-stream"),
    Some("text/html"),
    Some("application/json;q=0"),
];
/// Header lines that break the framing or the grammar of a request.
const BAD_HEADERS: &[&str] = &[
    "Content-Length: -1",
    "Content-Length: 1, 2",
    "Content-Length: 99999999999999999999",
    "Content-Length: 5\r\nContent-Length: 6",
    "Transfer-Encoding: gzip",
    "Transfer-Encoding: chunked, gzip",
    "Transfer-Encoding: chunked\r\nContent-Length: 3",
    "no colon here",
    " folded: line",
    "Bad Name: x",
    "X: \u{1}\u{7f}",
    "Content-Length: 3",
    "Content-Length: 300",
];

/// What a well-formed request must be answered with.
#[derive(Debug)]
struct Owed {
    status: u16,
    /// The answer a JSON-RPC body is owed (`None`: an empty 202, or no event).
    rpc: Option<Option<Reply>>,
    /// Answered as an event stream.
    events: bool,
    /// A `HEAD` request: no body in the response.
    head: bool,
    /// `Expect: 100-continue` was sent.
    expect_continue: bool,
    /// The server may close after answering without reading the body it was sent
    /// (hyper drains what it can and closes otherwise).
    may_close_after: bool,
}

/// One request, well-formed, with what it is owed.
fn well_formed(inp: &mut Input<'_>, index: usize, no_head: bool) -> (Vec<u8>, Owed) {
    let method = match METHODS[usize::from(inp.u8()) % METHODS.len()] {
        // The reader of what follows a malformed request cannot tell a response to
        // a HEAD (a length, no body) from one cut short.
        "HEAD" if no_head => "GET",
        method => method,
    };
    let path = PATHS[usize::from(inp.u8()) % PATHS.len()];
    let flags = inp.u8();
    let content_type = CONTENT_TYPES[usize::from(inp.u8()) % CONTENT_TYPES.len()];
    let accept = ACCEPTS[usize::from(inp.u8()) % ACCEPTS.len()];
    let upgrade = flags & 2 != 0;
    let mut text = format!("{method} {path} HTTP/1.1\r\n");
    if flags & 1 == 0 {
        text.push_str("Host: 127.0.0.1\r\n");
    }
    if let Some(ct) = content_type {
        text.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    if let Some(accept) = accept {
        text.push_str(&format!("Accept: {accept}\r\n"));
    }
    if upgrade {
        text.push_str("Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n");
        if flags & 4 != 0 {
            text.push_str("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
        }
        let version = if flags & 8 != 0 { "13" } else { "8" };
        text.push_str(&format!("Sec-WebSocket-Version: {version}\r\n"));
    } else if flags & 16 != 0 {
        text.push_str("Connection: close\r\n");
    }
    let expect_continue = flags & 32 != 0;
    if expect_continue {
        text.push_str("Expect: 100-continue\r\n");
    }

    // The body: nothing, JSON-RPC, raw bytes, or JSON-RPC behind white space that
    // takes it over the limit.
    let mut body = Vec::new();
    match inp.u8() % 8 {
        0 => {}
        1..=4 => rpc_frame(inp, index, &mut body),
        5 => body.extend_from_slice(&raw_line(inp, 255)),
        6 => {
            body.resize(MAX_BODY - 8 + usize::from(inp.u8() % 16), b' ');
            rpc_frame(inp, index, &mut body);
        }
        _ => rpc_frame(inp, index, &mut body),
    }
    let chunked = flags & 64 != 0;
    let mut wire = text.into_bytes();
    if chunked {
        wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        let mut rest = &body[..];
        while !rest.is_empty() {
            let n = (1 + usize::from(inp.u8())).min(rest.len());
            let ext = if inp.u8().is_multiple_of(8) {
                ";ext=1"
            } else {
                ""
            };
            wire.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
            wire.extend_from_slice(&rest[..n]);
            wire.extend_from_slice(b"\r\n");
            rest = &rest[n..];
        }
        wire.extend_from_slice(b"0\r\n");
        if flags & 128 != 0 {
            wire.extend_from_slice(b"X-Trailer: t\r\n");
        }
        wire.extend_from_slice(b"\r\n");
    } else {
        if !body.is_empty() || method == "POST" {
            wire.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(&body);
    }

    // What `HttpService` answers, rule by rule.
    let uri_path = path.split('?').next().unwrap_or("");
    let mut owed = Owed {
        status: 0,
        rpc: None,
        events: false,
        head: method == "HEAD",
        expect_continue,
        may_close_after: chunked || !body.is_empty(),
    };
    let json_type = content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    });
    let (accepts_json, accepts_events) = match accept {
        None => (true, false),
        Some(accept) => (
            accept.contains("*/*")
                || accept == "application/json"
                || accept.starts_with("application/json,"),
            accept.contains("text/event-stream"),
        ),
    };
    owed.status = if method == "GET" && path == "/health" {
        200
    } else if uri_path != "/" {
        404
    } else if method == "GET" && upgrade {
        if flags & 12 == 12 {
            101
        } else {
            426
        }
    } else if method != "POST" {
        405
    } else if !json_type {
        415
    } else if !accepts_json && !accepts_events {
        406
    } else if body.len() > MAX_BODY {
        413
    } else {
        owed.may_close_after = false;
        let limits = ServerConfig::default().connection.parse_limits;
        owed.rpc = Some(expected_reply(&body, limits));
        owed.events = !accepts_json;
        match owed.rpc {
            Some(None) if !owed.events => 202,
            _ => 200,
        }
    };
    (wire, owed)
}

/// A JSON-RPC frame: a call, a batch, or a raw line.
fn rpc_frame(inp: &mut Input<'_>, index: usize, out: &mut Vec<u8>) {
    match inp.u8() % 8 {
        0..=4 => call_text(inp, index, out),
        5 | 6 => {
            out.push(b'[');
            for i in 0..1 + inp.u8() % 4 {
                if i > 0 {
                    out.push(b',');
                }
                if inp.u8().is_multiple_of(8) {
                    out.extend_from_slice(&raw_line(inp, 16));
                } else {
                    call_text(inp, index * 8 + usize::from(i), out);
                }
            }
            out.push(b']');
        }
        _ => out.extend_from_slice(&raw_line(inp, 64)),
    }
}

/// Bytes that are not a well-formed request: after them, anything may happen.
fn malformed(inp: &mut Input<'_>) -> Vec<u8> {
    match inp.u8() % 4 {
        0 => raw_line(inp, 255),
        1 => {
            let mut wire = b"POST / HTTP/1.1\r\nContent-Type: application/json\r\n".to_vec();
            for _ in 0..1 + inp.u8() % 3 {
                wire.extend_from_slice(
                    BAD_HEADERS[usize::from(inp.u8()) % BAD_HEADERS.len()].as_bytes(),
                );
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"\r\n");
            wire.extend_from_slice(&raw_line(inp, 64));
            wire
        }
        2 => {
            let mut wire = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
            wire.extend_from_slice(&raw_line(inp, 64));
            wire
        }
        _ => {
            // Bare line feeds, HTTP/1.0, or a request cut short.
            let mut wire = b"POST / HTTP/1.0\nContent-Type: application/json\n".to_vec();
            let body = raw_line(inp, 64);
            wire.extend_from_slice(
                format!(
                    "Content-Length: {}\n\n",
                    body.len() + usize::from(inp.u8() % 3)
                )
                .as_bytes(),
            );
            wire.extend_from_slice(&body);
            wire
        }
    }
}

/// A response read off the wire.
#[derive(Debug)]
struct HttpResponse {
    status: u16,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses one response at the start of `buf`: `None` while incomplete (at `eof`, a
/// body without a length ends there). Panics on one that is malformed.
fn parse_response(buf: &[u8], head_request: bool, eof: bool) -> Option<(HttpResponse, usize)> {
    let end = find(buf, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).expect("a response head is text");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    assert!(
        status_line.starts_with("HTTP/1.1 ") || status_line.starts_with("HTTP/1.0 "),
        "a malformed status line {status_line:?}"
    );
    let status: u16 = status_line[9..]
        .get(..3)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a malformed status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|line| {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("a malformed header line {line:?}"));
            assert!(
                !name.is_empty() && !name.contains(' '),
                "a malformed header name {name:?}"
            );
            (name.to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    let mut response = HttpResponse {
        status,
        headers,
        body: Vec::new(),
    };
    let mut at = end + 4;
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return Some((response, at));
    }
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        assert!(response.header("content-length").is_none(), "both framings");
        loop {
            let line_end = at + find(&buf[at..], b"\r\n")?;
            let size_text = std::str::from_utf8(&buf[at..line_end]).expect("a chunk size is text");
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .unwrap_or_else(|_| panic!("a malformed chunk size {size_text:?}"));
            at = line_end + 2;
            if size == 0 {
                // Trailers, then a blank line.
                loop {
                    let line_end = at + find(&buf[at..], b"\r\n")?;
                    let blank = line_end == at;
                    at = line_end + 2;
                    if blank {
                        return Some((response, at));
                    }
                }
            }
            if buf.len() < at + size + 2 {
                return None;
            }
            response.body.extend_from_slice(&buf[at..at + size]);
            assert_eq!(
                &buf[at + size..at + size + 2],
                b"\r\n",
                "a chunk without its CRLF"
            );
            at += size + 2;
        }
    }
    match response.header("content-length") {
        Some(len) => {
            let len: usize = len.parse().expect("a numeric Content-Length");
            if buf.len() < at + len {
                return None;
            }
            response.body = buf[at..at + len].to_vec();
            Some((response, at + len))
        }
        None if eof => {
            response.body = buf[at..].to_vec();
            Some((response, buf.len()))
        }
        None => None,
    }
}

/// Reads the next response off `reader` (skipping a 100 Continue when `interim`):
/// `Ok(None)` at the end of the stream, an error when the connection was reset.
async fn next_response(
    reader: &mut OwnedReadHalf,
    buf: &mut Vec<u8>,
    head_request: bool,
) -> std::io::Result<Option<HttpResponse>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((response, used)) = parse_response(buf, head_request, false) {
            buf.drain(..used);
            return Ok(Some(response));
        }
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            let (response, used) = parse_response(buf, head_request, true).unwrap_or_else(|| {
                panic!(
                    "a response cut short by the close: {:?}",
                    String::from_utf8_lossy(buf)
                )
            });
            buf.drain(..used);
            return Ok(Some(response));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The `data:` of each `message` event of an event stream.
fn message_events(body: &[u8]) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(body).expect("an event stream is text");
    let mut events = Vec::new();
    for event in text.split("\n\n") {
        let mut name = None;
        let mut data: Vec<&str> = Vec::new();
        for line in event.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = Some(v.trim());
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            } else {
                assert!(
                    line.starts_with(':') || line.is_empty(),
                    "a malformed event line {line:?}"
                );
            }
        }
        if !data.is_empty() {
            assert_eq!(name, Some("message"), "an event other than a message");
            events.push(data.join("\n").into_bytes());
        }
    }
    events
}

/// Checks a response against what its request is owed.
fn check_response(response: &HttpResponse, owed: &Owed, request: &[u8]) {
    let shown = || String::from_utf8_lossy(request).into_owned();
    assert_eq!(
        response.status,
        owed.status,
        "status for {:?}: {response:?}",
        shown()
    );
    let content_type = response.header("content-type").unwrap_or("");
    match response.status {
        101 => {
            assert!(response
                .header("upgrade")
                .is_some_and(|v| v.eq_ignore_ascii_case("websocket")));
            assert!(response.header("sec-websocket-accept").is_some());
        }
        405 => assert_eq!(response.header("allow"), Some("POST")),
        426 => assert_eq!(response.header("sec-websocket-version"), Some("13")),
        413 => {
            assert!(response.closes(), "a 413 without Connection: close");
            if !owed.head {
                match reply_of(&response.body) {
                    Reply::Single(id) => assert_eq!(id, Id::NULL.as_json()),
                    other => panic!("a 413 body {other:?}"),
                }
            }
        }
        _ => {}
    }
    let Some(rpc) = &owed.rpc else { return };
    if owed.events {
        assert_eq!(content_type, "text/event-stream", "for {:?}", shown());
        let events = message_events(&response.body);
        let replies: Vec<Reply> = events.iter().map(|e| reply_of(e)).collect();
        let want: Vec<Reply> = rpc.iter().cloned().collect();
        assert_eq!(
            normalized(want),
            normalized(replies),
            "events for {:?}",
            shown()
        );
    } else {
        match rpc {
            None => assert!(response.body.is_empty(), "a 202 with a body"),
            Some(want) => {
                assert_eq!(content_type, "application/json");
                let got = reply_of(&response.body);
                assert_eq!(
                    normalized(vec![want.clone()]),
                    normalized(vec![got]),
                    "the answer to {:?}",
                    shown()
                );
            }
        }
    }
}

/// Checks the HTTP server on requests read from arbitrary bytes; see the module docs.
pub fn http_request(data: &[u8]) {
    let mut inp = Input::new(data);
    let mut requests: Vec<(Vec<u8>, Owed)> = Vec::new();
    let mut wire = Vec::new();
    let mut tail = Vec::new();
    for index in 0..6 {
        if inp.is_empty() {
            break;
        }
        if inp.u8() % 8 == 7 {
            tail = malformed(&mut inp);
            // Sometimes well-formed requests after it too: they may or may not be
            // answered, depending on how the server reads the malformed bytes.
            if inp.u8().is_multiple_of(2) {
                let (more, _) = well_formed(&mut inp, 100, true);
                tail.extend_from_slice(&more);
            }
            break;
        }
        let (bytes, owed) = well_formed(&mut inp, index, false);
        wire.extend_from_slice(&bytes);
        let upgrades = owed.status == 101;
        requests.push((bytes, owed));
        if upgrades {
            // What follows is the WebSocket's.
            tail = inp.rest().to_vec();
            break;
        }
    }
    let h2 = requests.is_empty() && tail.starts_with(b"PRI");
    wire.extend_from_slice(&tail);
    let served = http_server();
    let addr = *served.addr.get().expect("the server's address");
    guarded(served, "HTTP", exchange_http(addr, wire, requests, h2));
}

async fn exchange_http(addr: SocketAddr, wire: Vec<u8>, requests: Vec<(Vec<u8>, Owed)>, h2: bool) {
    let stream = TcpStream::connect(addr).await.expect("a connection");
    let (mut reader, mut writer) = stream.into_split();
    let (done, shut) = tokio::sync::oneshot::channel::<()>();
    // Written all at once (pipelined); the write side stays open until every owed
    // response is in, since hyper takes a half-close for a client gone away.
    let writing = tokio::spawn(async move {
        let _ = writer.write_all(&wire).await;
        let _ = shut.await;
        let _ = writer.shutdown().await;
    });
    let mut buf = Vec::new();
    let mut ended = false;
    let mut upgraded = false;
    let mut may_close = false;
    for (request, owed) in &requests {
        let response = loop {
            match next_response(&mut reader, &mut buf, owed.head).await {
                Ok(Some(r)) if r.status == 100 => {
                    assert!(owed.expect_continue, "a 100 Continue nobody asked for");
                }
                Ok(response) => break response,
                Err(err) => {
                    assert!(
                        may_close,
                        "the connection failed with a response owed: {err}"
                    );
                    break None;
                }
            }
        };
        let Some(response) = response else {
            assert!(
                may_close,
                "the connection closed with a response owed to {:?}",
                String::from_utf8_lossy(request)
            );
            ended = true;
            break;
        };
        check_response(&response, owed, request);
        if response.status == 101 {
            upgraded = true;
            break;
        }
        if response.closes() {
            ended = true;
            // Nothing may follow the response that said so.
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest).await;
            assert!(
                buf.is_empty() && rest.is_empty(),
                "bytes after Connection: close"
            );
            break;
        }
        may_close = owed.may_close_after;
    }
    let _ = done.send(());
    if !ended {
        if upgraded || h2 {
            // WebSocket frames or HTTP/2: read to the close.
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest).await;
        } else {
            // Whatever the malformed part gets must still be well-formed responses
            // (up to an upgrade: WebSocket frames follow it).
            while let Ok(Some(response)) = next_response(&mut reader, &mut buf, false).await {
                if response.status == 101 {
                    let _ = reader.read_to_end(&mut Vec::new()).await;
                    break;
                }
            }
        }
    }
    writing.await.expect("the writer task");
}

// ---------------------------------------------------------------------------------------
// WebSocket messages
// ---------------------------------------------------------------------------------------

const OP_CONTINUATION: u8 = 0;
const OP_TEXT: u8 = 1;
const OP_BINARY: u8 = 2;
const OP_CLOSE: u8 = 8;
const OP_PING: u8 = 9;
const OP_PONG: u8 = 10;

/// A client frame: masked unless told otherwise.
fn ws_frame(
    out: &mut Vec<u8>,
    fin: bool,
    rsv: u8,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    out.push(u8::from(fin) << 7 | (rsv & 7) << 4 | (opcode & 15));
    let masked = u8::from(mask.is_some()) << 7;
    match payload.len() {
        n @ 0..=125 => out.push(masked | n as u8),
        n @ 126..=0xffff => {
            out.push(masked | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(masked | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
}

/// How the client's frames end.
#[derive(Debug, Clone, PartialEq)]
enum WsEnd {
    /// It reads every answer, then closes with 1000.
    Clean,
    /// It closes first, with this payload.
    Close(Vec<u8>),
    /// It breaks a rule: the server closes with one of these codes.
    Violation(&'static [u16]),
    /// Raw bytes: anything may follow.
    Garbage,
}

/// Whether a close code may be sent on the wire (RFC 6455 section 7.4).
fn allowed_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1013 | 3000..=4999)
}

/// The close code a server answers a client's close payload with (`None`: no code):
/// its own, or the code of its fault (1007 for a reason that is not UTF-8, 1002 for
/// the others).
fn close_reply(payload: &[u8]) -> Option<u16> {
    match payload {
        [] => None,
        [_] => Some(1002),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            // In the order tungstenite checks them: the frame's length, the reason's
            // text, the code.
            if payload.len() > 125 {
                Some(1002)
            } else if std::str::from_utf8(reason).is_err() {
                Some(1007)
            } else if !allowed_close_code(code) {
                Some(1002)
            } else {
                Some(code)
            }
        }
    }
}

const CLOSE_CODES: &[u16] = &[
    1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1011, 1012, 1014, 1015, 2999, 3000, 4999, 5000,
    0, 999,
];

/// Checks the server's WebSocket peer on frames read from arbitrary bytes; see the
/// module docs.
pub fn websocket_messages(data: &[u8]) {
    let mut inp = Input::new(data);
    let shape = inp.u8();
    let mask_key = {
        let k = inp.bytes(4);
        let mut key = [0x5a, 0x11, 0xc3, 0x07];
        key[..k.len()].copy_from_slice(k);
        key
    };
    let with_handshake = shape & 1 != 0;
    let mut wire = Vec::new();
    let mut owed: Vec<Reply> = Vec::new();
    let mut pings: Vec<Vec<u8>> = Vec::new();
    let mut end = WsEnd::Clean;
    let limits = ServerConfig::default().connection.parse_limits;
    for index in 0..12 {
        if inp.is_empty() {
            break;
        }
        match inp.u8() % 16 {
            0..=4 => {
                let frame = ws_message(&mut inp, index);
                owed.extend(expected_reply(&frame, limits));
                ws_frame(
                    &mut wire,
                    true,
                    0,
                    data_opcode(&frame),
                    &frame,
                    Some(mask_key),
                );
            }
            5 => {
                let frame = ws_message(&mut inp, index);
                owed.extend(expected_reply(&frame, limits));
                ws_frame(&mut wire, true, 0, OP_BINARY, &frame, Some(mask_key));
            }
            6 | 7 => {
                // Fragments, with control frames between them.
                let frame = ws_message(&mut inp, index);
                owed.extend(expected_reply(&frame, limits));
                let opcode = if inp.u8().is_multiple_of(4) {
                    OP_BINARY
                } else {
                    data_opcode(&frame)
                };
                let mut rest = &frame[..];
                let mut first = true;
                loop {
                    let n = (1 + usize::from(inp.u8() % 32)).min(rest.len());
                    let last = n == rest.len();
                    let op = if first { opcode } else { OP_CONTINUATION };
                    ws_frame(&mut wire, last, 0, op, &rest[..n], Some(mask_key));
                    rest = &rest[n..];
                    first = false;
                    if last {
                        break;
                    }
                    if inp.u8().is_multiple_of(4) {
                        let payload = inp.bytes_upto(8).to_vec();
                        ws_frame(&mut wire, true, 0, OP_PING, &payload, Some(mask_key));
                        pings.push(payload);
                    }
                }
            }
            8 => {
                let payload = inp.bytes_upto(126).to_vec();
                ws_frame(&mut wire, true, 0, OP_PING, &payload, Some(mask_key));
                pings.push(payload);
            }
            9 => {
                let payload = inp.bytes_upto(16).to_vec();
                ws_frame(&mut wire, true, 0, OP_PONG, &payload, Some(mask_key));
            }
            10 => {
                let mut payload = Vec::new();
                let pick = inp.u8();
                if !pick.is_multiple_of(8) {
                    payload.extend_from_slice(
                        &CLOSE_CODES[usize::from(pick / 8) % CLOSE_CODES.len()].to_be_bytes(),
                    );
                    let reason = inp.bytes_upto(16);
                    payload.extend_from_slice(reason);
                    if pick % 8 == 1 {
                        payload.truncate(1);
                    }
                }
                ws_frame(&mut wire, true, 0, OP_CLOSE, &payload, Some(mask_key));
                end = WsEnd::Close(payload);
                break;
            }
            11 | 12 => {
                // A rule broken.
                let frame = ws_message(&mut inp, index);
                let codes: &'static [u16] = &[1002];
                match inp.u8() % 8 {
                    0 => ws_frame(&mut wire, true, 0, OP_TEXT, &frame, None),
                    1 => ws_frame(
                        &mut wire,
                        true,
                        1 + inp.u8() % 7,
                        OP_TEXT,
                        &frame,
                        Some(mask_key),
                    ),
                    2 => ws_frame(&mut wire, true, 0, 3 + inp.u8() % 5, &frame, Some(mask_key)),
                    3 => ws_frame(&mut wire, true, 0, OP_CONTINUATION, &frame, Some(mask_key)),
                    4 => ws_frame(&mut wire, false, 0, OP_PING, b"", Some(mask_key)),
                    5 => ws_frame(&mut wire, true, 0, OP_PING, &[7; 126], Some(mask_key)),
                    6 => {
                        // A data frame inside a fragmented message.
                        ws_frame(&mut wire, false, 0, OP_TEXT, b"[", Some(mask_key));
                        ws_frame(&mut wire, true, 0, OP_TEXT, &frame, Some(mask_key));
                    }
                    _ => {
                        let mut bad = frame.clone();
                        bad.extend_from_slice(&[0xc3, 0x28]);
                        ws_frame(&mut wire, true, 0, OP_TEXT, &bad, Some(mask_key));
                        end = WsEnd::Violation(&[1007]);
                        break;
                    }
                }
                end = WsEnd::Violation(codes);
                break;
            }
            13 => {
                // Over the message limit, whole or in fragments.
                let mut frame = ws_message(&mut inp, index);
                frame.resize(MAX_MESSAGE + 1 + usize::from(inp.u8()), b' ');
                let opcode = data_opcode(&frame);
                if inp.u8().is_multiple_of(2) {
                    ws_frame(&mut wire, true, 0, opcode, &frame, Some(mask_key));
                } else {
                    let half = frame.len() / 2;
                    ws_frame(&mut wire, false, 0, opcode, &frame[..half], Some(mask_key));
                    ws_frame(
                        &mut wire,
                        true,
                        0,
                        OP_CONTINUATION,
                        &frame[half..],
                        Some(mask_key),
                    );
                }
                end = WsEnd::Violation(&[1009]);
                break;
            }
            14 => {
                wire.extend_from_slice(&raw_line(&mut inp, 64));
                end = WsEnd::Garbage;
                break;
            }
            _ => {
                // An empty text message, then an empty binary one.
                owed.extend(expected_reply(b"", limits));
                ws_frame(&mut wire, true, 0, OP_TEXT, b"", Some(mask_key));
                owed.extend(expected_reply(b"", limits));
                ws_frame(&mut wire, true, 0, OP_BINARY, b"", Some(mask_key));
            }
        }
    }
    if end != WsEnd::Clean && shape & 2 != 0 {
        // Bytes after the end, which the server must not read as frames.
        wire.extend_from_slice(inp.rest());
    }
    let served = ws_server();
    let addr = *served.addr.get().expect("the server's address");
    guarded(
        served,
        "WebSocket",
        exchange_ws(addr, with_handshake, wire, owed, pings, end, mask_key),
    );
}

/// Text for UTF-8 (a text message of anything else breaks the rules), binary
/// otherwise.
fn data_opcode(frame: &[u8]) -> u8 {
    if std::str::from_utf8(frame).is_ok() {
        OP_TEXT
    } else {
        OP_BINARY
    }
}

/// A message's content: nothing, raw bytes, or JSON-RPC.
fn ws_message(inp: &mut Input<'_>, index: usize) -> Vec<u8> {
    let mut frame = Vec::new();
    match inp.u8() % 8 {
        0 => {}
        1 => frame.extend_from_slice(&raw_line(inp, 64)),
        _ => rpc_frame(inp, index, &mut frame),
    }
    frame
}

/// A server frame: opcode and payload.
fn next_server_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let [b0, b1, ..] = *buf else { return None };
    assert!(b0 & 0x80 != 0, "a fragmented server frame");
    assert!(b0 & 0x70 == 0, "a server frame with reserved bits");
    assert!(b1 & 0x80 == 0, "a masked server frame");
    let (len, mut at) = match b1 & 0x7f {
        126 => (
            usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => (
            usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?))
                .expect("a length"),
            10,
        ),
        n => (usize::from(n), 2),
    };
    let payload = buf.get(at..at + len)?.to_vec();
    at += len;
    Some((b0 & 0x0f, payload, at))
}

async fn exchange_ws(
    addr: SocketAddr,
    with_handshake: bool,
    frames: Vec<u8>,
    owed: Vec<Reply>,
    pings: Vec<Vec<u8>>,
    end: WsEnd,
    mask_key: [u8; 4],
) {
    let stream = TcpStream::connect(addr).await.expect("a connection");
    let (mut reader, mut writer) = stream.into_split();
    let handshake = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    if with_handshake {
        // The frames right behind the request, in the bytes hyper reads with it.
        let mut all = handshake.to_vec();
        all.extend_from_slice(&frames);
        writer.write_all(&all).await.expect("the frames are sent");
    } else {
        writer
            .write_all(handshake)
            .await
            .expect("the upgrade is sent");
    }
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at + 4;
        }
        let n = reader
            .read(&mut chunk)
            .await
            .expect("the upgrade is answered");
        assert!(n > 0, "the upgrade is answered");
        buf.extend_from_slice(&chunk[..n]);
    };
    assert!(
        buf.starts_with(b"HTTP/1.1 101 "),
        "the upgrade: {:?}",
        String::from_utf8_lossy(&buf)
    );
    buf.drain(..head_end);
    if !with_handshake {
        // Over an upgraded connection the frames may be refused: nothing to learn
        // from a failed write, what is read says it.
        let _ = writer.write_all(&frames).await;
    }

    if end == WsEnd::Garbage {
        // The server may be waiting for the rest of a frame the bytes began.
        let _ = writer.shutdown().await;
    }
    let mut remaining: HashMap<Reply, usize> = HashMap::new();
    // A batch's answers may come in any order.
    let unordered = |reply: Reply| match reply {
        Reply::Batch(ids) => Reply::Batch(sorted(ids)),
        single => single,
    };
    for reply in &owed {
        *remaining.entry(unordered(reply.clone())).or_default() += 1;
    }
    let mut outstanding = owed.len();
    let mut pongs = 0;
    let mut sent_close = false;
    let mut close_code: Option<Option<u16>> = None;
    loop {
        if end == WsEnd::Clean && outstanding == 0 && !sent_close {
            let mut close = Vec::new();
            ws_frame(
                &mut close,
                true,
                0,
                OP_CLOSE,
                &1000u16.to_be_bytes(),
                Some(mask_key),
            );
            writer.write_all(&close).await.expect("the close is sent");
            sent_close = true;
        }
        if let Some((opcode, payload, used)) = next_server_frame(&buf) {
            buf.drain(..used);
            assert!(close_code.is_none(), "a frame after the server's close");
            match opcode {
                OP_TEXT => {
                    let reply = unordered(reply_of(&payload));
                    if end != WsEnd::Garbage {
                        let left = remaining.get_mut(&reply).unwrap_or_else(|| {
                            panic!(
                                "an answer nobody is owed: {}",
                                String::from_utf8_lossy(&payload)
                            )
                        });
                        assert!(*left > 0, "answered twice: {reply:?}");
                        *left -= 1;
                        outstanding -= 1;
                    }
                }
                OP_PONG => {
                    pongs += 1;
                    if end != WsEnd::Garbage {
                        assert!(pings.contains(&payload), "a pong for no ping");
                    }
                }
                OP_CLOSE => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    assert!(
                        std::str::from_utf8(payload.get(2..).unwrap_or(&[])).is_ok(),
                        "a close reason that is not text"
                    );
                    close_code = Some(code);
                    if !sent_close {
                        let mut close = Vec::new();
                        ws_frame(
                            &mut close,
                            true,
                            0,
                            OP_CLOSE,
                            &payload[..payload.len().min(2)],
                            Some(mask_key),
                        );
                        let _ = writer.write_all(&close).await;
                        sent_close = true;
                    }
                    let _ = writer.shutdown().await;
                }
                other => panic!("a server frame of opcode {other}"),
            }
            continue;
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    assert!(
        buf.is_empty() || end == WsEnd::Garbage,
        "a server frame cut short"
    );
    assert!(pongs <= pings.len(), "more pongs than pings");
    if end == WsEnd::Garbage {
        return;
    }
    let code = close_code.expect("the server sends a close frame before closing");
    match &end {
        WsEnd::Clean => {
            assert_eq!(outstanding, 0, "calls left unanswered: {remaining:?}");
            assert_eq!(code, Some(1000), "the close echoed");
        }
        WsEnd::Violation(codes) => {
            assert_eq!(
                outstanding, 0,
                "calls left unanswered before the close: {remaining:?}"
            );
            let code = code.expect("a close code");
            assert!(
                codes.contains(&code),
                "close code {code}, expected one of {codes:?}"
            );
        }
        WsEnd::Close(payload) => assert_eq!(code, close_reply(payload), "the close answered"),
        WsEnd::Garbage => unreachable!(),
    }
}
