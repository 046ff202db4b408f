use rpc::rpc_service;

#[rpc_service]
pub trait Calculator {
    async fn double(&self, n: &i32) -> i32;
}

fn main() {}
