use rpc::rpc_service;

#[rpc_service]
pub trait Service {
    #[rpc(item = "tick")]
    async fn add(&self, a: i64, b: i64) -> i64;
}

fn main() {}
