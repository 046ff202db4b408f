//! Frames whose member names have no escapes take a path of their own through the
//! parser (the members are skipped by a scan of their own, not by serde_json). These
//! pin, on large params, that the answers are those of the general path: invalid
//! JSON anywhere is -32700 with a null id, nesting is limited before anything runs,
//! and params are borrowed from the frame.

use rpc::message::{parse, parse_with, ErrorCode, Id, Incoming, Message, ParseLimits};

/// A 64 KiB string with an escape every 64 bytes, as the codec bench sends.
fn long_text() -> String {
    (0..1024).map(|i| format!("{i:062}\\n")).collect()
}

fn request(params: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":7,"method":"echo","params":{params}}}"#)
}

/// The same frame with its params first and a member name escaped, which only the
/// general path parses.
fn params_first(params: &str) -> String {
    format!(r#"{{"params":{params},"jsonrp\u0063":"2.0","id":7,"method":"echo"}}"#)
}

#[test]
fn large_params_are_borrowed_from_the_frame() {
    let params = format!(
        r#"{{"text":"{}","n":[1,2.5e3,-0,true,null,{{}}]}}"#,
        long_text()
    );
    let frame = request(&params);
    let Ok(Incoming::Single(Message::Request(req))) = parse(frame.as_bytes()) else {
        panic!("not a request")
    };
    assert_eq!(req.method, "echo");
    assert_eq!(req.id.as_json(), "7");
    let raw = req.params.unwrap().get();
    assert_eq!(raw, params);
    let at = raw.as_ptr() as usize - frame.as_ptr() as usize;
    assert_eq!(&frame[at..at + raw.len()], params);
}

#[test]
fn invalid_json_in_large_params_is_a_parse_error_with_a_null_id() {
    let text = long_text();
    let broken = [
        // A raw control character in a string.
        format!(r#"{{"text":"{text}{}"}}"#, '\u{1}'),
        // An escape JSON does not have, far into the string.
        format!(r#"{{"text":"{text}\x41"}}"#),
        format!(r#"{{"text":"{text}\u12"}}"#),
        // Structure.
        format!(r#"{{"text":"{text}",}}"#),
        format!(r#"{{"text":"{text}" "n":1}}"#),
        format!(r#"{{text:"{text}"}}"#),
        format!(r#"["{text}",01]"#),
        format!(r#"["{text}",1.]"#),
        format!(r#"["{text}",tru]"#),
        format!(r#"["{text}""#),
    ];
    for params in &broken {
        for frame in [request(params), params_first(params)] {
            let Err(invalid) = parse(frame.as_bytes()) else {
                panic!("accepted: {}", &params[params.len() - 20..])
            };
            assert_eq!(invalid.code, ErrorCode::PARSE_ERROR, "{}", invalid.reason);
            assert_eq!(invalid.id, Id::NULL);
        }
    }
    // The message is serde_json's, as for any frame.
    let frame = request(&broken[3]);
    let reason = parse(frame.as_bytes()).unwrap_err().reason;
    assert!(
        reason.starts_with("Parse error: key must be a string at line 1 column"),
        "{reason}"
    );
}

#[test]
fn invalid_utf8_in_large_params_is_a_parse_error() {
    let text = long_text();
    for (bad, after_non_ascii) in [(0xFF, false), (0x80, false), (0xFF, true)] {
        let lead = if after_non_ascii { "é" } else { "" };
        let mut frame = request(&format!(r#"{{"text":"{lead}{text}"}}"#)).into_bytes();
        let at = frame.len() - 100;
        frame[at] = bad;
        let Err(invalid) = parse(&frame) else {
            panic!("accepted invalid UTF-8")
        };
        assert_eq!(invalid.code, ErrorCode::PARSE_ERROR, "{}", invalid.reason);
        assert_eq!(invalid.id, Id::NULL);
    }
    // Valid UTF-8 beyond ASCII is taken as it is.
    let params = format!(r#"{{"text":"{text}é€😀"}}"#);
    let frame = request(&params);
    let Ok(Incoming::Single(Message::Request(req))) = parse(frame.as_bytes()) else {
        panic!("not a request")
    };
    assert_eq!(req.params.unwrap().get(), params);
}

#[test]
fn nesting_in_large_params_is_limited_before_anything_runs() {
    let text = long_text();
    let nested = |levels: usize| {
        format!(
            r#"{{"text":"{text}","deep":{}{}}}"#,
            "[".repeat(levels),
            "]".repeat(levels)
        )
    };
    // The message is level 1, the params object 2, so 126 arrays reach 128.
    let limits = ParseLimits::default();
    assert!(parse_with(request(&nested(126)).as_bytes(), limits).is_ok());
    for levels in [127, 200] {
        let frame = request(&nested(levels));
        let invalid = parse_with(frame.as_bytes(), limits).unwrap_err();
        assert_eq!(invalid.code, ErrorCode::INVALID_REQUEST);
        assert!(
            invalid.reason.contains("nested deeper"),
            "{}",
            invalid.reason
        );
    }
    let tight = ParseLimits {
        max_depth: Some(3),
        ..limits
    };
    assert!(parse_with(request(&nested(1)).as_bytes(), tight).is_ok());
    assert!(parse_with(request(&nested(2)).as_bytes(), tight).is_err());
    // Without a limit, any depth the general path takes is taken.
    let unlimited = ParseLimits {
        max_depth: None,
        ..limits
    };
    assert!(parse_with(request(&nested(300)).as_bytes(), unlimited).is_ok());
}

#[test]
fn large_frames_of_other_shapes_parse_as_before() {
    let text = long_text();
    let params = format!(r#"["{text}"]"#);
    // Params first, a member after the params, whitespace, an escaped key, no params.
    let frames = [
        params_first(&params),
        format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{params},"id":7}}"#),
        format!(" {{ \"jsonrpc\" : \"2.0\" , \"id\" : 7 , \"method\" : \"echo\" , \"params\" : {params} }} \n"),
        format!(r#"{{"jsonrpc":"2.0","id":7,"method":"echo","p\u0061rams":{params}}}"#),
    ];
    for frame in &frames {
        let Ok(Incoming::Single(Message::Request(req))) = parse(frame.as_bytes()) else {
            panic!("not a request: {}", &frame[..60])
        };
        assert_eq!(req.params.unwrap().get(), params);
        assert_eq!(req.method, "echo");
    }
    let notification = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{params}}}"#);
    assert!(matches!(
        parse(notification.as_bytes()),
        Ok(Incoming::Single(Message::Notification(_)))
    ));
    // Members that make it no request, before the params.
    let cases = [
        (
            format!(r#"{{"jsonrpc":"2.0","id":7,"method":"echo","id":8,"params":{params}}}"#),
            ErrorCode::INVALID_REQUEST,
        ),
        (
            format!(r#"{{"jsonrpc":"1.0","id":7,"method":"echo","params":{params}}}"#),
            ErrorCode::INVALID_REQUEST,
        ),
        (
            format!(r#"{{"jsonrpc":"2.0","id":7,"method":"echo","params":"{text}"}}"#),
            ErrorCode::INVALID_REQUEST,
        ),
        (
            format!(r#"{{"jsonrpc":"2.0","id":7,"method":"echo","params":{params}}}}}"#),
            ErrorCode::PARSE_ERROR,
        ),
    ];
    for (frame, code) in &cases {
        assert_eq!(
            parse(frame.as_bytes()).unwrap_err().code,
            *code,
            "{}",
            &frame[..50]
        );
    }
    // Still an id to answer with when the version is wrong.
    assert_eq!(parse(cases[1].0.as_bytes()).unwrap_err().id.as_json(), "7");
}

#[test]
fn every_one_byte_change_to_large_params_is_judged_as_serde_json_judges_it() {
    #[derive(serde::Deserialize)]
    struct Params<'a> {
        #[serde(borrow)]
        params: &'a serde_json::value::RawValue,
    }
    let filler = "x".repeat(900);
    let params = format!(
        r#"{{"a":[1,-2.5e+3,0,true,false,null,{{}},[]],"s":"{filler}\n\"\u00e9é","b":{{"c":"d"}}}}"#
    )
    .replace('\n', "\\n");
    let frame = request(&params).into_bytes();
    let start = frame.len() - params.len() - 1;
    let bytes = [
        b'"', b'\\', b',', b':', b'}', b']', b'{', b'[', 1, b'x', b'0', b'-', b'.', b' ', b'e',
        0xC3, 0xA9, 0xFF,
    ];
    let mut checked = 0;
    for at in start..frame.len() {
        for &b in &bytes {
            let mut changed = frame.clone();
            changed[at] = b;
            // (serde_json skips over strings without checking their UTF-8.)
            let valid = std::str::from_utf8(&changed).is_ok()
                && serde_json::from_slice::<serde::de::IgnoredAny>(&changed).is_ok();
            match parse(&changed) {
                Ok(Incoming::Single(Message::Request(req))) => {
                    assert!(valid, "accepted invalid JSON at {at} ({b:#x})");
                    let expected = serde_json::from_slice::<Params>(&changed).unwrap();
                    assert_eq!(req.params.unwrap().get(), expected.params.get());
                }
                Ok(_) => panic!("not a request at {at} ({b:#x})"),
                Err(invalid) if !valid => {
                    assert_eq!(invalid.code, ErrorCode::PARSE_ERROR, "at {at} ({b:#x})");
                    assert_eq!(invalid.id, Id::NULL);
                }
                // Valid JSON that is not a request: params that are not a container.
                Err(invalid) => assert_eq!(
                    invalid.code,
                    ErrorCode::INVALID_REQUEST,
                    "at {at} ({b:#x}): {} in {}",
                    invalid.reason,
                    String::from_utf8_lossy(
                        &changed[at.saturating_sub(20)..(at + 20).min(changed.len())]
                    )
                ),
            }
            checked += 1;
        }
    }
    assert!(checked > 10_000, "{checked}");
}
