use rpc::rpc_service;

#[rpc_service]
pub trait Logger {
    #[rpc(notification)]
    async fn log(&self, line: String) -> bool;
}

fn main() {}
