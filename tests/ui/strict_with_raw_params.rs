use rpc::rpc_service;

#[rpc_service]
pub trait Stats {
    #[rpc(raw_params, strict)]
    async fn sum(&self, numbers: Vec<f64>) -> f64;
}

fn main() {}
