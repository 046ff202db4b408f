use rpc::rpc_service;

// `K` is sent by the client but has no `Deserialize` bound for the server.
#[rpc_service]
pub trait Store<K: serde::Serialize> {
    async fn get(&self, key: K) -> String;
}

fn main() {}
