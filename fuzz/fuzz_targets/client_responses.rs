//! cargo-fuzz target `client_responses`; the checks are in `rpc_fuzz::checks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rpc_fuzz::checks::client_responses(data));
