use rpc::rpc_service;

#[rpc_service]
pub trait Editor {
    #[rpc(unordered)]
    async fn text(&self, uri: String) -> String;
}

fn main() {}
