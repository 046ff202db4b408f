use rpc::rpc_service;

#[rpc_service]
pub trait Calculator {
    async fn add(&self, #[rpc(renam = "x")] a: i64, b: i64) -> i64;
}

fn main() {}
