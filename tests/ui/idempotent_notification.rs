use rpc::rpc_service;

#[rpc_service]
pub trait Log {
    #[rpc(notification, idempotent)]
    async fn line(&self, text: String);
}

fn main() {}
