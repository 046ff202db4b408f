//! Replays fuzz inputs through the checks of the cargo-fuzz targets (`fuzz/`), so that
//! `cargo test` keeps what the fuzzers found fixed without a nightly toolchain.
//!
//! The checks are `fuzz/src/checks.rs` and `fuzz/src/web_checks.rs` themselves, included here, so a stored input runs
//! exactly as it did under libFuzzer. Each target replays every file of
//! `tests/fuzz_corpus/<target>/`: a few dozen inputs picked from the minimized fuzz
//! corpus, plus the inputs that once failed (named `crash-*`). The bugs those found also
//! have plain tests below that say what went wrong.

use bytes::{Bytes, BytesMut};
use rpc::framing::{ContentLengthCodec, FrameError, NdjsonCodec};
use tokio_util::codec::Decoder;

// The generated client of the checks' service is not used by the replay.
#[allow(dead_code)]
#[path = "../fuzz/src/checks.rs"]
mod checks;
#[path = "../fuzz/src/web_checks.rs"]
mod web_checks;

/// Runs every stored input of `target` through `check`, naming the input that fails.
fn replay(target: &str, check: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus")
        .join(target);
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a corpus entry").path())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no inputs in {}", dir.display());
    for path in paths {
        let data = std::fs::read(&path).expect("a corpus file");
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{} fails the {target} checks", path.display());
        }
    }
}

/// The newline-delimited decoder: same frames however the stream is cut, bounded
/// buffer, progress on every call.
#[test]
fn ndjson_decoder_corpus() {
    replay("ndjson_decoder", checks::ndjson_decoder);
}

/// The `Content-Length` decoder: same properties as the newline-delimited one.
#[test]
fn content_length_decoder_corpus() {
    replay("content_length_decoder", checks::content_length_decoder);
}

/// The parser: no panic, accepted messages survive re-encoding, refusals answer well.
#[test]
fn message_parser_corpus() {
    replay("message_parser", checks::message_parser);
}

/// A generated server: one well-formed response per request, with its id.
#[test]
fn dispatch_corpus() {
    replay("dispatch", checks::dispatch);
}

/// A client fed garbage responses: calls resolve once, nothing left pending, the
/// connection survives.
#[test]
fn client_responses_corpus() {
    replay("client_responses", checks::client_responses);
}

/// The HTTP server: one well-formed response per well-formed request, in order, with
/// the status its rules give and a well-formed JSON-RPC answer; only well-formed
/// responses after malformed bytes; nothing left on the server.
#[test]
fn http_request_corpus() {
    replay("http_request", web_checks::http_request);
}

/// The server's WebSocket peer: one answer per call, a pong per ping, the close
/// code the rules give; nothing left on the server.
#[test]
fn websocket_messages_corpus() {
    replay("websocket_messages", web_checks::websocket_messages);
}

/// What a decoder produced from a stream, errors reduced to "too large".
fn decode_all<D>(mut codec: D, stream: &[u8], chunk: usize) -> Vec<Result<Bytes, bool>>
where
    D: Decoder<Item = Bytes, Error = FrameError>,
{
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        loop {
            match codec.decode(&mut buf) {
                Ok(Some(frame)) => out.push(Ok(frame)),
                Ok(None) => break,
                Err(err) => out.push(Err(err.is_too_large())),
            }
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => out.push(Ok(frame)),
            Ok(None) => break,
            Err(err) => out.push(Err(err.is_too_large())),
        }
    }
    out
}

/// Found by `ndjson_decoder` (crash-810bab04): white space before a frame counted
/// against the limit while the line was unterminated, so a frame within the limit was
/// refused when its line arrived in pieces but accepted when it arrived whole.
#[test]
fn ndjson_leading_white_space_does_not_count_against_the_limit() {
    let stream = b"\t\t\n  \t abc\r\n";
    for chunk in [1, 2, 3, stream.len()] {
        let frames = decode_all(NdjsonCodec::with_max_frame_len(3), stream, chunk);
        assert_eq!(
            frames,
            [Ok(Bytes::from_static(b"abc"))],
            "chunks of {chunk}"
        );
    }
    checks::ndjson_decoder(&[112, 65, 0, 9, 9, 10, 38, 32, 9, 10, 38, 32, 0]);
}

/// The same bug at the other end of the line: white space after the content is not
/// part of the frame, however much of it arrives before the newline; but content
/// after it makes the frame too large, and the next frame still decodes.
#[test]
fn ndjson_trailing_white_space_does_not_count_against_the_limit() {
    let mut stream = b"abc".to_vec();
    stream.extend_from_slice(&[b' '; 100]);
    stream.extend_from_slice(b"\r\nab");
    stream.extend_from_slice(&[b'\t'; 50]);
    stream.extend_from_slice(b"x\nok\n");
    for chunk in [1, 2, 7, stream.len()] {
        let frames = decode_all(NdjsonCodec::with_max_frame_len(3), &stream, chunk);
        assert_eq!(
            frames,
            [
                Ok(Bytes::from_static(b"abc")),
                Err(true),
                Ok(Bytes::from_static(b"ok"))
            ],
            "chunks of {chunk}"
        );
    }
}

/// Found by `content_length_decoder`: with the header limit reached exactly, a `\r`
/// that starts the blank line ending the block was refused as "header block too long"
/// when it arrived on its own, though the whole block is accepted at once.
#[test]
fn content_length_blank_line_at_the_header_limit() {
    let stream = b"Content-Length: 2\r\n\r\nhi";
    let header_line = b"Content-Length: 2\r\n".len();
    for chunk in [1, 2, stream.len()] {
        let codec = ContentLengthCodec::with_max_frame_len(64).max_header_len(header_line);
        let frames = decode_all(codec, stream, chunk);
        assert_eq!(frames, [Ok(Bytes::from_static(b"hi"))], "chunks of {chunk}");
    }
    let mut input = vec![10u8, 10, 246, 255, 255, 44, 10, 10, 10, 10, 10, 10];
    input.extend_from_slice(&[b'\n'; 100]);
    input.extend_from_slice(b"\r\n\n\n\n");
    checks::content_length_decoder(&input);
}

/// Found by `websocket_messages` (crash-778b654a, crash-a91ddd23): a client's close
/// that came in while answers were on their way (here a call and then, in the same
/// write, a close with 1001) left the connection dropped with no close frame: the
/// answer failed to send after the close, the writer stopped at that error, and
/// tungstenite's reply to the close was never flushed. The server must echo the
/// close (1001) before closing the connection.
#[test]
fn websocket_close_while_answers_are_on_their_way() {
    web_checks::websocket_messages(&[
        0, 0, 3, 0, 0, 0, 2, 0, 1, 1, 13, 10, 13, 13, 10, 13, 10, 1, 202, 154, 59, 0,
    ]);
    web_checks::websocket_messages(&[
        0, 0, 0, 2, 0, 0, 0, 0, 0, 10, 0, 1, 0, 0, 0, 2, 0, 1, 5, 0, 5, 0,
    ]);
}

/// A text message that is not UTF-8, and a close whose reason is not, close the
/// WebSocket with 1007 (RFC 6455 section 7.4.1: data inconsistent with the
/// message's type), where they had the 1002 of any protocol error.
#[test]
fn websocket_text_that_is_not_utf8_closes_with_1007() {
    // A call's text with two bytes that are not UTF-8 after it.
    web_checks::websocket_messages(&[0, 1, 2, 3, 4, 11, 2, 0, 1, 0, 0, 7]);
    // A close, 1000, with the reason [0xff].
    web_checks::websocket_messages(&[0, 1, 2, 3, 4, 10, 2, 1, 255]);
}
