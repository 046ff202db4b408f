use rpc::rpc_service;

#[derive(serde::Deserialize)]
pub struct Report {
    pub lines: u32,
}

#[rpc_service]
pub trait Reporter {
    async fn report(&self) -> Report;
}

fn main() {}
