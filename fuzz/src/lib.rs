//! Fuzz targets of the rpc SDK: the checks each target runs, in [`checks`].
//!
//! `tests/fuzz_regressions.rs` (root package) includes `src/checks.rs` itself, so the
//! regression test replays stored inputs through exactly these checks.

pub mod checks;
