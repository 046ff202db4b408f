//! The side-by-side comparison: ours against jsonrpsee, tarpc and the floors, in one
//! run, printed as one markdown table (see `comparison/README.md`).
//!
//! Run: `cargo bench --manifest-path comparison/Cargo.toml` (about three minutes);
//! add `-- --quick` (or set `COMPARISON_QUICK=1`) for a shorter, noisier run, and
//! `-- --only NAME` (or `COMPARISON_ONLY=NAME`) to run the loopback workload of one
//! contender alone (`ours`, `jsonrpsee`, `tarpc-json`, `tarpc-bincode`, `floor`,
//! `floor-batched`), with no codec workload, or `codec` for the codec workload alone,
//! or `streams` for the subscription workload alone: for profiling one stack under
//! perf.

use std::time::{Duration, Instant};

use rpc_comparison::codec::{self, CodecConfig};
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
    let contenders: Vec<Contender> = match only.as_deref() {
        Some("codec" | "streams") => Vec::new(),
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
    if only.as_deref() == Some("streams") {
        let results = run_streams(streams_config);
        println!("\n{}", streams::table(&results, streams_config));
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
        eprintln!(
            "  round {round} {:<13} p50 {:>6.1} µs  {:>9.0} calls/s  allocs/call {:.2} seq, {:.2} in flight",
            contender.name(),
            rpc_comparison::stats::percentile(&sorted, 50.0) as f64 / 1e3,
            r.calls_per_sec,
            r.seq_allocs,
            r.in_flight_allocs,
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
    if only.is_none() {
        let results = run_streams(streams_config);
        println!("\n{}", streams::table(&results, streams_config));
    }
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
