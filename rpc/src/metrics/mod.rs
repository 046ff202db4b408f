//! Counters and latency histograms, cheap enough to leave on, read as a
//! [`MetricsSnapshot`] from [`crate::Server::metrics`] or [`crate::Peer::metrics`]:
//! serializable (serde), and printed short by its `Display`.
//!
//! Every counter is a relaxed atomic; per-method metrics live in a slice indexed by the
//! method's position in the service's table, so recording a call takes no lock and no
//! lookup by name.
//!
//! # Export (feature `metrics`)
//!
//! With the `metrics` feature, a server also records everything through the
//! [`metrics`](https://docs.rs/metrics) facade as it happens, so the exporter the
//! application installs (metrics-exporter-prometheus, an OpenTelemetry bridge,
//! statsd) publishes it unmodified. Install the recorder before the server's first
//! connection: handles are registered on first use. Clients' connections are not
//! exported (their counters stay in [`crate::Peer::metrics`]).
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `rpc_server_calls_total` | counter | `method`, `transport` |
//! | `rpc_server_errors_total` | counter | `method`, `transport`, `code` |
//! | `rpc_server_call_duration_seconds` | histogram | `method`, `transport` |
//! | `rpc_server_calls_in_flight` | gauge | |
//! | `rpc_server_calls_queued` | gauge | |
//! | `rpc_server_buffered_bytes` | gauge | |
//! | `rpc_server_connections` | gauge | `transport` |
//! | `rpc_server_received_bytes_total`, `rpc_server_sent_bytes_total` | counter | `transport` |
//! | `rpc_server_streams_open` | gauge | `method` |
//! | `rpc_server_stream_items_total`, `rpc_server_stream_items_dropped_total`, `rpc_server_streams_lagged_total` | counter | `method` |
//! | `rpc_server_rejected_total`, `rpc_server_timeouts_total`, `rpc_server_panics_total`, `rpc_server_cancelled_total` | counter | |
//! | `rpc_server_unknown_methods_total`, `rpc_server_invalid_messages_total` | counter | |
//! | `rpc_server_refused_connections_total`, `rpc_server_timed_out_connections_total`, `rpc_server_accept_errors_total` | counter | |
//! | `rpc_server_answers_written_total`, `rpc_server_answers_lost_total`, `rpc_server_interrupted_by_shutdown_total` | counter | |
//! | `rpc_buffer_pool_hits_total`, `rpc_buffer_pool_misses_total` | counter | |
//! | `rpc_buffer_pool_in_use`, `rpc_buffer_pool_pooled_bytes` | gauge | |
//!
//! `transport` is one of [`Transport::as_str`]'s labels; `code` the JSON-RPC error
//! code. The buffer pool counts for itself and is read, not told: its four are set by
//! [`crate::Server::publish_metrics`] (call it before a scrape, as the
//! `metrics_prometheus` example does) and by every [`crate::Server::metrics`].

mod display;
#[cfg(feature = "metrics")]
mod export;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::buffer::PoolStats;
use crate::service::Transport;

/// Latency buckets: bucket `i` counts calls that took less than `2^i` microseconds
/// (the last bucket takes everything slower).
pub const LATENCY_BUCKETS: usize = 28;

/// Counters of one method.
#[derive(Debug, Default)]
pub(crate) struct MethodMetrics {
    calls: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; LATENCY_BUCKETS],
    /// Nanoseconds, summed over every call (584 years of calls fit).
    latency_sum: AtomicU64,
    streams_open: AtomicI64,
    stream_items: AtomicU64,
    stream_dropped: AtomicU64,
    streams_lagged: AtomicU64,
}

/// Where one method's events are recorded: its counters, and the exported handles.
#[derive(Clone, Copy)]
pub(crate) struct MethodRecorder<'a> {
    counters: &'a MethodMetrics,
    index: usize,
    #[cfg(feature = "metrics")]
    export: Option<&'a export::Exported>,
}

impl MethodRecorder<'_> {
    /// Records one finished call that came over `transport`, with its error's code
    /// when it failed.
    pub(crate) fn finished(&self, elapsed: Duration, transport: Transport, error: Option<i64>) {
        let m = self.counters;
        m.calls.fetch_add(1, Ordering::Relaxed);
        if error.is_some() {
            m.errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = elapsed.as_micros().min(u64::MAX as u128) as u64;
        let bucket = (64 - micros.leading_zeros() as usize).min(LATENCY_BUCKETS - 1);
        m.latency[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = elapsed.as_nanos().min(u64::MAX as u128) as u64;
        m.latency_sum.fetch_add(nanos, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = self.export {
            export.call(self.index, transport, elapsed, error);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (transport, self.index);
    }

    pub(crate) fn stream_opened(&self) {
        self.counters.streams_open.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = self.export {
            export.stream_opened(self.index, 1);
        }
    }

    pub(crate) fn stream_closed(&self) {
        self.counters.streams_open.fetch_sub(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = self.export {
            export.stream_opened(self.index, -1);
        }
    }

    pub(crate) fn stream_item_sent(&self) {
        self.counters.stream_items.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = self.export {
            export.stream_item(self.index);
        }
    }

    pub(crate) fn stream_item_dropped(&self) {
        self.counters.stream_dropped.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = self.export {
            export.stream_item_dropped(self.index);
        }
    }

    pub(crate) fn stream_lagged(&self) {
        self.counters.streams_lagged.fetch_add(1, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = self.export {
            export.stream_lagged(self.index);
        }
    }
}

impl MethodMetrics {
    fn snapshot(&self, name: &str) -> MethodSnapshot {
        MethodSnapshot {
            name: name.to_owned(),
            calls: self.calls.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency: Histogram {
                buckets: std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed)),
                sum: Duration::from_nanos(self.latency_sum.load(Ordering::Relaxed)),
            },
            streams_open: self.streams_open.load(Ordering::Relaxed),
            stream_items: self.stream_items.load(Ordering::Relaxed),
            stream_dropped: self.stream_dropped.load(Ordering::Relaxed),
            streams_lagged: self.streams_lagged.load(Ordering::Relaxed),
        }
    }
}

/// A latency histogram with power-of-two microsecond buckets, and the sum of what it
/// recorded (for the mean).
///
/// Serialized as `{"count", "sum_seconds", "buckets"}`, `buckets` being
/// `[upper bound in µs, count]` pairs of the buckets that counted anything. Its
/// `Debug` is one line.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Histogram {
    /// `buckets[i]` counts calls faster than `2^i` µs (and not faster than `2^(i-1)`).
    pub buckets: [u64; LATENCY_BUCKETS],
    /// The time of every call recorded, added up.
    pub sum: Duration,
}

impl Histogram {
    /// How many calls were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The mean time of a call, or `None` when empty.
    pub fn mean(&self) -> Option<Duration> {
        let count = self.count();
        (count > 0).then(|| self.sum / u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// The buckets that counted anything, as (upper bound, count).
    pub fn nonzero_buckets(&self) -> impl Iterator<Item = (Duration, u64)> + '_ {
        self.buckets
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (Duration::from_micros(1u64 << i), *n))
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    received_bytes: AtomicU64,
    sent_bytes: AtomicU64,
    /// A server's handles in the `metrics` facade; `None` for a client's connection.
    #[cfg(feature = "metrics")]
    export: Option<export::Exported>,
}

macro_rules! counter {
    ($(#[$doc:meta] $name:ident => $field:ident, $exported:ident),* $(,)?) => {
        $(#[$doc] pub(crate) fn $name(&self) {
            self.$field.fetch_add(1, Ordering::Relaxed);
            #[cfg(feature = "metrics")]
            if let Some(export) = &self.export {
                export.count(export::ServerMetric::$exported, 1);
            }
        })*
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
            received_bytes: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            export: None,
        }
    }

    /// As [`Metrics::new`], for a server: with the `metrics` feature, everything is
    /// also recorded through the `metrics` facade.
    pub(crate) fn exported(names: &[&'static str]) -> Self {
        #[cfg(feature = "metrics")]
        {
            Metrics {
                export: Some(export::Exported::new(names)),
                ..Self::new(names)
            }
        }
        #[cfg(not(feature = "metrics"))]
        Self::new(names)
    }

    /// Where the events of the method at `index` in the service's table are recorded.
    pub(crate) fn method(&self, index: usize) -> Option<MethodRecorder<'_>> {
        Some(MethodRecorder {
            counters: self.methods.get(index)?,
            index,
            #[cfg(feature = "metrics")]
            export: self.export.as_ref(),
        })
    }

    /// Moves the open-connections gauge by `delta`, for a connection over `transport`.
    pub(crate) fn add_connections(&self, transport: Transport, delta: i64) {
        self.connections.fetch_add(delta, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = &self.export {
            export.connections(transport, delta);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = transport;
    }

    /// Counts the bytes of a frame received over `transport`.
    pub(crate) fn record_received(&self, transport: Transport, bytes: usize) {
        self.received_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = &self.export {
            export.received(transport, bytes);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = transport;
    }

    /// Counts the bytes of an answer sent over `transport`.
    pub(crate) fn record_sent(&self, transport: Transport, bytes: usize) {
        self.sent_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = &self.export {
            export.sent(transport, bytes);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = transport;
    }

    /// Moves the queue-depth gauge by `delta`.
    pub(crate) fn add_queued(&self, delta: i64) {
        self.queued.fetch_add(delta, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = &self.export {
            export.queued(delta);
        }
    }

    /// Moves the in-flight gauge by `delta`.
    pub(crate) fn add_in_flight(&self, delta: i64) {
        self.in_flight.fetch_add(delta, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = &self.export {
            export.in_flight(delta);
        }
    }

    /// Moves the gauge of bytes held by connections (frames of calls in flight and
    /// answers waiting to be written) by `delta`.
    pub(crate) fn add_buffered_bytes(&self, delta: i64) {
        self.buffered_bytes.fetch_add(delta, Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = &self.export {
            export.buffered_bytes(delta);
        }
    }

    /// Counts answers handed to the socket.
    pub(crate) fn record_answers_written(&self, n: u32) {
        self.answers_written
            .fetch_add(u64::from(n), Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = &self.export {
            export.count(export::ServerMetric::AnswersWritten, u64::from(n));
        }
    }

    /// Counts answers dropped unwritten because their connection could not take them.
    pub(crate) fn record_answers_lost(&self, n: u32) {
        self.answers_lost.fetch_add(u64::from(n), Ordering::Relaxed);
        #[cfg(feature = "metrics")]
        if let Some(export) = &self.export {
            export.count(export::ServerMetric::AnswersLost, u64::from(n));
        }
    }

    /// Sets the exported buffer pool figures (with the `metrics` feature).
    pub(crate) fn publish_pool(&self, pool: PoolStats) {
        #[cfg(feature = "metrics")]
        if let Some(export) = &self.export {
            export.pool(pool);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = pool;
    }

    counter! {
        /// Counts a failed accept that the accept loop waited out (out of descriptors or memory).
        record_accept_error => accept_errors, AcceptErrors,
        /// Counts a call answered -32002 because it still ran at the shutdown deadline.
        record_interrupted_by_shutdown => interrupted_by_shutdown, InterruptedByShutdown,
        /// Counts a call refused by the overload policy.
        record_rejection => rejected, Rejected,
        /// Counts a call that ran past its deadline.
        record_timeout => timeouts, Timeouts,
        /// Counts a handler that panicked.
        record_panic => panics, Panics,
        /// Counts a call cancelled by its caller.
        record_cancellation => cancelled, Cancelled,
        /// Counts a call to a method the service does not have.
        record_unknown_method => unknown_methods, UnknownMethods,
        /// Counts a frame or batch element that was not a valid message.
        record_invalid_message => invalid_messages, InvalidMessages,
        /// Counts a response whose id matched no pending call.
        record_unknown_response => unknown_responses, UnknownResponses,
        /// Counts a response frame that could not be read at all.
        record_undecodable_response => undecodable_responses, UndecodableResponses,
        /// Counts a connection refused because the server serves its maximum.
        record_refused_connection => refused_connections, RefusedConnections,
        /// Counts a connection closed for being idle or for trickling a frame.
        record_timed_out_connection => timed_out_connections, TimedOutConnections,
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
            received_bytes: self.received_bytes.load(Ordering::Relaxed),
            sent_bytes: self.sent_bytes.load(Ordering::Relaxed),
            buffer_pool: pool,
        }
    }
}

/// A copy of all counters at one moment: serializable, and printed short (only the
/// methods that were called) by its `Display`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
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
    /// Bytes of frames received (requests, notifications, batches, responses).
    pub received_bytes: u64,
    /// Bytes of answers sent (responses and batch answers).
    pub sent_bytes: u64,
    /// The buffer pool's counters.
    pub buffer_pool: PoolStats,
}

impl MetricsSnapshot {
    /// The counters of the method with this wire name.
    pub fn method(&self, name: &str) -> Option<&MethodSnapshot> {
        self.methods.iter().find(|m| m.name == name)
    }
}
