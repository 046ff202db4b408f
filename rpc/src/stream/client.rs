//! The calling side of streams: [`Subscription`], a typed stream of a server's
//! items, and the table through which the connection's reader hands items to it.
//!
//! The connection's reader waits for a subscription's reader only so long (every
//! other answer on the connection comes through it): each subscription has a
//! bounded buffer ([`crate::ConnectionConfig::subscription_buffer`]); when it is full
//! the reader waits up to [`crate::ConnectionConfig::subscription_wait`] for room,
//! which slows the server's stream to the subscriber's pace, and a subscription
//! still full after that is closed as lagged and unsubscribed: by the reader
//! itself, since nothing says its [`Subscription`] will ever be read again (one
//! dropped unread would otherwise leave the server's stream running, its items
//! read and thrown away, for as long as the connection lives).
//!
//! A subscription is entered in the table by the reader itself when the call's
//! answer comes, before the frames after it are read, so that no item that follows
//! the answer can find nobody to take it.

use std::collections::{HashMap, VecDeque};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::value::RawValue;

use super::queue::{Deferred, ItemQueue, Offer};
use super::Stream;
use crate::error::Error;
use crate::message::{scan, JsonText, RpcError};
use crate::peer::Peer;

/// Why a subscription ended.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server's stream ended.
    Ended,
    /// The server's stream failed with this error (also yielded as the stream's
    /// last item).
    Failed(RpcError),
    /// Items came faster than they were read: the server dropped the stream
    /// ([`super::Overflow::Close`]) or this client's buffer overflowed.
    Lagged,
    /// The server is shutting down.
    ShuttingDown,
    /// The connection closed.
    ConnectionLost(String),
    /// This end unsubscribed.
    Unsubscribed,
}

/// What became of a notification the reader offered.
pub(crate) type Outcome<'a> = crate::engine::session::Notified<'a>;

/// The part of a subscription the reader and its [`Subscription`] share.
struct Shared {
    close: Mutex<Option<CloseReason>>,
    /// Set by the first to tell the server to stop the stream: the reader when it
    /// lags the subscription out, or the [`Subscription`] (unsubscribed, dropped,
    /// or reading a lag the server reported).
    unsubscribed: AtomicBool,
}

impl Shared {
    /// Whether the caller is the first to unsubscribe (and so sends the call).
    fn claim_unsubscribe(&self) -> bool {
        !self.unsubscribed.swap(true, Ordering::AcqRel)
    }

    fn close(&self, reason: CloseReason) {
        let mut close = self.close.lock().unwrap_or_else(|e| e.into_inner());
        if close.is_none() {
            *close = Some(reason);
        }
    }

    fn reason(&self) -> Option<CloseReason> {
        self.close.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A subscription as the reader holds it: the only giver of its items, which end
/// when it is dropped.
struct Entry {
    items: Arc<ItemQueue>,
    item_method: Box<str>,
    /// What the reader calls when it lags the subscription out.
    unsubscribe_method: Box<str>,
    shared: Arc<Shared>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.items.end();
    }
}

/// The subscriptions of one connection: those whose call awaits its answer, by
/// call id, and those open, by subscription id.
#[derive(Default)]
pub(crate) struct Subscriptions {
    /// How many entries the two maps hold: the reader skips both when none.
    count: AtomicUsize,
    awaiting: Mutex<HashMap<u64, Entry>>,
    open: Mutex<HashMap<Box<str>, Entry>>,
    /// Wake-ups of subscriptions the reader holds back until it waits.
    deferred: Deferred,
}

impl AsRef<Deferred> for Subscriptions {
    fn as_ref(&self) -> &Deferred {
        &self.deferred
    }
}

/// The params of a subscription's notification.
#[derive(serde::Deserialize)]
struct Notified<'a> {
    #[serde(borrow)]
    subscription: &'a RawValue,
    // `null` is an item too (a stream of `Option`s), not an absent result.
    #[serde(borrow, default, deserialize_with = "crate::message::present")]
    result: Option<&'a RawValue>,
    #[serde(borrow, default)]
    closed: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    error: Option<RpcError>,
}

impl<'a> Notified<'a> {
    /// An item's params, `{"subscription": id, "result": value}` (other members
    /// ignored), read with the envelope's scan, which already validated them: on one
    /// fast stream serde_json's read of them was a fifth of the reader's time. `None` for
    /// anything else (a close, an escaped key, a member twice), which serde_json then
    /// reads as before.
    fn item(params: &'a str) -> Option<Self> {
        let (mut subscription, mut result) = (None, None);
        scan::walk_object(
            params.as_bytes(),
            &mut scan::Scan::utf8(),
            |name, value, _| {
                let slot = match name.map(|name| &params[name]) {
                    Some("subscription") => &mut subscription,
                    Some("result") => &mut result,
                    Some("closed" | "error") | None => return None,
                    Some(_) => return Some(()),
                };
                slot.replace(scan::raw(&params[value]))
                    .is_none()
                    .then_some(())
            },
        )?;
        Some(Notified {
            subscription: subscription?,
            result: Some(result?),
            closed: None,
            error: None,
        })
    }
}

/// A subscription id as a map key: a string's text, or a number's digits.
fn key(id: &RawValue) -> Option<Box<str>> {
    key_text(id).map(Into::into)
}

/// [`key`], borrowed from the id's text when it needs no unescaping (it always
/// does for the ids this crate's servers give): looked up once per item, it then
/// costs no allocation.
fn key_text(id: &RawValue) -> Option<std::borrow::Cow<'_, str>> {
    let text = id.get();
    if let Some(quoted) = text.strip_prefix('"') {
        match quoted.strip_suffix('"') {
            Some(plain) if !plain.contains('\\') => Some(plain.into()),
            _ => serde_json::from_str::<String>(text).ok().map(Into::into),
        }
    } else if text.bytes().all(|b| b.is_ascii_digit()) && !text.is_empty() {
        Some(text.into())
    } else {
        None
    }
}

impl Subscriptions {
    fn lock_awaiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.awaiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_open(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Entry>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    fn expect(&self, call: u64, entry: Entry) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.lock_awaiting().insert(call, entry);
    }

    fn forget_call(&self, call: u64) {
        if self.lock_awaiting().remove(&call).is_some() {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn remove(&self, id: &str) -> Option<Entry> {
        let entry = self.lock_open().remove(id);
        if entry.is_some() {
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
        entry
    }

    /// The reader got the answer to call `call`: a subscribing call's entry is
    /// opened under the subscription id its result names.
    pub(crate) fn answered(&self, call: u64, result: Option<&RawValue>) {
        if self.is_empty() {
            return;
        }
        let Some(entry) = self.lock_awaiting().remove(&call) else {
            return;
        };
        match result.and_then(key) {
            Some(id) => {
                self.lock_open().insert(id, entry);
            }
            None => {
                // Refused (the call fails with the error), or an id we cannot use.
                self.count.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }

    /// The reader got a notification: a subscription's (an item or its close) is
    /// handed over here, at once or once its buffer has room (waiting at most
    /// `wait`, else the subscription lags and is unsubscribed over `peer`; not
    /// once `closing` is cancelled).
    pub(crate) fn notified<'a>(
        &'a self,
        frame: &Bytes,
        method: &str,
        params: Option<&RawValue>,
        wait: std::time::Duration,
        peer: &'a Weak<crate::peer::Shared>,
        closing: &'a tokio_util::sync::CancellationToken,
    ) -> Outcome<'a> {
        if self.is_empty() {
            return Outcome::NotOurs;
        }
        let Some(params) = params else {
            return Outcome::NotOurs;
        };
        let notified = match Notified::item(params.get()) {
            Some(notified) => notified,
            None => match serde_json::from_str::<Notified<'_>>(params.get()) {
                Ok(notified) => notified,
                Err(_) => return Outcome::NotOurs,
            },
        };
        let Some(id) = key_text(notified.subscription) else {
            return Outcome::NotOurs;
        };
        let mut open = self.lock_open();
        let Some(entry) = open.get(&*id) else {
            return Outcome::NotOurs;
        };
        if &*entry.item_method != method {
            return Outcome::NotOurs;
        }
        if let Some(closed) = notified.closed {
            let reason = match (&*closed, notified.error) {
                (_, Some(error)) => CloseReason::Failed(error),
                ("lagged", None) => CloseReason::Lagged,
                ("shutdown", None) => CloseReason::ShuttingDown,
                _ => CloseReason::Ended,
            };
            if let Some(entry) = open.remove(&*id) {
                self.count.fetch_sub(1, Ordering::AcqRel);
                entry.shared.close(reason);
            }
            return Outcome::Taken;
        }
        let Some(result) = notified.result else {
            return Outcome::Taken;
        };
        let item = JsonText::within(frame, result.get());
        match entry.items.offer(item, &self.deferred) {
            // `Gone`: its reader has gone (the subscription is being dropped).
            Offer::Taken | Offer::Gone => Outcome::Taken,
            Offer::Full(item) => {
                let items = entry.items.clone();
                drop(open);
                let id: Box<str> = id.into();
                Outcome::Wait(Box::pin(async move {
                    let given = tokio::select! {
                        biased;
                        // Closed meanwhile: the close ends it (as a lost connection),
                        // at once rather than after the wait.
                        () = closing.cancelled() => return,
                        given = tokio::time::timeout(wait, items.give(item)) => given,
                    };
                    if given.is_err() {
                        // Still behind: it ends here, and the server is told to stop
                        // it now. Leaving that to the `Subscription` would leave it
                        // to chance: one dropped unread (its entry gone, its drop
                        // unsubscribes nothing) or held unread never tells the
                        // server, whose stream then runs for the connection's life.
                        if let Some(entry) = self.remove(&id) {
                            entry.shared.close(CloseReason::Lagged);
                            if entry.shared.claim_unsubscribe() {
                                if let Some(shared) = peer.upgrade() {
                                    unsubscribe_in_background(
                                        Peer { shared },
                                        entry.unsubscribe_method.clone(),
                                        id,
                                    );
                                }
                            }
                        }
                    }
                }))
            }
        }
    }

    /// The connection closed: every subscription ends with `reason`.
    pub(crate) fn close_all(&self, reason: &str) {
        let awaiting: Vec<Entry> = self.lock_awaiting().drain().map(|(_, e)| e).collect();
        let open: Vec<Entry> = self.lock_open().drain().map(|(_, e)| e).collect();
        self.count.store(0, Ordering::Release);
        for entry in awaiting.into_iter().chain(open) {
            entry
                .shared
                .close(CloseReason::ConnectionLost(reason.to_owned()));
        }
    }
}

/// A server's stream, typed: each item as `Result<T, Error>`, ending when the
/// server ends the stream (then `None`), after an error item when it failed, lagged
/// or was cut off. Dropping it unsubscribes.
///
/// Made by [`Peer::subscribe`] (and by the generated client's streaming methods).
pub struct Subscription<T> {
    id: Box<str>,
    items: Arc<ItemQueue>,
    /// The items taken from `items` and not yet yielded.
    batch: VecDeque<JsonText>,
    shared: Arc<Shared>,
    peer: Peer,
    item_method: Box<str>,
    unsubscribe_method: Box<str>,
    /// Whether the stream has yielded its end (and whatever error came before it).
    done: bool,
    _item: PhantomData<fn() -> T>,
}

impl<T> Subscription<T> {
    /// The subscription id the server gave.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Why the subscription ended; `None` while it is open (and until the items
    /// that came before its end have been read).
    pub fn close_reason(&self) -> Option<CloseReason> {
        if self.done {
            self.shared.reason()
        } else {
            None
        }
    }

    /// Stops the subscription: calls the unsubscribe method and waits for its
    /// answer (`true` when the server had it open).
    ///
    /// # Errors
    ///
    /// As [`Peer::call`].
    pub async fn unsubscribe(mut self) -> Result<bool, Error> {
        self.done = true;
        self.shared.close(CloseReason::Unsubscribed);
        // Called even if the reader unsubscribed already: the caller wants the answer.
        self.shared.claim_unsubscribe();
        self.peer.shared.subscriptions.remove(&self.id);
        // Nothing more is read from it: a connection reader waiting for room in its
        // full buffer stops waiting now (rather than after `subscription_wait`, with
        // this call's answer behind it).
        self.items.drop_taker();
        self.peer.call(&self.unsubscribe_method, &[&*self.id]).await
    }
}

impl<T: DeserializeOwned> Stream for Subscription<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if this.batch.is_empty() {
            match this.items.poll_take(&mut this.batch, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(true) => {}
                Poll::Ready(false) => return this.ended(),
            }
        }
        let text = this.batch.pop_front().expect("a batch just taken");
        Poll::Ready(Some(serde_json::from_str(text.as_str()).map_err(
            |source| Error::Decode {
                method: this.item_method.to_string(),
                source,
            },
        )))
    }
}

impl<T> Subscription<T> {
    /// The items have ended: the stream ends, after an error that says why unless it
    /// ended of itself.
    fn ended(&mut self) -> Poll<Option<Result<T, Error>>> {
        self.done = true;
        let reason = self.shared.reason().unwrap_or(CloseReason::Ended);
        let error = match reason {
            CloseReason::Ended | CloseReason::Unsubscribed => return Poll::Ready(None),
            CloseReason::Failed(err) => Error::Rpc(err),
            CloseReason::Lagged => {
                // The server may still be sending (unless the reader, which lagged
                // it out, has told it already): stop it.
                self.spawn_unsubscribe();
                Error::Lagged {
                    subscription: self.id.to_string(),
                }
            }
            CloseReason::ShuttingDown => {
                Error::closed("the server is shutting down and ended the stream")
            }
            CloseReason::ConnectionLost(reason) => Error::closed(reason),
        };
        Poll::Ready(Some(Err(error)))
    }

    /// Tells the server to stop the stream, unless that was done already.
    fn spawn_unsubscribe(&self) {
        if self.shared.claim_unsubscribe() {
            unsubscribe_in_background(
                self.peer.clone(),
                self.unsubscribe_method.clone(),
                self.id.clone(),
            );
        }
    }
}

/// Calls `method` (an unsubscribe) for subscription `id` in a task of its own.
fn unsubscribe_in_background(peer: Peer, method: Box<str>, id: Box<str>) {
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn(async move {
            let _ = peer.call::<_, bool>(&method, &[&*id]).await;
        });
    }
}

impl<T> Drop for Subscription<T> {
    fn drop(&mut self) {
        // What is queued, or still comes, has nobody to read it.
        self.items.drop_taker();
        if self.done {
            return;
        }
        // Still open as far as we know: tell the server. Not when its entry is gone:
        // the server ended it, or the reader lagged it out and told the server.
        let open = self.peer.shared.subscriptions.remove(&self.id).is_some();
        if open {
            self.shared.close(CloseReason::Unsubscribed);
            self.spawn_unsubscribe();
        }
    }
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("close_reason", &self.shared.reason())
            .finish_non_exhaustive()
    }
}

impl Peer {
    /// Calls the streaming method `method` with `params` and returns its stream of
    /// items: the notifications named `item_method` that carry the subscription id
    /// it answers. Dropping the [`Subscription`] calls `unsubscribe_method`.
    ///
    /// # Errors
    ///
    /// As [`Peer::call`]: a server that refuses the subscription answers its error.
    pub async fn subscribe<P, T>(
        &self,
        method: &str,
        params: &P,
        item_method: &str,
        unsubscribe_method: &str,
    ) -> Result<Subscription<T>, Error>
    where
        P: Serialize + ?Sized,
        T: DeserializeOwned,
    {
        let shared = &self.shared;
        let items = Arc::new(ItemQueue::new(shared.config().subscription_buffer));
        let state = Arc::new(Shared {
            close: Mutex::new(None),
            unsubscribed: AtomicBool::new(false),
        });
        let mut entry = Some(Entry {
            items: items.clone(),
            item_method: item_method.into(),
            unsubscribe_method: unsubscribe_method.into(),
            shared: state.clone(),
        });
        let mut call_id = None;
        let response = self
            .call_raw_noting(
                method,
                Some(params),
                shared.config().request_timeout,
                |id| {
                    call_id = Some(id);
                    if let Some(entry) = entry.take() {
                        shared.subscriptions.expect(id, entry);
                    }
                },
            )
            .await;
        // Not answered (timed out, failed): the entry must not wait on.
        if let Some(id) = call_id {
            shared.subscriptions.forget_call(id);
        }
        let id: serde_json::Value = response?.decode(method)?;
        let id: Box<str> = match id {
            serde_json::Value::String(id) => id.into(),
            serde_json::Value::Number(n) => n.to_string().into(),
            other => {
                return Err(Error::Rpc(RpcError::internal(format!(
                    "`{method}` answered {other}, not a subscription id"
                ))))
            }
        };
        Ok(Subscription {
            id,
            items,
            batch: VecDeque::new(),
            shared: state,
            peer: self.clone(),
            item_method: item_method.into(),
            unsubscribe_method: unsubscribe_method.into(),
            done: false,
            _item: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json reads of `params`, as (subscription, result) texts.
    fn by_serde(params: &str) -> Option<(String, Option<String>)> {
        let n = serde_json::from_str::<Notified<'_>>(params).ok()?;
        Some((
            n.subscription.get().into(),
            n.result.map(|r| r.get().into()),
        ))
    }

    #[test]
    fn the_scan_reads_an_item_s_params_as_serde_json_does_or_leaves_them_to_it() {
        let items = [
            r#"{"subscription":"a1","result":7}"#,
            r#"{ "result" : {"x":[1,"}"]} , "subscription" : 12 }"#,
            r#"{"subscription":"a1","result":null}"#,
            r#"{"subscription":"a\"1","other":[{}],"result":"\u00e9"}"#,
        ];
        for params in items {
            let n = Notified::item(params).unwrap_or_else(|| panic!("{params}"));
            let walked = (
                n.subscription.get().to_owned(),
                n.result.map(|r| r.get().to_owned()),
            );
            assert_eq!(Some(walked), by_serde(params), "{params}");
        }
        // Left to serde_json: a close, an escaped key, a member twice, no result.
        let others = [
            r#"{"subscription":"a1","closed":"ended"}"#,
            r#"{"subscription":"a1","error":{"code":1,"message":"m"}}"#,
            r#"{"subscr\u0069ption":"a1","result":1}"#,
            r#"{"subscription":"a1","result":1,"result":2}"#,
            r#"{"subscription":"a1"}"#,
            r#"{}"#,
            r#"[1,2]"#,
        ];
        for params in others {
            assert!(Notified::item(params).is_none(), "{params}");
        }
        assert_eq!(
            by_serde(r#"{"subscr\u0069ption":"a1","result":1}"#),
            Some(("\"a1\"".into(), Some("1".into())))
        );
        assert_eq!(
            by_serde(r#"{"subscription":"a1","result":1,"result":2}"#),
            None
        );
    }

    #[test]
    fn an_id_is_borrowed_unless_it_needs_unescaping() {
        let plain = scan::raw(r#""abc""#);
        assert!(matches!(
            key_text(plain),
            Some(std::borrow::Cow::Borrowed("abc"))
        ));
        let escaped = scan::raw(r#""a\"c""#);
        assert_eq!(key_text(escaped).as_deref(), Some("a\"c"));
        assert_eq!(key_text(scan::raw("42")).as_deref(), Some("42"));
        assert_eq!(key_text(scan::raw("-1")), None);
    }
}
