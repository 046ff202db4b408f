//! A wait that is polled again only when it was woken.
//!
//! A connection's loops wait for a frame and, beside it, for rare events: a local
//! close, the server's shutdown, the writer stopping. `select!` polls every branch on
//! every wake-up, and polling a waiting `CancellationToken` or `Notify` takes its lock
//! twice (the token's state, then its list of waiters to refresh the waker): three
//! such waits cost a TCP round trip 5% of its time, for events that come once in a
//! connection's life. Wrapped in [`Quiet`], such a wait is polled under a waker of
//! its own, and skipped until that waker fires.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use atomic_waker::AtomicWaker;

/// What the wrapped wait was last polled with: set when it is woken, and the waker
/// of the task polling the [`Quiet`], to pass the wake-up on.
#[derive(Default)]
struct Signal {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

pin_project_lite::pin_project! {
    /// `future`, polled only on its first poll and after it woke its waker.
    pub(crate) struct Quiet<F> {
        #[pin]
        future: F,
        signal: Arc<Signal>,
        // The waker the future is polled with, made once.
        waker: Waker,
        // The task's waker last registered: registering costs two atomic operations,
        // and the task's waker almost never changes, so it is registered again only
        // when it changed or a wake-up took it.
        registered: Waker,
        polled: bool,
    }
}

impl<F: Future> Quiet<F> {
    pub(crate) fn new(future: F) -> Self {
        let signal = Arc::new(Signal::default());
        Quiet {
            future,
            waker: Waker::from(signal.clone()),
            signal,
            registered: Waker::noop().clone(),
            polled: false,
        }
    }
}

impl<F: Future> Future for Quiet<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Before the check: a wake-up after it reaches this task.
        if !this.registered.will_wake(cx.waker()) {
            this.signal.task.register(cx.waker());
            this.registered.clone_from(cx.waker());
        }
        if *this.polled {
            if !this.signal.woken.load(Ordering::Acquire)
                || !this.signal.woken.swap(false, Ordering::AcqRel)
            {
                return Poll::Pending;
            }
            // The wake-up took the registered waker: register it again before the
            // future can wake once more.
            this.signal.task.register(cx.waker());
        }
        *this.polled = true;
        this.future.poll(&mut Context::from_waker(this.waker))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// `inner`, counting its polls.
    struct Counted<F> {
        inner: F,
        polls: usize,
    }

    impl<F: Future + Unpin> Future for Counted<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            self.polls += 1;
            Pin::new(&mut self.inner).poll(cx)
        }
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn it_is_polled_again_only_after_its_own_wake_up_which_reaches_the_task() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let mut quiet = std::pin::pin!(Quiet::new(Counted {
            inner: rx,
            polls: 0
        }));
        let wakes = Arc::new(Wakes::default());
        let task = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&task);
        for _ in 0..10 {
            assert!(quiet.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(quiet.future.polls, 1, "polled again without a wake-up");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
        tx.send(7).unwrap();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the task was not woken");
        assert!(matches!(quiet.as_mut().poll(&mut cx), Poll::Ready(Ok(7))));
        assert_eq!(quiet.future.polls, 2);
    }
}
