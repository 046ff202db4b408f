use rpc::rpc_service;

#[rpc_service]
pub trait Store {
    #[rpc(strict)]
    #[rpc(lenient)]
    async fn set(&self, key: String, value: String) -> bool;
}

fn main() {}
