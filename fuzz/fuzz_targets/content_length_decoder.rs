//! cargo-fuzz target `content_length_decoder`; the checks are in `rpc_fuzz::checks`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rpc_fuzz::checks::content_length_decoder(data));
