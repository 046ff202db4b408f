//! JSON-RPC 2.0 message rules: parsing single messages and batches, ids of every kind,
//! and encoding.

use bytes::BytesMut;
use rpc::message::{
    encode_error, encode_notification, encode_request, encode_result, parse, parse_with,
    BatchWriter, ErrorCode, Id, IdKind, Incoming, Invalid, Message, ParseLimits,
};

fn single(frame: &str) -> Message<'_> {
    match parse(frame.as_bytes()) {
        Ok(Incoming::Single(message)) => message,
        other => panic!("expected a single message from {frame}, got {other:?}"),
    }
}

fn invalid(frame: &str) -> Invalid<'_> {
    match parse(frame.as_bytes()) {
        Err(invalid) => invalid,
        other => panic!("expected {frame} to be refused, got {other:?}"),
    }
}

#[test]
fn request_with_named_params_borrows_method_and_params() {
    let frame = r#"{"jsonrpc":"2.0","id":7,"method":"add","params":{"a":1,"b":2}}"#;
    let Message::Request(req) = single(frame) else {
        panic!("not a request")
    };
    assert_eq!(req.id.as_json(), "7");
    assert_eq!(req.method, "add");
    assert!(matches!(req.method, std::borrow::Cow::Borrowed(_)));
    let params = req.params.unwrap().get();
    assert_eq!(params, r#"{"a":1,"b":2}"#);
    let range = frame.as_bytes().as_ptr_range();
    assert!(
        range.contains(&params.as_ptr()),
        "params must point into the frame"
    );
    assert!(
        range.contains(&req.method.as_ptr()),
        "method must point into the frame"
    );
}

#[test]
fn request_with_positional_params_and_no_params() {
    let Message::Request(req) =
        single(r#"{"jsonrpc":"2.0","method":"subtract","params":[42,23],"id":1}"#)
    else {
        panic!()
    };
    assert_eq!(req.params.unwrap().get(), "[42,23]");
    let Message::Request(req) = single(r#"{"jsonrpc":"2.0","method":"get_data","id":"9"}"#) else {
        panic!()
    };
    assert!(req.params.is_none());
    assert_eq!(req.id.kind(), IdKind::String);
}

#[test]
fn method_with_escapes_is_unescaped() {
    let Message::Notification(n) = single(r#"{"jsonrpc":"2.0","method":"tools\/list"}"#) else {
        panic!()
    };
    assert_eq!(n.method, "tools/list");
}

#[test]
fn message_without_id_is_a_notification() {
    let Message::Notification(n) =
        single(r#"{"jsonrpc":"2.0","method":"update","params":[1,2,3,4,5]}"#)
    else {
        panic!()
    };
    assert_eq!(n.method, "update");
}

#[test]
fn null_id_is_a_request_not_a_notification() {
    let Message::Request(req) = single(r#"{"jsonrpc":"2.0","method":"m","id":null}"#) else {
        panic!("a null id is still an id")
    };
    assert!(req.id.is_null());
}

#[test]
fn ids_are_echoed_byte_for_byte() {
    for id in [
        "9007199254740993",
        "-1",
        "0",
        "1.5",
        "1e400",
        "18446744073709551616",
        r#""abc""#,
        r#""\u00e9\n\"q\"""#,
        r#""""#,
        "null",
    ] {
        let frame = format!(r#"{{"jsonrpc":"2.0","method":"m","id":{id}}}"#);
        let Message::Request(req) = single(&frame) else {
            panic!()
        };
        assert_eq!(req.id.as_json(), id);
        let mut out = BytesMut::new();
        encode_result(&mut out, req.id, &true).unwrap();
        let expected = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":true}}"#);
        assert_eq!(std::str::from_utf8(&out).unwrap(), expected);
    }
}

#[test]
fn id_of_wrong_type_is_invalid_request_with_null_id() {
    for id in ["{}", "[1]", "true", "false"] {
        let frame = format!(r#"{{"jsonrpc":"2.0","method":"m","id":{id}}}"#);
        let err = invalid(&frame);
        assert_eq!(err.code, ErrorCode::INVALID_REQUEST, "{frame}");
        assert!(err.id.is_null());
        assert!(err.reason.contains("id"), "{}", err.reason);
    }
}

#[test]
fn large_integer_id_is_read_without_float_rounding() {
    let id = Id::from_json("9007199254740993").unwrap();
    assert_eq!(id.as_u64(), Some(9_007_199_254_740_993));
    assert_eq!(Id::from_json("\"5\"").unwrap().as_u64(), None);
    assert_eq!(Id::from_json("-5").unwrap().as_u64(), None);
}

#[test]
fn invalid_json_is_a_parse_error_with_null_id() {
    for frame in [
        r#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
        "{",
        "",
        "   ",
        "nul",
        r#"{"jsonrpc":"2.0","method":"m","id":1}x"#,
    ] {
        let err = invalid(frame);
        assert_eq!(err.code, ErrorCode::PARSE_ERROR, "{frame:?}");
        assert!(err.id.is_null());
        assert!(!err.is_response);
    }
}

#[test]
fn invalid_utf8_is_a_parse_error() {
    let frame = b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\xfe\",\"id\":1}";
    let err = parse(frame).unwrap_err();
    assert_eq!(err.code, ErrorCode::PARSE_ERROR);
    let frame = b"[{\"jsonrpc\":\"2.0\",\"method\":\"m\",\"id\":\"\xc3\x28\"}]";
    assert_eq!(parse(frame).unwrap_err().code, ErrorCode::PARSE_ERROR);
}

#[test]
fn deeply_nested_json_does_not_overflow_the_stack() {
    let depth = 1_000_000;
    let mut nested = "[".repeat(depth);
    nested.push_str(&"]".repeat(depth));
    // As a batch element: read as raw, then refused as a non-object element.
    match parse(nested.as_bytes()) {
        Ok(Incoming::Batch(elements)) => {
            assert_eq!(elements.len(), 1);
            assert_eq!(
                elements[0].as_ref().unwrap_err().code,
                ErrorCode::INVALID_REQUEST
            );
        }
        Err(err) => assert!(matches!(
            err.code,
            ErrorCode::PARSE_ERROR | ErrorCode::INVALID_REQUEST
        )),
        Ok(other) => panic!("unexpected {other:?}"),
    }
    // With the default limits every such frame is refused as too deep (-32600) by an
    // iterative scan; without a depth limit, params are kept raw, not walked
    // recursively, and unbalanced input is a parse error. Never a crash.
    let unlimited = ParseLimits {
        max_depth: None,
        ..ParseLimits::default()
    };
    let frame = format!(r#"{{"jsonrpc":"2.0","method":"m","id":1,"params":{nested}}}"#);
    assert_eq!(
        parse(frame.as_bytes()).unwrap_err().code,
        ErrorCode::INVALID_REQUEST
    );
    assert!(parse_with(frame.as_bytes(), unlimited).is_ok());
    let unbalanced = "[".repeat(depth);
    let objects = r#"{"a":"#.repeat(depth);
    for frame in [&unbalanced, &objects] {
        assert_eq!(
            parse(frame.as_bytes()).unwrap_err().code,
            ErrorCode::INVALID_REQUEST
        );
        assert_eq!(
            parse_with(frame.as_bytes(), unlimited).unwrap_err().code,
            ErrorCode::PARSE_ERROR
        );
    }
}

#[test]
fn wrong_or_missing_version_is_invalid_request_keeping_the_id() {
    for frame in [
        r#"{"method":"m","id":4}"#,
        r#"{"jsonrpc":"1.0","method":"m","id":4}"#,
        r#"{"jsonrpc":2.0,"method":"m","id":4}"#,
        r#"{"jsonrpc":null,"method":"m","id":4}"#,
    ] {
        let err = invalid(frame);
        assert_eq!(err.code, ErrorCode::INVALID_REQUEST, "{frame}");
        assert_eq!(err.id.as_json(), "4", "{frame}");
        assert!(err.reason.contains("jsonrpc"));
    }
}

#[test]
fn method_must_be_a_string() {
    // The spec's own example: {"jsonrpc": "2.0", "method": 1, "params": "bar"}
    let err = invalid(r#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#);
    assert_eq!(err.code, ErrorCode::INVALID_REQUEST);
    assert!(err.id.is_null());
    let err = invalid(r#"{"jsonrpc":"2.0","method":null,"id":"x"}"#);
    assert_eq!(err.id.as_json(), r#""x""#);
}

#[test]
fn params_must_be_structured() {
    for params in ["1", r#""bar""#, "true", "null"] {
        let frame = format!(r#"{{"jsonrpc":"2.0","method":"m","id":2,"params":{params}}}"#);
        let err = invalid(&frame);
        assert_eq!(err.code, ErrorCode::INVALID_REQUEST, "{frame}");
        assert_eq!(err.id.as_json(), "2");
        assert!(err.reason.contains("params"));
    }
}

#[test]
fn object_without_method_or_result_is_invalid_request() {
    let err = invalid(r#"{"jsonrpc":"2.0","id":3}"#);
    assert_eq!(err.code, ErrorCode::INVALID_REQUEST);
    assert_eq!(err.id.as_json(), "3");
}

#[test]
fn duplicate_member_is_invalid_request() {
    let err = invalid(r#"{"jsonrpc":"2.0","method":"a","method":"b","id":1}"#);
    assert_eq!(err.code, ErrorCode::INVALID_REQUEST);
}

#[test]
fn request_carrying_a_result_is_refused() {
    let err = invalid(r#"{"jsonrpc":"2.0","method":"a","result":1,"id":1}"#);
    assert_eq!(err.code, ErrorCode::INVALID_REQUEST);
}

#[test]
fn unknown_members_are_ignored() {
    let Message::Request(req) = single(r#"{"jsonrpc":"2.0","x":{"deep":[1]},"method":"m","id":1}"#)
    else {
        panic!()
    };
    assert_eq!(req.method, "m");
}

#[test]
fn scalar_json_is_invalid_request() {
    for frame in ["1", r#""text""#, "null", "true"] {
        let err = invalid(frame);
        assert_eq!(err.code, ErrorCode::INVALID_REQUEST, "{frame}");
        assert!(err.id.is_null());
    }
}

#[test]
fn null_result_is_a_valid_success_response() {
    let Message::Response(resp) = single(r#"{"jsonrpc":"2.0","result":null,"id":1}"#) else {
        panic!()
    };
    assert_eq!(resp.outcome.unwrap().get(), "null");
}

#[test]
fn error_response_is_parsed() {
    let Message::Response(resp) = single(
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found","data":{"m":"x"}},"id":"1"}"#,
    ) else {
        panic!()
    };
    let err = resp.outcome.unwrap_err();
    assert_eq!(err.code, ErrorCode::METHOD_NOT_FOUND);
    assert_eq!(err.message, "Method not found");
    assert_eq!(err.data.unwrap().get(), r#"{"m":"x"}"#);
    assert_eq!(resp.id.as_json(), r#""1""#);
}

#[test]
fn error_response_with_null_id_is_accepted() {
    let Message::Response(resp) =
        single(r#"{"jsonrpc":"2.0","error":{"code":-32700,"message":"Parse error"},"id":null}"#)
    else {
        panic!()
    };
    assert!(resp.id.is_null());
}

#[test]
fn malformed_responses_are_refused_and_marked_as_responses() {
    for frame in [
        r#"{"jsonrpc":"2.0","result":1,"error":{"code":1,"message":"m"},"id":1}"#,
        r#"{"jsonrpc":"2.0","error":{"code":"x","message":"m"},"id":1}"#,
        r#"{"jsonrpc":"2.0","error":{"code":1},"id":1}"#,
        r#"{"jsonrpc":"2.0","error":"bad","id":1}"#,
        r#"{"jsonrpc":"2.0","result":1}"#,
        r#"{"result":1,"id":1}"#,
    ] {
        let err = invalid(frame);
        assert_eq!(err.code, ErrorCode::INVALID_REQUEST, "{frame}");
        assert!(err.is_response, "{frame} should be marked as a response");
    }
}

#[test]
fn empty_batch_is_a_single_invalid_request() {
    let err = invalid("[]");
    assert_eq!(err.code, ErrorCode::INVALID_REQUEST);
    assert!(err.id.is_null());
    let err = invalid(" [ ] ");
    assert_eq!(err.code, ErrorCode::INVALID_REQUEST);
}

#[test]
fn batch_of_non_objects_gives_one_invalid_request_per_element() {
    for frame in ["[1]", "[1,2,3]", r#"["a",null,[],true]"#] {
        let Ok(Incoming::Batch(elements)) = parse(frame.as_bytes()) else {
            panic!("{frame}")
        };
        let expected = serde_json::from_str::<Vec<serde_json::Value>>(frame)
            .unwrap()
            .len();
        assert_eq!(elements.len(), expected);
        for element in elements {
            let err = element.unwrap_err();
            assert_eq!(err.code, ErrorCode::INVALID_REQUEST);
            assert!(err.id.is_null());
        }
    }
}

#[test]
fn invalid_json_batch_is_one_parse_error() {
    let frame = r#"[
      {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
      {"jsonrpc": "2.0", "method"
    ]"#;
    let err = invalid(frame);
    assert_eq!(err.code, ErrorCode::PARSE_ERROR);
    assert!(err.id.is_null());
}

#[test]
fn mixed_batch_parses_each_element_on_its_own() {
    // The spec's mixed batch.
    let frame = r#"[
        {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
    ]"#;
    let Ok(Incoming::Batch(elements)) = parse(frame.as_bytes()) else {
        panic!()
    };
    assert_eq!(elements.len(), 6);
    assert!(
        matches!(&elements[0], Ok(Message::Request(r)) if r.method == "sum" && r.id.as_json() == r#""1""#)
    );
    assert!(matches!(&elements[1], Ok(Message::Notification(n)) if n.method == "notify_hello"));
    assert!(matches!(&elements[2], Ok(Message::Request(r)) if r.method == "subtract"));
    assert!(
        matches!(&elements[3], Err(e) if e.code == ErrorCode::INVALID_REQUEST && e.id.is_null())
    );
    assert!(matches!(&elements[4], Ok(Message::Request(r)) if r.method == "foo.get"));
    assert!(matches!(&elements[5], Ok(Message::Request(r)) if r.id.as_json() == r#""9""#));
}

#[test]
fn batch_of_responses_is_parsed() {
    let frame = r#"[{"jsonrpc":"2.0","result":7,"id":"1"},{"jsonrpc":"2.0","error":{"code":-32600,"message":"Invalid Request"},"id":null}]"#;
    let Ok(Incoming::Batch(elements)) = parse(frame.as_bytes()) else {
        panic!()
    };
    assert!(
        matches!(&elements[0], Ok(Message::Response(r)) if r.outcome.as_ref().unwrap().get() == "7")
    );
    assert!(matches!(&elements[1], Ok(Message::Response(r)) if r.outcome.is_err()));
}

#[test]
fn batch_longer_than_the_limit_is_refused() {
    let frame = format!("[{}]", [r#"{"jsonrpc":"2.0","method":"m"}"#; 11].join(","));
    let limits = ParseLimits {
        max_batch_len: 10,
        ..ParseLimits::default()
    };
    let err = parse_with(frame.as_bytes(), limits).unwrap_err();
    assert_eq!(err.code, ErrorCode::INVALID_REQUEST);
    assert!(err.reason.contains("limit of 10"), "{}", err.reason);
    assert!(parse_with(
        frame.as_bytes(),
        ParseLimits {
            max_batch_len: 11,
            ..ParseLimits::default()
        }
    )
    .is_ok());
}

#[test]
fn batch_writer_writes_nothing_for_an_all_notification_batch() {
    let mut buf = BytesMut::new();
    let batch = BatchWriter::new();
    assert!(!batch.finish(&mut buf));
    assert!(buf.is_empty());
}

#[test]
fn encoded_request_and_notification_parse_back() {
    let mut buf = BytesMut::new();
    encode_request(
        &mut buf,
        Id::from_json("\"q\"").unwrap(),
        "text/echo",
        Some(&serde_json::json!({"text": "line\nbreak \"quoted\""})),
    )
    .unwrap();
    assert!(!buf.contains(&b'\n'), "compact JSON carries no raw newline");
    let Message::Request(req) = single(std::str::from_utf8(&buf).unwrap()) else {
        panic!()
    };
    assert_eq!(req.method, "text/echo");
    assert_eq!(req.id.as_json(), "\"q\"");

    let mut buf = BytesMut::new();
    encode_notification::<()>(&mut buf, "initialized", None).unwrap();
    assert_eq!(&buf[..], br#"{"jsonrpc":"2.0","method":"initialized"}"#);
}

#[test]
fn failed_encode_leaves_the_buffer_as_it_was() {
    use std::collections::HashMap;
    let mut buf = BytesMut::from(&b"prefix"[..]);
    // Maps with non-string keys cannot be JSON.
    let mut bad = HashMap::new();
    bad.insert(vec![1u8], 1);
    assert!(encode_result(&mut buf, Id::NULL, &bad).is_err());
    assert_eq!(&buf[..], b"prefix");
    assert!(encode_request(&mut buf, Id::NULL, "m", Some(&bad)).is_err());
    assert_eq!(&buf[..], b"prefix");
}

#[test]
fn error_response_encoding_round_trips() {
    let mut buf = BytesMut::new();
    let data = serde_json::value::to_raw_value(&[1, 2]).unwrap();
    encode_error(
        &mut buf,
        Id::from_json("12").unwrap(),
        ErrorCode::INVALID_PARAMS,
        "missing \"b\"",
        Some(&data),
    );
    let Message::Response(resp) = single(std::str::from_utf8(&buf).unwrap()) else {
        panic!()
    };
    let err = resp.outcome.unwrap_err();
    assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
    assert_eq!(err.message, "missing \"b\"");
    assert_eq!(err.data.unwrap().get(), "[1,2]");
}
