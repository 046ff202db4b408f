//! HTTP sessions named by a header (MCP's `Mcp-Session-Id`): a request that starts
//! one gets a new id in its response, later requests name it, and `DELETE` ends it.
//! Each HTTP session is one serving session, as a connection is: its calls share an
//! in-flight limit and one [`crate::ConnectionInfo`], whichever HTTP connections
//! carry them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::header::HeaderName;
use http::request::Parts;

use crate::engine::Session;

/// Whether a request that names no session is refused.
type Requirement = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;

/// How [`super::HttpService`] keeps sessions across HTTP requests; set on
/// [`super::HttpConfig::sessions`]. What each case looks like on the wire:
///
/// | request | response |
/// |---|---|
/// | a `POST` without the header of a request whose method is in [`HttpSessions::started_by`] | its answer; when that is a result (not an error), with the header naming a new session |
/// | a `POST` naming a session | served in that session |
/// | a `POST` naming an unknown, ended or expired session | 404 with a -32600 error body: start a new one |
/// | another `POST` without the header, when [`HttpSessions::required_when`] says so (always, by default) | 400 with a -32600 error body |
/// | another `POST` without the header, otherwise | served without a session (stateless) |
/// | `DELETE` naming a session | 204; the session's calls still running are stopped |
/// | a start over [`HttpSessions::max_sessions`] | 503 with `Retry-After` and a -32000 error body |
///
/// Session ids are 128 random bits from the operating system, in hex.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpSessions {
    /// The header that names a session (`Mcp-Session-Id`, say).
    pub header: HeaderName,
    /// The methods whose request, sent without a session, starts one (none).
    pub started_by: Vec<String>,
    /// Whether a request that starts no session and names none is refused (always).
    pub required: Requirement,
    /// The most sessions open at once (1024).
    pub max_sessions: usize,
    /// How long a session lasts without a request (30 minutes); after it, the
    /// session is ended as by `DELETE`.
    pub idle_timeout: Duration,
}

impl HttpSessions {
    /// Sessions named by the header `header`, started by no method yet (see
    /// [`HttpSessions::started_by`]).
    ///
    /// # Panics
    ///
    /// When `header` is not a valid header name.
    pub fn new(header: &str) -> Self {
        HttpSessions {
            header: HeaderName::from_bytes(header.as_bytes())
                .unwrap_or_else(|_| panic!("{header:?} is not a valid HTTP header name")),
            started_by: Vec::new(),
            required: Arc::new(|_| true),
            max_sessions: 1024,
            idle_timeout: Duration::from_secs(30 * 60),
        }
    }

    /// The methods whose request starts a session (`["initialize"]` for MCP).
    #[must_use]
    pub fn started_by<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.started_by = methods.into_iter().map(Into::into).collect();
        self
    }

    /// Refuses a request that names no session only when `required` says so of its
    /// head; the others are served without one. (MCP's 2026 revision is stateless:
    /// its requests say so in `MCP-Protocol-Version`.)
    #[must_use]
    pub fn required_when(
        mut self,
        required: impl Fn(&Parts) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.required = Arc::new(required);
        self
    }

    /// Sets the most sessions open at once.
    #[must_use]
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.max_sessions = max;
        self
    }

    /// Sets how long a session lasts without a request.
    #[must_use]
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }
}

impl std::fmt::Debug for HttpSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSessions")
            .field("header", &self.header)
            .field("started_by", &self.started_by)
            .field("max_sessions", &self.max_sessions)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// The open sessions of one server (or one [`super::HttpService`] and its clones).
pub(crate) struct SessionTable {
    pub(crate) config: HttpSessions,
    open: Mutex<HashMap<Box<str>, Open>>,
}

struct Open {
    session: Session,
    last_used: Instant,
}

impl SessionTable {
    pub(crate) fn new(config: HttpSessions) -> Self {
        SessionTable {
            config,
            open: Mutex::new(HashMap::new()),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Open>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session named `id`, if it is open and has not expired.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let mut open = self.open();
        let entry = open.get_mut(id)?;
        if entry.last_used.elapsed() > self.config.idle_timeout {
            let expired = open.remove(id);
            drop(open);
            if let Some(expired) = expired {
                end(&expired.session);
            }
            return None;
        }
        entry.last_used = Instant::now();
        Some(entry.session.clone())
    }

    /// Whether another session can start, after ending the expired ones.
    pub(crate) fn has_room(&self) -> bool {
        let mut open = self.open();
        if open.len() < self.config.max_sessions {
            return true;
        }
        let timeout = self.config.idle_timeout;
        let mut expired = Vec::new();
        open.retain(|_, entry| {
            let keep = entry.last_used.elapsed() <= timeout;
            if !keep {
                expired.push(entry.session.clone());
            }
            keep
        });
        let room = open.len() < self.config.max_sessions;
        drop(open);
        expired.iter().for_each(end);
        room
    }

    /// Opens `session` under a new id, which it returns; `None` when there is no
    /// room (another request took the last place) or no randomness for an id.
    pub(crate) fn insert(&self, session: Session) -> Option<String> {
        let id = new_id()?;
        let mut open = self.open();
        if open.len() >= self.config.max_sessions {
            return None;
        }
        open.insert(
            id.clone().into_boxed_str(),
            Open {
                session,
                last_used: Instant::now(),
            },
        );
        Some(id)
    }

    /// Ends the session named `id`; `false` when none is open by that name.
    pub(crate) fn remove(&self, id: &str) -> bool {
        let removed = self.open().remove(id);
        match removed {
            Some(entry) => {
                end(&entry.session);
                true
            }
            None => false,
        }
    }
}

/// Stops an ended session's calls still running; their callers are answered -32800.
fn end(session: &Session) {
    session.state.stop_calls.cancel();
}

/// 128 bits from the operating system's random source, as 32 hex digits: visible
/// ASCII, as MCP asks of a session id, and not guessable.
fn new_id() -> Option<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).ok()?;
    let mut id = String::with_capacity(32);
    for byte in bytes {
        use std::fmt::Write;
        let _ = write!(id, "{byte:02x}");
    }
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::new_id;

    #[test]
    fn ids_are_32_hex_digits_and_differ() {
        let (a, b) = (new_id().unwrap(), new_id().unwrap());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
