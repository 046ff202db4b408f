use rpc::rpc_service;

#[rpc_service]
pub trait Store {
    type Item;
    async fn get(&self, key: String) -> String;
}

fn main() {}
