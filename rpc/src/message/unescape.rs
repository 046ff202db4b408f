//! Unescaping a JSON string token of text already validated, for the values the
//! generated params decoders read (`service/params_walk.rs`).
//!
//! serde_json decodes a string with escapes by copying each run between two escapes
//! into a scratch buffer (a call to `memcpy` each, and the buffer regrown as it
//! fills), then copies the whole into the `String` it hands out. Here the token is
//! unescaped in one pass into a `String` of the right capacity, 64 bytes at a time.

use std::borrow::Cow;

/// The text of the JSON string token `raw` (quotes included), already validated:
/// borrowed when it has no escapes, else unescaped into a new string.
///
/// `None` when `raw` is not a string, or when it has a `\u` escape of a surrogate
/// half: pairs, lone halves and their errors are left to serde_json, whose answer
/// (text or error message) the caller then gives. The same for an escape serde_json
/// would not have let through, which this does not expect to meet.
pub(crate) fn unescape(raw: &str) -> Option<Cow<'_, str>> {
    let text = raw.strip_prefix('"')?.strip_suffix('"')?;
    let bytes = text.as_bytes();
    let Some(first) = memchr::memchr(b'\\', bytes) else {
        return Some(Cow::Borrowed(text));
    };
    // Slack of 64 bytes: runs are copied 16 or 64 bytes at a time, and only the bytes
    // before the next escape are kept. The text only shrinks.
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len() + 64);
    out.extend_from_slice(&bytes[..first]);
    let mut at = first;
    #[cfg(target_arch = "x86_64")]
    {
        at = blocks(bytes, at, &mut out)?;
    }
    while at < bytes.len() {
        // `at` is at a backslash.
        let (c, len) = escape(bytes, at)?;
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        at = copy_run(bytes, at + len, &mut out);
    }
    // SAFETY: `out` is `text`'s bytes with each escape (ASCII) replaced by the UTF-8
    // of the character it stands for (a scalar value: surrogates were refused). The
    // runs copied between escapes start and end next to ASCII bytes, so they are
    // whole characters of `text`, which is UTF-8.
    Some(Cow::Owned(unsafe { String::from_utf8_unchecked(out) }))
}

/// The character the escape at `at` (a backslash) stands for, and the escape's
/// length; `None` for a surrogate half (see [`unescape`]) or an escape serde_json
/// would have refused.
#[inline(always)]
fn escape(bytes: &[u8], at: usize) -> Option<(char, usize)> {
    let c = match *bytes.get(at + 1)? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => return Some((char::from_u32(hex4(bytes.get(at + 2..at + 6)?)?)?, 6)),
        _ => return None,
    };
    Some((c, 2))
}

/// The bulk of [`unescape`] on x86_64: the text from `at` (a backslash) in blocks of
/// 64 bytes at fixed offsets, each read into a mask of its backslashes, up to the
/// last 128 bytes; the index it stopped at (where the rest goes on one run at a time).
///
/// The blocks are read whatever the escapes are, so the reads run ahead of the
/// unescaping; a run is copied 64 bytes at a time (it never spans more, as a block's
/// end copies the rest of the block), and the bytes past the run are overwritten by
/// what comes next. Finding each backslash from the last one's end instead chained
/// each run's reads to the escape before it: a third of a 64 KiB decode.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn blocks(bytes: &[u8], at: usize, out: &mut Vec<u8>) -> Option<usize> {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
        _mm_storeu_si128,
    };
    /// Copies 64 bytes from `src` to `dst`.
    ///
    /// # Safety
    ///
    /// `src` valid for reading 64 bytes, `dst` for writing as many, apart.
    #[inline(always)]
    unsafe fn copy64(src: *const u8, dst: *mut u8) {
        for i in (0..64).step_by(16) {
            // SAFETY: SSE2 is part of every x86_64 target; within the 64 bytes.
            unsafe {
                let chunk = _mm_loadu_si128(src.add(i).cast::<__m128i>());
                _mm_storeu_si128(dst.add(i).cast::<__m128i>(), chunk);
            }
        }
    }
    let src = bytes.as_ptr();
    let dst = out.as_mut_ptr();
    let mut len = out.len();
    // The start of the run not yet copied; at most 5 bytes into the block (an escape
    // that began in the block before).
    let mut from = at;
    let mut block = at;
    // Every read below ends before `block + 128`; every write before
    // `len + 64 <= from + 64 <= bytes.len() + 64`, `out`'s capacity.
    while block + 128 <= bytes.len() {
        // SAFETY: SSE2 is part of every x86_64 target; the 64 bytes lie within
        // `bytes` (the loop's condition).
        let mut mask = unsafe {
            let backslash = _mm_set1_epi8(b'\\' as i8);
            (0..4).fold(0u64, |mask, i| {
                let chunk = _mm_loadu_si128(src.add(block + 16 * i).cast::<__m128i>());
                let bits = _mm_movemask_epi8(_mm_cmpeq_epi8(chunk, backslash)) as u16;
                mask | u64::from(bits) << (16 * i)
            })
        };
        // Backslashes before `from` were part of an escape (`\\`).
        mask &= u64::MAX.checked_shl((from - block) as u32).unwrap_or(0);
        while mask != 0 {
            let k = block + mask.trailing_zeros() as usize;
            // SAFETY: `from <= k < block + 64` (see the loop's comment).
            unsafe { copy64(src.add(from), dst.add(len)) };
            len += k - from;
            let (c, escape_len) = escape(bytes, k)?;
            let mut utf8 = [0u8; 4];
            let code = c.encode_utf8(&mut utf8).len();
            // SAFETY: 4 bytes at `len`, which is at most `k`, as the text only
            // shrinks, within the capacity of `bytes.len() + 64`.
            unsafe { std::ptr::copy_nonoverlapping(utf8.as_ptr(), dst.add(len), 4) };
            len += code;
            from = k + escape_len;
            mask &= u64::MAX.checked_shl((from - block) as u32).unwrap_or(0);
        }
        if from < block + 64 {
            // SAFETY: as above.
            unsafe { copy64(src.add(from), dst.add(len)) };
            len += block + 64 - from;
            from = block + 64;
        }
        block += 64;
    }
    // SAFETY: the bytes up to `len` were written: the runs from `bytes`, the escapes'
    // characters.
    unsafe { out.set_len(len) };
    // Where the rest goes on: the next backslash, at or after `from`.
    Some(copy_run(bytes, from, out))
}

/// The value of four hex digits.
fn hex4(digits: &[u8]) -> Option<u32> {
    digits.iter().try_fold(0u32, |code, &d| {
        let v = (d as char).to_digit(16)?;
        Some(code << 4 | v)
    })
}

/// Copies the bytes of `bytes` from `at` up to the next backslash (or the end) onto
/// `out`; the index of that backslash (or the length).
///
/// `out` has room for `bytes.len() - at + 16` more bytes: it was given the length of
/// the text and 16, and never holds more than the text before `at`.
#[inline(always)]
fn copy_run(bytes: &[u8], mut at: usize, out: &mut Vec<u8>) -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8,
            _mm_storeu_si128,
        };
        debug_assert!(out.capacity() - out.len() >= bytes.len() - at + 16);
        // The length is kept here, not in `out`, and a chunk without a backslash
        // moves on by a constant 16 behind a branch: when the step was computed
        // from the mask, each chunk waited for the one before (load, compare, mask,
        // count), three times slower.
        let mut len = out.len();
        let dst = out.as_mut_ptr();
        while at + 16 <= bytes.len() {
            // SAFETY: SSE2 is part of every x86_64 target. The 16 bytes loaded lie
            // within `bytes` (checked above); the 16 stored lie within `out`'s
            // capacity (see above: `len - out.len()` grows as `at` does).
            let mask = unsafe {
                let chunk = _mm_loadu_si128(bytes.as_ptr().add(at).cast::<__m128i>());
                _mm_storeu_si128(dst.add(len).cast::<__m128i>(), chunk);
                _mm_movemask_epi8(_mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8)))
            };
            if mask != 0 {
                let run = mask.trailing_zeros() as usize;
                // SAFETY: the bytes up to `len + run` were stored, from `bytes`.
                unsafe { out.set_len(len + run) };
                return at + run;
            }
            at += 16;
            len += 16;
        }
        // SAFETY: as above.
        unsafe { out.set_len(len) };
    }
    let run = memchr::memchr(b'\\', &bytes[at..]).unwrap_or(bytes.len() - at);
    out.extend_from_slice(&bytes[at..at + run]);
    at + run
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json reads from `raw` as a string, or `None` when it refuses it.
    fn serde(raw: &str) -> Option<String> {
        serde_json::from_str::<String>(raw).ok()
    }

    #[test]
    fn agrees_with_serde_json() {
        let long = format!(
            "{}\\n{}\\u00e9{}",
            "a".repeat(40),
            "é".repeat(20),
            "z".repeat(17)
        );
        let cases = [
            r#""""#,
            r#""plain""#,
            r#""a\"b""#,
            r#""\\\\""#,
            r#""\/\b\f\n\r\t""#,
            r#""\u0041\u00e9\u20AC\uFFFF\u0000""#,
            r#""caf\u00E9 \u00e9t\u00E9""#,
            r#""\uD83D\uDE00""#,
            r#""\uD83D""#,
            r#""\uDE00x""#,
            r#""\uD83Dx""#,
            &format!("\"{long}\""),
        ];
        for raw in cases {
            match unescape(raw) {
                Some(text) => assert_eq!(Some(text.into_owned()), serde(raw), "{raw}"),
                // Left to serde_json: only surrogates.
                None => assert!(raw.contains("\\uD") || raw.contains("\\ud"), "{raw}"),
            }
        }
        for not_a_string in ["1", "null", "[\"a\"]", "{}", "true"] {
            assert_eq!(unescape(not_a_string), None);
        }
    }

    #[test]
    fn borrows_without_escapes() {
        assert!(matches!(unescape(r#""abc""#), Some(Cow::Borrowed("abc"))));
        assert!(matches!(unescape(r#""""#), Some(Cow::Borrowed(""))));
    }

    #[test]
    fn escapes_anywhere_around_the_chunks() {
        let pieces = [
            "\\n", "\\\\", "\\\"", "\\u00e9", "\\u20ac", "é", "😀", "\\/",
        ];
        for len in [0, 1, 15, 16, 17, 31, 32, 33, 64, 100] {
            for piece in pieces {
                for at in 0..=len {
                    let mut text = "x".repeat(len);
                    text.insert_str(at, piece);
                    // Two of them, the second right after a run of the other length.
                    let raw = format!("\"{text}{piece}{}\"", "y".repeat(len % 19));
                    assert_eq!(unescape(&raw).map(Cow::into_owned), serde(&raw), "{raw}");
                }
            }
        }
    }

    #[test]
    fn long_texts_with_escapes_at_every_spacing_agree_with_serde_json() {
        // Long enough for the 64-byte blocks (128 bytes and more after the first
        // escape), with escapes every `gap` bytes at every offset, so that they fall
        // at every place in a block, across the blocks' ends, side by side, and in
        // the tail the blocks leave.
        let pieces = ["\\n", "\\\\", "\\\"", "\\u00e9", "\\u20AC", "\\/", "é"];
        for gap in [0, 1, 5, 15, 16, 17, 58, 63, 64, 65, 100] {
            for offset in 0..70 {
                for i in 0..pieces.len() {
                    let mut text = "o".repeat(offset);
                    let mut k = 0;
                    while text.len() < 400 {
                        // The pieces in turn, this one first.
                        text.push_str(pieces[(i + k) % pieces.len()]);
                        text.push_str(&"z".repeat(gap));
                        k += 1;
                    }
                    let raw = format!("\"{text}\"");
                    assert_eq!(
                        unescape(&raw).map(Cow::into_owned),
                        serde(&raw),
                        "{gap} {offset} {i}"
                    );
                }
            }
        }
        // A surrogate deep in a long text is still left to serde_json.
        let raw = format!("\"{}\\n{}\\uD83D\\uDE00\"", "a".repeat(10), "b".repeat(300));
        assert_eq!(unescape(&raw), None);
    }
}
