use rpc::IntoRpcError;

#[derive(Debug, IntoRpcError)]
#[rpc(code = rpc::ErrorCode::TIMEOUT, message = "too slow")]
pub struct TooSlow;

fn main() {}
