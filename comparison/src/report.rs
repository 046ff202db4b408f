//! The markdown table of all figures, with ratios of ours to each peer and the
//! targets of `DESIGN.md` ("Figures we hold ourselves to").

use std::fmt::Write;

use crate::codec::CodecResults;
use crate::loopback::{Contender, LoopbackFigures};

/// The columns of figures, in order.
const COLUMNS: [&str; 5] = ["ours", "floor", "jsonrpsee", "tarpc-json", "tarpc-bincode"];

/// One row: a figure for each column (`None`: not measured for that contender).
struct Row {
    workload: &'static str,
    figure: &'static str,
    values: [Option<f64>; 5],
    format: fn(f64) -> String,
    /// What DESIGN.md asks of ours, and whether this run met it.
    target: Option<(&'static str, bool)>,
}

fn ns(v: f64) -> String {
    format!("{v:.1}")
}

fn us(v: f64) -> String {
    format!("{v:.1}")
}

fn count(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn per_sec(v: f64) -> String {
    let n = v.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(ours: Option<f64>, other: Option<f64>) -> String {
    match (ours, other) {
        (Some(a), Some(b)) if b != 0.0 => format!("{:.2}x", a / b),
        (Some(0.0), Some(_)) => "=".into(),
        _ => "—".into(),
    }
}

/// Renders the results as one markdown table; ratios are ours divided by the peer
/// (below 1 is better for times and allocations, above 1 for calls per second).
pub fn table(codec: &CodecResults, loopback: &[(Contender, LoopbackFigures)]) -> String {
    let lb = |c: Contender, f: fn(&LoopbackFigures) -> f64| {
        loopback
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, figures)| f(figures))
    };
    let all = |f: fn(&LoopbackFigures) -> f64| {
        [
            lb(Contender::Ours, f),
            lb(Contender::Floor, f),
            lb(Contender::Jsonrpsee, f),
            lb(Contender::TarpcJson, f),
            lb(Contender::TarpcBincode, f),
        ]
    };
    // The codec figures are [ours, jsonrpsee, floor].
    let codec_row = |ops: &[crate::codec::OpFigure; 3], f: fn(&crate::codec::OpFigure) -> f64| {
        [
            Some(f(&ops[0])),
            Some(f(&ops[2])),
            Some(f(&ops[1])),
            None,
            None,
        ]
    };
    let decode_ns = codec_row(&codec.decode, |o| o.ns);
    let decode_allocs = codec_row(&codec.decode, |o| o.allocs);
    let encode_ns = codec_row(&codec.encode, |o| o.ns);
    let encode_allocs = codec_row(&codec.encode, |o| o.allocs);
    let p50 = all(|f| f.p50_us);
    let p99 = all(|f| f.p99_us);
    let rate = all(|f| f.calls_per_sec);
    let seq_allocs = all(|f| f.seq_allocs);
    let flight_allocs = all(|f| f.in_flight_allocs);
    let at = |v: &[Option<f64>; 5], i: usize| v[i].unwrap_or(f64::NAN);

    let rows = [
        Row {
            workload: "codec: decode small call",
            figure: "ns/op",
            values: decode_ns,
            format: ns,
            target: Some(("≤ 1.1x floor", at(&decode_ns, 0) <= 1.1 * at(&decode_ns, 1))),
        },
        Row {
            workload: "codec: decode small call",
            figure: "allocs/op",
            values: decode_allocs,
            format: count,
            target: Some(("0", at(&decode_allocs, 0) == 0.0)),
        },
        Row {
            workload: "codec: encode result",
            figure: "ns/op",
            values: encode_ns,
            format: ns,
            target: Some(("≤ 1.1x floor", at(&encode_ns, 0) <= 1.1 * at(&encode_ns, 1))),
        },
        Row {
            workload: "codec: encode result",
            figure: "allocs/op",
            values: encode_allocs,
            format: count,
            target: Some(("0", at(&encode_allocs, 0) == 0.0)),
        },
        Row {
            workload: "loopback: sequential",
            figure: "p50 µs",
            values: p50,
            format: us,
            target: Some(("≤ 1.5x floor", at(&p50, 0) <= 1.5 * at(&p50, 1))),
        },
        Row {
            workload: "loopback: sequential",
            figure: "p99 µs",
            values: p99,
            format: us,
            target: None,
        },
        Row {
            workload: "loopback: 64 in flight",
            figure: "calls/s",
            values: rate,
            format: per_sec,
            target: Some((
                "≥ 0.55x floor, 4x jsonrpsee, 2x tarpc-json, > tarpc-bincode",
                at(&rate, 0) >= 0.55 * at(&rate, 1)
                    && at(&rate, 0) >= 4.0 * at(&rate, 2)
                    && at(&rate, 0) >= 2.0 * at(&rate, 3)
                    && at(&rate, 0) > at(&rate, 4),
            )),
        },
        Row {
            workload: "loopback: sequential",
            figure: "allocs/call",
            values: seq_allocs,
            format: count,
            target: Some(("≤ 4", at(&seq_allocs, 0) <= 4.0)),
        },
        Row {
            workload: "loopback: 64 in flight",
            figure: "allocs/call",
            values: flight_allocs,
            format: count,
            target: Some(("≤ 4", at(&flight_allocs, 0) <= 4.0)),
        },
    ];

    let mut out = String::new();
    out.push_str("| workload | figure |");
    for c in COLUMNS {
        let _ = write!(out, " {c} |");
    }
    for c in &COLUMNS[1..] {
        let _ = write!(out, " ours/{c} |");
    }
    out.push_str(" target (DESIGN.md) | met |\n|---|---|");
    out.push_str(&"---:|".repeat(COLUMNS.len() * 2 - 1));
    out.push_str("---|---|\n");
    for row in rows {
        let _ = write!(out, "| {} | {} |", row.workload, row.figure);
        for v in row.values {
            let _ = write!(out, " {} |", v.map_or("—".into(), row.format));
        }
        for other in &row.values[1..] {
            let _ = write!(out, " {} |", ratio(row.values[0], *other));
        }
        match row.target {
            Some((text, met)) => {
                let _ = writeln!(out, " {text} | {} |", if met { "yes" } else { "no" });
            }
            None => out.push_str(" | |\n"),
        }
    }
    if let Some(batched) = lb(Contender::FloorBatched, |f| f.calls_per_sec) {
        let _ = writeln!(
            out,
            "\nfloor-batched (the echo answering each read with one write, both ends): \
             p50 {} µs, {} calls/s with 64 in flight (ours/floor-batched {}), \
             {} allocs/call.",
            lb(Contender::FloorBatched, |f| f.p50_us).map_or("—".into(), us),
            per_sec(batched),
            ratio(rate[0], Some(batched)),
            lb(Contender::FloorBatched, |f| f.in_flight_allocs).map_or("—".into(), count),
        );
    }
    out
}
