//! cargo-fuzz target `dispatch`; the checks are in `rpc_fuzz::checks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rpc_fuzz::checks::dispatch(data));
