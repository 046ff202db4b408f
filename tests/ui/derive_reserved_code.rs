use rpc::IntoRpcError;

#[derive(Debug, IntoRpcError)]
#[rpc(code = -32700, message = "cannot parse the expression")]
pub struct Unparsable;

fn main() {}
