use rpc::rpc_service;

#[rpc_service]
pub trait Calculator {
    async fn add(&self, a: i64, b: i64) -> i64;
    #[rpc(aliases = ["sum", "add"])]
    async fn plus(&self, a: i64, b: i64) -> i64;
}

fn main() {}
