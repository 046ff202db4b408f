use rpc::rpc_service;

#[rpc_service]
pub trait Counter {
    async fn bump(&mut self) -> u64;
}

fn main() {}
