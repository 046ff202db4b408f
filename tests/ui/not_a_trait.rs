use rpc::rpc_service;

#[rpc_service]
pub struct Calculator;

fn main() {}
