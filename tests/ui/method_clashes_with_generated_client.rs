use rpc::rpc_service;

#[rpc_service]
pub trait Factory {
    async fn new(&self, kind: String) -> u64;
}

fn main() {}
