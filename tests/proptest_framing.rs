//! Property tests of both framings: arbitrary frames, encoded and cut at arbitrary
//! points, decode to the same frames; frames over the limit are refused one by one and
//! the frames after them still decode.

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use rpc::framing::{ContentLengthCodec, FrameError, NdjsonCodec};
use tokio_util::codec::{Decoder, Encoder};

/// What a decoder produced: a frame, or a refusal of a frame over the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Frame(Bytes),
    TooLarge,
}

/// Feeds `stream` to `codec` in chunks of the given sizes (cycled), then ends it.
/// Any error but "too large" fails the test.
fn decode_chunked<D>(mut codec: D, stream: &[u8], chunks: &[usize]) -> Vec<Event>
where
    D: Decoder<Item = Bytes, Error = FrameError>,
{
    let mut events = Vec::new();
    let mut buf = BytesMut::new();
    let push = |events: &mut Vec<Event>, decoded: Result<Option<Bytes>, FrameError>| {
        match decoded {
            Ok(Some(frame)) => events.push(Event::Frame(frame)),
            Ok(None) => return false,
            Err(err) if err.is_too_large() => events.push(Event::TooLarge),
            Err(err) => panic!("unexpected error: {err}"),
        }
        true
    };
    let mut pos = 0;
    for &n in chunks.iter().cycle() {
        if pos == stream.len() {
            break;
        }
        let end = (pos + n).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        while push(&mut events, codec.decode(&mut buf)) {}
    }
    while push(&mut events, codec.decode_eof(&mut buf)) {}
    events
}

/// A frame for newline-delimited framing: no newline, and no white space at either end
/// (which that framing trims).
fn ndjson_frame(max: usize) -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..max),
        any::<u8>(),
    )
        .prop_map(|(first, middle, last)| {
            let solid = |b: u8| if b" \t\r\n".contains(&b) { b'x' } else { b };
            let mut frame = vec![solid(first)];
            frame.extend(
                middle
                    .into_iter()
                    .map(|b| if b == b'\n' { b' ' } else { b }),
            );
            frame.push(solid(last));
            frame
        })
}

/// Any bytes at all: a `Content-Length` body may hold anything.
fn any_frame(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

/// White space a line may carry around its frame.
fn padding() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop::sample::select(&b" \t\r"[..]), 0..12)
}

/// Read sizes: at least one, each 1 to 64 bytes.
fn chunks() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(1usize..64, 1..8)
}

fn frames(events: &[Vec<u8>]) -> Vec<Event> {
    events
        .iter()
        .map(|f| Event::Frame(Bytes::copy_from_slice(f)))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Newline-delimited: encode, cut anywhere, decode: the same frames.
    #[test]
    fn ndjson_round_trip(
        input in proptest::collection::vec(ndjson_frame(300), 0..12),
        cuts in chunks(),
    ) {
        let mut codec = NdjsonCodec::new();
        let mut stream = BytesMut::new();
        for frame in &input {
            codec.encode(&frame[..], &mut stream).unwrap();
        }
        prop_assert_eq!(decode_chunked(NdjsonCodec::new(), &stream, &cuts), frames(&input));
    }

    /// `Content-Length`: encode, cut anywhere, decode: the same frames, including
    /// empty ones and bodies holding newlines and header-like text.
    #[test]
    fn content_length_round_trip(
        input in proptest::collection::vec(any_frame(300), 0..12),
        cuts in chunks(),
    ) {
        let mut codec = ContentLengthCodec::new();
        let mut stream = BytesMut::new();
        for frame in &input {
            codec.encode(&frame[..], &mut stream).unwrap();
        }
        prop_assert_eq!(decode_chunked(ContentLengthCodec::new(), &stream, &cuts), frames(&input));
    }

    /// Newline-delimited with a limit: each frame over it is refused once, whatever
    /// white space and blank lines surround it (they are not part of the frame), and the
    /// frames after it decode.
    #[test]
    fn ndjson_oversized_frames_are_skipped(
        max in 0usize..40,
        input in proptest::collection::vec((padding(), ndjson_frame(80), padding(), any::<bool>()), 0..10),
        cuts in chunks(),
    ) {
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (before, frame, after, blank_line) in &input {
            if *blank_line {
                stream.extend_from_slice(b" \r\n");
            }
            stream.extend_from_slice(before);
            stream.extend_from_slice(frame);
            stream.extend_from_slice(after);
            stream.push(b'\n');
            expected.push(if frame.len() > max {
                Event::TooLarge
            } else {
                Event::Frame(Bytes::copy_from_slice(frame))
            });
        }
        let codec = NdjsonCodec::with_max_frame_len(max);
        prop_assert_eq!(decode_chunked(codec, &stream, &cuts), expected);
    }

    /// `Content-Length` with a limit: a body over it is refused from its header and
    /// dropped, and the frames after it decode.
    #[test]
    fn content_length_oversized_frames_are_skipped(
        max in 0usize..40,
        input in proptest::collection::vec(any_frame(80), 0..10),
        cuts in chunks(),
    ) {
        let mut writer = ContentLengthCodec::new();
        let mut stream = BytesMut::new();
        for frame in &input {
            writer.encode(&frame[..], &mut stream).unwrap();
        }
        let expected: Vec<Event> = input
            .iter()
            .map(|f| if f.len() > max { Event::TooLarge } else { Event::Frame(Bytes::copy_from_slice(f)) })
            .collect();
        let codec = ContentLengthCodec::with_max_frame_len(max);
        prop_assert_eq!(decode_chunked(codec, &stream, &cuts), expected);
    }
}
