use rpc::rpc_service;

#[rpc_service]
pub trait Calculator {
    async fn divide(&self, a: f64, b: f64) -> Result<f64, Box<dyn std::error::Error + Send + Sync>>;
}

fn main() {}
