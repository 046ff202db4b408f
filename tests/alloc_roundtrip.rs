//! Heap allocations per call on an in-memory round trip in steady state, client and
//! server together, counted by a global allocator in this test binary.

use rpc::framing::Framing;
use rpc::service::{MethodInfo, Router};
use rpc::transport::memory;
use rpc::{Client, PeerConfig, Server};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[test]
fn sequential_round_trip_allocation_budget() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let per_call = runtime.block_on(async {
        let router = Router::new().method(MethodInfo::new("add"), |call| async move {
            let (a, b): (i64, i64) = call.decode_params()?;
            call.respond(&(a + b))
        });
        let server = Server::new(router);
        let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
        server.serve_connection(theirs);
        let client = Client::new(ours, PeerConfig::default());
        for i in 0..2000i64 {
            assert_eq!(client.call::<_, i64>("add", &[i, 1]).await.unwrap(), i + 1);
        }
        const CALLS: u64 = 1000;
        // One thread runs client, server and pipe, so its count is all of it.
        let before = counting_alloc::allocations();
        for i in 0..CALLS as i64 {
            assert_eq!(client.call::<_, i64>("add", &[i, 1]).await.unwrap(), i + 1);
        }
        let total = counting_alloc::allocations() - before;
        total as f64 / CALLS as f64
    });
    println!("allocations per call: {per_call}");
    // Client and server together: the caller's oneshot, the server's task and the
    // handler's boxed future; the rest (channel blocks, a fresh buffer now and then)
    // is amortized. This is the budget reached; lower it when the path gets leaner.
    assert!(per_call <= 3.1, "{per_call} allocations per call");
}
