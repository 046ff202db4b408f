use rpc::rpc_service;

#[rpc_service]
pub trait Printer {
    async fn print<T: serde::de::DeserializeOwned>(&self, value: T);
}

fn main() {}
