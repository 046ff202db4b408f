use rpc::rpc_service;

#[rpc_service(namespace = "rpc")]
pub trait Discovery {
    async fn discover(&self) -> String;
    async fn describe(&self) -> String;
}

fn main() {}
