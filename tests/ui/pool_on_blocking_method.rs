use rpc::rpc_service;

#[rpc_service]
pub trait Hasher {
    #[rpc(blocking, pool = "cpu")]
    fn hash(&self, data: Vec<u8>) -> u64;
}

fn main() {}
