use rpc::rpc_service;

#[rpc_service]
pub trait Registry {
    async fn register(&self, name: &'static str) -> bool;
}

fn main() {}
