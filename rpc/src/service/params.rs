//! Decoding a method's params, for the code `#[rpc_service]` generates.
