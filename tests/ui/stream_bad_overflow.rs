use rpc::rpc_service;
use rpc::stream::Stream;

#[rpc_service]
pub trait Service {
    #[rpc(overflow = "newest")]
    fn ticks(&self) -> impl Stream<Item = u64> + Send;
}

fn main() {}
