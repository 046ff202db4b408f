use rpc::{rpc_service, IntoRpcError};

#[derive(Debug)]
pub struct Operands {
    pub a: f64,
    pub b: f64,
}

#[derive(Debug, IntoRpcError)]
#[rpc(code = -32010, message = "division by zero")]
pub struct DivisionByZero(#[rpc(data)] pub Operands);

#[rpc_service]
pub trait Calculator {
    async fn divide(&self, a: f64, b: f64) -> Result<f64, DivisionByZero>;
}

fn main() {}
