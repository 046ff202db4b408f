//! A request's body read whole, under a limit.
//!
//! http-body-util's `Limited` + `collect` keeps every chunk in a list, which costs an
//! allocation per request even when the body comes in one chunk, as hyper gives a
//! small body read in one go. Here a body of one chunk is that chunk (hyper's
//! `Bytes`, no copy); only a body of several is copied into one buffer.

use bytes::{Buf, Bytes, BytesMut};
use http_body::Body;
use http_body_util::BodyExt;

/// Why a body could not be read.
#[derive(Debug)]
pub(super) enum BodyError {
    /// It is longer than the limit (counted as it arrives, whatever its
    /// `Content-Length` said).
    TooLarge,
    /// The stream failed (the client went away, a malformed chunk).
    Failed,
}

/// Reads `body` whole; refuses it as soon as more than `max` bytes have come.
pub(super) async fn read_whole<B: Body>(body: B, max: usize) -> Result<Bytes, BodyError> {
    let mut body = std::pin::pin!(body);
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(BodyError::Failed);
        };
        // Trailers carry nothing for JSON-RPC.
        let Ok(mut data) = frame.into_data() else {
            continue;
        };
        let n = data.remaining();
        if n == 0 {
            continue;
        }
        len = len.saturating_add(n);
        if len > max {
            return Err(BodyError::TooLarge);
        }
        match (&mut first, &mut more) {
            (None, _) => first = Some(data.copy_to_bytes(n)),
            (Some(first), None) => {
                let mut joined = BytesMut::with_capacity(len);
                joined.extend_from_slice(first);
                joined.extend_from_slice(&data.copy_to_bytes(n));
                more = Some(joined);
            }
            (Some(_), Some(joined)) => {
                while data.has_remaining() {
                    let chunk = data.chunk();
                    joined.extend_from_slice(chunk);
                    let taken = chunk.len();
                    data.advance(taken);
                }
            }
        }
    }
    Ok(match (more, first) {
        (Some(joined), _) => joined.freeze(),
        (None, Some(first)) => first,
        (None, None) => Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};

    fn chunks(parts: &[&'static [u8]]) -> impl Body<Data = Bytes, Error = std::io::Error> {
        let frames: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = parts
            .iter()
            .map(|p| Ok(http_body::Frame::data(Bytes::from_static(p))))
            .collect();
        StreamBody::new(stream_of(frames))
    }

    fn stream_of<T>(items: Vec<T>) -> impl futures_core::Stream<Item = T> {
        struct Iter<T>(std::vec::IntoIter<T>);
        impl<T> futures_core::Stream for Iter<T> {
            type Item = T;
            fn poll_next(
                mut self: std::pin::Pin<&mut Self>,
                _: &mut std::task::Context<'_>,
            ) -> std::task::Poll<Option<T>> {
                std::task::Poll::Ready(self.0.next())
            }
        }
        impl<T> Unpin for Iter<T> {}
        Iter(items.into_iter())
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn one_chunk_is_kept_as_it_came() {
        let body = Bytes::from_static(b"{\"jsonrpc\":\"2.0\"}");
        let read = run(read_whole(Full::new(body.clone()), 64)).unwrap();
        assert_eq!(read, body);
        assert_eq!(read.as_ptr(), body.as_ptr(), "copied");
    }

    #[test]
    fn chunks_are_joined_in_order() {
        let read = run(read_whole(chunks(&[b"ab", b"", b"cd", b"e"]), 64)).unwrap();
        assert_eq!(&read[..], b"abcde");
        let empty = run(read_whole(chunks(&[]), 64)).unwrap();
        assert!(empty.is_empty());
    }

    #[test]
    fn the_limit_counts_what_arrives() {
        let exact = run(read_whole(chunks(&[b"abc", b"de"]), 5)).unwrap();
        assert_eq!(&exact[..], b"abcde");
        let over = run(read_whole(chunks(&[b"abc", b"def"]), 5));
        assert!(matches!(over, Err(BodyError::TooLarge)), "{over:?}");
        let one_over = run(read_whole(chunks(&[b"abcdef"]), 5));
        assert!(matches!(one_over, Err(BodyError::TooLarge)), "{one_over:?}");
    }

    #[test]
    fn a_failed_stream_is_an_error() {
        let frames = vec![
            Ok(http_body::Frame::data(Bytes::from_static(b"ab"))),
            Err(std::io::Error::other("reset")),
        ];
        let failed = run(read_whole(StreamBody::new(stream_of(frames)), 64));
        assert!(matches!(failed, Err(BodyError::Failed)), "{failed:?}");
    }
}
