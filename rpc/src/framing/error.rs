use std::io;

/// Why a frame could not be read from the byte stream.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// A frame is larger than the configured maximum. It was skipped without being
    /// buffered whole; the stream goes on with the next frame.
    #[error("frame of {} bytes exceeds the maximum frame size of {max} bytes", size.map_or_else(|| "more than that".into(), |s| s.to_string()))]
    TooLarge {
        /// The frame's size when known (from a `Content-Length` header).
        size: Option<usize>,
        /// The configured maximum.
        max: usize,
    },
    /// The frame is malformed (a bad `Content-Length` header block). The stream cannot be
    /// re-synchronised.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The stream ended in the middle of a frame.
    #[error("stream ended inside a frame ({0} bytes unread)")]
    Truncated(usize),
    /// Reading from the stream failed.
    #[error("i/o error while reading frames: {0}")]
    Io(#[from] io::Error),
}

impl FrameError {
    /// Whether the stream remains usable after this error (the bad frame was skipped).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, FrameError::TooLarge { .. })
    }

    /// Whether this is a frame over the size limit.
    pub fn is_too_large(&self) -> bool {
        matches!(self, FrameError::TooLarge { .. })
    }
}
