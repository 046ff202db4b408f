//! A WebSocket client written by hand over a tokio socket, so that a test can send
//! any frame (fragments, bad UTF-8, floods of pings) and read the server's frames
//! as they come, or not read them at all.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

pub const TEXT: u8 = 0x1;
pub const CONTINUATION: u8 = 0x0;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// Upgrades a fresh connection to `addr` to a WebSocket on `/`.
pub async fn upgrade(addr: SocketAddr) -> TcpStream {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket
        .write_all(
            format!(
                "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = timeout(Duration::from_secs(10), socket.read(&mut byte))
            .await
            .expect("the server answers the upgrade")
            .unwrap();
        assert_eq!(n, 1, "the server closed the upgrade");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "not upgraded");
    socket
}

/// A masked frame from the client: `fin`, `opcode`, `payload`.
pub fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    let mask = [0x12, 0x34, 0x56, 0x78];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// A text frame carrying a JSON-RPC call of `method` with `params`, id `id`.
pub fn call(id: u64, method: &str, params: &str) -> Vec<u8> {
    let text = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#);
    frame(true, TEXT, text.as_bytes())
}

/// Reads one unmasked frame from the server: its opcode and payload; `None` at the
/// end of the stream (or a reset).
pub async fn read_frame(socket: &mut TcpStream) -> Option<(u8, Vec<u8>)> {
    let mut head = [0u8; 2];
    socket.read_exact(&mut head).await.ok()?;
    let len = match head[1] & 0x7f {
        126 => {
            let mut len = [0u8; 2];
            socket.read_exact(&mut len).await.ok()?;
            usize::from(u16::from_be_bytes(len))
        }
        127 => {
            let mut len = [0u8; 8];
            socket.read_exact(&mut len).await.ok()?;
            usize::try_from(u64::from_be_bytes(len)).unwrap()
        }
        len => usize::from(len),
    };
    let mut payload = vec![0u8; len];
    socket.read_exact(&mut payload).await.ok()?;
    Some((head[0] & 0x0f, payload))
}

/// What the server sent until it closed: its text messages, the pongs, and its
/// close frame's code and reason (`None` when it closed without one).
#[derive(Debug, Default)]
pub struct Heard {
    pub texts: Vec<String>,
    pub pongs: usize,
    pub close: Option<(u16, String)>,
}

/// Reads frames until a close frame, the end of the stream, or `limit`.
pub async fn until_close(socket: &mut TcpStream, limit: Duration) -> Heard {
    let mut heard = Heard::default();
    let reading = async {
        while let Some((opcode, payload)) = read_frame(socket).await {
            match opcode {
                TEXT => heard.texts.push(String::from_utf8(payload).unwrap()),
                PONG => heard.pongs += 1,
                PING => {}
                CLOSE => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    let reason = String::from_utf8_lossy(&payload[2..]).into_owned();
                    heard.close = Some((code, reason));
                    return;
                }
                other => panic!("unexpected frame with opcode {other:#x}"),
            }
        }
    };
    let _ = timeout(limit, reading).await;
    heard
}
