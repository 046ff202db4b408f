use rpc::rpc_service;

#[rpc_service]
pub trait Store<'a> {
    async fn get(&self, key: String) -> String;
}

fn main() {}
