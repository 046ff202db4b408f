use rpc::rpc_service;

#[rpc_service]
pub trait Store {
    async fn get(&self, key: String) -> Result<u64, String>;
}

fn main() {}
