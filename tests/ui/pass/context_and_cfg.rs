//! A context parameter in each position and form, methods under `#[cfg]` in both
//! states (and two alternatives of one method), typed batches and per-call timeouts,
//! compiled with warnings denied.
#![deny(warnings, missing_docs)]

use std::time::Duration;

use rpc::{rpc_service, CallContext, Client, Peer};

/// Callbacks and cfgs.
#[rpc_service(namespace = "jobs")]
pub trait Jobs {
    /// The context first, by reference.
    async fn first(&self, cx: &CallContext, steps: u32) -> u32;
    /// The context last, by value.
    async fn last(&self, steps: u32, cx: CallContext) -> u32;
    /// Only the context.
    #[rpc(blocking)]
    fn alone(&self, cx: &CallContext) -> bool;
    /// A notification with a context.
    #[rpc(notification)]
    async fn note(&self, cx: &CallContext, line: String);
    /// Never compiled.
    #[cfg(any())]
    async fn never(&self, x: NoSuchType) -> u32;
    /// Always compiled.
    #[cfg(all())]
    async fn always(&self) -> u32;
    /// One of two alternatives.
    #[cfg(debug_assertions)]
    async fn mode(&self) -> String;
    /// The other.
    #[cfg(not(debug_assertions))]
    async fn mode(&self) -> u32;
}

struct Impl;

impl Jobs for Impl {
    async fn first(&self, cx: &CallContext, steps: u32) -> u32 {
        steps + u32::from(cx.peer().is_some())
    }
    async fn last(&self, steps: u32, cx: CallContext) -> u32 {
        steps + u32::from(cx.is_cancelled())
    }
    fn alone(&self, cx: &CallContext) -> bool {
        cx.deadline().is_some()
    }
    async fn note(&self, _cx: &CallContext, _line: String) {}
    async fn always(&self) -> u32 {
        1
    }
    #[cfg(debug_assertions)]
    async fn mode(&self) -> String {
        "debug".into()
    }
    #[cfg(not(debug_assertions))]
    async fn mode(&self) -> u32 {
        0
    }
}

#[allow(dead_code)]
async fn use_it(client: Client, peer: Peer) -> Result<(), rpc::Error> {
    let jobs = JobsClient::new(client);
    // The client leaves the context out.
    let _: u32 = jobs.first(3).await?;
    let _: u32 = jobs.last(3).await?;
    let _: bool = jobs.alone().await?;
    jobs.note("x".into()).await?;
    let _: u32 = jobs.always().await?;
    // A typed client over a peer, with a deadline of its own.
    let over_peer = JobsClient::new(peer).with_timeout(Duration::from_secs(1));
    let mut batch = over_peer.batch();
    let a = batch.first(1);
    let b = batch.always();
    batch.note("y".into());
    let mut answers = batch.await?;
    let _: u32 = answers.take(a)?;
    let _: u32 = answers.take(b)?;
    Ok(())
}

fn main() {
    let _ = JobsServer::new(Impl);
}
