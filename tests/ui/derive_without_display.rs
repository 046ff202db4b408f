use rpc::{rpc_service, IntoRpcError};

#[derive(Debug, IntoRpcError)]
#[rpc(code = -32010)]
pub enum CalcError {
    DivisionByZero,
    Overflow,
}

#[rpc_service]
pub trait Calculator {
    async fn divide(&self, a: f64, b: f64) -> Result<f64, CalcError>;
}

fn main() {}
