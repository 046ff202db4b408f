use rpc::rpc_service;

#[derive(Debug)]
pub struct DivisionByZero;

#[rpc_service]
pub trait Calculator {
    async fn divide(&self, a: f64, b: f64) -> Result<f64, DivisionByZero>;
}

fn main() {}
