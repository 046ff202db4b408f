//! The markdown table of all figures, with ratios of ours to each peer and the
//! project's performance targets.

use std::fmt::Write;

use crate::codec::{CodecResults, OpFigure};
use crate::connections::{ConnContender, ConnFigures};
use crate::loopback::{Contender, LoopbackFigures};
use crate::stats::median;
use crate::streams::{StreamContender, StreamRound};

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
    /// What the targets ask of ours, and whether this run met it (`None`: this run
    /// lacks a figure the target needs).
    target: Option<(&'static str, Option<bool>)>,
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

/// `v` rounded, with thousands separated by commas.
pub fn per_sec(v: f64) -> String {
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

/// The `met` column's word.
pub fn yes_no(met: bool) -> String {
    if met { "yes" } else { "no" }.into()
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
    let paired_rate = |c: Contender| paired_rate(loopback, Contender::Ours, c);
    let rate_ratios = [
        paired_rate(Contender::Floor),
        paired_rate(Contender::Jsonrpsee),
        paired_rate(Contender::TarpcJson),
        paired_rate(Contender::TarpcBincode),
    ];
    let batched_ratio = paired_rate(Contender::FloorBatched);
    let seq_allocs = all(|f| f.seq_allocs);
    let flight_allocs = all(|f| f.in_flight_allocs);
    let both = |v: &[Option<f64>; 5], i: usize| v[0].zip(v[i]);

    let rows = [
        Row {
            workload: "codec: decode small call",
            figure: "ns/op",
            values: decode_ns,
            format: ns,
            ratios: paired(decode),
            target: Some(("≤ 1.1x floor", decode.map(|ops| ops[2].ours_ratio <= 1.1))),
        },
        Row {
            workload: "codec: decode small call",
            figure: "allocs/op",
            values: decode_allocs,
            format: count,
            ratios: None,
            target: Some(("0", decode_allocs[0].map(|a| a == 0.0))),
        },
        Row {
            workload: "codec: encode result",
            figure: "ns/op",
            values: encode_ns,
            format: ns,
            ratios: paired(encode),
            target: Some(("≤ 1.0x floor", encode.map(|ops| ops[2].ours_ratio <= 1.0))),
        },
        Row {
            workload: "codec: encode result",
            figure: "allocs/op",
            values: encode_allocs,
            format: count,
            ratios: None,
            target: Some(("0", encode_allocs[0].map(|a| a == 0.0))),
        },
        Row {
            workload: "loopback: sequential",
            figure: "p50 µs",
            values: p50,
            format: us,
            ratios: None,
            target: Some((
                "≤ 1.3x floor",
                both(&p50, 1).map(|(ours, floor)| ours <= 1.3 * floor),
            )),
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
            // Against the echo that answers each read with one write, printed below
            // the table (the floor column writes once per line).
            target: Some(("≥ 0.8x floor-batched", batched_ratio.map(|r| r >= 0.8))),
        },
        Row {
            workload: "loopback: sequential",
            figure: "allocs/call",
            values: seq_allocs,
            format: count,
            ratios: None,
            target: Some(("≤ 2.1", seq_allocs[0].map(|a| a <= 2.1))),
        },
        Row {
            workload: "loopback: 64 in flight",
            figure: "allocs/call",
            values: flight_allocs,
            format: count,
            ratios: None,
            target: Some(("≤ 2.1", flight_allocs[0].map(|a| a <= 2.1))),
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
    out.push_str(" target | met |\n|---|---|");
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
            // A partial run may lack a figure the target needs.
            Some((text, met)) => {
                let _ = writeln!(out, " {text} | {} |", met.map_or("—".into(), yes_no));
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
    out.push_str(&http_table(loopback));
    if let Some(batched) = lb(Contender::FloorBatched, |f| f.calls_per_sec) {
        let _ = writeln!(
            out,
            "\nfloor-batched (the echo answering each read with one write, both ends): \
             p50 {} µs, {} calls/s with 64 in flight (ours/floor-batched {}), \
             {} allocs/call.",
            lb(Contender::FloorBatched, |f| f.p50_us).map_or("—".into(), us),
            per_sec(batched),
            batched_ratio.map_or("—".into(), |r| format!("{r:.2}x")),
            lb(Contender::FloorBatched, |f| f.in_flight_allocs).map_or("—".into(), count),
        );
    }
    if let Some(tasks_p50) = lb(Contender::FloorTasks, |f| f.p50_us) {
        let floor_p50 = lb(Contender::Floor, |f| f.p50_us);
        let ours_p50 = lb(Contender::Ours, |f| f.p50_us);
        let ratio = |a: Option<f64>, b: f64| a.map_or("—".into(), |a| format!("{:.2}x", a / b));
        let _ = writeln!(
            out,
            "\nfloor-tasks (the echo through ours' six task hops per call, no JSON): \
             p50 {} µs ({} the floor's; ours {} of it), {} calls/s with 64 in flight \
             (ours/floor-tasks {}).",
            us(tasks_p50),
            floor_p50.map_or("—".into(), |f| format!("{:.2}x", tasks_p50 / f)),
            ratio(ours_p50, tasks_p50),
            lb(Contender::FloorTasks, |f| f.calls_per_sec).map_or("—".into(), per_sec),
            paired_rate(Contender::FloorTasks).map_or("—".into(), |r| format!("{r:.2}x")),
        );
    }
    out
}

/// `ours` over `theirs` in calls per second with 64 in flight: the median of the
/// per-round ratios (the contenders of one round run within seconds of each other).
pub fn paired_rate(
    loopback: &[(Contender, LoopbackFigures)],
    ours: Contender,
    theirs: Contender,
) -> Option<f64> {
    let rounds_of = |c: Contender| {
        loopback
            .iter()
            .find(|(k, _)| *k == c)
            .map(|(_, f)| &f.rounds_calls_per_sec)
    };
    let (ours, theirs) = (rounds_of(ours)?, rounds_of(theirs)?);
    let mut ratios: Vec<f64> = ours.iter().zip(theirs).map(|(o, t)| o / t).collect();
    (!ratios.is_empty()).then(|| median(&mut ratios))
}

/// The HTTP targets: with 64 keep-alive connections, ours at least this
/// many times jsonrpsee's calls per second...
pub const HTTP_RATE_RATIO: f64 = 2.0;
/// ...with a p50 at most this fraction of its.
pub const HTTP_P50_RATIO: f64 = 0.6;
/// The WebSocket target: with 64 in flight, ours at least this many times
/// jsonrpsee's calls per second.
pub const WS_RATE_RATIO: f64 = 3.0;

/// What the HTTP and WebSocket rows measured against the targets: the
/// ratios (ours over jsonrpsee) and whether they are met, `None` when the run lacks
/// a contender.
pub struct HttpTargets {
    /// HTTP calls per second, paired by round.
    pub http_rate: Option<f64>,
    /// HTTP p50 with 64 in flight.
    pub http_p50: Option<f64>,
    /// The HTTP servers alone, both called by jsonrpsee's client: calls per second,
    /// paired by round...
    pub server_rate: Option<f64>,
    /// ...and p50 with 64 in flight.
    pub server_p50: Option<f64>,
    /// WebSocket calls per second, paired by round.
    pub ws_rate: Option<f64>,
}

impl HttpTargets {
    /// The ratios of `loopback`.
    pub fn of(loopback: &[(Contender, LoopbackFigures)]) -> HttpTargets {
        let p50 = |c: Contender| {
            loopback
                .iter()
                .find(|(k, _)| *k == c)
                .and_then(|(_, f)| f.in_flight_p50_us)
        };
        HttpTargets {
            http_rate: paired_rate(loopback, Contender::OursHttp, Contender::JsonrpseeHttp),
            http_p50: p50(Contender::OursHttp)
                .zip(p50(Contender::JsonrpseeHttp))
                .map(|(o, t)| o / t),
            server_rate: paired_rate(
                loopback,
                Contender::OursServerHttp,
                Contender::JsonrpseeHttp,
            ),
            server_p50: p50(Contender::OursServerHttp)
                .zip(p50(Contender::JsonrpseeHttp))
                .map(|(o, t)| o / t),
            ws_rate: paired_rate(loopback, Contender::OursWs, Contender::Jsonrpsee),
        }
    }

    /// Whether the HTTP figures are met, client and server ours.
    pub fn http_met(&self) -> Option<bool> {
        http_met(self.http_rate, self.http_p50)
    }

    /// Whether the HTTP figures are met by the servers alone.
    pub fn server_met(&self) -> Option<bool> {
        http_met(self.server_rate, self.server_p50)
    }

    /// Whether the WebSocket figure is met.
    pub fn ws_met(&self) -> Option<bool> {
        self.ws_rate.map(|r| r >= WS_RATE_RATIO)
    }
}

fn http_met(rate: Option<f64>, p50: Option<f64>) -> Option<bool> {
    let (rate, p50) = rate.zip(p50)?;
    Some(rate >= HTTP_RATE_RATIO && p50 <= HTTP_P50_RATIO)
}

/// Ours against jsonrpsee over the HTTP server: WebSocket and POST, one row each,
/// every cell "ours / jsonrpsee". The server's connections (established at the end
/// of the timed window, and closed ones in `TIME_WAIT`) show that HTTP kept its 64
/// connections alive rather than reopening them.
fn http_table(loopback: &[(Contender, LoopbackFigures)]) -> String {
    let figures = |c: Contender| loopback.iter().find(|(k, _)| *k == c).map(|(_, f)| f);
    let targets = HttpTargets::of(loopback);
    let x = |r: Option<f64>| r.map_or("—".into(), |r| format!("{r:.2}x"));
    let us_of = |v: Option<f64>| v.map_or("—".into(), us);
    let connections = |f: &LoopbackFigures| {
        f.connections.map_or("—".into(), |c| {
            format!("{} ({} TIME_WAIT)", c.established, c.time_wait)
        })
    };
    let mut out = String::new();
    let rows = [
        (
            "WebSocket, 1 connection",
            Contender::OursWs,
            Contender::Jsonrpsee,
            targets.ws_rate,
            format!("calls/s ≥ {WS_RATE_RATIO}x"),
            targets.ws_met(),
        ),
        (
            "HTTP POST, 64 connections",
            Contender::OursHttp,
            Contender::JsonrpseeHttp,
            targets.http_rate,
            format!("calls/s ≥ {HTTP_RATE_RATIO}x, p50 (64 in flight) ≤ {HTTP_P50_RATIO}x"),
            targets.http_met(),
        ),
        (
            "HTTP POST, 64 connections, servers alone (jsonrpsee's client on both)",
            Contender::OursServerHttp,
            Contender::JsonrpseeHttp,
            targets.server_rate,
            format!("calls/s ≥ {HTTP_RATE_RATIO}x, p50 (64 in flight) ≤ {HTTP_P50_RATIO}x"),
            targets.server_met(),
        ),
    ];
    for (name, ours, theirs, rate_ratio, target, met) in rows {
        let (Some(o), Some(t)) = (figures(ours), figures(theirs)) else {
            continue;
        };
        if out.is_empty() {
            out.push_str(
                "\n| over (ours / jsonrpsee in each cell) | server connections at the end | p50 µs, 1 at a time | calls/s, 64 in flight | ours/jsonrpsee | p50 µs, 64 in flight | ours/jsonrpsee | p99 µs, 64 in flight | allocs/call, 64 in flight | target | met |\n|---|---|---|---|---:|---|---:|---|---|---|---|\n",
            );
        }
        let _ = writeln!(
            out,
            "| {name} | {} / {} | {} / {} | {} / {} | {} | {} / {} | {} | {} / {} | {} / {} | {target} | {} |",
            connections(o),
            connections(t),
            us(o.p50_us),
            us(t.p50_us),
            per_sec(o.calls_per_sec),
            per_sec(t.calls_per_sec),
            x(rate_ratio),
            us_of(o.in_flight_p50_us),
            us_of(t.in_flight_p50_us),
            x(o.in_flight_p50_us.zip(t.in_flight_p50_us).map(|(a, b)| a / b)),
            us_of(o.in_flight_p99_us),
            us_of(t.in_flight_p99_us),
            count(o.in_flight_allocs),
            count(t.in_flight_allocs),
            met.map_or("—".into(), yes_no),
        );
    }
    out
}

/// The targets against the peers that this comparison can check, one row
/// each, computed from this run: HTTP, WebSocket, streams and many connections.
pub fn targets(
    loopback: &[(Contender, LoopbackFigures)],
    streams: Option<&[(StreamContender, Vec<StreamRound>)]>,
    connections: Option<&[(ConnContender, ConnFigures)]>,
) -> String {
    let x = |r: Option<f64>| r.map_or("—".into(), |r| format!("{r:.2}x"));
    let met = |m: Option<bool>| m.map_or("—".into(), yes_no);
    let mut rows: Vec<(String, String, String)> = Vec::new();
    let http = HttpTargets::of(loopback);
    rows.push((
        format!(
            "HTTP, 64 keep-alive connections: ours ≥ {HTTP_RATE_RATIO}x jsonrpsee-http calls/s"
        ),
        x(http.http_rate),
        met(http.http_rate.map(|r| r >= HTTP_RATE_RATIO)),
    ));
    rows.push((
        format!("HTTP, 64 keep-alive connections: ours p50 ≤ {HTTP_P50_RATIO}x jsonrpsee-http's"),
        x(http.http_p50),
        met(http.http_p50.map(|r| r <= HTTP_P50_RATIO)),
    ));
    rows.push((
        format!(
            "HTTP servers alone (jsonrpsee's client on both): ours ≥ {HTTP_RATE_RATIO}x jsonrpsee's calls/s"
        ),
        x(http.server_rate),
        met(http.server_rate.map(|r| r >= HTTP_RATE_RATIO)),
    ));
    rows.push((
        format!("HTTP servers alone: ours p50 ≤ {HTTP_P50_RATIO}x jsonrpsee's"),
        x(http.server_p50),
        met(http.server_p50.map(|r| r <= HTTP_P50_RATIO)),
    ));
    rows.push((
        format!("WebSocket, 64 in flight: ours ≥ {WS_RATE_RATIO}x jsonrpsee calls/s"),
        x(http.ws_rate),
        met(http.ws_met()),
    ));
    for many in [false, true] {
        let ratio = streams.and_then(|s| crate::streams::ratio(s, many));
        rows.push((
            format!(
                "streams, {}: ours-ws ≥ {}x jsonrpsee-ws items/s",
                if many { "64 at once" } else { "one" },
                crate::streams::TARGET_RATIO
            ),
            x(ratio),
            met(ratio.map(|r| r >= crate::streams::TARGET_RATIO)),
        ));
    }
    for ours in [ConnContender::OursTcp, ConnContender::OursWs] {
        let ratio = connections.and_then(|c| crate::connections::ratio_to_jsonrpsee(c, ours));
        rows.push((
            format!(
                "1,000 connections: {} ≥ {}x jsonrpsee-ws calls/s",
                ours.name(),
                crate::connections::TARGET_RATIO
            ),
            x(ratio),
            met(ratio.map(|r| r >= crate::connections::TARGET_RATIO)),
        ));
    }
    let mut out = String::from("| target | this run | met |\n|---|---:|---|\n");
    for (target, measured, met) in rows {
        let _ = writeln!(out, "| {target} | {measured} | {met} |");
    }
    out
}
