//! Exact allocation counts of a call with 64 KiB of params, parsed and decoded on the
//! generated path. A counting global allocator wraps the system one; this file is its
//! own test binary so nothing else allocates on its count.

use rpc::message::{parse, Incoming, Message};
use rpc::rpc_service;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/ready.rs"]
mod ready;

use counting_alloc::allocations_in;
use ready::ready;

#[rpc_service]
pub trait Text {
    async fn owned(&self, text: String) -> usize;
    /// The address of the text's first byte, to show it was not copied.
    async fn borrowed(&self, text: &str) -> usize;
}

struct Impl;

impl Text for Impl {
    async fn owned(&self, text: String) -> usize {
        text.len()
    }
    async fn borrowed(&self, text: &str) -> usize {
        text.as_ptr() as usize
    }
}

type Server = TextServer<Impl>;

fn frame(method: &str, text: &str) -> Vec<u8> {
    format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{"text":"{text}"}}}}"#)
        .into_bytes()
}

#[test]
fn parsing_64_kib_params_allocates_nothing() {
    let text: String = (0..1024).map(|i| format!("{i:062}\\n")).collect();
    let frame = frame("owned", &text);
    let count = allocations_in(|| {
        for _ in 0..10 {
            let Ok(Incoming::Single(Message::Request(req))) = parse(std::hint::black_box(&frame))
            else {
                panic!("not a request")
            };
            std::hint::black_box(req);
        }
    });
    assert_eq!(count, 0);
}

#[test]
fn decoding_64_kib_of_escaped_text_into_a_string_allocates_the_string_once() {
    // An escape every 64 bytes. serde_json would unescape into its scratch buffer,
    // which grows by doubling from empty (a fresh one per decode: 12 allocations up
    // to 124 KiB), then copy it into the String (13 in all); the generated decoder's
    // walk unescapes straight into the String, allocated once at the size of the
    // escaped text.
    let text: String = (0..1024).map(|i| format!("{i:062}\\n")).collect();
    let frame = frame("owned", &text);
    let mut len = 0;
    let count = allocations_in(|| {
        let Ok(Incoming::Single(Message::Request(req))) = parse(&frame) else {
            panic!("not a request")
        };
        len = ready(Server::__call_owned(&Impl, req.params.map(|p| p.get()))).unwrap();
    });
    assert_eq!(len, 1024 * 63);
    assert_eq!(count, 1);
}

#[test]
fn a_64_kib_str_parameter_points_into_the_frame_without_allocating() {
    let text = "x".repeat(64 * 1024);
    let frame = frame("borrowed", &text);
    let mut at = 0;
    let count = allocations_in(|| {
        let Ok(Incoming::Single(Message::Request(req))) = parse(&frame) else {
            panic!("not a request")
        };
        at = ready(Server::__call_borrowed(&Impl, req.params.map(|p| p.get()))).unwrap();
    });
    assert_eq!(count, 0);
    let start = frame.windows(4).position(|w| w == b"xxxx").unwrap();
    assert_eq!(at, frame.as_ptr() as usize + start);
}
