//! Property tests of messages: arbitrary requests, notifications and responses, with
//! ids of every kind (integers of any size, fractions, strings with escapes and any
//! Unicode, `null`), arbitrary method names and params, encoded with the encoders and
//! parsed back unchanged, alone and in batches.

use std::fmt::Write;

use bytes::BytesMut;
use proptest::prelude::*;
use rpc::message::{
    encode_error, encode_notification, encode_request, encode_result, parse, BatchWriter,
    ErrorCode, Id, IdKind, Incoming, Message,
};
use serde_json::Value;

/// A message as generated, and as it must come back from the parser.
#[derive(Debug, Clone, PartialEq)]
enum Msg {
    Request {
        id: String,
        method: String,
        params: Option<String>,
    },
    Notification {
        method: String,
        params: Option<String>,
    },
    Result {
        id: String,
        result: String,
    },
    Error {
        id: String,
        code: i64,
        message: String,
        data: Option<String>,
    },
}

/// A string id written with every UTF-16 unit escaped, as `\uXXXX`.
fn escaped(s: &str) -> String {
    let mut out = String::from('"');
    for unit in s.encode_utf16() {
        write!(out, "\\u{unit:04x}").unwrap();
    }
    out.push('"');
    out
}

/// The JSON text of an id of any kind JSON-RPC allows.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        // Integers beyond u64, and past f64's exact range.
        "-?[1-9][0-9]{15,40}",
        "-?(0|[1-9][0-9]{0,5})\\.[0-9]{1,6}([eE][-+]?[0-9]{1,2})?",
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        any::<String>().prop_map(|s| escaped(&s)),
        Just("null".to_owned()),
    ]
}

/// Method names: plain ones, and any string at all.
fn method() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z$/._]{0,24}", any::<String>()]
}

/// Any JSON value, a few levels deep.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

/// Params: absent, an array or an object.
fn params() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        proptest::collection::vec(json(), 0..4).prop_map(|v| Some(Value::Array(v))),
        proptest::collection::vec(("[a-zA-Z_]{1,8}", json()), 0..4)
            .prop_map(|m| Some(Value::Object(m.into_iter().collect()))),
    ]
}

fn text(value: &Value) -> String {
    serde_json::to_string(value).unwrap()
}

/// Any message, with what the encoders need to write it.
fn message() -> impl Strategy<Value = (Msg, Option<Value>)> {
    prop_oneof![
        (id(), method(), params()).prop_map(|(id, method, params)| (
            Msg::Request {
                id,
                method,
                params: params.as_ref().map(text)
            },
            params
        )),
        (method(), params()).prop_map(|(method, params)| (
            Msg::Notification {
                method,
                params: params.as_ref().map(text)
            },
            params
        )),
        (id(), json()).prop_map(|(id, result)| (
            Msg::Result {
                id,
                result: text(&result)
            },
            Some(result)
        )),
        (
            id(),
            any::<i64>(),
            any::<String>(),
            proptest::option::of(json())
        )
            .prop_map(|(id, code, message, data)| (
                Msg::Error {
                    id,
                    code,
                    message,
                    data: data.as_ref().map(text)
                },
                data
            )),
    ]
}

/// Encodes a generated message with the encoders (`value`: its params, result or data).
fn encode(buf: &mut BytesMut, msg: &Msg, value: Option<&Value>) {
    fn id(id: &str) -> Id<'_> {
        Id::from_json(id).expect("a valid id")
    }
    match msg {
        Msg::Request { id: i, method, .. } => encode_request(buf, id(i), method, value).unwrap(),
        Msg::Notification { method, .. } => encode_notification(buf, method, value).unwrap(),
        Msg::Result { id: i, .. } => encode_result(buf, id(i), value.unwrap()).unwrap(),
        Msg::Error {
            id: i,
            code,
            message,
            ..
        } => {
            let data = value.map(|d| serde_json::value::to_raw_value(d).unwrap());
            encode_error(buf, id(i), ErrorCode(*code), message, data.as_deref());
        }
    }
}

/// Reads a parsed message back into the generated form.
fn read_back(message: &Message<'_>) -> Msg {
    match message {
        Message::Request(r) => Msg::Request {
            id: r.id.as_json().to_owned(),
            method: r.method.clone().into_owned(),
            params: r.params.map(|p| p.get().to_owned()),
        },
        Message::Notification(n) => Msg::Notification {
            method: n.method.clone().into_owned(),
            params: n.params.map(|p| p.get().to_owned()),
        },
        Message::Response(r) => match &r.outcome {
            Ok(result) => Msg::Result {
                id: r.id.as_json().to_owned(),
                result: result.get().to_owned(),
            },
            Err(e) => Msg::Error {
                id: r.id.as_json().to_owned(),
                code: e.code.code(),
                message: e.message.clone().into_owned(),
                data: e.data.map(|d| d.get().to_owned()),
            },
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// One message: encode, parse, the same message; the id comes back byte for byte
    /// and keeps its kind.
    #[test]
    fn single_message_round_trip((msg, value) in message()) {
        let mut buf = BytesMut::new();
        encode(&mut buf, &msg, value.as_ref());
        let parsed = match parse(&buf) {
            Ok(Incoming::Single(m)) => m,
            other => panic!("{:?} parsed as {other:?}", String::from_utf8_lossy(&buf)),
        };
        prop_assert_eq!(read_back(&parsed), msg.clone());
        let id = match &parsed {
            Message::Request(r) => Some(r.id),
            Message::Response(r) => Some(r.id),
            Message::Notification(_) => None,
        };
        if let Some(id) = id {
            let kind = match id.as_json().as_bytes()[0] {
                b'"' => IdKind::String,
                b'n' => IdKind::Null,
                _ => IdKind::Number,
            };
            prop_assert_eq!(id.kind(), kind);
            if let Ok(n) = id.as_json().parse::<u64>() {
                prop_assert_eq!(id.as_u64(), Some(n));
            }
        }
    }

    /// A batch: encode each element, parse, the same elements in the same order.
    #[test]
    fn batch_round_trip(batch in proptest::collection::vec(message(), 1..8)) {
        let mut buf = BytesMut::new();
        let mut writer = BatchWriter::new();
        for (msg, value) in &batch {
            writer.begin_element(&mut buf);
            encode(&mut buf, msg, value.as_ref());
        }
        prop_assert!(writer.finish(&mut buf));
        let elements = match parse(&buf) {
            Ok(Incoming::Batch(elements)) => elements,
            other => panic!("{:?} parsed as {other:?}", String::from_utf8_lossy(&buf)),
        };
        let back: Vec<Msg> = elements
            .iter()
            .map(|e| read_back(e.as_ref().expect("a valid element")))
            .collect();
        let sent: Vec<Msg> = batch.into_iter().map(|(m, _)| m).collect();
        prop_assert_eq!(back, sent);
    }
}

/// Found by `batch_round_trip`: `"data": null` in an error object was read as no data,
/// so a caller could not tell it from an absent member and re-encoding dropped it.
#[test]
fn error_data_null_is_kept() {
    let frame = br#"{"jsonrpc":"2.0","id":0,"error":{"code":0,"message":"","data":null}}"#;
    let Ok(Incoming::Single(message)) = parse(frame) else {
        panic!("an error response")
    };
    assert_eq!(
        read_back(&message),
        Msg::Error {
            id: "0".into(),
            code: 0,
            message: String::new(),
            data: Some("null".into())
        }
    );
}
