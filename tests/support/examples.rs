//! Finding the example binaries that cargo builds beside the test binaries.

use std::path::PathBuf;

/// The path of the built example `name` (integration tests run from
/// `target/<profile>/deps`; cargo puts examples in `target/<profile>/examples`).
///
/// The examples are the package `rpc-examples` (`examples/Cargo.toml`), not targets of
/// the package that owns the tests: `cargo test --workspace` (or a plain `cargo test`
/// at the repository root, whose default members include it) builds them before any
/// test runs; `cargo test --test NAME` alone does not.
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "build the examples first (`cargo build -p rpc-examples --examples`, with \
         `--release` for a release test run, or run `cargo test --workspace`): {} is missing",
        path.display()
    );
    path
}
