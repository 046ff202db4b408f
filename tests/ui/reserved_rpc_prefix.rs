use rpc::rpc_service;

#[rpc_service]
pub trait Discovery {
    #[rpc(name = "rpc.discover")]
    async fn discover(&self) -> String;
}

fn main() {}
