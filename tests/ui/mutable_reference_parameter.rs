use rpc::rpc_service;

#[rpc_service]
pub trait Editor {
    async fn edit(&self, text: &mut String);
}

fn main() {}
