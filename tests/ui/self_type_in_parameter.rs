use rpc::rpc_service;

#[rpc_service]
pub trait Merge {
    async fn merge(&self, other: Box<Self>) -> u64;
}

fn main() {}
