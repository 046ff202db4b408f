use rpc::{rpc_service, CallContext};

#[rpc_service]
pub trait Jobs {
    async fn run(&self, cx: &CallContext, steps: u32, again: CallContext) -> u32;
}

fn main() {}
