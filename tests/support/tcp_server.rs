//! Serving a server on a loopback port for a test.

use std::net::SocketAddr;
use std::sync::Arc;

use rpc::framing::Framing;
use rpc::transport::tcp;
use rpc::Server;

/// Binds 127.0.0.1 on a free port and serves `server` there in a task of its own
/// (which ends with the test's runtime); returns the address.
pub async fn serve_on_loopback(server: &Arc<Server>, framing: Framing) -> SocketAddr {
    let listener = tcp::Listener::bind("127.0.0.1:0", framing).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = server.clone();
    tokio::spawn(async move { serving.serve_tcp(&listener).await });
    addr
}
