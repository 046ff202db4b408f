//! What this end sends: calls (their ids, deadlines and cleanup), notifications and
//! batches; and the responses that come back for them.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use super::correlation::{Completion, RawResponse};
use super::{deadlines, Peer, Shared};
use crate::engine::CANCEL_METHOD;
use crate::error::Error;
use crate::message::{encode_notification, encode_request, Id, JsonText, Response};

impl Peer {
    /// Calls `method` with `params` and decodes the result, with the configured
    /// deadline.
    ///
    /// # Errors
    ///
    /// See [`Error`]: the server's error, a timeout, a lost connection, or a result
    /// that does not decode as `R`.
    pub async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, Error>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let response = self
            .call_raw(method, Some(params), self.shared.config().request_timeout)
            .await?;
        response.decode(method)
    }

    /// Calls `method` with `params` and decodes the result, waiting at most
    /// `timeout` for the response (instead of the configured deadline).
    ///
    /// # Errors
    ///
    /// As [`Peer::call`]; [`Error::Timeout`] names `timeout`.
    pub async fn call_within<P, R>(
        &self,
        method: &str,
        params: &P,
        timeout: Duration,
    ) -> Result<R, Error>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let response = self.call_raw(method, Some(params), Some(timeout)).await?;
        response.decode(method)
    }

    /// Calls `method` and returns the raw response, with an explicit deadline.
    ///
    /// # Errors
    ///
    /// See [`Error`]; a server error is returned inside the [`RawResponse`].
    pub async fn call_raw<P>(
        &self,
        method: &str,
        params: Option<&P>,
        timeout: Option<Duration>,
    ) -> Result<RawResponse, Error>
    where
        P: Serialize + ?Sized,
    {
        self.call_raw_noting(method, params, timeout, |_| {}).await
    }

    /// [`Peer::call_raw`], telling `note` the call's id before it is sent.
    pub(crate) async fn call_raw_noting<P>(
        &self,
        method: &str,
        params: Option<&P>,
        timeout: Option<Duration>,
        note: impl FnOnce(u64),
    ) -> Result<RawResponse, Error>
    where
        P: Serialize + ?Sized,
    {
        let shared = &self.shared;
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        note(id);
        let mut buf = shared.config().buffer_pool.take(256);
        let mut digits = itoa::Buffer::new();
        encode_request(&mut buf, Id::from_u64(id, &mut digits), method, params)?;
        let (tx, rx) = oneshot::channel();
        let deadline = shared.deadline(timeout);
        shared.pending.insert(id, tx, deadline)?;
        let mut guard = PendingGuard {
            shared,
            id,
            armed: true,
            timed_out: false,
        };
        deadlines::ask(shared, deadline);
        if shared
            .writer
            .send(shared.config().buffer_pool.freeze(buf))
            .await
            .is_err()
        {
            guard.disarm();
            shared.pending.remove(id);
            return Err(Error::not_sent("the connection's writer has stopped"));
        }
        let completion = rx.await;
        match completion {
            Ok(Err(Error::Timeout { .. })) => {
                guard.timed_out = true;
                Err(Error::Timeout {
                    method: method.to_owned(),
                    after: timeout.unwrap_or_default(),
                })
            }
            completion => {
                guard.disarm();
                completion.unwrap_or_else(|_| Err(Error::closed("the connection closed")))
            }
        }
    }

    /// Sends a notification (no response comes back).
    ///
    /// # Errors
    ///
    /// When the params fail to encode or the connection has closed.
    pub async fn notify<P>(&self, method: &str, params: Option<&P>) -> Result<(), Error>
    where
        P: Serialize + ?Sized,
    {
        let mut buf = self.shared.config().buffer_pool.take(256);
        encode_notification(&mut buf, method, params)?;
        let frame = self.shared.config().buffer_pool.freeze(buf);
        self.shared
            .writer
            .send(frame)
            .await
            .map_err(|_| Error::not_sent("the connection's writer has stopped"))
    }

    /// Starts a batch of calls and notifications sent as one frame; nothing is sent
    /// until [`BatchBuilder::send`].
    #[must_use]
    pub fn batch(&self) -> BatchBuilder<'_> {
        BatchBuilder {
            peer: self,
            buf: BytesMut::new(),
            ids: Vec::new(),
            error: None,
        }
    }
}

/// Removes a call's entry when the call ends without its response (timeout, or the
/// future dropped), and tells the other end it may stop working on it.
struct PendingGuard<'a> {
    shared: &'a Shared,
    id: u64,
    armed: bool,
    /// The deadline passed: the timer took the entry out already.
    timed_out: bool,
}

impl PendingGuard<'_> {
    /// The response came; nothing is left to clean up.
    fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed
            && (self.timed_out || self.shared.pending.remove(self.id))
            && self.shared.config().cancel_on_drop
        {
            #[derive(Serialize)]
            struct CancelParams {
                id: u64,
            }
            let mut buf = self.shared.config().buffer_pool.take(64);
            if encode_notification(&mut buf, CANCEL_METHOD, Some(&CancelParams { id: self.id }))
                .is_ok()
            {
                // Best effort: a full queue means the cancel is not worth waiting for.
                let _ = self
                    .shared
                    .writer
                    .try_send(self.shared.config().buffer_pool.freeze(buf));
            }
        }
    }
}

/// Calls and notifications gathered into one batch frame.
pub struct BatchBuilder<'a> {
    peer: &'a Peer,
    buf: BytesMut,
    ids: Vec<u64>,
    error: Option<Error>,
}

impl std::fmt::Debug for BatchBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("ids", &self.ids)
            .field("bytes", &self.buf.len())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl BatchBuilder<'_> {
    fn separator(&mut self) {
        self.buf
            .extend_from_slice(if self.buf.is_empty() { b"[" } else { b"," });
    }

    /// Adds a call; its response is the next element of [`BatchBuilder::send`]'s result.
    #[must_use]
    pub fn call<P: Serialize + ?Sized>(mut self, method: &str, params: &P) -> Self {
        let id = self.peer.shared.next_id.fetch_add(1, Ordering::Relaxed);
        self.separator();
        let mut digits = itoa::Buffer::new();
        if let Err(err) = encode_request(
            &mut self.buf,
            Id::from_u64(id, &mut digits),
            method,
            Some(params),
        ) {
            self.error.get_or_insert(err.into());
        }
        self.ids.push(id);
        self
    }

    /// Adds a notification.
    #[must_use]
    pub fn notify<P: Serialize + ?Sized>(mut self, method: &str, params: &P) -> Self {
        self.separator();
        if let Err(err) = encode_notification(&mut self.buf, method, Some(params)) {
            self.error.get_or_insert(err.into());
        }
        self
    }

    /// Sends the batch and waits for every call's response, in the order the calls
    /// were added.
    ///
    /// # Errors
    ///
    /// The whole batch fails when a params value fails to encode or the connection is
    /// closed; each call's own outcome is in its element.
    pub async fn send(mut self) -> Result<Vec<Result<RawResponse, Error>>, Error> {
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        if self.buf.is_empty() {
            return Ok(Vec::new());
        }
        self.buf.extend_from_slice(b"]");
        let shared = &self.peer.shared;
        let mut receivers = Vec::with_capacity(self.ids.len());
        let mut guards = Vec::with_capacity(self.ids.len());
        let timeout = shared.config().request_timeout;
        let deadline = shared.deadline(timeout);
        for &id in &self.ids {
            let (tx, rx) = oneshot::channel();
            shared.pending.insert(id, tx, deadline)?;
            receivers.push(rx);
            guards.push(PendingGuard {
                shared,
                id,
                armed: true,
                timed_out: false,
            });
        }
        deadlines::ask(&self.peer.shared, deadline);
        shared
            .writer
            .send(self.buf.freeze())
            .await
            .map_err(|_| Error::not_sent("the connection's writer has stopped"))?;
        let mut results = Vec::with_capacity(receivers.len());
        for (rx, mut guard) in receivers.into_iter().zip(guards) {
            match rx.await {
                Ok(Err(Error::Timeout { .. })) => {
                    guard.timed_out = true;
                    results.push(Err(Error::Timeout {
                        method: "batch".into(),
                        after: timeout.unwrap_or_default(),
                    }));
                }
                completion => {
                    guard.disarm();
                    results.push(
                        completion.unwrap_or_else(|_| Err(Error::closed("the connection closed"))),
                    );
                }
            }
        }
        Ok(results)
    }
}

impl crate::engine::Responses for Shared {
    fn notification<'a>(
        &'a self,
        frame: &Bytes,
        method: &str,
        params: Option<&serde_json::value::RawValue>,
    ) -> crate::engine::session::Notified<'a> {
        let wait = self.config().subscription_wait;
        let peer = &self.session.state.peer;
        self.subscriptions
            .notified(frame, method, params, wait, peer, &self.close)
    }

    /// Completes the waiting call the response is for; one that matches no call is
    /// counted and dropped.
    fn response(&self, frame: &Bytes, resp: Response<'_>) {
        if let Some(id) = resp.id.as_u64() {
            // A subscription's entry opens before anything after its answer is read.
            self.subscriptions
                .answered(id, resp.outcome.as_ref().ok().copied());
        }
        let completion: Completion = Ok(RawResponse {
            outcome: match resp.outcome {
                Ok(result) => Ok(JsonText::within(frame, result.get())),
                Err(err) => Err(err.to_owned_error()),
            },
        });
        let matched = resp
            .id
            .as_u64()
            .is_some_and(|id| self.pending.complete(id, completion));
        if !matched {
            self.session.state.engine.metrics.record_unknown_response();
            tracing::debug!(id = %resp.id, "dropped a response that matches no pending call");
        }
    }
}
