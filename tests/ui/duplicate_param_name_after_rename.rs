use rpc::rpc_service;

#[rpc_service]
pub trait Calculator {
    async fn add(&self, a: i64, #[rpc(rename = "a")] b: i64) -> i64;
}

fn main() {}
