//! How a snapshot reads: a short `Display` for people, a one-line `Debug` and a
//! compact serialized form for histograms (28 buckets, most of them empty).

use std::fmt;
use std::time::Duration;

use serde::ser::{Serialize, SerializeStruct, Serializer};

use super::{Histogram, MetricsSnapshot};

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Histogram {{ count: {}, sum: {:?}",
            self.count(),
            self.sum
        )?;
        for (bound, n) in self.nonzero_buckets() {
            write!(f, ", <{bound:?}: {n}")?;
        }
        f.write_str(" }")
    }
}

impl Serialize for Histogram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let buckets: Vec<(u64, u64)> = self
            .nonzero_buckets()
            .map(|(bound, n)| (bound.as_micros() as u64, n))
            .collect();
        let mut s = serializer.serialize_struct("Histogram", 3)?;
        s.serialize_field("count", &self.count())?;
        s.serialize_field("sum_seconds", &self.sum.as_secs_f64())?;
        s.serialize_field("buckets", &buckets)?;
        s.end()
    }
}

/// A bound of the histogram, printed as `≤64µs`; `-` when nothing was recorded.
struct Bound(Option<Duration>);

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, "≤{d:?}"),
            None => f.write_str("-"),
        }
    }
}

/// One line for the server, one per method that was called, and the nonzero
/// exceptional counters on a last line:
///
/// ```text
/// connections 2, in flight 1 (queued 0), buffered 1.2 KiB, received 5.0 KiB, sent 4.1 KiB
///   add: 1200 calls, 3 errors, mean 41.2µs, p50 ≤64µs, p99 ≤256µs
///   watch: 1 call, 0 errors, mean 12.0µs, p50 ≤16µs, p99 ≤16µs; 1 stream open, 40 items
/// timeouts 1, rejected 2
/// ```
impl fmt::Display for MetricsSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "connections {}, in flight {} (queued {}), buffered {}, received {}, sent {}",
            self.connections,
            self.in_flight,
            self.queued,
            Bytes(self.buffered_bytes.max(0) as u64),
            Bytes(self.received_bytes),
            Bytes(self.sent_bytes),
        )?;
        for m in self
            .methods
            .iter()
            .filter(|m| m.calls > 0 || m.streams_open > 0)
        {
            let latency = &m.latency;
            write!(
                f,
                "\n  {}: {} call{}, {} error{}, mean {}, p50 {}, p99 {}",
                m.name,
                m.calls,
                if m.calls == 1 { "" } else { "s" },
                m.errors,
                if m.errors == 1 { "" } else { "s" },
                Short(latency.mean()),
                Bound(latency.quantile_upper_bound(0.5)),
                Bound(latency.quantile_upper_bound(0.99)),
            )?;
            if m.streams_open > 0 || m.stream_items > 0 {
                write!(
                    f,
                    "; {} stream{} open, {} items",
                    m.streams_open,
                    if m.streams_open == 1 { "" } else { "s" },
                    m.stream_items
                )?;
                if m.stream_dropped > 0 {
                    write!(f, " ({} dropped)", m.stream_dropped)?;
                }
                if m.streams_lagged > 0 {
                    write!(f, ", {} lagged", m.streams_lagged)?;
                }
            }
        }
        let exceptional = [
            ("rejected", self.rejected),
            ("timeouts", self.timeouts),
            ("panics", self.panics),
            ("cancelled", self.cancelled),
            ("unknown methods", self.unknown_methods),
            ("invalid messages", self.invalid_messages),
            ("unknown responses", self.unknown_responses),
            ("undecodable responses", self.undecodable_responses),
            ("refused connections", self.refused_connections),
            ("timed out connections", self.timed_out_connections),
            ("answers lost", self.answers_lost),
            ("accept errors", self.accept_errors),
            ("interrupted by shutdown", self.interrupted_by_shutdown),
        ];
        let mut first = true;
        for (name, n) in exceptional.iter().filter(|(_, n)| *n > 0) {
            f.write_str(if first { "\n" } else { ", " })?;
            write!(f, "{name} {n}")?;
            first = false;
        }
        Ok(())
    }
}

/// A duration, printed to about three digits (`23.7µs`, `21.32ms`); `-` for none.
struct Short(Option<Duration>);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(d) = self.0 else {
            return f.write_str("-");
        };
        let nanos = d.as_nanos() as f64;
        if nanos < 1e3 {
            write!(f, "{nanos}ns")
        } else if nanos < 1e6 {
            write!(f, "{:.1}µs", nanos / 1e3)
        } else if nanos < 1e9 {
            write!(f, "{:.2}ms", nanos / 1e6)
        } else {
            write!(f, "{:.2}s", nanos / 1e9)
        }
    }
}

/// A byte count, printed in B, KiB, MiB or GiB.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
        let mut value = self.0 as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            write!(f, "{} B", self.0)
        } else {
            write!(f, "{value:.1} {}", UNITS[unit])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{MethodSnapshot, LATENCY_BUCKETS};

    fn histogram(calls: &[(usize, u64)], sum: Duration) -> Histogram {
        let mut buckets = [0; LATENCY_BUCKETS];
        for &(i, n) in calls {
            buckets[i] = n;
        }
        Histogram { buckets, sum }
    }

    #[test]
    fn a_histogram_debugs_on_one_line_and_serializes_its_nonzero_buckets() {
        let h = histogram(&[(4, 2), (6, 1)], Duration::from_micros(60));
        assert_eq!(
            format!("{h:#?}"),
            "Histogram { count: 3, sum: 60µs, <16µs: 2, <64µs: 1 }"
        );
        assert_eq!(h.mean(), Some(Duration::from_micros(20)));
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"count":3,"sum_seconds":0.00006,"buckets":[[16,2],[64,1]]}"#
        );
    }

    #[test]
    fn display_shows_called_methods_and_nonzero_exceptions_only() {
        let method = |name: &str, calls, errors, latency| MethodSnapshot {
            name: name.to_owned(),
            calls,
            errors,
            latency,
            streams_open: 0,
            stream_items: 0,
            stream_dropped: 0,
            streams_lagged: 0,
        };
        let snapshot = MetricsSnapshot {
            methods: vec![
                method(
                    "add",
                    4,
                    1,
                    histogram(&[(6, 3), (8, 1)], Duration::from_micros(400)),
                ),
                method("idle", 0, 0, histogram(&[], Duration::ZERO)),
            ],
            connections: 2,
            queued: 0,
            in_flight: 1,
            rejected: 0,
            timeouts: 1,
            panics: 0,
            cancelled: 0,
            unknown_methods: 3,
            invalid_messages: 0,
            unknown_responses: 0,
            undecodable_responses: 0,
            refused_connections: 0,
            timed_out_connections: 0,
            buffered_bytes: 100,
            answers_written: 4,
            answers_lost: 0,
            accept_errors: 0,
            interrupted_by_shutdown: 0,
            received_bytes: 2048,
            sent_bytes: 512,
            buffer_pool: Default::default(),
        };
        assert_eq!(
            snapshot.to_string(),
            "connections 2, in flight 1 (queued 0), buffered 100 B, received 2.0 KiB, sent 512 B\n  \
             add: 4 calls, 1 error, mean 100.0µs, p50 ≤64µs, p99 ≤256µs\n\
             timeouts 1, unknown methods 3"
        );
        let json = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(json["methods"][0]["latency"]["count"], 4);
        assert_eq!(json["buffer_pool"]["hits"], 0);
    }
}
