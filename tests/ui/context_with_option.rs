use rpc::{rpc_service, CallContext};

#[rpc_service]
pub trait Jobs {
    async fn run(&self, #[rpc(rename = "context")] cx: &CallContext, steps: u32) -> u32;
}

fn main() {}
