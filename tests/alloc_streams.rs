//! Heap allocations per item of a subscription in steady state, server and client
//! together: a generated streaming method over the in-memory pipe, on a
//! current-thread runtime so that one thread's count holds both ends and the pipe.
//!
//! The budget is the figure reached (printed with `--nocapture`); lower it when the
//! path gets leaner. An item is encoded into the pool's room, queued, written,
//! read, parsed and handed to the subscription's queue without an allocation of its
//! own. What is left, 0.032 per item, is the client's read buffer: the items waiting
//! in the subscription's queue are slices of it, so a read that finds it in use takes
//! a new one (8–32 KiB, about one per 63 items over this pipe) and `Bytes` its shared
//! count. Until the reader's held-back wake-ups kept their list's allocation, that
//! list was 0.023 more.

use futures_util::StreamExt;
use rpc::framing::Framing;
use rpc::stream::Stream;
use rpc::transport::memory;
use rpc::{Client, ConnectionConfig, Server};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[rpc::rpc_service(positional)]
pub trait Counter {
    /// `count` numbers from `from`.
    fn subscribe_count(&self, from: u64, count: u64) -> impl Stream<Item = u64> + Send;
}

struct Numbers;

impl Counter for Numbers {
    fn subscribe_count(&self, from: u64, count: u64) -> impl Stream<Item = u64> + Send + 'static {
        futures_util::stream::iter(from..from + count)
    }
}

const WARM_UP: u64 = 5_000;
const COUNTED: u64 = 20_000;
const BUDGET: f64 = 0.035;

#[test]
fn a_subscription_s_items_cost_no_allocation_each() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let per_item = runtime.block_on(async {
        let server = Box::leak(Box::new(Server::new(CounterServer::new(Numbers))));
        let (ours, theirs) = memory::pair(Framing::Ndjson, 1 << 16);
        server.serve_connection(theirs);
        let client = CounterClient::new(Client::new(ours, ConnectionConfig::default()));
        let mut items = client
            .subscribe_count(0, WARM_UP + COUNTED + WARM_UP)
            .await
            .unwrap();
        let mut next = 0;
        let mut counted = None;
        while let Some(item) = items.next().await {
            assert_eq!(item.unwrap(), next);
            next += 1;
            if next == WARM_UP {
                counted = Some(counting_alloc::allocations());
            }
            if next == WARM_UP + COUNTED {
                let before = counted.expect("counting started");
                let per_item = (counting_alloc::allocations() - before) as f64 / COUNTED as f64;
                // The rest is read, so that the stream ends as it should.
                while let Some(item) = items.next().await {
                    assert_eq!(item.unwrap(), next);
                    next += 1;
                }
                assert_eq!(next, WARM_UP + COUNTED + WARM_UP);
                return per_item;
            }
        }
        panic!("the stream ended after {next} items");
    });
    println!("a subscription's items: {per_item:.3} allocations per item (budget {BUDGET})");
    assert!(
        per_item <= BUDGET,
        "{per_item} allocations per item, over the budget of {BUDGET}"
    );
}
