use rpc::rpc_service;

#[rpc_service]
pub trait Calculator {
    #[rpc(raw_params)]
    async fn sum(&self, numbers: Vec<f64>, scale: f64) -> f64;
}

fn main() {}
