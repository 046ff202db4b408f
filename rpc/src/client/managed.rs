//! The endpoint set behind reconnecting and balanced clients.
//!
//! Each endpoint has a slot and a task that keeps it connected: it connects, waits
//! for the connection to close, and connects again after a backoff. Calls read the
//! slots under a short lock and pick a connected one ([`super::balance`]); a call
//! that finds none waits on a generation counter that every change of a slot bumps.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{Backoff, CallOptions, Client, Endpoint};
use crate::error::Error;
use crate::peer::{Peer, RawResponse};

/// How a managed client ([`Client::reconnecting`], [`Client::balanced`]) copes with
/// endpoints that come and go.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Reconnect {
    /// The wait between connection attempts to one endpoint ([`Backoff::default`]:
    /// 50 ms doubling to 5 s, jittered).
    pub backoff: Backoff,
    /// What a call does when no endpoint is connected ([`WhenDown::Wait`]).
    pub when_down: WhenDown,
    /// How many times a call marked idempotent is sent again after the connection
    /// it went over died before its response came (2). Calls not marked idempotent
    /// are never sent twice; calls that were not sent at all always go on to the
    /// next connection.
    pub retries: u32,
    /// The deadline of a call that names none (30 s), counting the time it waits
    /// for a connection; `None` waits as long as it takes.
    pub request_timeout: Option<Duration>,
}

impl Default for Reconnect {
    fn default() -> Self {
        Reconnect {
            backoff: Backoff::default(),
            when_down: WhenDown::Wait,
            retries: 2,
            request_timeout: Some(Duration::from_secs(30)),
        }
    }
}

impl Reconnect {
    /// With this backoff.
    #[must_use]
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// With this behaviour when no endpoint is connected.
    #[must_use]
    pub fn when_down(mut self, when_down: WhenDown) -> Self {
        self.when_down = when_down;
        self
    }

    /// Sending idempotent calls again at most `retries` times (0: never).
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// With this default deadline.
    #[must_use]
    pub fn request_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.request_timeout = timeout;
        self
    }
}

/// What a call made while no endpoint is connected does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum WhenDown {
    /// Waits for a connection, up to the call's deadline; then fails with
    /// [`Error::NotSent`].
    #[default]
    Wait,
    /// Fails at once with [`Error::NotSent`], saying what each endpoint last said.
    FailFast,
}

/// How one endpoint of a managed client is doing ([`Client::endpoints`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EndpointStatus {
    /// The endpoint's name ([`Endpoint::name`]).
    pub name: String,
    /// Whether calls can go to it now.
    pub connected: bool,
    /// Calls waiting for responses on its connection.
    pub pending_calls: usize,
    /// Failed connection attempts since it was last connected.
    pub failed_attempts: u32,
    /// Why it last failed or closed, if it did.
    pub last_error: Option<String>,
}

/// One endpoint and its connection.
pub(crate) struct Slot {
    pub(crate) endpoint: Endpoint,
    /// Its rendezvous weight is a hash of this and a call's key.
    pub(crate) seed: u64,
    state: Mutex<State>,
    /// Cancelled when the set closes or the endpoint is removed.
    stop: CancellationToken,
    /// Removed (not closed): calls in flight run to their end first.
    draining: AtomicBool,
    /// A call found the server unreachable (HTTP): connect again.
    unreachable: Notify,
}

enum State {
    Connecting {
        failed_attempts: u32,
        last_error: Option<String>,
    },
    Up {
        peer: Peer,
    },
}

impl Slot {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Its connection, when it has one that is open.
    pub(crate) fn peer(&self) -> Option<Peer> {
        match &*self.state() {
            State::Up { peer } if !peer.is_closed() => Some(peer.clone()),
            _ => None,
        }
    }

    /// Pending calls on its connection, if it is up (the balancing load).
    pub(crate) fn load(&self) -> Option<usize> {
        match &*self.state() {
            State::Up { peer } if !peer.is_closed() => Some(peer.pending_calls()),
            _ => None,
        }
    }

    fn status(&self) -> EndpointStatus {
        let (connected, pending_calls, failed_attempts, last_error) = match &*self.state() {
            State::Up { peer } => (!peer.is_closed(), peer.pending_calls(), 0, None),
            State::Connecting {
                failed_attempts,
                last_error,
            } => (false, 0, *failed_attempts, last_error.clone()),
        };
        EndpointStatus {
            name: self.endpoint.name().to_owned(),
            connected,
            pending_calls,
            failed_attempts,
            last_error,
        }
    }
}

/// The endpoints of a managed client, shared by its clones.
pub(crate) struct Set {
    pub(crate) policy: Reconnect,
    slots: Mutex<Vec<Arc<Slot>>>,
    /// Bumped at every change of a slot's state; calls waiting for a connection
    /// watch it.
    changed: Arc<watch::Sender<u64>>,
    stop: CancellationToken,
    tasks: TaskTracker,
    next_seed: AtomicU64,
}

impl Drop for Set {
    /// The last clone of the client is gone: the tasks stop and close their
    /// connections.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Set {
    pub(crate) fn new(policy: Reconnect) -> Arc<Self> {
        Arc::new(Set {
            policy,
            slots: Mutex::new(Vec::new()),
            changed: Arc::new(watch::channel(0).0),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            next_seed: AtomicU64::new(0),
        })
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` over the slots under the lock.
    pub(crate) fn with_slots<T>(&self, f: impl FnOnce(&[Arc<Slot>]) -> T) -> T {
        f(&self.slots())
    }

    /// Adds an endpoint and starts keeping it connected.
    pub(crate) fn insert(&self, endpoint: Endpoint) -> Arc<Slot> {
        let seed = super::balance::hash_key(endpoint.name())
            ^ self
                .next_seed
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(1 << 32);
        let slot = Arc::new(Slot {
            endpoint,
            seed,
            state: Mutex::new(State::Connecting {
                failed_attempts: 0,
                last_error: None,
            }),
            stop: self.stop.child_token(),
            draining: AtomicBool::new(false),
            unreachable: Notify::new(),
        });
        self.slots().push(slot.clone());
        self.tasks.spawn(keep_connected(
            slot.clone(),
            self.changed.clone(),
            self.policy.backoff,
            self.policy.request_timeout,
        ));
        slot
    }

    /// Removes an endpoint: no new call goes to it, and its connection closes once
    /// the calls in flight on it are done.
    pub(crate) fn remove(&self, slot: &Arc<Slot>) {
        self.slots().retain(|s| !Arc::ptr_eq(s, slot));
        slot.draining.store(true, Ordering::Release);
        slot.stop.cancel();
        self.changed.send_modify(|g| *g += 1);
    }

    pub(crate) fn status(&self) -> Vec<EndpointStatus> {
        self.slots().iter().map(|s| s.status()).collect()
    }

    pub(crate) fn pending_calls(&self) -> usize {
        self.slots().iter().filter_map(|s| s.load()).sum()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.stop.is_cancelled()
    }

    pub(crate) fn close(&self) {
        self.stop.cancel();
        self.tasks.close();
    }

    pub(crate) async fn closed(&self) {
        self.stop.cancelled().await;
        self.tasks.close();
        self.tasks.wait().await;
    }

    pub(crate) fn stopped(&self) -> &CancellationToken {
        &self.stop
    }

    /// The deadline of a call with `timeout` (or the policy's).
    pub(crate) fn deadline(&self, timeout: Option<Duration>) -> Option<Instant> {
        timeout
            .or(self.policy.request_timeout)
            .map(|t| Instant::now() + t)
    }

    /// A connected endpoint for a call (by `key`, or the less loaded of two),
    /// waiting for one until `deadline` when none is and the policy says so.
    ///
    /// # Errors
    ///
    /// [`Error::NotSent`] when none is connected in time, or the client is closed.
    pub(crate) async fn pick(
        &self,
        key: Option<u64>,
        deadline: Option<Instant>,
    ) -> Result<(Peer, Arc<Slot>), Error> {
        let started = Instant::now();
        let mut changed = self.changed.subscribe();
        loop {
            if self.stop.is_cancelled() {
                return Err(Error::NotSent {
                    reason: "the client is closed".into(),
                });
            }
            changed.borrow_and_update();
            if let Some(found) = self.with_slots(|slots| super::balance::pick(slots, key)) {
                return Ok(found);
            }
            if self.policy.when_down == WhenDown::FailFast {
                return Err(self.unavailable(None));
            }
            let wait = async {
                tokio::select! {
                    _ = changed.changed() => {}
                    () = self.stop.cancelled() => {}
                }
            };
            match deadline {
                Some(at) => {
                    if tokio::time::timeout_at(at, wait).await.is_err() {
                        return Err(self.unavailable(Some(started.elapsed())));
                    }
                }
                None => wait.await,
            }
        }
    }

    /// Why no endpoint could take a call: what each last said.
    fn unavailable(&self, waited: Option<Duration>) -> Error {
        let statuses = self.status();
        let mut reason = match waited {
            Some(waited) => format!("no endpoint connected within {waited:.0?}"),
            None => "no endpoint connected".to_owned(),
        };
        if statuses.is_empty() {
            reason.push_str(" (the client has no endpoints)");
        }
        for (i, s) in statuses.iter().enumerate() {
            reason.push_str(if i == 0 { ": " } else { "; " });
            reason.push_str(&s.name);
            match &s.last_error {
                Some(err) => {
                    reason.push_str(": ");
                    reason.push_str(err);
                }
                None => reason.push_str(": connecting"),
            }
            if s.failed_attempts > 0 {
                reason.push_str(&format!(" ({} failed attempts)", s.failed_attempts));
            }
        }
        Error::NotSent { reason }
    }

    /// A call over the set: to a connected endpoint, again to another when it was
    /// not sent, and again when idempotent and its connection died.
    pub(crate) async fn call<P>(
        &self,
        key: Option<u64>,
        method: &str,
        params: Option<&P>,
        options: CallOptions,
    ) -> Result<RawResponse, Error>
    where
        P: Serialize + ?Sized,
    {
        let timeout = options.timeout.or(self.policy.request_timeout);
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut resent = 0;
        // A connection that closes between the pick and the send refuses the call
        // before the reader has marked it closed; bounded, so that cannot spin.
        let mut not_sent = 0;
        loop {
            let (peer, slot) = self.pick(key, deadline).await?;
            let remaining = deadline.map(|at| at.saturating_duration_since(Instant::now()));
            let result = match peer.call_raw(method, params, remaining).await {
                Ok(response) if slot.endpoint.connectionless => {
                    match transport_failure(&response) {
                        Some(Failure::Unreachable) => {
                            // The request never reached the server: not sent, so it
                            // goes on to another endpoint, and this one is tried
                            // again later.
                            slot.unreachable.notify_one();
                            not_sent += 1;
                            if not_sent > 100 {
                                return Ok(response);
                            }
                            self.wait_for_change(&slot).await;
                            continue;
                        }
                        Some(Failure::Lost) => {
                            slot.unreachable.notify_one();
                            Err(Error::closed(
                                response.result().err().map_or("", |e| &e.message),
                            ))
                        }
                        None => Ok(response),
                    }
                }
                other => other,
            };
            match result {
                Err(Error::NotSent { reason }) => {
                    not_sent += 1;
                    if not_sent > 100 {
                        return Err(Error::NotSent {
                            reason: format!("{}: {reason}", slot.endpoint.name()),
                        });
                    }
                    tokio::task::yield_now().await;
                }
                Err(Error::ConnectionClosed { reason }) => {
                    if options.idempotent && resent < self.policy.retries {
                        resent += 1;
                        continue;
                    }
                    let sent = if resent > 0 {
                        format!(" (sent {} times)", resent + 1)
                    } else {
                        String::new()
                    };
                    return Err(Error::ConnectionClosed {
                        reason: format!("{}: {reason}{sent}", slot.endpoint.name()),
                    });
                }
                Err(Error::Timeout { method, .. }) => {
                    return Err(Error::Timeout {
                        method,
                        after: timeout.unwrap_or_default(),
                    })
                }
                other => return other,
            }
        }
    }

    /// Waits (briefly) for the slot to leave the connected state, so that the next
    /// pick does not take it again.
    async fn wait_for_change(&self, slot: &Slot) {
        let mut changed = self.changed.subscribe();
        let _ = tokio::time::timeout(Duration::from_millis(100), async {
            while slot.peer().is_some() {
                if changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }
}

/// How an HTTP call failed short of an answer, as the HTTP client reports it
/// (never, without the `http` feature).
#[cfg_attr(not(feature = "http"), allow(dead_code))]
enum Failure {
    Unreachable,
    Lost,
}

fn transport_failure(response: &RawResponse) -> Option<Failure> {
    #[cfg(feature = "http")]
    {
        use crate::http::TransportFailure;
        crate::http::transport_failure(response).map(|f| match f {
            TransportFailure::Unreachable => Failure::Unreachable,
            TransportFailure::Lost => Failure::Lost,
        })
    }
    #[cfg(not(feature = "http"))]
    {
        let _ = response;
        None
    }
}

/// Keeps `slot` connected until it is stopped: connect, wait for the connection to
/// close, wait out the backoff, again.
async fn keep_connected(
    slot: Arc<Slot>,
    changed: Arc<watch::Sender<u64>>,
    backoff: Backoff,
    drain_limit: Option<Duration>,
) {
    let bump = || changed.send_modify(|g| *g = g.wrapping_add(1));
    let mut failed_attempts = 0u32;
    loop {
        let attempt = tokio::select! {
            () = slot.stop.cancelled() => break,
            attempt = slot.endpoint.connect() => attempt,
        };
        let delay = match attempt.and_then(one_connection(&slot.endpoint)) {
            Ok((client, peer)) => {
                failed_attempts = 0;
                *slot.state() = State::Up { peer: peer.clone() };
                bump();
                let closed_by = tokio::select! {
                    () = peer.closed() => Some(peer.close_reason()),
                    () = slot.unreachable.notified() => Some("the server did not answer".to_owned()),
                    () = slot.stop.cancelled() => None,
                };
                let Some(reason) = closed_by else {
                    if slot.draining.load(Ordering::Acquire) {
                        drain(&peer, drain_limit).await;
                    }
                    client.close();
                    client.closed().await;
                    break;
                };
                *slot.state() = State::Connecting {
                    failed_attempts: 0,
                    last_error: Some(reason),
                };
                bump();
                client.close();
                backoff.delay(0)
            }
            Err(err) => {
                failed_attempts = failed_attempts.saturating_add(1);
                *slot.state() = State::Connecting {
                    failed_attempts,
                    last_error: Some(err.to_string()),
                };
                bump();
                backoff.delay(failed_attempts - 1)
            }
        };
        tokio::select! {
            () = slot.stop.cancelled() => break,
            () = tokio::time::sleep(delay) => {}
        }
    }
}

/// The client an endpoint opened must be one connection (a managed client inside
/// another would route each call twice).
fn one_connection(
    endpoint: &Endpoint,
) -> impl FnOnce(Client) -> Result<(Client, Peer), Error> + '_ {
    move |client| match client.peer().cloned() {
        Some(peer) => Ok((client, peer)),
        None => Err(Error::NotSent {
            reason: format!(
                "the endpoint {} opened a managed client; an endpoint opens one connection",
                endpoint.name()
            ),
        }),
    }
}

/// Waits for the calls in flight on a removed endpoint's connection, at most
/// `limit`.
async fn drain(peer: &Peer, limit: Option<Duration>) {
    let wait = async {
        while peer.pending_calls() > 0 && !peer.is_closed() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    match limit {
        Some(limit) => {
            let _ = tokio::time::timeout(limit, wait).await;
        }
        None => wait.await,
    }
}
