use rpc::rpc_service;

#[rpc_service]
pub trait Store<K: serde::Serialize + serde::de::DeserializeOwned = String> {
    async fn get(&self, key: K) -> u64;
}

fn main() {}
