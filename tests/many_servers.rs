//! `examples/many_servers`: three server processes, a balanced client, one server
//! killed mid-run; every call is answered or fails clearly.

#[path = "support/examples.rs"]
mod examples;

use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// What a run printed.
struct Report {
    calls: usize,
    answered: usize,
    failed: usize,
    answered_by: HashMap<String, usize>,
    failures: Vec<String>,
    addrs: HashMap<String, String>,
}

fn run(args: &[&str]) -> Report {
    let started = Instant::now();
    let output = Command::new(examples::example("many_servers"))
        .args(args)
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(60));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let mut report = Report {
        calls: 0,
        answered: 0,
        failed: 0,
        answered_by: HashMap::new(),
        failures: Vec::new(),
        addrs: HashMap::new(),
    };
    let mut killed = false;
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("started ") {
            let (name, addr) = rest.split_once(" on ").unwrap();
            report.addrs.insert(name.into(), addr.into());
        } else if line.starts_with("killed s2 after ") {
            killed = true;
        } else if let Some(rest) = line.strip_prefix("calls: ") {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            report.calls = fields[0].parse().unwrap();
            report.answered = fields[2].parse().unwrap();
            report.failed = fields[4].parse().unwrap();
        } else if let Some(rest) = line.strip_prefix("answered by ") {
            let (name, n) = rest.split_once(": ").unwrap();
            report.answered_by.insert(name.into(), n.parse().unwrap());
        } else if let Some(rest) = line.strip_prefix("failed ") {
            let (n, why) = rest.split_once(" times: ").unwrap();
            for _ in 0..n.parse::<usize>().unwrap() {
                report.failures.push(why.to_owned());
            }
        }
    }
    assert!(killed, "{stdout}");
    assert_eq!(report.addrs.len(), 3, "{stdout}");
    report
}

#[test]
fn every_call_is_answered_or_fails_naming_the_killed_server() {
    let report = run(&["--calls", "900", "--workers", "12"]);
    assert_eq!(report.calls, 900);
    assert_eq!(report.answered + report.failed, 900);
    assert_eq!(report.failures.len(), report.failed);
    // The survivors answered calls before and after the kill.
    assert!(report.answered_by["s1"] > 100, "{:?}", report.answered_by);
    assert!(report.answered_by["s3"] > 100, "{:?}", report.answered_by);
    // Only the calls in flight on s2 at its death failed (a few, at most one per
    // worker), each naming it.
    assert!(report.failed <= 12, "{:?}", report.failures);
    for why in &report.failures {
        assert!(why.contains(&report.addrs["s2"]), "{why}");
        assert!(
            why.starts_with("the connection closed before the response came"),
            "{why}"
        );
    }
}

#[test]
fn idempotent_calls_are_all_answered() {
    let report = run(&["--calls", "600", "--workers", "12", "--idempotent"]);
    assert_eq!(report.answered, 600, "{:?}", report.failures);
    assert_eq!(report.failed, 0);
    assert!(report.answered_by.get("s2").is_some_and(|&n| n > 0));
}
