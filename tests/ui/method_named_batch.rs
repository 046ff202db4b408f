use rpc::rpc_service;

#[rpc_service]
pub trait Store {
    async fn batch(&self, keys: Vec<String>) -> u64;
}

fn main() {}
