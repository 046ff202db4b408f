use rpc::rpc_service;

#[rpc_service]
pub trait Greeter {
    async fn greeting(&self) -> &'static str;
}

fn main() {}
