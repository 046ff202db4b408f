use rpc::rpc_service;

#[rpc_service]
pub trait Memory {
    async unsafe fn peek(&self, address: u64) -> u8;
}

fn main() {}
