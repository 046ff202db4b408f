//! Compile-time diagnostics of `#[rpc_service]` (one mistake per file under
//! `tests/ui/`, each giving exactly one error) and compile-pass cases for every option.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test --test ui`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}
