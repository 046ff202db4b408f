use rpc::rpc_service;

#[rpc_service(namespce = "calc")]
pub trait Calculator {
    async fn add(&self, a: i64, b: i64) -> i64;
}

fn main() {}
