//! Error messages quote received input with a bound: a huge string in the params, a
//! huge method name or a huge invalid member draws an error of a few hundred bytes
//! that still says what was wrong, not one as large as (or larger than) the input.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rpc::framing::{ContentLengthCodec, FrameError, Framing};
use rpc::message::{bound_message, parse, RpcError, MAX_MESSAGE_LEN};
use rpc::prelude::*;
use rpc::transport::{memory, Connection, FrameReader, FrameWriter};
use serde_json::Value;
use tokio::io::DuplexStream;
use tokio::time::timeout;
use tokio_util::codec::Decoder;

const LIMIT: Duration = Duration::from_secs(30);

/// What an error response may weigh, envelope and all.
const SMALL: usize = 1024;

/// A frame limit that lets the huge inputs through, so that the server answers them.
const BIG_FRAME: usize = 16 << 20;

#[rpc_service]
trait Numbers {
    async fn double(&self, n: i64) -> i64;
}

struct Doubler;

impl Numbers for Doubler {
    async fn double(&self, n: i64) -> i64 {
        n.saturating_mul(2)
    }
}

fn router() -> Router {
    Router::new().method(MethodInfo::new("double"), |call| async move {
        let (n,): (i64,) = call.decode_params()?;
        call.respond(&n.saturating_mul(2))
    })
}

/// A JSON string of about 3 MB, all `\u0041` escapes: 500,000 `A`s once decoded.
fn escaped_string() -> String {
    let mut text = String::with_capacity(3_000_002);
    text.push('"');
    for _ in 0..500_000 {
        text.push_str("\\u0041");
    }
    text.push('"');
    text
}

/// A raw connection to talk to a server frame by frame.
struct Raw {
    reader: FrameReader<DuplexStream>,
    writer: FrameWriter<DuplexStream>,
}

impl Raw {
    async fn send(&mut self, text: String) {
        timeout(LIMIT, self.writer.send(Bytes::from(text)))
            .await
            .expect("the frame is written in time")
            .unwrap();
    }

    /// The next frame, raw.
    async fn recv(&mut self) -> Bytes {
        timeout(LIMIT, self.reader.next_frame())
            .await
            .expect("an answer in time")
            .expect("the connection is open")
            .unwrap()
    }

    /// Sends `text` and returns the error response, checking that it is small.
    async fn error_for(&mut self, text: String) -> Value {
        self.send(text).await;
        let frame = self.recv().await;
        assert!(
            frame.len() < SMALL,
            "an error response of {} bytes: {}",
            frame.len(),
            String::from_utf8_lossy(&frame[..frame.len().min(400)])
        );
        let reply: Value = serde_json::from_slice(&frame).unwrap();
        let errors = reply.as_array().map_or(1, Vec::len);
        let all_errors = match reply.as_array() {
            Some(batch) => batch.iter().all(|e| e["error"].is_object()),
            None => reply["error"].is_object(),
        };
        assert!(errors > 0 && all_errors, "not an error: {reply}");
        reply
    }
}

fn serve(server: &Server, max_frame_len: usize) -> Raw {
    let (ours, theirs) = memory::pair(Framing::Ndjson.codec(max_frame_len), 1 << 16);
    server.serve_connection(theirs);
    let Connection { reader, writer } = ours;
    Raw { reader, writer }
}

fn message(reply: &Value) -> &str {
    reply["error"]["message"].as_str().unwrap()
}

/// The checks every bounded serde message passes: what was wrong is at the start,
/// what was expected at the end, and the cut is marked.
fn assert_bounded_i64_message(message: &str, prefix: &str) {
    assert!(message.len() <= MAX_MESSAGE_LEN, "{message}");
    assert!(
        message.starts_with(&format!("{prefix}invalid type: string \"AAAA")),
        "{message}"
    );
    assert!(message.contains("bytes cut)"), "{message}");
    assert!(message.ends_with("\", expected i64"), "{message}");
}

#[tokio::test]
async fn macro_params_decoder_quotes_a_bounded_part_of_a_huge_escaped_string() {
    let big = escaped_string();
    // Unbounded, serde's message would quote all 500,000 characters.
    let unbounded = serde_json::from_str::<i64>(&big).unwrap_err().to_string();
    assert!(unbounded.len() > 500_000, "{}", unbounded.len());

    let server = Server::new(NumbersServer::new(Doubler));
    let mut raw = serve(&server, rpc::framing::DEFAULT_MAX_FRAME_LEN);

    for (id, params) in [(1, format!("[{big}]")), (2, format!(r#"{{"n":{big}}}"#))] {
        let reply = raw
            .error_for(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"double","params":{params}}}"#
            ))
            .await;
        assert_eq!(reply["id"], id);
        assert_eq!(reply["error"]["code"], -32602);
        assert_bounded_i64_message(message(&reply), "invalid params: parameter `n`: ");
    }

    // Escapes that serde's quote escapes again (`"` and `\`), and the JSON encoding of
    // the message once more: unbounded, 3 MB of them made a 6 MB error.
    for escape in ["\\\"", "\\\\"] {
        let big = format!("\"{}\"", escape.repeat(1_500_000));
        let reply = raw
            .error_for(format!(
                r#"{{"jsonrpc":"2.0","id":5,"method":"double","params":[{big}]}}"#
            ))
            .await;
        assert_eq!(reply["error"]["code"], -32602);
        let text = message(&reply);
        assert!(text.len() <= MAX_MESSAGE_LEN, "{text}");
        assert!(
            text.starts_with("invalid params: parameter `n`: invalid type: string \"\\"),
            "{text}"
        );
        assert!(text.ends_with("\", expected i64"), "{text}");
    }

    // The connection goes on, and small errors are as they were.
    let reply = raw
        .error_for(r#"{"jsonrpc":"2.0","id":3,"method":"double","params":["two"]}"#.into())
        .await;
    assert_eq!(
        message(&reply),
        "invalid params: parameter `n`: invalid type: string \"two\", expected i64"
    );
    raw.send(r#"{"jsonrpc":"2.0","id":4,"method":"double","params":[21]}"#.into())
        .await;
    let reply: Value = serde_json::from_slice(&raw.recv().await).unwrap();
    assert_eq!(reply["result"], 42);
}

#[tokio::test]
async fn router_decode_params_quotes_a_bounded_part_of_a_huge_escaped_string() {
    let big = escaped_string();
    let server = Server::new(router());
    let mut raw = serve(&server, rpc::framing::DEFAULT_MAX_FRAME_LEN);
    let reply = raw
        .error_for(format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"double","params":[{big}]}}"#
        ))
        .await;
    assert_eq!(reply["error"]["code"], -32602);
    // decode_params leaves serde's position in.
    let message = message(&reply);
    let message = message.rsplit_once(" at line ").map_or(message, |(m, _)| m);
    assert_bounded_i64_message(message, "invalid params: ");
}

#[test]
fn invalid_params_from_bounds_a_serde_message() {
    let err = serde_json::from_str::<(i64,)>(&format!("[{}]", escaped_string())).unwrap_err();
    let err = RpcError::invalid_params_from(err);
    assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
    assert!(err.message.len() <= MAX_MESSAGE_LEN, "{}", err.message);
    assert!(err
        .message
        .starts_with("invalid params: invalid type: string \"AAAA"));
    assert!(err.message.contains("bytes cut)"));
    assert!(err.message.contains("expected i64"), "{}", err.message);

    let err = serde_json::from_str::<(i64,)>(r#"["x"]"#).unwrap_err();
    assert_eq!(
        RpcError::invalid_params_from(err).message,
        "invalid params: invalid type: string \"x\", expected i64 at line 1 column 4"
    );
}

#[tokio::test]
async fn unknown_method_with_a_4_mib_name_is_named_by_a_short_prefix() {
    let name = "m".repeat(4 << 20);
    for server in [
        Server::new(NumbersServer::new(Doubler)),
        Server::new(router()),
    ] {
        let mut raw = serve(&server, BIG_FRAME);
        let reply = raw
            .error_for(format!(r#"{{"jsonrpc":"2.0","id":"x","method":"{name}"}}"#))
            .await;
        assert_eq!(reply["id"], "x");
        assert_eq!(reply["error"]["code"], -32601);
        let text = message(&reply);
        assert!(text.starts_with("Method not found: mmmm"), "{text}");
        assert!(text.contains("bytes cut)"), "{text}");
        assert!(text.len() <= "Method not found: ".len() + 64, "{text}");

        // Short names are quoted whole, as before.
        let reply = raw
            .error_for(r#"{"jsonrpc":"2.0","id":1,"method":"nope"}"#.into())
            .await;
        assert_eq!(message(&reply), "Method not found: nope");
    }
}

#[tokio::test]
async fn huge_invalid_jsonrpc_or_id_draws_a_short_invalid_request() {
    let big = escaped_string();
    let server = Server::new(NumbersServer::new(Doubler));
    let mut raw = serve(&server, BIG_FRAME);

    let padded = format!("\"2.0{}\"", "0".repeat(3_000_000));
    for jsonrpc in [big.clone(), format!("[{big}]"), padded] {
        let reply = raw
            .error_for(format!(
                r#"{{"jsonrpc":{jsonrpc},"id":1,"method":"double","params":[1]}}"#
            ))
            .await;
        assert_eq!(reply["id"], 1);
        assert_eq!(reply["error"]["code"], -32600);
        assert_eq!(message(&reply), "jsonrpc must be exactly \"2.0\"");
    }

    for id in [format!("[{big}]"), format!(r#"{{"k":{big}}}"#)] {
        let reply = raw
            .error_for(format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"double","params":[1]}}"#
            ))
            .await;
        assert_eq!(reply["id"], Value::Null);
        assert_eq!(reply["error"]["code"], -32600);
        assert_eq!(message(&reply), "id must be a string, a number or null");
    }

    // A huge method that is not a string, and huge params of the wrong shape.
    let reply = raw
        .error_for(format!(r#"{{"jsonrpc":"2.0","id":2,"method":[{big}]}}"#))
        .await;
    assert_eq!(message(&reply), "method must be a string");
    let reply = raw
        .error_for(format!(
            r#"{{"jsonrpc":"2.0","id":3,"method":"double","params":{big}}}"#
        ))
        .await;
    assert_eq!(message(&reply), "params must be an array or an object");
}

#[tokio::test]
async fn huge_malformed_frames_draw_short_parse_errors() {
    let big = escaped_string();
    let server = Server::new(NumbersServer::new(Doubler));
    let mut raw = serve(&server, BIG_FRAME);

    let frames = [
        // Cut off after a huge string.
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"double","params":[{big}"#),
        // A bad escape at the end of a huge string.
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":{}\q"}}"#,
            &big[..big.len() - 1]
        ),
        // A duplicated member after a huge one.
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":{big},"method":"double"}}"#),
        // A huge batch element that is not an object, and a broken batch.
        format!("[{big}]"),
        format!("[{big},"),
    ];
    for frame in frames {
        let reply = raw.error_for(frame).await;
        let errors = match reply.as_array() {
            Some(batch) => batch.clone(),
            None => vec![reply],
        };
        for error in errors {
            let code = error["error"]["code"].as_i64().unwrap();
            assert!(code == -32700 || code == -32600, "{error}");
            assert!(message(&error).len() <= MAX_MESSAGE_LEN, "{error}");
        }
    }
}

#[test]
fn parse_reasons_stay_short_for_huge_frames() {
    let big = escaped_string();
    for frame in [
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":{big},"method":"double"}}"#),
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"double","params":[{big}"#),
        format!(r#"{big} {big}"#),
    ] {
        let invalid = parse(frame.as_bytes()).unwrap_err();
        assert!(
            invalid.reason.len() <= MAX_MESSAGE_LEN,
            "{}",
            invalid.reason
        );
    }
}

#[test]
fn content_length_header_errors_quote_a_short_prefix() {
    let line = "x".repeat(1 << 20);
    let mut codec = ContentLengthCodec::new().max_header_len(4 << 20);
    let mut buf = BytesMut::from(format!("{line}\r\n\r\n{{}}").as_bytes());
    let Err(FrameError::Malformed(message)) = codec.decode(&mut buf) else {
        panic!("a header line without a colon is malformed");
    };
    assert!(
        message.starts_with("header line without a colon: \"xxxx"),
        "{message}"
    );
    assert!(message.contains("bytes cut)"), "{message}");
    assert!(message.len() < 128, "{message}");

    let mut codec = ContentLengthCodec::new().max_header_len(4 << 20);
    let mut buf = BytesMut::from(format!("Content-Length: 1{line}z\r\n\r\n{{}}").as_bytes());
    let Err(FrameError::Malformed(message)) = codec.decode(&mut buf) else {
        panic!("a bad length is malformed");
    };
    assert!(
        message.starts_with("Content-Length is not a length: \"1xxx"),
        "{message}"
    );
    assert!(message.ends_with("xxz\""), "{message}");
    assert!(message.len() < 128, "{message}");
}

#[test]
fn bound_message_cuts_at_char_boundaries_and_says_so() {
    assert_eq!(
        bound_message("Method not found: x", 64),
        "Method not found: x"
    );
    let text = "é".repeat(10_000);
    let cut = bound_message(text.as_str(), 100);
    assert!(cut.len() <= 100);
    assert!(cut.starts_with("éé") && cut.ends_with("éé"), "{cut}");
    let (head, rest) = cut.split_once('…').unwrap();
    let (marker, tail) = rest.split_once('…').unwrap();
    let cut_bytes: usize = marker
        .strip_prefix('(')
        .and_then(|m| m.strip_suffix(" bytes cut)"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(head.len() + cut_bytes + tail.len(), text.len());
}

#[tokio::test]
async fn an_error_answer_larger_than_the_frame_limit_is_replaced_by_one_that_fits() {
    // A handler's own error can be anything; the answer must still fit in a frame the
    // other end (with the same default limits) will read.
    let router = Router::new()
        .method(MethodInfo::new("long_message"), |_call| async move {
            Err(RpcError::new(ErrorCode(-32050), "x".repeat(5 << 20)))
        })
        .method(MethodInfo::new("big_data"), |_call| async move {
            Err(RpcError::new(ErrorCode(-32051), "too much detail").with_data(&"d".repeat(5 << 20)))
        });
    let server = Server::new(router);
    let mut raw = serve(&server, 4 << 20);
    for (method, code) in [("long_message", -32050), ("big_data", -32051)] {
        let reply = raw
            .error_for(format!(r#"{{"jsonrpc":"2.0","method":"{method}","id":7}}"#))
            .await;
        assert_eq!(reply["id"], 7);
        assert_eq!(reply["error"]["code"], code);
        assert!(reply["error"].get("data").is_none());
        assert!(
            message(&reply).contains("over the frame limit of 4194304 bytes"),
            "{reply}"
        );
    }
}
