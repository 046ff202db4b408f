//! cargo-fuzz target `http_request`; the checks are in `rpc_fuzz::web_checks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rpc_fuzz::web_checks::http_request(data));
