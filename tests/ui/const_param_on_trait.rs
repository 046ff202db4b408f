use rpc::rpc_service;

#[rpc_service]
pub trait Ring<const N: usize> {
    async fn size(&self) -> usize;
}

fn main() {}
