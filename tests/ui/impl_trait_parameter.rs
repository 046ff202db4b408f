use rpc::rpc_service;

#[rpc_service]
pub trait Printer {
    async fn print(&self, text: impl std::fmt::Display);
}

fn main() {}
