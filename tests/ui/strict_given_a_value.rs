use rpc::rpc_service;

#[rpc_service(strict)]
pub trait Store {
    #[rpc(strict = false)]
    async fn set(&self, key: String, value: String) -> bool;
}

fn main() {}
