use rpc::{rpc_service, IntoRpcError};

#[derive(Debug, IntoRpcError)]
pub enum CalcError {
    #[rpc(cod = -32010, message = "division by zero")]
    DivisionByZero,
}

#[rpc_service]
pub trait Calculator {
    async fn divide(&self, a: f64, b: f64) -> Result<f64, CalcError>;
}

fn main() {}
