//! The markdown table of all figures, with ratios of ours to each peer and the
//! targets of `DESIGN.md` ("Figures we hold ourselves to").

use std::fmt::Write;

use crate::codec::{CodecResults, OpFigure};
use crate::loopback::{Contender, LoopbackFigures};
use crate::stats::median;

/// The columns of figures, in order.
const COLUMNS: [&str; 5] = ["ours", "floor", "jsonrpsee", "tarpc-json", "tarpc-bincode"];

/// One row: a figure for each column (`None`: not measured for that contender).
struct Row {
    workload: &'static str,
    figure: &'static str,
    values: [Option<f64>; 5],
    format: fn(f64) -> String,
    /// Ours divided by each other column, where measured pairwise rather than
    /// computed from the figures.
    ratios: Option<[Option<f64>; 4]>,
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
/// (below 1 is better for times and allocations, above 1 for calls per second). The
/// codec's time ratios are the medians of per-sample ratios (see [`crate::codec`]),
/// and the calls-per-second ratios the medians of per-round ratios.
pub fn table(codec: Option<&CodecResults>, loopback: &[(Contender, LoopbackFigures)]) -> String {
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
    let codec_row = |ops: Option<&[OpFigure; 3]>, f: fn(&OpFigure) -> f64| match ops {
        Some(ops) => [
            Some(f(&ops[0])),
            Some(f(&ops[2])),
            Some(f(&ops[1])),
            None,
            None,
        ],
        None => [None; 5],
    };
    let decode = codec.map(|c| &c.decode);
    let encode = codec.map(|c| &c.encode);
    let paired = |ops: Option<&[OpFigure; 3]>| {
        ops.map(|ops| [Some(ops[2].ours_ratio), Some(ops[1].ours_ratio), None, None])
    };
    let decode_ns = codec_row(decode, |o| o.ns);
    let decode_allocs = codec_row(decode, |o| o.allocs);
    let encode_ns = codec_row(encode, |o| o.ns);
    let encode_allocs = codec_row(encode, |o| o.allocs);
    let p50 = all(|f| f.p50_us);
    let p99 = all(|f| f.p99_us);
    let rate = all(|f| f.calls_per_sec);
    // Calls per second: ours over each peer round by round, the median over rounds.
    let rounds_of = |c: Contender| {
        loopback
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, f)| f.rounds_calls_per_sec.clone())
    };
    let paired_rate = |c: Contender| {
        let (ours, other) = (rounds_of(Contender::Ours)?, rounds_of(c)?);
        let mut ratios: Vec<f64> = ours.iter().zip(&other).map(|(o, p)| o / p).collect();
        (!ratios.is_empty()).then(|| median(&mut ratios))
    };
    let rate_ratios = [
        paired_rate(Contender::Floor),
        paired_rate(Contender::Jsonrpsee),
        paired_rate(Contender::TarpcJson),
        paired_rate(Contender::TarpcBincode),
    ];
    let rate_ok = |k: usize, least: f64| rate_ratios[k].is_some_and(|r| r >= least);
    let seq_allocs = all(|f| f.seq_allocs);
    let flight_allocs = all(|f| f.in_flight_allocs);
    let at = |v: &[Option<f64>; 5], i: usize| v[i].unwrap_or(f64::NAN);

    let rows = [
        Row {
            workload: "codec: decode small call",
            figure: "ns/op",
            values: decode_ns,
            format: ns,
            ratios: paired(decode),
            target: Some((
                "≤ 1.1x floor",
                decode.is_some_and(|ops| ops[2].ours_ratio <= 1.1),
            )),
        },
        Row {
            workload: "codec: decode small call",
            figure: "allocs/op",
            values: decode_allocs,
            format: count,
            ratios: None,
            target: Some(("0", at(&decode_allocs, 0) == 0.0)),
        },
        Row {
            workload: "codec: encode result",
            figure: "ns/op",
            values: encode_ns,
            format: ns,
            ratios: paired(encode),
            target: Some((
                "≤ 1.1x floor",
                encode.is_some_and(|ops| ops[2].ours_ratio <= 1.1),
            )),
        },
        Row {
            workload: "codec: encode result",
            figure: "allocs/op",
            values: encode_allocs,
            format: count,
            ratios: None,
            target: Some(("0", at(&encode_allocs, 0) == 0.0)),
        },
        Row {
            workload: "loopback: sequential",
            figure: "p50 µs",
            values: p50,
            format: us,
            ratios: None,
            target: Some(("≤ 1.5x floor", at(&p50, 0) <= 1.5 * at(&p50, 1))),
        },
        Row {
            workload: "loopback: sequential",
            figure: "p99 µs",
            values: p99,
            format: us,
            ratios: None,
            target: None,
        },
        Row {
            workload: "loopback: 64 in flight",
            figure: "calls/s",
            values: rate,
            format: per_sec,
            ratios: Some(rate_ratios),
            target: Some((
                "≥ 0.55x floor, 4x jsonrpsee, 2x tarpc-json, > tarpc-bincode",
                rate_ok(0, 0.55)
                    && rate_ok(1, 4.0)
                    && rate_ok(2, 2.0)
                    && rate_ratios[3].is_some_and(|r| r > 1.0),
            )),
        },
        Row {
            workload: "loopback: sequential",
            figure: "allocs/call",
            values: seq_allocs,
            format: count,
            ratios: None,
            target: Some(("≤ 4", at(&seq_allocs, 0) <= 4.0)),
        },
        Row {
            workload: "loopback: 64 in flight",
            figure: "allocs/call",
            values: flight_allocs,
            format: count,
            ratios: None,
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
        for (k, other) in row.values[1..].iter().enumerate() {
            let text = match row.ratios {
                Some(ratios) => ratios[k].map_or("—".into(), |r| format!("{r:.2}x")),
                None => ratio(row.values[0], *other),
            };
            let _ = write!(out, " {text} |");
        }
        match row.target {
            // Every target needs ours and the floor (a partial run may lack them).
            Some((text, _)) if row.values[0].is_none() || row.values[1].is_none() => {
                let _ = writeln!(out, " {text} | — |");
            }
            Some((text, met)) => {
                let _ = writeln!(out, " {text} | {} |", if met { "yes" } else { "no" });
            }
            None => out.push_str(" | |\n"),
        }
    }
    if let Some(codec) = codec {
        // The fastest samples are the least disturbed by other work on the machine.
        let fastest = |ops: &[OpFigure; 3]| {
            format!(
                "ours/floor {:.2}x, ours/jsonrpsee {:.2}x",
                ops[0].min_ns / ops[2].min_ns,
                ops[0].min_ns / ops[1].min_ns
            )
        };
        let _ = writeln!(
            out,
            "\ncodec, fastest samples ({} / {} / {} ns decode, {} / {} / {} ns encode, \
             ours / floor / jsonrpsee): decode {}; encode {}.",
            ns(codec.decode[0].min_ns),
            ns(codec.decode[2].min_ns),
            ns(codec.decode[1].min_ns),
            ns(codec.encode[0].min_ns),
            ns(codec.encode[2].min_ns),
            ns(codec.encode[1].min_ns),
            fastest(&codec.decode),
            fastest(&codec.encode),
        );
    }
    // Over the HTTP server: ours against jsonrpsee, WebSocket and POST.
    let over = |name: &str, ours: Contender, theirs: Contender| -> Option<String> {
        let (o_p50, t_p50) = (lb(ours, |f| f.p50_us)?, lb(theirs, |f| f.p50_us)?);
        let (o_rate, t_rate) = (
            lb(ours, |f| f.calls_per_sec)?,
            lb(theirs, |f| f.calls_per_sec)?,
        );
        Some(format!(
            "| {name} | {} µs | {} µs | {} | {} calls/s | {} calls/s | {} | {} | {} |",
            us(o_p50),
            us(t_p50),
            ratio(Some(o_p50), Some(t_p50)),
            per_sec(o_rate),
            per_sec(t_rate),
            ratio(Some(o_rate), Some(t_rate)),
            lb(ours, |f| f.in_flight_allocs).map_or("—".into(), count),
            lb(theirs, |f| f.in_flight_allocs).map_or("—".into(), count),
        ))
    };
    let rows: Vec<String> = [
        over("WebSocket", Contender::OursWs, Contender::Jsonrpsee),
        over("HTTP POST", Contender::OursHttp, Contender::JsonrpseeHttp),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "\n| over | ours p50 | jsonrpsee p50 | ours/jsonrpsee | ours 64 in flight | jsonrpsee 64 in flight | ours/jsonrpsee | ours allocs/call | jsonrpsee allocs/call |\n|---|---|---|---|---|---|---|---|---|"
        );
        for row in rows {
            let _ = writeln!(out, "{row}");
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
