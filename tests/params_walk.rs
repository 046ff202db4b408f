//! The generated decoders walk the top level of long params themselves
//! (`rpc/src/service/params_walk.rs`): every call must get what serde_json's decode
//! of the same params gives, a value or the same -32602 message.

use std::borrow::Cow;

use rpc::rpc_service;
use serde::{Deserialize, Serialize};

#[path = "support/ready.rs"]
mod ready;
use ready::ready;

#[derive(Debug, Deserialize, Serialize)]
pub struct Point {
    pub x: i64,
    pub label: String,
}

#[rpc_service]
pub trait Walked {
    async fn strings(&self, a: String, b: &str, c: Cow<'_, str>, d: Option<String>) -> String;
    async fn numbers(&self, n: i64, f: f64, u: Option<u8>, flag: bool) -> String;
    async fn nested(&self, points: Vec<Point>, names: Vec<&str>) -> String;
    async fn any(&self, v: serde_json::Value, w: Option<serde_json::Value>) -> String;
}

struct Impl;

impl Walked for Impl {
    async fn strings(&self, a: String, b: &str, c: Cow<'_, str>, d: Option<String>) -> String {
        format!("{a:?} {b:?} {c:?} {d:?}")
    }
    async fn numbers(&self, n: i64, f: f64, u: Option<u8>, flag: bool) -> String {
        format!("{n} {f} {u:?} {flag}")
    }
    async fn nested(&self, points: Vec<Point>, names: Vec<&str>) -> String {
        format!("{points:?} {names:?}")
    }
    async fn any(&self, v: serde_json::Value, w: Option<serde_json::Value>) -> String {
        format!("{v} {w:?}")
    }
}

type Server = WalkedServer<Impl>;

/// What a method answers to `params`: its text, or the error's message.
fn call(method: &str, params: &str) -> String {
    let out = match method {
        "strings" => ready(Server::__call_strings(&Impl, Some(params))),
        "numbers" => ready(Server::__call_numbers(&Impl, Some(params))),
        "nested" => ready(Server::__call_nested(&Impl, Some(params))),
        "any" => ready(Server::__call_any(&Impl, Some(params))),
        _ => unreachable!(),
    };
    match out {
        Ok(text) => format!("ok {text}"),
        Err(err) => format!("error {} {}", err.code.0, err.message),
    }
}

/// The members after a leading unknown one: a long string (the walk's way), or a
/// short array before the same string (serde_json's way: the walk gives up at once
/// on an array near the start). The first unknown key is `_pad` in both.
fn both_ways(members: &str, pad: usize) -> (String, String) {
    let long = "p".repeat(pad);
    let walked = format!(r#"{{"_pad":"{long}",{members}}}"#);
    let serde = format!(r#"{{"_pad":[0],"_pad2":"{long}",{members}}}"#);
    (walked, serde)
}

#[test]
fn named_params_decode_as_serde_json_decodes_them() {
    let long = format!("{}\\n\\u00e9\\\"{}", "t".repeat(500), "😀".repeat(50));
    let cases: Vec<(&str, String)> = vec![
        (
            "strings",
            format!(r#""a":"{long}","b":"plain","c":"x\ty","d":"{long}""#),
        ),
        ("strings", r#""a":"x","b":"y","c":"z","d":null"#.to_owned()),
        ("strings", r#""a":"x","b":"y","c":"z""#.to_owned()),
        ("strings", r#""a":"x","b":"esc\naped","c":"z""#.to_owned()),
        ("strings", r#""a":7,"b":"y","c":"z""#.to_owned()),
        ("strings", r#""a":"x","b":[1],"c":"z""#.to_owned()),
        ("strings", r#""a":"x","c":"z""#.to_owned()),
        ("strings", r#""a":"x","a":"y","b":"y","c":"z""#.to_owned()),
        (
            "strings",
            r#""a":"\uD83D\uDE00","b":"y","c":"\uD83D","d":"x""#.to_owned(),
        ),
        (
            "strings",
            r#""\u0061":"key with an escape","b":"y","c":"z""#.to_owned(),
        ),
        (
            "numbers",
            r#""n":-12,"f":1.5e3,"u":255,"flag":true"#.to_owned(),
        ),
        ("numbers", r#""n":1,"f":2,"u":256,"flag":true"#.to_owned()),
        ("numbers", r#""n":1.5,"f":2,"flag":false"#.to_owned()),
        ("numbers", r#""n":"1","f":2,"flag":false"#.to_owned()),
        ("numbers", r#""n":1,"f":2,"u":null,"flag":null"#.to_owned()),
        (
            "numbers",
            r#" "n" : 1 , "f" : 2 , "flag" : false "#.to_owned(),
        ),
        (
            "nested",
            r#""points":[{"x":1,"label":"a"}],"names":["n","m"]"#.to_owned(),
        ),
        ("nested", r#""points":[{"x":1}],"names":[]"#.to_owned()),
        ("nested", r#""points":[],"names":["a\nb"]"#.to_owned()),
        ("any", r#""v":{"k":[1,2.5,"s",null]},"w":"x""#.to_owned()),
        ("any", format!(r#""v":"{long}","w":null"#)),
    ];
    for (method, members) in &cases {
        // Arrays and objects near the start are left to serde_json; past 4 KiB the
        // walk delimits them itself.
        for pad in [1100, 5000] {
            let (walked, serde) = both_ways(members, pad);
            assert_eq!(
                call(method, &walked),
                call(method, &serde),
                "{method} {members}"
            );
        }
    }
}

#[test]
fn positional_params_decode_as_serde_json_decodes_them() {
    let long = format!("{}\\n{}", "t".repeat(3000), "u".repeat(2000));
    let cases = [
        ("strings", format!(r#"["{long}","b","c","{long}"]"#)),
        ("strings", format!(r#"["{long}","b\n","c"]"#)),
        ("strings", format!(r#"["{long}","b","c","d","e"]"#)),
        ("strings", format!(r#"["{long}"]"#)),
        ("any", format!(r#"["{long}",[1,{{"a":"b"}}]]"#)),
        ("any", format!(r#"[ "{long}" , null ]"#)),
    ];
    for (method, params) in &cases {
        // The same params with an array first, which the walk leaves to serde_json,
        // is not the same call; serde_json's own decode is the reference here.
        let reference = match *method {
            "strings" => rpc::__private::decode_params::<(String, String, String, Option<String>)>(
                Some(params),
            )
            .map(|(a, b, c, d)| format!("{a:?} {b:?} {c:?} {d:?}")),
            _ => rpc::__private::decode_params::<(serde_json::Value, Option<serde_json::Value>)>(
                Some(params),
            )
            .map(|(v, w)| format!("{v} {w:?}")),
        };
        let walked = call(method, params);
        match reference {
            Ok(text) => assert_eq!(walked, format!("ok {text}"), "{method} {params}"),
            Err(_) => assert!(walked.starts_with("error -32602"), "{walked}"),
        }
    }
}

#[test]
fn nesting_near_the_limit_is_left_to_serde_json() {
    // serde_json counts its nesting limit from the params; a value nested this deep
    // must fail (or not) as it does within them.
    for depth in [118, 121, 126, 127, 128, 200] {
        let v = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let (walked, serde) = both_ways(&format!(r#""v":{v}"#), 5000);
        assert_eq!(call("any", &walked), call("any", &serde), "{depth}");
    }
}
