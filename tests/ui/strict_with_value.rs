use rpc::rpc_service;

#[rpc_service(strict = true)]
pub trait Stats {
    async fn mean(&self, numbers: Vec<f64>) -> f64;
}

fn main() {}
