use rpc::{rpc_service, IntoRpcError};

#[derive(Debug, IntoRpcError)]
#[rpc(code = -32010, message = "out of range")]
pub struct OutOfRange {
    #[rpc(data)]
    pub min: f64,
    #[rpc(data)]
    pub max: f64,
}

#[rpc_service]
pub trait Calculator {
    async fn clamp(&self, x: f64) -> Result<f64, OutOfRange>;
}

fn main() {}
