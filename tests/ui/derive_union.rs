use rpc::IntoRpcError;

#[derive(IntoRpcError)]
#[rpc(code = 1, message = "bits")]
pub union Bits {
    pub int: u32,
    pub float: f32,
}

fn main() {}
