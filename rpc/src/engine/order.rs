//! The order of a session's notifications: each ordered notification waits for the
//! one before it, and a call waits for the notifications that came before it.

use tokio_util::sync::{CancellationToken, DropGuard};

/// What a session knows of the notifications it has started, to keep them in order.
#[derive(Default)]
pub(crate) struct Order {
    /// Cancelled when the last ordered notification started has been handled.
    last: Option<CancellationToken>,
}

impl Order {
    /// What a call arriving now must wait for before it starts.
    pub(crate) fn barrier(&mut self) -> Option<CancellationToken> {
        match &self.last {
            Some(last) if last.is_cancelled() => {
                self.last = None;
                None
            }
            last => last.clone(),
        }
    }

    /// An ordered notification arrives: it waits for the barrier returned, and the
    /// guard, dropped once it has been handled, lets the calls after it start.
    pub(crate) fn push_notification(&mut self) -> (Option<CancellationToken>, DropGuard) {
        let after = self.barrier();
        let handled = CancellationToken::new();
        self.last = Some(handled.clone());
        (after, handled.drop_guard())
    }
}
