//! Streaming framing: both decoders against arbitrary read boundaries, their limits, and
//! their encoders.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use rpc::framing::{ContentLengthCodec, FrameCodec, FrameError, Framing, NdjsonCodec};
use rpc::transport::FrameReader;
use tokio::io::{AsyncRead, ReadBuf};
use tokio_util::codec::{Decoder, Encoder};

/// A small deterministic PRNG, so every run cuts the streams at the same places.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is a fixed point of xorshift.
        XorShift(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }
}

/// Picks the size of the next chunk fed to a decoder.
type ChunkLen = Box<dyn FnMut() -> usize>;

const SEEDS: [u64; 5] = [1, 7, 0x2545_f491_4f6c_dd1d, 0xdead_beef, 424_242];

/// Frames of varied sizes: tiny, one byte, several KiB, and JSON with escapes. None
/// starts or ends with white space, so newline-delimited framing keeps them as they are.
fn sample_frames(seed: u64) -> Vec<Bytes> {
    let mut rng = XorShift::new(seed);
    let mut frames: Vec<Bytes> = vec![
        Bytes::from_static(b"1"),
        Bytes::from_static(b"{}"),
        Bytes::from_static(b"[]"),
        Bytes::from_static(br#""""#),
        Bytes::from(
            serde_json::to_vec(&serde_json::json!({
                "text": "line one\nline two\r\n\ttab \"quoted\" back\\slash \u{e9}\u{1f600} \u{0}",
            }))
            .unwrap(),
        ),
    ];
    const ALPHABET: &[char] = &[
        'a', 'b', 'z', ' ', '\n', '\r', '\t', '"', '\\', '/', '{', '}', ':', '\u{e9}', '\u{2028}',
    ];
    for id in 0..120 {
        let len = match rng.range(0, 9) {
            0 => rng.range(1024, 9 * 1024),
            1 => rng.range(100, 1000),
            _ => rng.range(0, 24),
        };
        let text: String = (0..len)
            .map(|_| ALPHABET[rng.range(0, ALPHABET.len() - 1)])
            .collect();
        let value =
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "echo", "params": [text]});
        frames.push(Bytes::from(serde_json::to_vec(&value).unwrap()));
    }
    frames
}

fn encode_all<C>(codec: &mut C, frames: &[Bytes]) -> BytesMut
where
    C: for<'a> Encoder<&'a [u8], Error = FrameError>,
{
    let mut wire = BytesMut::new();
    for frame in frames {
        codec.encode(&frame[..], &mut wire).unwrap();
    }
    wire
}

/// Feeds `wire` to `codec` in chunks of the sizes `chunk_len` picks, decoding after every
/// chunk and at the end of the stream.
fn decode_in_chunks<C>(
    codec: &mut C,
    wire: &[u8],
    mut chunk_len: impl FnMut() -> usize,
) -> Result<Vec<Bytes>, FrameError>
where
    C: Decoder<Item = Bytes, Error = FrameError>,
{
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(chunk_len().clamp(1, rest.len()));
        rest = tail;
        buf.extend_from_slice(chunk);
        while let Some(frame) = codec.decode(&mut buf)? {
            frames.push(frame);
        }
    }
    while let Some(frame) = codec.decode_eof(&mut buf)? {
        frames.push(frame);
    }
    Ok(frames)
}

/// Every seed, cut three ways: chunks of up to a few KiB, chunks of up to 16 bytes, and
/// single bytes.
fn assert_same_frames_however_cut<C>(new_codec: impl Fn() -> C)
where
    C: Decoder<Item = Bytes, Error = FrameError> + for<'a> Encoder<&'a [u8], Error = FrameError>,
{
    for seed in SEEDS {
        let frames = sample_frames(seed);
        let wire = encode_all(&mut new_codec(), &frames);
        let mut rng = XorShift::new(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut small = XorShift::new(seed.wrapping_mul(31));
        let cuts: [(&str, ChunkLen); 3] = [
            ("up to 4 KiB", Box::new(move || rng.range(1, 4096))),
            ("up to 16 bytes", Box::new(move || small.range(1, 16))),
            ("1 byte", Box::new(|| 1)),
        ];
        for (name, cut) in cuts {
            let decoded = decode_in_chunks(&mut new_codec(), &wire, cut)
                .unwrap_or_else(|e| panic!("seed {seed}, chunks of {name}: {e}"));
            assert_eq!(decoded.len(), frames.len(), "seed {seed}, chunks of {name}");
            for (i, (got, want)) in decoded.iter().zip(&frames).enumerate() {
                assert_eq!(got, want, "seed {seed}, chunks of {name}, frame {i}");
            }
        }
    }
}

#[test]
fn ndjson_decodes_the_same_frames_however_the_stream_is_cut() {
    assert_same_frames_however_cut(NdjsonCodec::new);
}

#[test]
fn content_length_decodes_the_same_frames_however_the_stream_is_cut() {
    assert_same_frames_however_cut(ContentLengthCodec::new);
}

#[test]
fn frame_codec_decodes_the_same_frames_however_the_stream_is_cut() {
    assert_same_frames_however_cut(|| Framing::Ndjson.codec(1 << 20));
    assert_same_frames_however_cut(|| Framing::ContentLength.codec(1 << 20));
}

fn both_framings(max_frame_len: usize) -> [FrameCodec; 2] {
    [
        Framing::Ndjson.codec(max_frame_len),
        Framing::ContentLength.codec(max_frame_len),
    ]
}

#[test]
fn many_frames_in_one_read_all_decode() {
    for mut codec in both_framings(1 << 20) {
        let frames = sample_frames(3);
        let mut buf = encode_all(&mut codec, &frames);
        let mut decoded = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            decoded.push(frame);
        }
        assert_eq!(decoded, frames, "{}", codec.framing());
        assert!(
            buf.is_empty(),
            "{}: {} bytes left",
            codec.framing(),
            buf.len()
        );
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
    }
}

#[test]
fn frame_split_across_many_reads_decodes_once_complete() {
    for mut codec in both_framings(1 << 20) {
        let body: Vec<u8> = (0..10_000u32).map(|i| b'a' + (i % 26) as u8).collect();
        let next = Bytes::from_static(b"{\"next\":true}");
        let mut wire = encode_all(&mut codec, &[Bytes::from(body.clone()), next.clone()]);
        let first_len =
            wire.len() - encode_all(&mut codec.clone(), std::slice::from_ref(&next)).len();
        let first = wire.split_to(first_len);
        let mut buf = BytesMut::new();
        let pieces: Vec<&[u8]> = first.chunks(97).collect();
        for (i, piece) in pieces.iter().enumerate() {
            buf.extend_from_slice(piece);
            let decoded = codec.decode(&mut buf).unwrap();
            if i + 1 < pieces.len() {
                assert!(
                    decoded.is_none(),
                    "{}: frame after piece {i}",
                    codec.framing()
                );
            } else {
                assert_eq!(decoded.as_deref(), Some(&body[..]), "{}", codec.framing());
            }
        }
        buf.extend_from_slice(&wire);
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(next));
    }
}

fn decode_everything<C>(codec: &mut C, input: &[u8]) -> Vec<Result<Bytes, String>>
where
    C: Decoder<Item = Bytes, Error = FrameError>,
{
    let mut buf = BytesMut::from(input);
    let mut out = Vec::new();
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(frame)) => out.push(Ok(frame)),
            Ok(None) => break,
            Err(e) => out.push(Err(e.to_string())),
        }
    }
    loop {
        match codec.decode_eof(&mut buf) {
            Ok(Some(frame)) => out.push(Ok(frame)),
            Ok(None) => break,
            Err(e) => {
                out.push(Err(e.to_string()));
                break;
            }
        }
    }
    out
}

fn frames_of(results: Vec<Result<Bytes, String>>) -> Vec<Bytes> {
    results
        .into_iter()
        .map(|r| r.expect("no error expected"))
        .collect()
}

#[test]
fn ndjson_skips_blank_lines_and_accepts_crlf() {
    let input = b"\n\r\n{\"a\":1}\r\n\r\n\n{\"b\":2}\n\r\n  \t \n{\"c\":3}\r\n";
    let frames = frames_of(decode_everything(&mut NdjsonCodec::new(), input));
    assert_eq!(frames, [&b"{\"a\":1}"[..], b"{\"b\":2}", b"{\"c\":3}"]);
}

#[test]
fn ndjson_trims_white_space_around_frames() {
    let input = b"  {\"a\":1}  \n\t{\"b\": [1, 2]}\t\r\n \r {\"c\":3} \r\n";
    let frames = frames_of(decode_everything(&mut NdjsonCodec::new(), input));
    assert_eq!(
        frames,
        [&b"{\"a\":1}"[..], b"{\"b\": [1, 2]}", b"{\"c\":3}"]
    );
}

#[test]
fn ndjson_decode_eof_returns_the_last_line_without_newline() {
    let mut codec = NdjsonCodec::new();
    let mut buf = BytesMut::from(&b"{\"a\":1}\n{\"last\":true} \r"[..]);
    assert_eq!(codec.decode(&mut buf).unwrap().unwrap(), &b"{\"a\":1}"[..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None, "no newline yet");
    assert_eq!(
        codec.decode_eof(&mut buf).unwrap().unwrap(),
        &b"{\"last\":true}"[..]
    );
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn ndjson_decode_eof_ignores_trailing_white_space() {
    let mut codec = NdjsonCodec::new();
    let mut buf = BytesMut::from(&b"{\"a\":1}\n \r\n\t "[..]);
    assert_eq!(
        codec.decode_eof(&mut buf).unwrap().unwrap(),
        &b"{\"a\":1}"[..]
    );
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
    assert!(buf.is_empty());
}

#[test]
fn content_length_header_names_are_case_insensitive() {
    for name in [
        "Content-Length",
        "content-length",
        "CONTENT-LENGTH",
        "cOnTeNt-LeNgTh",
    ] {
        let input = format!("{name}: 7\r\n\r\n{{\"a\":1}}{name}:2\r\n\r\n[]");
        let frames = frames_of(decode_everything(
            &mut ContentLengthCodec::new(),
            input.as_bytes(),
        ));
        assert_eq!(frames, [&b"{\"a\":1}"[..], b"[]"], "header name {name}");
    }
}

#[test]
fn content_length_ignores_other_headers() {
    let input = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\
        Content-Length: 7\r\nX-Other:  anything: at all\r\n\r\n{\"a\":1}";
    let frames = frames_of(decode_everything(&mut ContentLengthCodec::new(), input));
    assert_eq!(frames, [&b"{\"a\":1}"[..]]);
}

#[test]
fn content_length_accepts_bare_newlines() {
    let input = b"Content-Length: 7\n\n{\"a\":1}content-length: 2\nContent-Type: x\n\n[]";
    let frames = frames_of(decode_everything(&mut ContentLengthCodec::new(), input));
    assert_eq!(frames, [&b"{\"a\":1}"[..], b"[]"]);
}

#[test]
fn content_length_of_zero_is_an_empty_frame() {
    let input = b"Content-Length: 0\r\n\r\nContent-Length: 1\r\n\r\n1";
    let frames = frames_of(decode_everything(&mut ContentLengthCodec::new(), input));
    assert_eq!(frames, [&b""[..], b"1"]);
}

#[test]
fn content_length_repeated_equal_values_are_accepted() {
    let input = b"Content-Length: 2\r\ncontent-length: 2\r\n\r\n[]";
    let frames = frames_of(decode_everything(&mut ContentLengthCodec::new(), input));
    assert_eq!(frames, [&b"[]"[..]]);
}

fn assert_malformed(input: &[u8], codec: &mut ContentLengthCodec) {
    let mut buf = BytesMut::from(input);
    let err = match codec.decode(&mut buf) {
        Ok(decoded) => panic!("{:?}: decoded {decoded:?}", String::from_utf8_lossy(input)),
        Err(err) => err,
    };
    assert!(
        matches!(err, FrameError::Malformed(_)),
        "{:?}: {err:?}",
        String::from_utf8_lossy(input)
    );
    assert!(!err.is_recoverable());
    assert!(!err.is_too_large());
    // The stream cannot be re-synchronised: even a well-formed frame is not read.
    buf.extend_from_slice(b"Content-Length: 2\r\n\r\n[]");
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn content_length_missing_header_is_malformed() {
    assert_malformed(
        b"Content-Type: application/json\r\n\r\n{}",
        &mut ContentLengthCodec::new(),
    );
}

#[test]
fn content_length_that_is_not_a_number_is_malformed() {
    for value in [
        "abc",
        "-1",
        "+5",
        "",
        "1 2",
        "0x10",
        "7.0",
        "99999999999999999999999999",
    ] {
        let input = format!("Content-Length: {value}\r\n\r\n{{\"a\":1}}");
        assert_malformed(input.as_bytes(), &mut ContentLengthCodec::new());
    }
}

#[test]
fn content_length_header_line_without_colon_is_malformed() {
    assert_malformed(
        b"Content-Length 7\r\n\r\n{\"a\":1}",
        &mut ContentLengthCodec::new(),
    );
}

#[test]
fn conflicting_content_lengths_are_malformed() {
    assert_malformed(
        b"Content-Length: 7\r\nContent-Length: 8\r\n\r\n{\"a\":1} ",
        &mut ContentLengthCodec::new(),
    );
}

#[test]
fn content_length_header_block_over_the_limit_is_malformed() {
    // One long line that never ends...
    let mut long_line = b"X-Padding: ".to_vec();
    long_line.resize(300, b'p');
    assert_malformed(
        &long_line,
        &mut ContentLengthCodec::new().max_header_len(256),
    );
    // ...and many short lines that add up.
    let many_lines = b"X-Padding: pppppppppppppppp\r\n".repeat(20);
    assert_malformed(
        &many_lines,
        &mut ContentLengthCodec::new().max_header_len(256),
    );
}

#[test]
fn content_length_header_block_within_the_limit_is_accepted() {
    let mut input = b"X-Padding: pppppppppppppppp\r\n".repeat(7);
    input.extend_from_slice(b"Content-Length: 2\r\n\r\n[]");
    assert!(input.len() - 2 <= 256);
    let mut codec = ContentLengthCodec::new().max_header_len(256);
    assert_eq!(
        frames_of(decode_everything(&mut codec, &input)),
        [&b"[]"[..]]
    );
}

#[test]
fn content_length_stream_ending_inside_a_body_is_truncated() {
    let mut codec = ContentLengthCodec::new();
    let mut buf = BytesMut::from(&b"Content-Length: 10\r\n\r\n{\"a\""[..]);
    assert_eq!(codec.decode(&mut buf).unwrap(), None);
    let err = codec.decode_eof(&mut buf).unwrap_err();
    assert!(matches!(err, FrameError::Truncated(4)), "{err:?}");
    assert!(!err.is_recoverable());
}

#[test]
fn content_length_stream_ending_inside_a_header_is_truncated() {
    for input in [&b"Content-Len"[..], b"Content-Length: 10\r\n"] {
        let mut codec = ContentLengthCodec::new();
        let mut buf = BytesMut::from(input);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        let err = codec.decode_eof(&mut buf).unwrap_err();
        assert!(matches!(err, FrameError::Truncated(_)), "{err:?}");
    }
}

#[test]
fn content_length_stream_ending_between_frames_is_clean() {
    let mut codec = ContentLengthCodec::new();
    let mut buf = BytesMut::from(&b"Content-Length: 2\r\n\r\n[]\r\n"[..]);
    assert_eq!(codec.decode_eof(&mut buf).unwrap().unwrap(), &b"[]"[..]);
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

fn assert_too_large(err: FrameError, max: usize) {
    assert!(err.is_too_large(), "{err:?}");
    assert!(err.is_recoverable(), "{err:?}");
    assert!(
        matches!(err, FrameError::TooLarge { max: m, .. } if m == max),
        "{err:?}"
    );
}

#[test]
fn oversized_frame_is_refused_and_the_next_frame_decodes() {
    const MAX: usize = 64;
    let big = Bytes::from(vec![b'x'; 200]);
    let fits = Bytes::from(vec![b'y'; MAX]);
    for framing in [Framing::Ndjson, Framing::ContentLength] {
        // Encode with a codec that allows the big frame.
        let wire = encode_all(
            &mut framing.codec(1 << 20),
            &[Bytes::from_static(b"{}"), big.clone(), fits.clone()],
        );
        // All in one read, and in pieces smaller than the limit.
        for chunk in [wire.len(), 10] {
            let mut codec = framing.codec(MAX);
            let mut buf = BytesMut::new();
            let mut results = Vec::new();
            for piece in wire.chunks(chunk) {
                buf.extend_from_slice(piece);
                loop {
                    match codec.decode(&mut buf) {
                        Ok(Some(frame)) => results.push(Ok(frame)),
                        Ok(None) => break,
                        Err(err) => results.push(Err(err)),
                    }
                }
            }
            assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
            assert_eq!(
                results.len(),
                3,
                "{framing}, chunks of {chunk}: {results:?}"
            );
            let mut results = results.into_iter();
            assert_eq!(results.next().unwrap().unwrap(), &b"{}"[..]);
            assert_too_large(results.next().unwrap().unwrap_err(), MAX);
            assert_eq!(results.next().unwrap().unwrap(), fits, "{framing}");
        }
    }
}

#[test]
fn content_length_too_large_error_reports_the_announced_size() {
    let mut codec = ContentLengthCodec::with_max_frame_len(64);
    let mut buf = BytesMut::from(&b"Content-Length: 65\r\n\r\n"[..]);
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::TooLarge {
                size: Some(65),
                max: 64
            }
        ),
        "{err:?}"
    );
}

#[test]
fn ndjson_oversized_frame_is_refused_without_buffering() {
    const MAX: usize = 1024;
    const CHUNK: usize = 64 * 1024;
    const TOTAL: usize = 10 * 1024 * 1024;
    let mut codec = NdjsonCodec::with_max_frame_len(MAX);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(b"{\"before\":1}\n");
    assert_eq!(
        codec.decode(&mut buf).unwrap().unwrap(),
        &b"{\"before\":1}"[..]
    );

    let chunk = vec![b'x'; CHUNK];
    let mut errors = 0;
    for _ in 0..TOTAL / CHUNK {
        buf.extend_from_slice(&chunk);
        match codec.decode(&mut buf) {
            Ok(None) => {}
            Ok(Some(frame)) => panic!("decoded a frame of {} bytes", frame.len()),
            Err(err) => {
                assert_too_large(err, MAX);
                errors += 1;
            }
        }
        // Whatever is kept is at most one frame's worth, however much has arrived.
        assert!(buf.len() <= MAX + 1, "{} bytes buffered", buf.len());
        assert!(
            buf.capacity() <= 4 * CHUNK,
            "{} bytes reserved",
            buf.capacity()
        );
    }
    assert_eq!(errors, 1, "one error per oversized frame");
    buf.extend_from_slice(b"xxxx\r\n{\"after\":2}\n");
    assert_eq!(
        codec.decode(&mut buf).unwrap().unwrap(),
        &b"{\"after\":2}"[..]
    );
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn content_length_oversized_frame_is_refused_without_buffering() {
    const MAX: usize = 1024;
    const CHUNK: usize = 64 * 1024;
    const ANNOUNCED: usize = 100 * 1024 * 1024;
    let mut codec = ContentLengthCodec::with_max_frame_len(MAX);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(format!("Content-Length: {ANNOUNCED}\r\n\r\n").as_bytes());
    // Refused from its header, before any of the body arrives.
    let err = codec.decode(&mut buf).unwrap_err();
    assert!(
        matches!(
            err,
            FrameError::TooLarge {
                size: Some(ANNOUNCED),
                max: MAX
            }
        ),
        "{err:?}"
    );

    let chunk = vec![b'x'; CHUNK];
    let next = b"Content-Length: 13\r\n\r\n{\"after\":2}\r\n";
    let mut left = ANNOUNCED;
    let mut frames = Vec::new();
    while left > 0 {
        let n = left.min(CHUNK);
        left -= n;
        buf.extend_from_slice(&chunk[..n]);
        if left == 0 {
            // The next frame arrives in the same read as the end of the big body.
            buf.extend_from_slice(next);
        }
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            frames.push(frame);
        }
        assert!(buf.len() <= next.len(), "{} bytes buffered", buf.len());
        assert!(
            buf.capacity() <= 4 * CHUNK,
            "{} bytes reserved",
            buf.capacity()
        );
    }
    assert_eq!(frames, [&b"{\"after\":2}\r\n"[..]]);
    assert_eq!(codec.decode_eof(&mut buf).unwrap(), None);
}

#[test]
fn decoded_frames_point_into_the_read_buffer() {
    for mut codec in both_framings(1 << 20) {
        let frames = sample_frames(11);
        let mut buf = encode_all(&mut codec, &frames);
        let start = buf.as_ptr() as usize;
        let end = start + buf.len();
        let mut count = 0;
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            let at = frame.as_ptr() as usize;
            assert!(
                at >= start && at + frame.len() <= end,
                "{}: frame {count} was copied out of the read buffer",
                codec.framing()
            );
            count += 1;
        }
        assert_eq!(count, frames.len());
    }
}

/// An `AsyncRead` that hands out its bytes in chunks of fixed size.
struct ChunkedReader {
    data: Bytes,
    chunk: usize,
}

impl AsyncRead for ChunkedReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.chunk.min(self.data.len()).min(buf.remaining());
        let piece = self.data.split_to(n);
        buf.put_slice(&piece);
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn frame_reader_frames_are_slices_of_one_read_buffer() {
    for framing in [Framing::Ndjson, Framing::ContentLength] {
        // The first frame is longer than the reader's first read (a connection
        // that never sends holds no more than that), so every frame comes from the
        // full-size buffer the reader takes once bytes arrive.
        let frames: Vec<Bytes> = (0..20)
            .map(|i| match i {
                0 => Bytes::from(format!("{{\"id\":0,\"pad\":\"{}\"}}", "x".repeat(100))),
                i => Bytes::from(format!("{{\"id\":{i}}}")),
            })
            .collect();
        let wire = encode_all(&mut framing.codec(1 << 20), &frames).freeze();
        let reader = ChunkedReader {
            data: wire,
            chunk: 1 << 20,
        };
        let mut reader = FrameReader::new(reader, framing);
        let mut previous: Option<Bytes> = None;
        let mut count = 0;
        while let Some(frame) = reader.next_frame().await {
            let frame = frame.unwrap();
            assert_eq!(frame, frames[count]);
            if let Some(previous) = &previous {
                // Adjacent in memory, separated only by the framing: both were split off
                // the same read buffer rather than copied.
                let gap = frame.as_ptr() as usize - (previous.as_ptr() as usize + previous.len());
                let framing_len =
                    encode_all(&mut framing.codec(1 << 20), std::slice::from_ref(&frame)).len()
                        - frame.len();
                assert_eq!(gap, framing_len, "{framing}: frame {count}");
            }
            previous = Some(frame);
            count += 1;
        }
        assert_eq!(count, frames.len());
    }
}

#[tokio::test]
async fn frame_reader_reads_the_same_frames_whatever_the_read_size() {
    for framing in [Framing::Ndjson, Framing::ContentLength] {
        let frames = sample_frames(5);
        let wire = encode_all(&mut framing.codec(1 << 20), &frames).freeze();
        for chunk in [1, 3, 100, 4096, 1 << 20] {
            let reader = ChunkedReader {
                data: wire.clone(),
                chunk,
            };
            let mut reader = FrameReader::new(reader, framing);
            let mut decoded = Vec::new();
            while let Some(frame) = reader.next_frame().await {
                decoded.push(frame.unwrap());
            }
            assert_eq!(decoded, frames, "{framing}, reads of {chunk}");
            assert_eq!(reader.next_frame().await.map(|r| r.is_ok()), None);
        }
    }
}

#[test]
fn ndjson_encoder_rejects_a_frame_containing_a_newline() {
    let mut codec = NdjsonCodec::new();
    let mut dst = BytesMut::new();
    let err = codec.encode(&b"{\"a\":\n1}"[..], &mut dst).unwrap_err();
    assert!(matches!(err, FrameError::Malformed(_)), "{err:?}");
    assert!(dst.is_empty(), "nothing written for a refused frame");
    let mut codec = Framing::Ndjson.codec(1024);
    assert!(codec.encode(Bytes::from_static(b"a\nb"), &mut dst).is_err());
    assert!(dst.is_empty());
}

#[test]
fn encoders_refuse_frames_over_the_maximum() {
    for mut codec in both_framings(8) {
        let mut dst = BytesMut::new();
        let err = codec.encode(&b"123456789"[..], &mut dst).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::TooLarge {
                    size: Some(9),
                    max: 8
                }
            ),
            "{}: {err:?}",
            codec.framing()
        );
        assert!(dst.is_empty());
        codec.encode(&b"12345678"[..], &mut dst).unwrap();
    }
}

#[test]
fn ndjson_encoder_appends_a_newline() {
    let mut dst = BytesMut::from(&b"x\n"[..]);
    NdjsonCodec::new()
        .encode(&b"{\"a\":1}"[..], &mut dst)
        .unwrap();
    assert_eq!(&dst[..], b"x\n{\"a\":1}\n");
}

#[test]
fn content_length_encoder_writes_the_header() {
    let mut dst = BytesMut::new();
    let mut codec = ContentLengthCodec::new();
    codec.encode(&b"{\"a\":1}"[..], &mut dst).unwrap();
    codec.encode(Bytes::new(), &mut dst).unwrap();
    let body = vec![b'z'; 12_345];
    codec.encode(&body[..], &mut dst).unwrap();
    let mut want = b"Content-Length: 7\r\n\r\n{\"a\":1}Content-Length: 0\r\n\r\n".to_vec();
    want.extend_from_slice(b"Content-Length: 12345\r\n\r\n");
    want.extend_from_slice(&body);
    assert_eq!(&dst[..], &want[..]);
}

#[test]
fn encoded_frames_round_trip() {
    for seed in SEEDS {
        let frames = sample_frames(seed);
        let mut ndjson = NdjsonCodec::new();
        let wire = encode_all(&mut ndjson, &frames);
        assert_eq!(frames_of(decode_everything(&mut ndjson, &wire)), frames);

        let mut content_length = ContentLengthCodec::new();
        let wire = encode_all(&mut content_length, &frames);
        assert_eq!(
            frames_of(decode_everything(&mut content_length, &wire)),
            frames
        );

        for mut codec in both_framings(1 << 20) {
            let mut wire = BytesMut::new();
            for frame in &frames {
                codec.encode(frame.clone(), &mut wire).unwrap();
            }
            assert_eq!(frames_of(decode_everything(&mut codec, &wire)), frames);
        }
    }
}

#[test]
fn framing_names_parse_and_display() {
    for framing in [Framing::Ndjson, Framing::ContentLength] {
        assert_eq!(framing.to_string().parse::<Framing>().unwrap(), framing);
        assert_eq!(framing.codec(77).framing(), framing);
        assert_eq!(framing.codec(77).max_frame_len(), 77);
    }
    assert_eq!("lsp".parse::<Framing>().unwrap(), Framing::ContentLength);
    assert!("json".parse::<Framing>().is_err());
    assert_eq!(FrameCodec::default().framing(), Framing::Ndjson);
}

/// A 1 MiB frame fed one byte at a time finishes: each byte is scanned once, not once per
/// read (a rescan would make this a trillion-step loop).
#[test]
fn one_mebibyte_frame_fed_byte_by_byte_decodes() {
    const LEN: usize = 1 << 20;
    let body = Bytes::from(vec![b'q'; LEN]);
    for mut codec in both_framings(2 * LEN) {
        let wire = encode_all(&mut codec, &[body.clone(), Bytes::from_static(b"{}")]);
        let decoded = decode_in_chunks(&mut codec, &wire, || 1).unwrap();
        assert_eq!(decoded.len(), 2, "{}", codec.framing());
        assert!(decoded[0] == body, "{}", codec.framing());
        assert_eq!(decoded[1], &b"{}"[..]);
    }
}
