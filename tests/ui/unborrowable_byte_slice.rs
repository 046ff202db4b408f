use rpc::rpc_service;

#[rpc_service]
pub trait Hasher {
    async fn hash(&self, data: &[u8]) -> u64;
}

fn main() {}
