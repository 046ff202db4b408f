//! A validating skip over one JSON value, for the params of a large frame (and the
//! members of long params, for the generated decoders' walk of them).
//!
//! The envelope's parse only needs to know where the params end and that they are
//! valid JSON; the method's own decoder reads them afterwards. serde_json's skip (the
//! one behind `RawValue`) reads strings eight bytes at a time and keeps its nesting
//! on the heap; this one reads strings sixteen bytes at a time and keeps its nesting
//! in a `u128`, which made the first pass over 64 KiB of params several times cheaper.
//!
//! It accepts exactly the JSON serde_json accepts, on text already known to be UTF-8
//! (bytes of 0x80 and up are then only ever parts of characters inside strings). It
//! may refuse what serde_json would accept (nesting deeper than 128): the caller then
//! takes serde_json's path, which also gives the error message for invalid JSON.

use std::ops::Range;

/// The deepest nesting [`skip_value`] follows.
pub(crate) const MAX_SCAN_DEPTH: usize = 128;

/// What the scans of one text have learnt of it so far; one for all the values of a
/// text, so that its UTF-8 is checked at most once.
pub(crate) struct Scan {
    /// No byte of 0x80 or more was met yet, so the text scanned is ASCII; after the
    /// first one, the rest of the text was checked as UTF-8.
    ascii_only: bool,
}

impl Default for Scan {
    fn default() -> Self {
        Scan { ascii_only: true }
    }
}

impl Scan {
    /// For text known to be UTF-8 (a `str`): no byte is checked as UTF-8 again.
    pub(crate) fn utf8() -> Self {
        Scan { ascii_only: false }
    }

    /// Checks `rest` (from the first byte of 0x80 or more to the end of the text) as
    /// UTF-8, once; what came before it was ASCII.
    #[cold]
    fn check_utf8(&mut self, rest: &[u8]) -> Option<()> {
        std::str::from_utf8(rest).ok()?;
        self.ascii_only = false;
        Some(())
    }
}

/// Skips the JSON value that starts at `at` (no whitespace before it): the index just
/// after it, and how deep its arrays and objects nest (0 for a scalar). `None` when
/// the text there is not one valid JSON value, nests deeper than [`MAX_SCAN_DEPTH`],
/// or when the text is not UTF-8 as far as `scan` has seen it (the bytes scanned are
/// ASCII, up to the first that is not; from there to the end of the text it was
/// checked once), so that the value can be handed out as `str`.
pub(crate) fn skip_value(text: &[u8], mut at: usize, scan: &mut Scan) -> Option<(usize, usize)> {
    // One bit per open container: 1 for an object, 0 for an array.
    let mut stack: u128 = 0;
    let mut depth = 0usize;
    let mut deepest = 0usize;
    loop {
        // A value.
        match *text.get(at)? {
            b'"' => at = skip_string(text, at + 1, scan)?,
            b'{' | b'[' => {
                let object = text[at] == b'{';
                if depth == MAX_SCAN_DEPTH {
                    return None;
                }
                stack = (stack << 1) | u128::from(object);
                depth += 1;
                deepest = deepest.max(depth);
                at = skip_whitespace(text, at + 1);
                let close = if object { b'}' } else { b']' };
                if text.get(at) == Some(&close) {
                    at += 1;
                    stack >>= 1;
                    depth -= 1;
                } else {
                    if object {
                        at = skip_key(text, at, scan)?;
                    }
                    continue;
                }
            }
            b't' => at = literal(text, at, b"true")?,
            b'f' => at = literal(text, at, b"false")?,
            b'n' => at = literal(text, at, b"null")?,
            b'-' | b'0'..=b'9' => at = skip_number(text, at)?,
            _ => return None,
        }
        // After a value: the containers it closes, then a comma before the next one.
        loop {
            if depth == 0 {
                return Some((at, deepest));
            }
            let object = stack & 1 == 1;
            at = skip_whitespace(text, at);
            match *text.get(at)? {
                b',' => {
                    at = skip_whitespace(text, at + 1);
                    if object {
                        at = skip_key(text, at, scan)?;
                    }
                    break;
                }
                b'}' if object => {}
                b']' if !object => {}
                _ => return None,
            }
            at += 1;
            stack >>= 1;
            depth -= 1;
        }
    }
}

/// Skips `"key"` and the `:` after it, and the whitespace after that.
fn skip_key(text: &[u8], at: usize, scan: &mut Scan) -> Option<usize> {
    if text.get(at) != Some(&b'"') {
        return None;
    }
    let at = skip_whitespace(text, skip_string(text, at + 1, scan)?);
    if text.get(at) != Some(&b':') {
        return None;
    }
    Some(skip_whitespace(text, at + 1))
}

/// A validated JSON value as a raw value.
pub(crate) fn raw(value: &str) -> &serde_json::value::RawValue {
    // SAFETY: `RawValue` is `#[repr(transparent)]` over `str` (serde_json makes its
    // own borrowed raw values with this cast), and `value` is one JSON value, which
    // the scan validated.
    unsafe { &*(value as *const str as *const serde_json::value::RawValue) }
}

/// Walks the members of the JSON object that starts `text` (after whitespace),
/// validating them as [`skip_value`] does: `member` gets each one's name (the range
/// between its quotes; `None` when the name has escapes), its value's range and how
/// deep the value nests, and stops the walk with `None`. The index just after the
/// object's `}`; `None` when the text there is not such an object, or `member`
/// stopped. Both the envelope's plain parse and a subscription item's params are
/// read with it.
pub(crate) fn walk_object(
    text: &[u8],
    scan: &mut Scan,
    mut member: impl FnMut(Option<Range<usize>>, Range<usize>, usize) -> Option<()>,
) -> Option<usize> {
    let mut at = skip_whitespace(text, 0);
    if text.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_whitespace(text, at + 1);
    if text.get(at) == Some(&b'}') {
        return Some(at + 1);
    }
    loop {
        if text.get(at) != Some(&b'"') {
            return None;
        }
        // Names are short and almost always plain ASCII: a byte loop finds their end
        // sooner than the string scan's blocks (a small request's parse took 90–92 ns
        // through `skip_string`, 80–82 this way), which still reads any other name.
        let plain = text[at + 1..]
            .iter()
            .position(|&b| matches!(b, b'"' | b'\\' | 0..=0x1F | 0x80..))?;
        let (name_end, escaped) = if text[at + 1 + plain] == b'"' {
            (at + 2 + plain, false)
        } else {
            let end = skip_string(text, at + 1, scan)?;
            (end, text[at + 1..end - 1].contains(&b'\\'))
        };
        let name = (!escaped).then_some(at + 1..name_end - 1);
        at = skip_whitespace(text, name_end);
        if text.get(at) != Some(&b':') {
            return None;
        }
        let start = skip_whitespace(text, at + 1);
        let (end, depth) = skip_value(text, start, scan)?;
        member(name, start..end, depth)?;
        at = skip_whitespace(text, end);
        match text.get(at) {
            Some(b',') => at = skip_whitespace(text, at + 1),
            Some(b'}') => return Some(at + 1),
            _ => return None,
        }
    }
}

/// The index of the first byte at or after `at` that is not JSON whitespace.
#[inline]
pub(crate) fn skip_whitespace(text: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = text.get(at) {
        at += 1;
    }
    at
}

fn literal(text: &[u8], at: usize, word: &[u8]) -> Option<usize> {
    let end = at + word.len();
    (text.get(at..end)? == word).then_some(end)
}

/// Skips a number as serde_json reads one: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
fn skip_number(text: &[u8], mut at: usize) -> Option<usize> {
    let digits =
        |at: usize| -> usize { at + text[at..].iter().take_while(|b| b.is_ascii_digit()).count() };
    if text[at] == b'-' {
        at += 1;
    }
    match *text.get(at)? {
        b'0' => {
            at += 1;
            if text.get(at).is_some_and(u8::is_ascii_digit) {
                return None;
            }
        }
        b'1'..=b'9' => at = digits(at + 1),
        _ => return None,
    }
    if text.get(at) == Some(&b'.') {
        let end = digits(at + 1);
        if end == at + 1 {
            return None;
        }
        at = end;
    }
    if let Some(b'e' | b'E') = text.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = text.get(at) {
            at += 1;
        }
        let end = digits(at);
        if end == at {
            return None;
        }
        at = end;
    }
    Some(at)
}

/// Skips the rest of a string whose opening quote is before `at`: the index after its
/// closing quote. A control character or an invalid escape is `None`.
///
/// Reads 64 bytes at a time into a mask of the bytes that need a look (quotes,
/// backslashes, control characters and, until the first one, bytes of 0x80 and up)
/// and walks the mask's bits, so an escape costs a few instructions rather than a
/// restart of the loop. At the first byte of 0x80 or more, the rest of the text is
/// checked as UTF-8 once, and later ones are not looked at.
fn skip_string(text: &[u8], mut at: usize, scan: &mut Scan) -> Option<usize> {
    // Most strings in params are short (names, labels): one 16-byte look first.
    if let Some(chunk) = text.get(at..at + 16) {
        let mask = chunk_mask(chunk, scan.ascii_only);
        if mask == 0 {
            at += 16;
        } else {
            let end = at + mask.trailing_zeros() as usize;
            if text[end] == b'"' {
                return Some(end + 1);
            }
        }
    }
    'blocks: loop {
        let Some(block) = text.get(at..at + 64) else {
            return skip_string_tail(text, at, scan);
        };
        let mut mask = block_mask(block, scan.ascii_only);
        while mask != 0 {
            let k = mask.trailing_zeros() as usize;
            let p = at + k;
            match text[p] {
                b'"' => return Some(p + 1),
                b'\\' => {
                    let next = k + escape_len(text, p)?;
                    if next >= 64 {
                        at = p + (next - k);
                        continue 'blocks;
                    }
                    mask &= u64::MAX << next;
                }
                0x80.. => {
                    scan.check_utf8(&text[p..])?;
                    mask = block_mask(block, false) & (u64::MAX << k);
                }
                // A control character, which JSON strings must escape.
                _ => return None,
            }
        }
        at += 64;
    }
}

/// [`skip_string`] over the last bytes of the text, one at a time.
fn skip_string_tail(text: &[u8], mut at: usize, scan: &mut Scan) -> Option<usize> {
    loop {
        match *text.get(at)? {
            b'"' => return Some(at + 1),
            b'\\' => at += escape_len(text, at)?,
            0x80.. => {
                if scan.ascii_only {
                    scan.check_utf8(&text[at..])?;
                }
                at += 1;
            }
            0..=0x1F => return None,
            _ => at += 1,
        }
    }
}

/// The length of the escape at `at` (a backslash): 2, or 6 for `\uXXXX`; `None`
/// when it is not a valid JSON escape.
#[inline(always)]
fn escape_len(text: &[u8], at: usize) -> Option<usize> {
    match *text.get(at + 1)? {
        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(2),
        b'u' => text
            .get(at + 2..at + 6)?
            .iter()
            .all(u8::is_ascii_hexdigit)
            .then_some(6),
        _ => None,
    }
}

/// One bit per byte of a 64-byte block, set for a quote, a backslash, a control
/// character, and with `ascii_only` a byte of 0x80 or more.
#[inline(always)]
fn block_mask(block: &[u8], ascii_only: bool) -> u64 {
    (0..4).fold(0, |mask, i| {
        mask | chunk_mask(&block[16 * i..16 * i + 16], ascii_only) << (16 * i)
    })
}

/// [`block_mask`] for 16 bytes.
#[inline(always)]
fn chunk_mask(chunk: &[u8], ascii_only: bool) -> u64 {
    assert!(chunk.len() >= 16);
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{
            __m128i, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_max_epu8,
            _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
        };
        // SAFETY: SSE2 is part of every x86_64 target; the 16 bytes lie within the
        // chunk (asserted above), and an unaligned load may read them.
        let bits = unsafe {
            let chunk = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
            let quote = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'"' as i8));
            let backslash = _mm_cmpeq_epi8(chunk, _mm_set1_epi8(b'\\' as i8));
            let other = if ascii_only {
                // Signed: below 0x20 is a control character or 0x80 and up.
                _mm_cmplt_epi8(chunk, _mm_set1_epi8(0x20))
            } else {
                // Unsigned: max(byte, 0x1F) == 0x1F exactly when byte <= 0x1F.
                let limit = _mm_set1_epi8(0x1F);
                _mm_cmpeq_epi8(_mm_max_epu8(chunk, limit), limit)
            };
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(quote, backslash), other))
        };
        u64::from(bits as u16)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        chunk[..16].iter().enumerate().fold(0, |mask, (i, &b)| {
            let look = matches!(b, b'"' | b'\\' | 0..=0x1F) || (ascii_only && b >= 0x80);
            mask | u64::from(look) << i
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// serde_json's verdict on `json` as one value.
    fn serde_accepts(json: &str) -> bool {
        serde_json::from_str::<serde::de::IgnoredAny>(json).is_ok()
    }

    fn scan_accepts(json: &str) -> bool {
        matches!(skip_value(json.as_bytes(), 0, &mut Scan::default()), Some((end, _)) if end == json.len())
    }

    #[test]
    fn agrees_with_serde_json() {
        let long = format!("\"{}\\n{}\"", "a".repeat(40), "é".repeat(20));
        let cases = [
            "0",
            "-0",
            "1",
            "-12.5e+3",
            "1E5",
            "0.0",
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "--1",
            "0x1",
            "true",
            "false",
            "null",
            "tru",
            "nul",
            "True",
            "\"\"",
            "\"a\\\"b\"",
            "\"\\u00e9\\uD83D\"",
            "\"\\u00g9\"",
            "\"\\x\"",
            "\"\t\"",
            "\"a\u{1}\"",
            "\"unterminated",
            "[]",
            "{}",
            "[1,2,[3,{\"a\":[]}]]",
            "[1,]",
            "[,1]",
            "[1 2]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":1,\"b\":{}}",
            "[ 1 , 2 ]",
            "{ \"a\" : [ ] }",
            "[",
            "{",
            "[1",
            "{\"a\"",
            "{\"a\":",
            "[1]]",
            "{\"a\":1}}",
            "[\"\\\\\"]",
            "[\"\\/\"]",
            &long,
        ];
        for json in cases {
            let whole = serde_accepts(json);
            // The scan stops after one value; the caller checks what follows.
            let scanned = scan_accepts(json);
            assert_eq!(scanned, whole, "{json}");
        }
    }

    #[test]
    fn strings_of_every_length_find_their_end() {
        for n in 0..70 {
            for special in ["", "\\n", "\\u0041"] {
                let json = format!("[\"{}{special}{}\",1]", "x".repeat(n), "y".repeat(n % 17));
                assert_eq!(
                    skip_value(json.as_bytes(), 0, &mut Scan::default()),
                    Some((json.len(), 1)),
                    "{json}"
                );
                // A control character at any position is refused.
                let bad = format!("[\"{}\u{1f}\",1]", "x".repeat(n));
                assert_eq!(
                    skip_value(bad.as_bytes(), 0, &mut Scan::default()),
                    None,
                    "{n}"
                );
            }
        }
    }

    #[test]
    fn long_strings_agree_with_serde_json_wherever_the_escapes_fall() {
        // Pieces that need a look, at every offset around the 64-byte blocks.
        let pieces = [
            "\\n",
            "\\\\",
            "\\\"",
            "\\u00e9",
            "\\uD83D\\uDE00",
            "é",
            "€",
            "😀",
            "\u{1}",
            "\u{1f}",
            "\\x",
            "\\u12",
            "\\",
            "\"",
        ];
        for len in [60, 63, 64, 65, 127, 128, 129, 200] {
            for piece in pieces {
                for at in (0..len).step_by(7).chain([len - 1]) {
                    let mut text = "a".repeat(len);
                    text.insert_str(at.min(text.len()), piece);
                    let json = format!("[\"{text}\",\"{text}\"]");
                    assert_eq!(scan_accepts(&json), serde_accepts(&json), "{json}");
                }
            }
        }
    }

    #[test]
    fn invalid_utf8_after_the_first_non_ascii_byte_is_refused() {
        let mut json = format!("[\"{}é{}\"]", "a".repeat(70), "b".repeat(70)).into_bytes();
        assert!(skip_value(&json, 0, &mut Scan::default()).is_some());
        let at = json.len() - 5;
        json[at] = 0xFF;
        assert_eq!(skip_value(&json, 0, &mut Scan::default()), None);
        // A lone continuation byte first.
        let mut json = format!("[\"{}\"]", "a".repeat(100)).into_bytes();
        json[50] = 0x80;
        assert_eq!(skip_value(&json, 0, &mut Scan::default()), None);
    }

    #[test]
    fn depth_is_counted_and_bounded() {
        assert_eq!(skip_value(b"7", 0, &mut Scan::default()), Some((1, 0)));
        assert_eq!(
            skip_value(b"[[],{\"a\":[{}]}]", 0, &mut Scan::default()),
            Some((15, 4))
        );
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let at_limit = deep(MAX_SCAN_DEPTH);
        assert_eq!(
            skip_value(at_limit.as_bytes(), 0, &mut Scan::default()),
            Some((at_limit.len(), MAX_SCAN_DEPTH))
        );
        assert_eq!(
            skip_value(deep(MAX_SCAN_DEPTH + 1).as_bytes(), 0, &mut Scan::default()),
            None
        );
    }
}
