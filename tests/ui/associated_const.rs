use rpc::rpc_service;

#[rpc_service]
pub trait Store {
    const LIMIT: usize;
    async fn get(&self, key: String) -> String;
}

fn main() {}
