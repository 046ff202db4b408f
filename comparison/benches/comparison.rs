//! The side-by-side comparison: ours against jsonrpsee, tarpc and the floors, in one
//! run, printed as one markdown table (see `comparison/README.md`).
//!
//! Run: `cargo bench --manifest-path comparison/Cargo.toml` (about three minutes);
//! add `-- --quick` (or set `COMPARISON_QUICK=1`) for a shorter, noisier run, and
//! `-- --only NAME` (or `COMPARISON_ONLY=NAME`) to run the loopback workload of one
//! contender alone (`ours`, `jsonrpsee`, `tarpc-json`, `tarpc-bincode`, `floor`,
//! `floor-batched`, `ours-ws`, `ours-http`, `jsonrpsee-http`), with no codec
//! workload, or `codec` for the codec workload alone, `streams` for the
//! subscription workload alone, or `connections` for the 1,000-connection workload
//! alone: for profiling one stack under perf.
//!
//! A full run writes its SVG charts into `comparison/charts/`; `-- --charts DIR` (or
//! `COMPARISON_CHARTS=DIR`) writes them into DIR instead, and makes quick and
//! partial runs write them too (by default those leave the committed charts alone);
//! `-- --no-charts` writes none.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rpc_comparison::charts;
use rpc_comparison::codec::{self, CodecConfig};
use rpc_comparison::connections::{self, ConnectionsConfig};
use rpc_comparison::counting::{self, Counting};
use rpc_comparison::loopback::{self, Contender, LoopbackConfig};
use rpc_comparison::report;
use rpc_comparison::streams::{self, StreamsConfig};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var_os("COMPARISON_QUICK").is_some_and(|v| v != "0" && !v.is_empty());
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned())
        .or_else(|| std::env::var("COMPARISON_ONLY").ok())
        .filter(|name| !name.is_empty());
    let charts_dir = args
        .iter()
        .position(|a| a == "--charts")
        .and_then(|i| args.get(i + 1).map(PathBuf::from))
        .or_else(|| std::env::var_os("COMPARISON_CHARTS").map(PathBuf::from))
        .filter(|dir| !dir.as_os_str().is_empty());
    let charts_dir = match charts_dir {
        _ if args.iter().any(|a| a == "--no-charts") => None,
        Some(dir) => Some(dir),
        // Only a full run replaces the committed charts.
        None if !quick && only.is_none() => {
            Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("charts"))
        }
        None => None,
    };
    let contenders: Vec<Contender> = match only.as_deref() {
        Some("codec" | "streams" | "connections") => Vec::new(),
        Some(name) => vec![Contender::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .unwrap_or_else(|| panic!("no contender named {name:?}"))],
        None => Contender::ALL.to_vec(),
    };
    assert!(
        counting::installed(),
        "the counting allocator is not installed"
    );
    let started = Instant::now();
    // Other work on the machine moves every figure; the load says how much there was.
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into());

    let codec_config = CodecConfig {
        samples: if quick { 500 } else { 3000 },
        batch: Duration::from_micros(100),
    };
    let rounds = if quick { 1 } else { 5 };
    let loopback_config = LoopbackConfig {
        rounds,
        warmup_calls: 2_000,
        alloc_calls: 2_000,
        latency_calls: if quick { 5_000 } else { 20_000 / rounds },
        in_flight: 64,
        in_flight_warmup: Duration::from_millis(300),
        in_flight_alloc: Duration::from_millis(300),
        in_flight_timed: Duration::from_millis(if quick { 1000 } else { 1500 }),
    };

    let streams_config = StreamsConfig {
        rounds,
        one: if quick { 100_000 } else { 200_000 },
        many: 64,
        each: if quick { 2_000 } else { 5_000 },
    };
    let connections_config = ConnectionsConfig {
        rounds: if quick { 1 } else { 3 },
        connections: 1_000,
        open_at_once: 64,
        warmup: Duration::from_millis(300),
        timed: Duration::from_millis(if quick { 1000 } else { 1500 }),
    };
    if only.as_deref().is_none_or(|name| name == "connections") {
        // Now rather than after the other workloads' minutes.
        connections::require_open_files(&connections_config);
    }
    let note = |extra: &str| {
        format!(
            "{} run{extra}, {} cores, load average at start {load_average}, rpc at {}",
            if quick { "quick" } else { "full" },
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            commit(),
        )
    };
    let write_charts = |run: charts::Run| {
        if let Some(dir) = &charts_dir {
            match charts::write_all(dir, &run) {
                Ok(files) => eprintln!("charts: {} written to {}", files.len(), dir.display()),
                Err(e) => eprintln!("charts: not written to {}: {e}", dir.display()),
            }
        }
    };
    if only.as_deref() == Some("streams") {
        let results = run_streams(streams_config);
        println!("\n{}", streams::table(&results, streams_config));
        write_charts(charts::Run {
            loopback: &[],
            streams: Some(&results),
            connections: None,
            note: note(""),
        });
        return;
    }
    if only.as_deref() == Some("connections") {
        let results = run_connections(connections_config);
        println!("\n{}", connections::table(&results, connections_config));
        write_charts(charts::Run {
            loopback: &[],
            streams: None,
            connections: Some(&results),
            note: note(""),
        });
        return;
    }
    let codec = if only.as_deref().is_none_or(|name| name == "codec") {
        eprintln!("codec: {codec_config:?}");
        let codec = codec::run(codec_config);
        eprintln!("codec done in {:.1?}", started.elapsed());
        for (op, figures) in [("decode", &codec.decode), ("encode", &codec.encode)] {
            for (name, f) in ["ours", "jsonrpsee", "floor"].iter().zip(figures) {
                eprintln!(
                    "  {op} {name:<9} median {:>7.1} ns  fastest {:>7.1} ns  ours/this {:.2}",
                    f.ns, f.min_ns, f.ours_ratio
                );
            }
        }
        Some(codec)
    } else {
        None
    };
    eprintln!("loopback: {loopback_config:?}");
    let loopback = loopback::run(loopback_config, &contenders, |contender, round, r| {
        let mut sorted = r.latencies.clone();
        sorted.sort_unstable();
        let mut in_flight = r.in_flight_latencies.clone();
        in_flight.sort_unstable();
        eprintln!(
            "  round {round} {:<13} p50 {:>6.1} µs  {:>9.0} calls/s (p50 {:>6.1} µs)  allocs/call {:.2} seq, {:.2} in flight  server connections {}",
            contender.name(),
            rpc_comparison::stats::percentile(&sorted, 50.0) as f64 / 1e3,
            r.calls_per_sec,
            if in_flight.is_empty() {
                f64::NAN
            } else {
                rpc_comparison::stats::percentile(&in_flight, 50.0) as f64 / 1e3
            },
            r.seq_allocs,
            r.in_flight_allocs,
            r.connections.map_or("?".into(), |c| format!(
                "{} ({} TIME_WAIT)",
                c.established, c.time_wait
            )),
        );
    });

    println!(
        "\n{} run, {} rounds, {:.0} s; 2 tokio workers{}; load average at start {}\n",
        if quick { "quick" } else { "full" },
        rounds,
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(String::new(), |n| format!(", {n} cores")),
        load_average,
    );
    println!("{}", report::table(codec.as_ref(), &loopback));
    let (streams, connections) = if only.is_none() {
        let streams = run_streams(streams_config);
        println!("\n{}", streams::table(&streams, streams_config));
        let connections = run_connections(connections_config);
        println!("\n{}", connections::table(&connections, connections_config));
        (Some(streams), Some(connections))
    } else {
        (None, None)
    };
    if only.is_none() {
        println!(
            "\n{}",
            report::targets(&loopback, streams.as_deref(), connections.as_deref())
        );
    }
    println!(
        "\nall workloads done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    write_charts(charts::Run {
        loopback: &loopback,
        streams: streams.as_deref(),
        connections: connections.as_deref(),
        note: note(&format!(", {rounds} rounds")),
    });
}

/// The short hash of the checked-out commit, with `+` when the work tree has
/// changes, or `unknown` outside a git checkout.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(hash) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{hash}+")
            } else {
                hash
            }
        }
        None => "unknown".into(),
    }
}

fn run_connections(
    config: ConnectionsConfig,
) -> Vec<(connections::ConnContender, connections::ConnFigures)> {
    eprintln!("connections: {config:?}");
    connections::run(config, |contender, round, r| {
        let mut sorted = r.latencies.clone();
        sorted.sort_unstable();
        eprintln!(
            "  round {round} {:<13} opened in {:>5.0} ms  {:>9.0} calls/s  p50 {:>7.1} µs  p99 {:>7.1} µs  CPU {:>5.1} µs/call  server connections {:?}",
            contender.name(),
            r.open.as_secs_f64() * 1e3,
            r.calls_per_sec,
            rpc_comparison::stats::percentile(&sorted, 50.0) as f64 / 1e3,
            rpc_comparison::stats::percentile(&sorted, 99.0) as f64 / 1e3,
            r.cpu_us_per_call.unwrap_or(f64::NAN),
            r.connections,
        );
    })
}

fn run_streams(
    config: StreamsConfig,
) -> Vec<(streams::StreamContender, Vec<streams::StreamRound>)> {
    eprintln!("streams: {config:?}");
    streams::run(config, |contender, round, r| {
        eprintln!(
            "  round {round} {:<13} one stream {:>9.0} items/s  {} streams {:>9.0} items/s",
            contender.name(),
            r.one_per_sec,
            config.many,
            r.many_per_sec,
        );
    })
}
