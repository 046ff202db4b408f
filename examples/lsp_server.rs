//! A minimal Language Server Protocol server over stdio: document synchronization only.
//!
//! ```text
//! lsp_server
//! ```
//!
//! It takes no arguments and speaks JSON-RPC 2.0 on stdin/stdout with LSP's
//! `Content-Length` framing. It answers `initialize` (advertising open/close and
//! incremental text sync), `shutdown` and `example/documentText` (`{"uri": ..}` → the
//! document's current text), and handles the notifications `initialized`,
//! `textDocument/didOpen`, `textDocument/didChange` (ranged and whole-document changes,
//! positions in UTF-16 code units, lines ending in `\n`, `\r\n` or `\r`),
//! `textDocument/didClose` and `exit`. `$/cancelRequest` is handled by the runtime.
//!
//! On `exit` it stops reading, writes every answer already accepted, and exits with
//! status 0 when `shutdown` came first and 1 otherwise, as LSP asks; it does the same
//! when stdin ends.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rpc::prelude::*;
use rpc::transport::stdio;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Notify;

/// The LSP methods this server handles, as one `#[rpc_service]` trait.
#[rpc_service]
pub trait Lsp {
    /// Says what the server offers.
    #[rpc(name = "initialize")]
    async fn initialize(
        &self,
        #[rpc(rename = "processId")] process_id: Option<Value>,
        #[rpc(rename = "rootUri")] root_uri: Option<Value>,
        capabilities: Option<Value>,
    ) -> Value;
    /// The client has received the `initialize` answer.
    #[rpc(name = "initialized", notification)]
    async fn initialized(&self);
    /// A document was opened: its text is now the client's to send.
    #[rpc(name = "textDocument/didOpen", notification)]
    async fn did_open(&self, #[rpc(rename = "textDocument")] text_document: TextDocumentItem);
    /// A document changed: the changes apply in order.
    #[rpc(name = "textDocument/didChange", notification)]
    async fn did_change(
        &self,
        #[rpc(rename = "textDocument")] text_document: TextDocumentIdentifier,
        #[rpc(rename = "contentChanges")] content_changes: Vec<ContentChange>,
    );
    /// A document was closed: the server forgets it.
    #[rpc(name = "textDocument/didClose", notification)]
    async fn did_close(
        &self,
        #[rpc(rename = "textDocument")] text_document: TextDocumentIdentifier,
    );
    /// The client asks the server to get ready to exit; answers `null`.
    #[rpc(name = "shutdown")]
    async fn shutdown(&self);
    /// The client asks the server to exit.
    #[rpc(name = "exit", notification)]
    async fn exit(&self);
    /// The current text of an open document (an extension, to see the synchronization).
    #[rpc(name = "example/documentText")]
    async fn document_text(&self, uri: String) -> Result<String, RpcError>;
}

/// `TextDocumentItem` of `textDocument/didOpen`; `languageId` and `version` are not
/// needed here and are ignored.
#[derive(Debug, Serialize, Deserialize)]
pub struct TextDocumentItem {
    uri: String,
    text: String,
}

/// The `textDocument` of `didChange` (a `VersionedTextDocumentIdentifier`, whose
/// version is ignored) and `didClose`.
#[derive(Debug, Serialize, Deserialize)]
pub struct TextDocumentIdentifier {
    uri: String,
}

/// A position: a zero-based line and a UTF-16 code unit offset within it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Position {
    line: u32,
    character: u32,
}

/// A range between two positions, end exclusive.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Range {
    start: Position,
    end: Position,
}

/// `TextDocumentContentChangeEvent`: a range and its new text, or (without a range)
/// the whole new text. The deprecated `rangeLength` is ignored, as LSP allows.
#[derive(Debug, Serialize, Deserialize)]
pub struct ContentChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    range: Option<Range>,
    text: String,
}

/// The server's state, shared between the handlers and `main`.
#[derive(Default)]
struct State {
    /// The open documents' texts, by uri.
    documents: Mutex<HashMap<String, String>>,
    /// Set by `shutdown`.
    shut_down: AtomicBool,
    /// Notified by `exit`; `main` then closes the connection.
    exit: Notify,
}

impl State {
    fn documents(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.documents.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The byte offset in `text` of the LSP position (`line`, `character`), where
/// `character` counts UTF-16 code units. Lines end at `\n`, `\r\n` or `\r`; a
/// `character` past the line's end means the line's end (before its line break), and a
/// `line` past the last line means the end of the text. A `character` that falls
/// inside a surrogate pair (in the middle of a non-BMP character) means the start of
/// that character.
fn offset_at(text: &str, line: u32, character: u32) -> usize {
    let bytes = text.as_bytes();
    // The start of the line.
    let mut start = 0;
    for _ in 0..line {
        let Some(brk) = bytes[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        else {
            return text.len();
        };
        let brk = start + brk;
        start = if bytes[brk] == b'\r' && bytes.get(brk + 1) == Some(&b'\n') {
            brk + 2
        } else {
            brk + 1
        };
    }
    // Within the line, up to its break.
    let mut units = 0u32;
    for (i, c) in text[start..].char_indices() {
        if c == '\n' || c == '\r' {
            return start + i;
        }
        let next = units + c.len_utf16() as u32;
        if next > character {
            return start + i;
        }
        units = next;
    }
    text.len()
}

/// Applies one change to `text`, as LSP defines it.
fn apply_change(text: &mut String, change: &ContentChange) {
    match change.range {
        None => text.clone_from(&change.text),
        Some(Range { start, end }) => {
            let start = offset_at(text, start.line, start.character);
            let end = offset_at(text, end.line, end.character);
            let (start, end) = (start.min(end), start.max(end));
            text.replace_range(start..end, &change.text);
        }
    }
}

impl Lsp for State {
    async fn initialize(
        &self,
        _process_id: Option<Value>,
        _root_uri: Option<Value>,
        _capabilities: Option<Value>,
    ) -> Value {
        json!({
            "capabilities": {
                // 2: incremental changes.
                "textDocumentSync": { "openClose": true, "change": 2 },
            },
            "serverInfo": { "name": "rpc-lsp-example", "version": env!("CARGO_PKG_VERSION") },
        })
    }

    async fn initialized(&self) {}

    async fn did_open(&self, text_document: TextDocumentItem) {
        self.documents()
            .insert(text_document.uri, text_document.text);
    }

    async fn did_change(
        &self,
        text_document: TextDocumentIdentifier,
        content_changes: Vec<ContentChange>,
    ) {
        let mut documents = self.documents();
        let Some(text) = documents.get_mut(&text_document.uri) else {
            eprintln!(
                "lsp_server: didChange of {:?}, which is not open; ignored",
                text_document.uri
            );
            return;
        };
        for change in &content_changes {
            apply_change(text, change);
        }
    }

    async fn did_close(&self, text_document: TextDocumentIdentifier) {
        self.documents().remove(&text_document.uri);
    }

    async fn shutdown(&self) {
        self.shut_down.store(true, Ordering::SeqCst);
    }

    async fn exit(&self) {
        // A permit is kept if `main` is not waiting yet.
        self.exit.notify_one();
    }

    async fn document_text(&self, uri: String) -> Result<String, RpcError> {
        match self.documents().get(&uri) {
            Some(text) => Ok(text.clone()),
            None => Err(RpcError::invalid_params(format!(
                "no open document has the uri {uri:?}; send textDocument/didOpen first"
            ))),
        }
    }
}

#[tokio::main]
async fn main() {
    let state = Arc::new(State::default());
    let server = Server::new(LspServer::from_arc(state.clone()));
    let peer = server.serve_connection(stdio::connection(Framing::ContentLength));
    tokio::select! {
        () = peer.closed() => {}
        () = state.exit.notified() => {
            // Stops reading, lets the calls already read finish, writes their answers,
            // flushes and closes stdout.
            peer.close();
            peer.closed().await;
        }
    }
    // Read after the connection closed, so a `shutdown` still running when `exit`
    // arrived counts.
    let status = if state.shut_down.load(Ordering::SeqCst) {
        0
    } else {
        1
    };
    // Exit at once: returning would drop the runtime, which waits for the blocking
    // read of stdin, and the client may keep stdin open until the process is gone.
    std::process::exit(status);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(text: &str, (l1, c1): (u32, u32), (l2, c2): (u32, u32), new: &str) -> String {
        let mut text = text.to_owned();
        apply_change(
            &mut text,
            &ContentChange {
                range: Some(Range {
                    start: Position {
                        line: l1,
                        character: c1,
                    },
                    end: Position {
                        line: l2,
                        character: c2,
                    },
                }),
                text: new.to_owned(),
            },
        );
        text
    }

    #[test]
    fn offsets_count_utf16_units_within_a_line() {
        let text = "aé😀b";
        // a: 1 byte, 1 unit; é: 2 bytes, 1 unit; 😀: 4 bytes, 2 units.
        assert_eq!(offset_at(text, 0, 0), 0);
        assert_eq!(offset_at(text, 0, 1), 1);
        assert_eq!(offset_at(text, 0, 2), 3);
        assert_eq!(offset_at(text, 0, 4), 7);
        assert_eq!(offset_at(text, 0, 5), 8);
        // Inside the surrogate pair: the start of the emoji.
        assert_eq!(offset_at(text, 0, 3), 3);
    }

    #[test]
    fn every_line_break_ends_a_line() {
        let text = "ab\ncd\r\nef\rgh";
        assert_eq!(offset_at(text, 1, 0), 3);
        assert_eq!(offset_at(text, 2, 0), 7);
        assert_eq!(offset_at(text, 3, 0), 10);
        assert_eq!(offset_at(text, 3, 2), 12);
        // "\r\n" is one break, not two.
        assert_eq!(offset_at("a\r\nb", 1, 0), 3);
        assert_eq!(offset_at("a\r\rb", 2, 0), 3);
        assert_eq!(offset_at("a\n\nb", 2, 0), 3);
    }

    #[test]
    fn positions_past_the_end_are_clamped() {
        let text = "ab\r\ncd\n";
        // Past the line's end: before its break.
        assert_eq!(offset_at(text, 0, 99), 2);
        assert_eq!(offset_at(text, 1, 99), 6);
        // The empty last line after the final break, and lines past it.
        assert_eq!(offset_at(text, 2, 0), 7);
        assert_eq!(offset_at(text, 2, 5), 7);
        assert_eq!(offset_at(text, 3, 0), 7);
        assert_eq!(offset_at("", 0, 0), 0);
        assert_eq!(offset_at("", 5, 5), 0);
    }

    #[test]
    fn changes_replace_ranges_and_whole_documents() {
        assert_eq!(
            change("hello\nworld", (0, 3), (1, 2), "p\nwo"),
            "help\nworld"
        );
        assert_eq!(change("a😀b", (0, 1), (0, 3), ""), "ab");
        assert_eq!(change("a😀b", (0, 3), (0, 3), "é"), "a😀éb");
        assert_eq!(change("x\r\ny", (0, 1), (1, 0), ""), "xy");
        assert_eq!(change("x", (9, 0), (9, 0), "!"), "x!");
        let mut text = String::from("old");
        apply_change(
            &mut text,
            &ContentChange {
                range: None,
                text: "new".into(),
            },
        );
        assert_eq!(text, "new");
    }
}
