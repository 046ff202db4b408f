use rpc::rpc_service;

#[derive(serde::Serialize)]
pub struct Opaque(u32);

#[rpc_service]
pub trait Store {
    async fn put(&self, key: String, value: Opaque) -> bool;
}

fn main() {}
