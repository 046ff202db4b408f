//! The side-by-side comparison: ours against jsonrpsee, tarpc and the floors, in one
//! run, printed as one markdown table (see `comparison/README.md`).
//!
//! Run: `cargo bench --manifest-path comparison/Cargo.toml` (about three minutes);
//! add `-- --quick` (or set `COMPARISON_QUICK=1`) for a shorter, noisier run.

use std::time::{Duration, Instant};

use rpc_comparison::codec::{self, CodecConfig};
use rpc_comparison::counting::{self, Counting};
use rpc_comparison::loopback::{self, LoopbackConfig};
use rpc_comparison::report;

#[global_allocator]
static GLOBAL: Counting = Counting;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick")
        || std::env::var_os("COMPARISON_QUICK").is_some_and(|v| v != "0" && !v.is_empty());
    assert!(
        counting::installed(),
        "the counting allocator is not installed"
    );
    let started = Instant::now();

    let codec_config = CodecConfig {
        samples: if quick { 15 } else { 60 },
        batch: Duration::from_millis(if quick { 2 } else { 5 }),
    };
    let rounds = if quick { 1 } else { 3 };
    let loopback_config = LoopbackConfig {
        rounds,
        warmup_calls: 2_000,
        alloc_calls: 2_000,
        latency_calls: if quick { 5_000 } else { 20_000 / rounds },
        in_flight: 64,
        in_flight_warmup: Duration::from_millis(300),
        in_flight_alloc: Duration::from_millis(if quick { 300 } else { 500 }),
        in_flight_timed: Duration::from_secs(if quick { 1 } else { 3 }),
    };

    eprintln!("codec: {codec_config:?}");
    let codec = codec::run(codec_config);
    eprintln!("codec done in {:.1?}", started.elapsed());
    eprintln!("loopback: {loopback_config:?}");
    let loopback = loopback::run(loopback_config, |contender, round, r| {
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
        "\n{} run, {} rounds, {:.0} s; 2 tokio workers{}\n",
        if quick { "quick" } else { "full" },
        rounds,
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(String::new(), |n| format!(", {n} cores")),
    );
    println!("{}", report::table(&codec, &loopback));
}
