//! A server's counters exported through the [`metrics`] facade (feature `metrics`), so
//! that whichever exporter the application installs (Prometheus, OpenTelemetry,
//! statsd) sees them under conventional names. See [`crate::metrics`] for the names.
//!
//! Handles are registered with the installed recorder on first use and kept, one per
//! method and transport: recording a call costs no lookup by name and no allocation.
//! An error registers its `code` label as it happens (codes are open-ended).

use std::sync::{Once, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Unit};

use crate::buffer::PoolStats;
use crate::service::Transport;

const TRANSPORTS: usize = Transport::ALL.len();

/// The handles of one server's metrics.
#[derive(Debug)]
pub(crate) struct Exported {
    names: Box<[&'static str]>,
    /// Per method and transport: `names.len() * TRANSPORTS` slots.
    calls: Box<[OnceLock<CallHandles>]>,
    /// Per method.
    streams: Box<[OnceLock<StreamHandles>]>,
    per_transport: [OnceLock<TransportHandles>; TRANSPORTS],
    server: OnceLock<ServerHandles>,
}

#[derive(Debug)]
struct CallHandles {
    calls: Counter,
    duration: Histogram,
}

#[derive(Debug)]
struct StreamHandles {
    open: Gauge,
    items: Counter,
    dropped: Counter,
    lagged: Counter,
}

#[derive(Debug)]
struct TransportHandles {
    connections: Gauge,
    received: Counter,
    sent: Counter,
}

/// One counter or gauge of the whole server, by [`ServerMetric`].
#[derive(Debug)]
struct ServerHandles {
    in_flight: Gauge,
    queued: Gauge,
    buffered_bytes: Gauge,
    counters: [Counter; SERVER_COUNTERS.len()],
    pool_counters: [Counter; POOL_COUNTERS.len()],
    pool_gauges: [Gauge; POOL_GAUGES.len()],
}

/// The server-wide counters: the event, its metric's name and help.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ServerMetric {
    Rejected,
    Timeouts,
    Panics,
    Cancelled,
    UnknownMethods,
    InvalidMessages,
    UnknownResponses,
    UndecodableResponses,
    RefusedConnections,
    TimedOutConnections,
    AnswersWritten,
    AnswersLost,
    AcceptErrors,
    InterruptedByShutdown,
}

const SERVER_COUNTERS: [(&str, &str); 14] = [
    (
        "rpc_server_rejected_total",
        "Calls refused by the overload policy (-32000).",
    ),
    (
        "rpc_server_timeouts_total",
        "Calls that ran past their deadline (-32001).",
    ),
    (
        "rpc_server_panics_total",
        "Handlers that panicked (-32603).",
    ),
    (
        "rpc_server_cancelled_total",
        "Calls cancelled by their caller (-32800).",
    ),
    (
        "rpc_server_unknown_methods_total",
        "Calls to methods the service does not have (-32601).",
    ),
    (
        "rpc_server_invalid_messages_total",
        "Frames or batch elements that were not valid JSON-RPC messages.",
    ),
    (
        "rpc_server_unknown_responses_total",
        "Responses (to the server's own calls) whose id matched no pending call.",
    ),
    (
        "rpc_server_undecodable_responses_total",
        "Response frames that could not be read at all.",
    ),
    (
        "rpc_server_refused_connections_total",
        "Connections refused because the server served its maximum.",
    ),
    (
        "rpc_server_timed_out_connections_total",
        "Connections closed for being idle or for trickling a frame.",
    ),
    (
        "rpc_server_answers_written_total",
        "Answers (each element of a batch's too) handed to the socket.",
    ),
    (
        "rpc_server_answers_lost_total",
        "Answers that could not be written: their connection failed or was cut for not reading.",
    ),
    (
        "rpc_server_accept_errors_total",
        "Failed accepts waited out (out of file descriptors or memory).",
    ),
    (
        "rpc_server_interrupted_by_shutdown_total",
        "Calls answered -32002 because they still ran at the shutdown deadline.",
    ),
];

const POOL_COUNTERS: [(&str, &str); 2] = [
    (
        "rpc_buffer_pool_hits_total",
        "Buffer takes served from a free buffer.",
    ),
    (
        "rpc_buffer_pool_misses_total",
        "Buffer takes that had to allocate.",
    ),
];

const POOL_GAUGES: [(&str, &str); 2] = [
    (
        "rpc_buffer_pool_in_use",
        "Buffers taken and not yet given back.",
    ),
    (
        "rpc_buffer_pool_pooled_bytes",
        "Bytes of capacity held by free buffers in the pool.",
    ),
];

/// Tells the recorder what each metric is, once per process (recorders keep
/// descriptions by name, and every server shares the names).
fn describe() {
    static DESCRIBED: Once = Once::new();
    DESCRIBED.call_once(|| {
        metrics::describe_counter!(
            "rpc_server_calls_total",
            "Calls and notifications finished, by method and transport."
        );
        metrics::describe_counter!(
            "rpc_server_errors_total",
            "Calls answered with an error, by method, transport and JSON-RPC error code."
        );
        metrics::describe_histogram!(
            "rpc_server_call_duration_seconds",
            Unit::Seconds,
            "How long calls took, from admission to answer, by method and transport."
        );
        metrics::describe_gauge!(
            "rpc_server_calls_in_flight",
            "Calls admitted and not yet answered (queued or running)."
        );
        metrics::describe_gauge!(
            "rpc_server_calls_queued",
            "Calls admitted and waiting for a worker."
        );
        metrics::describe_gauge!(
            "rpc_server_buffered_bytes",
            Unit::Bytes,
            "Bytes the connections hold: frames of calls in flight and answers not yet written."
        );
        metrics::describe_gauge!("rpc_server_connections", "Connections open, by transport.");
        metrics::describe_counter!(
            "rpc_server_received_bytes_total",
            Unit::Bytes,
            "Bytes of frames received, by transport."
        );
        metrics::describe_counter!(
            "rpc_server_sent_bytes_total",
            Unit::Bytes,
            "Bytes of answers sent, by transport."
        );
        metrics::describe_gauge!(
            "rpc_server_streams_open",
            "Streams open, by streaming method."
        );
        metrics::describe_counter!(
            "rpc_server_stream_items_total",
            "Items streams queued for their connections, by method."
        );
        metrics::describe_counter!(
            "rpc_server_stream_items_dropped_total",
            "Stream items dropped for newer ones (Overflow::DropOldest), by method."
        );
        metrics::describe_counter!(
            "rpc_server_streams_lagged_total",
            "Streams closed as lagged (Overflow::Close), by method."
        );
        for (name, help) in SERVER_COUNTERS {
            metrics::describe_counter!(name, help);
        }
        for (name, help) in POOL_COUNTERS {
            metrics::describe_counter!(name, help);
        }
        for (name, help) in POOL_GAUGES {
            metrics::describe_gauge!(name, help);
        }
    });
}

impl Exported {
    /// Handles for a service whose methods have these names, in table order.
    pub(crate) fn new(names: &[&'static str]) -> Self {
        Exported {
            names: names.into(),
            calls: (0..names.len() * TRANSPORTS)
                .map(|_| OnceLock::new())
                .collect(),
            streams: names.iter().map(|_| OnceLock::new()).collect(),
            per_transport: std::array::from_fn(|_| OnceLock::new()),
            server: OnceLock::new(),
        }
    }

    fn calls(&self, method: usize, transport: Transport) -> Option<&CallHandles> {
        let name = *self.names.get(method)?;
        let slot = self.calls.get(method * TRANSPORTS + transport.index())?;
        Some(slot.get_or_init(|| {
            describe();
            let transport = transport.as_str();
            CallHandles {
                calls: metrics::counter!("rpc_server_calls_total", "method" => name, "transport" => transport),
                duration: metrics::histogram!("rpc_server_call_duration_seconds", "method" => name, "transport" => transport),
            }
        }))
    }

    fn streams(&self, method: usize) -> Option<&StreamHandles> {
        let name = *self.names.get(method)?;
        Some(self.streams[method].get_or_init(|| {
            describe();
            StreamHandles {
                open: metrics::gauge!("rpc_server_streams_open", "method" => name),
                items: metrics::counter!("rpc_server_stream_items_total", "method" => name),
                dropped: metrics::counter!("rpc_server_stream_items_dropped_total", "method" => name),
                lagged: metrics::counter!("rpc_server_streams_lagged_total", "method" => name),
            }
        }))
    }

    fn transport(&self, transport: Transport) -> &TransportHandles {
        self.per_transport[transport.index()].get_or_init(|| {
            describe();
            let transport = transport.as_str();
            TransportHandles {
                connections: metrics::gauge!("rpc_server_connections", "transport" => transport),
                received: metrics::counter!("rpc_server_received_bytes_total", "transport" => transport),
                sent: metrics::counter!("rpc_server_sent_bytes_total", "transport" => transport),
            }
        })
    }

    fn server(&self) -> &ServerHandles {
        self.server.get_or_init(|| {
            describe();
            ServerHandles {
                in_flight: metrics::gauge!("rpc_server_calls_in_flight"),
                queued: metrics::gauge!("rpc_server_calls_queued"),
                buffered_bytes: metrics::gauge!("rpc_server_buffered_bytes"),
                counters: SERVER_COUNTERS.map(|(name, _)| metrics::counter!(name)),
                pool_counters: POOL_COUNTERS.map(|(name, _)| metrics::counter!(name)),
                pool_gauges: POOL_GAUGES.map(|(name, _)| metrics::gauge!(name)),
            }
        })
    }

    /// One finished call: its count, its duration, and its error's code.
    pub(crate) fn call(
        &self,
        method: usize,
        transport: Transport,
        elapsed: Duration,
        error: Option<i64>,
    ) {
        let Some(handles) = self.calls(method, transport) else {
            return;
        };
        handles.calls.increment(1);
        handles.duration.record(elapsed.as_secs_f64());
        if let Some(code) = error {
            metrics::counter!(
                "rpc_server_errors_total",
                "method" => self.names[method],
                "transport" => transport.as_str(),
                "code" => code.to_string()
            )
            .increment(1);
        }
    }

    pub(crate) fn count(&self, metric: ServerMetric, n: u64) {
        self.server().counters[metric as usize].increment(n);
    }

    pub(crate) fn in_flight(&self, delta: i64) {
        self.server().in_flight.increment(delta as f64);
    }

    pub(crate) fn queued(&self, delta: i64) {
        self.server().queued.increment(delta as f64);
    }

    pub(crate) fn buffered_bytes(&self, delta: i64) {
        self.server().buffered_bytes.increment(delta as f64);
    }

    pub(crate) fn connections(&self, transport: Transport, delta: i64) {
        self.transport(transport)
            .connections
            .increment(delta as f64);
    }

    pub(crate) fn received(&self, transport: Transport, bytes: usize) {
        self.transport(transport).received.increment(bytes as u64);
    }

    pub(crate) fn sent(&self, transport: Transport, bytes: usize) {
        self.transport(transport).sent.increment(bytes as u64);
    }

    pub(crate) fn stream_opened(&self, method: usize, delta: i64) {
        if let Some(streams) = self.streams(method) {
            streams.open.increment(delta as f64);
        }
    }

    pub(crate) fn stream_item(&self, method: usize) {
        if let Some(streams) = self.streams(method) {
            streams.items.increment(1);
        }
    }

    pub(crate) fn stream_item_dropped(&self, method: usize) {
        if let Some(streams) = self.streams(method) {
            streams.dropped.increment(1);
        }
    }

    pub(crate) fn stream_lagged(&self, method: usize) {
        if let Some(streams) = self.streams(method) {
            streams.lagged.increment(1);
        }
    }

    /// Sets the buffer pool's gauges (the pool counts for itself; it is read, not
    /// told).
    pub(crate) fn pool(&self, stats: PoolStats) {
        let server = self.server();
        server.pool_counters[0].absolute(stats.hits);
        server.pool_counters[1].absolute(stats.misses);
        server.pool_gauges[0].set(stats.in_use as f64);
        server.pool_gauges[1].set(stats.pooled_bytes as f64);
    }
}
