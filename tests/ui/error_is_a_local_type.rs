use rpc::rpc_service;

#[derive(Debug)]
pub enum StoreError {
    NotFound,
}

#[rpc_service]
pub trait Store {
    async fn get(&self, key: String) -> Result<u64, StoreError>;
}

fn main() {}
