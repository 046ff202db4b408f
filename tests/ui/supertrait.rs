use rpc::rpc_service;

#[rpc_service]
pub trait Base {
    async fn ping(&self) -> String;
}

#[rpc_service]
pub trait Extended: Base + Send + Sync {
    async fn pong(&self) -> String;
}

fn main() {}
