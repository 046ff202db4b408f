//! Counters and latency histograms, cheap enough to leave on, read as a
//! [`MetricsSnapshot`] from [`crate::Server::metrics`] or [`crate::Peer::metrics`].
//!
//! Every counter is a relaxed atomic; per-method metrics live in a slice indexed by the
//! method's position in the service's table, so recording a call takes no lock and no
//! lookup by name.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::buffer::PoolStats;

/// Latency buckets: bucket `i` counts calls that took less than `2^i` microseconds
/// (the last bucket takes everything slower).
pub const LATENCY_BUCKETS: usize = 28;

/// Counters of one method.
#[derive(Debug, Default)]
pub(crate) struct MethodMetrics {
    calls: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
    streams_open: AtomicI64,
    stream_items: AtomicU64,
    stream_dropped: AtomicU64,
    streams_lagged: AtomicU64,
}

impl MethodMetrics {
    /// Records one finished call.
    pub(crate) fn record(&self, elapsed: Duration, is_error: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if is_error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = elapsed.as_micros().min(u64::MAX as u128) as u64;
        let bucket = (64 - micros.leading_zeros() as usize).min(LATENCY_BUCKETS - 1);
        self.latency[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_opened(&self) {
        self.streams_open.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_closed(&self) {
        self.streams_open.fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_item_sent(&self) {
        self.stream_items.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_item_dropped(&self) {
        self.stream_dropped.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stream_lagged(&self) {
        self.streams_lagged.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self, name: &str) -> MethodSnapshot {
        MethodSnapshot {
            name: name.to_owned(),
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency: Histogram {
                buckets: std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed)),
            },
            streams_open: self.streams_open.load(Ordering::Relaxed),
            stream_items: self.stream_items.load(Ordering::Relaxed),
            stream_dropped: self.stream_dropped.load(Ordering::Relaxed),
            streams_lagged: self.streams_lagged.load(Ordering::Relaxed),
        }
    }
}

/// A latency histogram with power-of-two microsecond buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    /// `buckets[i]` counts calls faster than `2^i` µs (and not faster than `2^(i-1)`).
    pub buckets: [u64; LATENCY_BUCKETS],
}

impl Histogram {
    /// How many calls were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// An upper bound of the `q` quantile (0.0..=1.0), or `None` when empty.
    pub fn quantile_upper_bound(&self, q: f64) -> Option<Duration> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_micros(1u64 << i));
            }
        }
        None
    }
}

/// A copy of one method's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodSnapshot {
    /// The method's wire name.
    pub name: String,
    /// Calls finished (answered or, for notifications, run).
    pub calls: u64,
    /// Calls that ended in an error.
    pub errors: u64,
    /// How long calls took, from admission to answer.
    pub latency: Histogram,
    /// For a streaming method: its streams open now.
    pub streams_open: i64,
    /// Items its streams have queued for their connections.
    pub stream_items: u64,
    /// Items dropped for newer ones ([`crate::stream::Overflow::DropOldest`]).
    pub stream_dropped: u64,
    /// Streams closed as lagged ([`crate::stream::Overflow::Close`]).
    pub streams_lagged: u64,
}

/// The counters of a server or peer.
#[derive(Debug)]
pub(crate) struct Metrics {
    methods: Box<[MethodMetrics]>,
    names: Box<[&'static str]>,
    connections: AtomicI64,
    queued: AtomicI64,
    in_flight: AtomicI64,
    rejected: AtomicU64,
    timeouts: AtomicU64,
    panics: AtomicU64,
    cancelled: AtomicU64,
    unknown_methods: AtomicU64,
    invalid_messages: AtomicU64,
    unknown_responses: AtomicU64,
    undecodable_responses: AtomicU64,
    refused_connections: AtomicU64,
    timed_out_connections: AtomicU64,
    buffered_bytes: AtomicI64,
    answers_written: AtomicU64,
    answers_lost: AtomicU64,
    accept_errors: AtomicU64,
    interrupted_by_shutdown: AtomicU64,
}

macro_rules! counter {
    ($(#[$doc:meta] $name:ident => $field:ident),* $(,)?) => {
        $(#[$doc] pub(crate) fn $name(&self) { self.$field.fetch_add(1, Ordering::Relaxed); })*
    };
}

impl Metrics {
    /// Metrics for a service whose methods have these names, in table order.
    pub(crate) fn new(names: &[&'static str]) -> Self {
        Metrics {
            methods: names.iter().map(|_| MethodMetrics::default()).collect(),
            names: names.into(),
            connections: AtomicI64::new(0),
            queued: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            rejected: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            panics: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            unknown_methods: AtomicU64::new(0),
            invalid_messages: AtomicU64::new(0),
            unknown_responses: AtomicU64::new(0),
            undecodable_responses: AtomicU64::new(0),
            refused_connections: AtomicU64::new(0),
            timed_out_connections: AtomicU64::new(0),
            buffered_bytes: AtomicI64::new(0),
            answers_written: AtomicU64::new(0),
            answers_lost: AtomicU64::new(0),
            accept_errors: AtomicU64::new(0),
            interrupted_by_shutdown: AtomicU64::new(0),
        }
    }

    /// The counters of the method at `index` in the service's table.
    pub(crate) fn method(&self, index: usize) -> Option<&MethodMetrics> {
        self.methods.get(index)
    }

    /// Moves the open-connections gauge by `delta`.
    pub(crate) fn add_connections(&self, delta: i64) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
    }

    /// Moves the queue-depth gauge by `delta`.
    pub(crate) fn add_queued(&self, delta: i64) {
        self.queued.fetch_add(delta, Ordering::Relaxed);
    }

    /// Moves the in-flight gauge by `delta`.
    pub(crate) fn add_in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
    }

    /// Moves the gauge of bytes held by connections (frames of calls in flight and
    /// answers waiting to be written) by `delta`.
    pub(crate) fn add_buffered_bytes(&self, delta: i64) {
        self.buffered_bytes.fetch_add(delta, Ordering::Relaxed);
    }

    /// Counts answers handed to the socket.
    pub(crate) fn record_answers_written(&self, n: u32) {
        self.answers_written
            .fetch_add(u64::from(n), Ordering::Relaxed);
    }

    /// Counts answers dropped unwritten because their connection could not take them.
    pub(crate) fn record_answers_lost(&self, n: u32) {
        self.answers_lost.fetch_add(u64::from(n), Ordering::Relaxed);
    }

    counter! {
        /// Counts a failed accept that the accept loop waited out (out of descriptors or memory).
        record_accept_error => accept_errors,
        /// Counts a call answered -32002 because it still ran at the shutdown deadline.
        record_interrupted_by_shutdown => interrupted_by_shutdown,
        /// Counts a call refused by the overload policy.
        record_rejection => rejected,
        /// Counts a call that ran past its deadline.
        record_timeout => timeouts,
        /// Counts a handler that panicked.
        record_panic => panics,
        /// Counts a call cancelled by its caller.
        record_cancellation => cancelled,
        /// Counts a call to a method the service does not have.
        record_unknown_method => unknown_methods,
        /// Counts a frame or batch element that was not a valid message.
        record_invalid_message => invalid_messages,
        /// Counts a response whose id matched no pending call.
        record_unknown_response => unknown_responses,
        /// Counts a response frame that could not be read at all.
        record_undecodable_response => undecodable_responses,
        /// Counts a connection refused because the server serves its maximum.
        record_refused_connection => refused_connections,
        /// Counts a connection closed for being idle or for trickling a frame.
        record_timed_out_connection => timed_out_connections,
    }

    /// A copy of every counter, with the given buffer pool's counters.
    pub(crate) fn snapshot(&self, pool: PoolStats) -> MetricsSnapshot {
        MetricsSnapshot {
            methods: self
                .methods
                .iter()
                .zip(self.names.iter())
                .map(|(m, name)| m.snapshot(name))
                .collect(),
            connections: self.connections.load(Ordering::Relaxed),
            queued: self.queued.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            panics: self.panics.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            unknown_methods: self.unknown_methods.load(Ordering::Relaxed),
            invalid_messages: self.invalid_messages.load(Ordering::Relaxed),
            unknown_responses: self.unknown_responses.load(Ordering::Relaxed),
            undecodable_responses: self.undecodable_responses.load(Ordering::Relaxed),
            refused_connections: self.refused_connections.load(Ordering::Relaxed),
            timed_out_connections: self.timed_out_connections.load(Ordering::Relaxed),
            buffered_bytes: self.buffered_bytes.load(Ordering::Relaxed),
            answers_written: self.answers_written.load(Ordering::Relaxed),
            answers_lost: self.answers_lost.load(Ordering::Relaxed),
            accept_errors: self.accept_errors.load(Ordering::Relaxed),
            interrupted_by_shutdown: self.interrupted_by_shutdown.load(Ordering::Relaxed),
            buffer_pool: pool,
        }
    }
}

/// A copy of all counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// Per-method counters, in the service's table order.
    pub methods: Vec<MethodSnapshot>,
    /// Connections open (reading, or finishing their calls).
    pub connections: i64,
    /// Calls admitted and waiting for a worker.
    pub queued: i64,
    /// Calls admitted and not yet answered (queued or running).
    pub in_flight: i64,
    /// Calls refused by the overload policy.
    pub rejected: u64,
    /// Calls that ran past their deadline.
    pub timeouts: u64,
    /// Handlers that panicked.
    pub panics: u64,
    /// Calls cancelled by their caller.
    pub cancelled: u64,
    /// Calls to methods the service does not have.
    pub unknown_methods: u64,
    /// Frames or batch elements that were not valid messages.
    pub invalid_messages: u64,
    /// Responses whose id matched no pending call (dropped).
    pub unknown_responses: u64,
    /// Response frames that could not be read at all (dropped).
    pub undecodable_responses: u64,
    /// Connections refused because the server served its maximum already.
    pub refused_connections: u64,
    /// Connections closed for being idle or for trickling a frame too slowly.
    pub timed_out_connections: u64,
    /// Bytes the connections hold now: frames of calls in flight and answers waiting
    /// for their readers. Each connection stops reading while its share is over
    /// `ServerConfig::max_buffered_bytes_per_connection`.
    pub buffered_bytes: i64,
    /// Answers (responses, including each element of a batch answer) handed to the
    /// socket.
    pub answers_written: u64,
    /// Answers that could not be written because their connection failed or was cut
    /// for not reading.
    pub answers_lost: u64,
    /// Failed accepts waited out by the accept loops (out of file descriptors or
    /// memory).
    pub accept_errors: u64,
    /// Calls answered -32002 because they were still running at the shutdown deadline.
    pub interrupted_by_shutdown: u64,
    /// The buffer pool's counters.
    pub buffer_pool: PoolStats,
}

impl MetricsSnapshot {
    /// The counters of the method with this wire name.
    pub fn method(&self, name: &str) -> Option<&MethodSnapshot> {
        self.methods.iter().find(|m| m.name == name)
    }
}
