use rpc::rpc_service;
use rpc::stream::Stream;

#[rpc_service]
pub trait Service {
    #[rpc(notification)]
    fn ticks(&self) -> impl Stream<Item = u64> + Send;
}

fn main() {}
