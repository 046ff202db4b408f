use rpc::rpc_service;

#[rpc_service]
pub trait Logger {
    #[rpc(notification = true)]
    async fn log(&self, line: String);
}

fn main() {}
