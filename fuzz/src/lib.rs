//! Fuzz targets of the rpc SDK: the checks each target runs, in [`checks`] (and, for
//! the HTTP server's targets, [`web_checks`]).
//!
//! `tests/fuzz_regressions.rs` (root package) includes `src/checks.rs` and
//! `src/web_checks.rs` themselves, so the regression test replays stored inputs
//! through exactly these checks.

pub mod checks;
pub mod web_checks;
