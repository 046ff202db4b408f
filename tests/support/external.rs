//! Clients from outside the repository that interop tests drive (Python packages we did
//! not write): whether one is installed, and what a test does when it is not. Include
//! it with `#[path = "support/external.rs"] mod external;`.
//!
//! A missing client skips the test, visibly: the notice goes straight to the process's
//! stderr, since the test harness captures `println!` and `eprintln!` of passing tests.
//! Under CI (the `CI` variable set) a missing client fails the test instead: `.ci/run`
//! installs every client, so one missing there is a broken set-up, not a skip.

use std::io::{ErrorKind, Write};
use std::process::Command;

/// Whether `python3` can import `module`, which the PyPI package `package` provides.
/// When it cannot, see [`missing`]; a test that gets `false` returns at once.
#[must_use]
pub fn python_module(module: &str, package: &str) -> bool {
    let install = format!("python3 -m pip install {package}");
    match Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .output()
    {
        Ok(output) if output.status.success() => true,
        Ok(output) => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let error = stderr.lines().last().unwrap_or("no message");
            missing(
                &format!("python3 cannot import `{module}` ({error})"),
                &install,
            );
            false
        }
        Err(err) if err.kind() == ErrorKind::NotFound => {
            missing(
                "python3 is not installed",
                &format!("install Python 3 (e.g. `apt-get install python3 python3-pip`), then `{install}`"),
            );
            false
        }
        Err(err) => {
            missing(&format!("python3 does not start ({err})"), &install);
            false
        }
    }
}

/// The running test cannot have its external client: `what` is missing, `install`
/// says how to get it. Under CI this panics; elsewhere it writes a `SKIPPED` notice,
/// naming the test, to the process's stderr (uncaptured), and the caller returns.
pub fn missing(what: &str, install: &str) {
    let test = format!(
        "{}::{}",
        env!("CARGO_CRATE_NAME"),
        std::thread::current().name().unwrap_or("?")
    );
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {what}; CI must install it ({install}; `.ci/run` does)"
    );
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: {what}; to run it: {install}"
    );
}
