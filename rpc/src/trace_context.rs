//! W3C Trace Context (<https://www.w3.org/TR/trace-context/>): the `traceparent` a
//! caller sends so that a call's span joins the caller's trace.
//!
//! Opt in with [`crate::ServerConfig::trace_context`]. A server then reads the
//! `traceparent` of each call from the HTTP request's header, or, over any
//! transport, from the params' `_meta` object (`{"_meta": {"traceparent": "…"}}`,
//! where MCP keeps such metadata); a header wins over `_meta`. A valid one is
//! recorded on the call's `rpc.call` span as `trace_id` and `parent_id`, and handed
//! to handlers by [`crate::CallContext::trace_context`], to link an OpenTelemetry
//! span with. An invalid one is ignored, as the specification asks.

use std::fmt;

use serde::Deserialize;

/// A parsed `traceparent`: version 00, a trace id, the caller's span id and the
/// trace flags.
///
/// # Examples
///
/// ```
/// use rpc::trace_context::TraceContext;
///
/// let tc = TraceContext::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
/// assert_eq!(tc.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert_eq!(tc.parent_id(), "00f067aa0ba902b7");
/// assert!(tc.sampled());
/// assert_eq!(tc.to_string(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// // All-zero ids are invalid.
/// assert!(TraceContext::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceContext {
    trace_id: [u8; 32],
    parent_id: [u8; 16],
    flags: u8,
}

impl TraceContext {
    /// Parses a `traceparent` value; `None` unless it is well formed with nonzero
    /// ids. A version above 00 is read as 00 (its first four fields), as the
    /// specification asks; version ff is invalid.
    pub fn parse(value: &str) -> Option<TraceContext> {
        let value = value.trim();
        let bytes = value.as_bytes();
        if bytes.len() < 55 {
            return None;
        }
        let version = &value[..2];
        if !is_lower_hex(version) || version == "ff" {
            return None;
        }
        // Version 00 is exactly 55 bytes; later versions may append "-…".
        if (version == "00" && bytes.len() != 55) || (bytes.len() > 55 && bytes[55] != b'-') {
            return None;
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return None;
        }
        let (trace_id, parent_id, flags) = (&value[3..35], &value[36..52], &value[53..55]);
        if !is_lower_hex(trace_id) || !is_lower_hex(parent_id) || !is_lower_hex(flags) {
            return None;
        }
        if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
            return None;
        }
        Some(TraceContext {
            trace_id: trace_id.as_bytes().try_into().ok()?,
            parent_id: parent_id.as_bytes().try_into().ok()?,
            flags: u8::from_str_radix(flags, 16).ok()?,
        })
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        std::str::from_utf8(&self.trace_id).expect("checked hex")
    }

    /// The caller's span id: 16 lowercase hex digits.
    pub fn parent_id(&self) -> &str {
        std::str::from_utf8(&self.parent_id).expect("checked hex")
    }

    /// The trace flags.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller sampled the trace (flag 01).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }
}

/// The `traceparent` value, version 00.
impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id(),
            self.parent_id(),
            self.flags
        )
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The `traceparent` of a call's params, in their `_meta` object.
pub(crate) fn from_params(params: &str) -> Option<TraceContext> {
    // Most params carry none: skip the parse unless the name is there at all.
    memchr::memmem::find(params.as_bytes(), b"traceparent")?;
    #[derive(Deserialize)]
    struct Params<'a> {
        #[serde(rename = "_meta", borrow)]
        meta: Option<Meta<'a>>,
    }
    #[derive(Deserialize)]
    struct Meta<'a> {
        #[serde(borrow)]
        traceparent: Option<std::borrow::Cow<'a, str>>,
    }
    let params: Params<'_> = serde_json::from_str(params).ok()?;
    TraceContext::parse(&params.meta?.traceparent?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn malformed_values_are_refused() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad}");
        }
        // A later version may carry more fields.
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more";
        assert!(!TraceContext::parse(later).unwrap().sampled());
    }

    #[test]
    fn params_carry_it_in_their_meta() {
        let params = format!(r#"{{"a":1,"_meta":{{"traceparent":"{VALID}","other":true}}}}"#);
        assert_eq!(from_params(&params).unwrap().to_string(), VALID);
        assert_eq!(from_params(r#"{"traceparent":"x"}"#), None);
        assert_eq!(from_params(r#"[1,2]"#), None);
        assert_eq!(from_params(r#"{"_meta":{"traceparent":"nonsense"}}"#), None);
    }
}
