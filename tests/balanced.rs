//! Managed clients: reconnecting to one endpoint, balanced over several, sticky by
//! key, following endpoint changes, and as `tower::Service`s under tower's own
//! balancer. Servers die by a cut proxy in front of them (every connection dropped
//! at once, connecting refused) and come back on the same port.

#[path = "support/cut_proxy.rs"]
mod cut_proxy;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cut_proxy::CutProxy;
use futures_util::StreamExt;
use rpc::client::{Backoff, CallRequest, WhenDown};
use rpc::framing::Framing;
use rpc::http::{HttpClientConfig, HttpConfig};
use rpc::stream::{CloseReason, Stream};
use rpc::transport::tcp;
use rpc::{rpc_service, Client, ConnectionConfig, Endpoint, Error, Reconnect, Server};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(20);

#[rpc_service]
pub trait Backend {
    /// Which server answers.
    async fn whoami(&self) -> String;
    /// Answers after `ms` milliseconds.
    async fn slow(&self, ms: u64) -> String;
    /// The same, safe to run twice.
    #[rpc(idempotent)]
    async fn slow_again(&self, ms: u64) -> String;
    /// `count` numbers, one every millisecond.
    fn subscribe_ticks(&self, count: u64) -> impl Stream<Item = u64> + Send;
}

struct Named(String);

impl Backend for Named {
    async fn whoami(&self) -> String {
        self.0.clone()
    }

    async fn slow(&self, ms: u64) -> String {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.0.clone()
    }

    async fn slow_again(&self, ms: u64) -> String {
        self.slow(ms).await
    }

    fn subscribe_ticks(&self, count: u64) -> impl Stream<Item = u64> + Send + 'static {
        futures_util::stream::iter(0..count).then(|n| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            n
        })
    }
}

/// A server named `name` on TCP, behind a proxy that can cut it.
async fn tcp_backend(name: &str) -> CutProxy {
    let server = Arc::new(Server::new(BackendServer::new(Named(name.to_owned()))));
    let listener = tcp::Listener::bind("127.0.0.1:0", Framing::Ndjson)
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.serve_tcp(&listener).await });
    CutProxy::open(addr).await
}

/// The same over HTTP (and WebSocket on the same port).
async fn http_backend(name: &str) -> CutProxy {
    let server = Arc::new(Server::new(BackendServer::new(Named(name.to_owned()))));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { server.serve_http(listener, HttpConfig::default()).await });
    CutProxy::open(addr).await
}

fn tcp_endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint::tcp(
        addr.to_string(),
        Framing::Ndjson,
        ConnectionConfig::default(),
    )
}

/// Quick retries, so that the tests wait little.
fn quick() -> Reconnect {
    Reconnect::default()
        .backoff(Backoff::new(
            Duration::from_millis(10),
            Duration::from_millis(100),
        ))
        .request_timeout(Some(Duration::from_secs(10)))
}

/// Waits until `client` reports `n` connected endpoints.
async fn until_connected(client: &Client, n: usize) {
    timeout(LIMIT, async {
        while client.endpoints().iter().filter(|e| e.connected).count() != n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not {n} connected: {:?}", client.endpoints()));
}

#[tokio::test]
async fn a_plain_client_says_a_call_after_the_close_was_not_sent() {
    let proxy = tcp_backend("a").await;
    let client = Client::connect_tcp(proxy.addr(), Framing::Ndjson, ConnectionConfig::default())
        .await
        .unwrap();
    let backend = BackendClient::new(client.clone());
    assert_eq!(backend.whoami().await.unwrap(), "a");
    client.close();
    timeout(LIMIT, client.closed()).await.unwrap();
    let err = backend.whoami().await.unwrap_err();
    assert!(err.is_not_sent(), "{err}");
    assert!(
        err.to_string().starts_with("the call was not sent"),
        "{err}"
    );
}

#[tokio::test]
async fn a_reconnecting_client_survives_a_server_restart() {
    let proxy = tcp_backend("a").await;
    let client = Client::reconnecting(tcp_endpoint(proxy.addr()), quick());
    let backend = BackendClient::new(client.clone());
    // The first call waits for the first connection.
    assert_eq!(backend.whoami().await.unwrap(), "a");

    proxy.cut();
    until_connected(&client, 0).await;
    // Failing at once, when asked to, naming the endpoint and what it said.
    let fast = BackendClient::new(Client::reconnecting(
        tcp_endpoint(proxy.addr()),
        quick().when_down(WhenDown::FailFast),
    ));
    let err = fast.whoami().await.unwrap_err();
    assert!(err.is_not_sent(), "{err}");
    assert!(err.to_string().contains(&proxy.addr().to_string()), "{err}");
    // Waiting, up to the deadline.
    let err = backend
        .with_timeout(Duration::from_millis(200))
        .whoami()
        .await
        .unwrap_err();
    assert!(err.is_not_sent(), "{err}");
    assert!(err.to_string().contains("within"), "{err}");
    let status = &client.endpoints()[0];
    assert!(
        !status.connected && status.last_error.is_some(),
        "{status:?}"
    );

    // Calls made while it is down are answered once it is back.
    let waiting = tokio::spawn({
        let backend = backend.clone();
        async move { backend.whoami().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    proxy.reopen().await;
    assert_eq!(
        timeout(LIMIT, waiting).await.unwrap().unwrap().unwrap(),
        "a"
    );
    until_connected(fast.inner(), 1).await;
    assert_eq!(fast.whoami().await.unwrap(), "a");
    assert!(client.endpoints()[0].connected);
}

#[tokio::test]
async fn in_flight_calls_fail_clearly_when_the_connection_dies_and_idempotent_ones_are_sent_again()
{
    let proxy = tcp_backend("a").await;
    let client = Client::reconnecting(tcp_endpoint(proxy.addr()), quick());
    let backend = BackendClient::new(client.clone());
    assert_eq!(backend.whoami().await.unwrap(), "a");

    let once = tokio::spawn({
        let backend = backend.clone();
        async move { backend.slow(300).await }
    });
    let again = tokio::spawn({
        let backend = backend.clone();
        async move { backend.slow_again(300).await }
    });
    timeout(LIMIT, async {
        while client.pending_calls() < 2 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap();
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(30)).await;
    proxy.reopen().await;

    let err = timeout(LIMIT, once).await.unwrap().unwrap().unwrap_err();
    assert!(err.is_connection_closed(), "{err}");
    assert!(err.to_string().contains(&proxy.addr().to_string()), "{err}");
    // The idempotent call went again over the new connection.
    assert_eq!(timeout(LIMIT, again).await.unwrap().unwrap().unwrap(), "a");

    // With retries off, it fails like any other.
    let no_retry = BackendClient::new(Client::reconnecting(
        tcp_endpoint(proxy.addr()),
        quick().retries(0),
    ));
    assert_eq!(no_retry.whoami().await.unwrap(), "a");
    let call = tokio::spawn({
        let no_retry = no_retry.clone();
        async move { no_retry.slow_again(300).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    proxy.cut();
    let err = timeout(LIMIT, call).await.unwrap().unwrap().unwrap_err();
    assert!(err.is_connection_closed(), "{err}");
}

#[tokio::test]
async fn a_subscription_reports_the_lost_connection_and_a_new_one_goes_on() {
    let proxy = tcp_backend("a").await;
    let client = Client::reconnecting(tcp_endpoint(proxy.addr()), quick());
    let backend = BackendClient::new(client.clone());
    let mut ticks = backend.subscribe_ticks(1_000_000).await.unwrap();
    assert_eq!(
        timeout(LIMIT, ticks.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        0
    );
    proxy.cut();
    let failed = timeout(LIMIT, async {
        while let Some(item) = ticks.next().await {
            if item.is_err() {
                return true;
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(failed, "the subscription ended without saying why");
    assert!(
        matches!(ticks.close_reason(), Some(CloseReason::ConnectionLost(_))),
        "{:?}",
        ticks.close_reason()
    );
    proxy.reopen().await;
    let mut again = timeout(LIMIT, backend.subscribe_ticks(3))
        .await
        .unwrap()
        .unwrap();
    let mut items = Vec::new();
    while let Some(item) = timeout(LIMIT, again.next()).await.unwrap() {
        items.push(item.unwrap());
    }
    assert_eq!(items, [0, 1, 2]);
}

#[tokio::test]
async fn reconnecting_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("rpc-balanced-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("backend.sock");
    let _ = std::fs::remove_file(&path);
    let client = Client::reconnecting(
        Endpoint::unix(&path, Framing::Ndjson, ConnectionConfig::default()),
        quick(),
    );
    let backend = BackendClient::new(client.clone());
    let serve = |path: std::path::PathBuf| async move {
        let _ = std::fs::remove_file(&path);
        let listener = rpc::transport::unix::Listener::bind(&path, Framing::Ndjson).unwrap();
        let server = Arc::new(Server::new(BackendServer::new(Named("unix".into()))));
        let serving = server.clone();
        let task = tokio::spawn(async move { serving.serve_unix(&listener).await });
        (server, task)
    };
    // Nothing listens yet: the call waits for the socket.
    let first = tokio::spawn({
        let backend = backend.clone();
        async move { backend.whoami().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (server, task) = serve(path.clone()).await;
    assert_eq!(
        timeout(LIMIT, first).await.unwrap().unwrap().unwrap(),
        "unix"
    );
    // The server goes away, and comes back.
    server.shutdown(Duration::from_secs(1)).await;
    task.abort();
    until_connected(&client, 0).await;
    let (_server, _task) = serve(path.clone()).await;
    assert_eq!(
        timeout(LIMIT, backend.whoami()).await.unwrap().unwrap(),
        "unix"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn reconnecting_over_websocket_and_http() {
    let proxy = http_backend("h").await;
    let url = |scheme: &str| format!("{scheme}://{}/", proxy.addr());
    let ws = BackendClient::new(Client::reconnecting(
        Endpoint::websocket(
            url("ws"),
            ConnectionConfig::default(),
            HttpClientConfig::default(),
        ),
        quick(),
    ));
    let http_client = Client::reconnecting(
        Endpoint::http(
            url("http"),
            ConnectionConfig::default(),
            HttpClientConfig::default(),
        ),
        quick(),
    );
    let http = BackendClient::new(http_client.clone());
    assert_eq!(ws.whoami().await.unwrap(), "h");
    assert_eq!(http.whoami().await.unwrap(), "h");

    proxy.cut();
    // HTTP has no connection to lose: the endpoint is down from the first call
    // that cannot reach the server, and that call waits for it. (Idempotent:
    // the first POST may go over a pooled connection the cut has killed, and then
    // nobody knows whether the server saw it.)
    let waiting = tokio::spawn({
        let http = http.clone();
        async move { http.slow_again(1).await }
    });
    timeout(LIMIT, async {
        while http_client.endpoints()[0].connected {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let err = ws
        .with_timeout(Duration::from_millis(100))
        .whoami()
        .await
        .unwrap_err();
    assert!(err.is_not_sent() || err.is_connection_closed(), "{err}");
    proxy.reopen().await;
    assert_eq!(
        timeout(LIMIT, waiting).await.unwrap().unwrap().unwrap(),
        "h"
    );
    assert_eq!(timeout(LIMIT, ws.whoami()).await.unwrap().unwrap(), "h");
}

/// How many calls of `n` each server answered.
async fn spread(backend: &BackendClient, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        *counts.entry(backend.whoami().await.unwrap()).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn a_balanced_client_spreads_calls_and_goes_around_a_dead_server() {
    let proxies = [
        tcp_backend("a").await,
        tcp_backend("b").await,
        tcp_backend("c").await,
    ];
    let client = Client::balanced(proxies.iter().map(|p| tcp_endpoint(p.addr())), quick());
    let backend = BackendClient::new(client.clone());
    until_connected(&client, 3).await;
    let counts = spread(&backend, 300).await;
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.values().all(|&n| n > 30), "{counts:?}");

    // Concurrent slow calls spread by load: each server holds some.
    let slow: Vec<_> = (0..30)
        .map(|_| {
            let backend = backend.clone();
            tokio::spawn(async move { backend.slow(300).await })
        })
        .collect();
    timeout(LIMIT, async {
        while client.pending_calls() < 30 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .unwrap();
    let on_b = client.endpoints()[1].pending_calls;
    assert!(on_b > 0, "{:?}", client.endpoints());
    // b dies: its calls fail naming it; the others are answered.
    proxies[1].cut();
    let (mut answered, mut failed) = (0, 0);
    for call in slow {
        match timeout(LIMIT, call).await.unwrap().unwrap() {
            Ok(name) => {
                assert_ne!(name, "b");
                answered += 1;
            }
            Err(err) => {
                assert!(err.is_connection_closed(), "{err}");
                assert!(
                    err.to_string().contains(&proxies[1].addr().to_string()),
                    "{err}"
                );
                failed += 1;
            }
        }
    }
    assert_eq!(failed, on_b);
    assert_eq!(answered + failed, 30);
    // New calls go to the others only.
    until_connected(&client, 2).await;
    let counts = spread(&backend, 100).await;
    assert_eq!(counts.keys().filter(|k| *k == "b").count(), 0, "{counts:?}");
    assert_eq!(counts.values().sum::<usize>(), 100);
    // b comes back and takes calls again.
    proxies[1].reopen().await;
    until_connected(&client, 3).await;
    assert!(spread(&backend, 300).await.contains_key("b"));
}

#[tokio::test]
async fn sticky_keys_stay_on_their_endpoint_and_only_a_dead_one_s_keys_move() {
    let proxies = [
        tcp_backend("a").await,
        tcp_backend("b").await,
        tcp_backend("c").await,
    ];
    let client = Client::balanced(proxies.iter().map(|p| tcp_endpoint(p.addr())), quick());
    until_connected(&client, 3).await;
    let mut homes = HashMap::new();
    for user in 0..60 {
        let sticky = BackendClient::new(client.sticky(&format!("user-{user}")));
        let home = sticky.whoami().await.unwrap();
        for _ in 0..5 {
            assert_eq!(sticky.whoami().await.unwrap(), home);
        }
        homes.insert(user, home);
    }
    let distinct: std::collections::HashSet<_> = homes.values().collect();
    assert_eq!(distinct.len(), 3, "{homes:?}");

    proxies[0].cut();
    until_connected(&client, 2).await;
    for (user, home) in &homes {
        let now = BackendClient::new(client.sticky(&format!("user-{user}")))
            .whoami()
            .await
            .unwrap();
        if home == "a" {
            assert_ne!(now, "a");
        } else {
            assert_eq!(&now, home, "user-{user} moved though {home} is up");
        }
    }
    proxies[0].reopen().await;
    until_connected(&client, 3).await;
    for (user, home) in &homes {
        let now = BackendClient::new(client.sticky(&format!("user-{user}")))
            .whoami()
            .await
            .unwrap();
        assert_eq!(&now, home, "user-{user} did not come back");
    }
}

#[tokio::test]
async fn a_discovered_set_follows_its_changes() {
    use tower::discover::Change;
    let a = tcp_backend("a").await;
    let b = tcp_backend("b").await;
    let (changes, rx) =
        tokio::sync::mpsc::unbounded_channel::<Result<Change<&str, Endpoint>, Error>>();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|change| (change, rx))
    });
    let client = Client::discover(Box::pin(stream), quick());
    let backend = BackendClient::new(client.clone());
    changes
        .send(Ok(Change::Insert("a", tcp_endpoint(a.addr()))))
        .unwrap();
    assert_eq!(backend.whoami().await.unwrap(), "a");
    changes
        .send(Ok(Change::Insert("b", tcp_endpoint(b.addr()))))
        .unwrap();
    until_connected(&client, 2).await;
    assert_eq!(spread(&backend, 200).await.len(), 2);
    // A call in flight on a removed endpoint runs to its end.
    let slow = tokio::spawn({
        let sticky = BackendClient::new(client.sticky("k"));
        async move { sticky.slow(200).await }
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    changes.send(Ok(Change::Remove("a"))).unwrap();
    changes.send(Ok(Change::Remove("b"))).unwrap();
    changes
        .send(Ok(Change::Insert("b", tcp_endpoint(b.addr()))))
        .unwrap();
    let name = timeout(LIMIT, slow).await.unwrap().unwrap().unwrap();
    assert!(name == "a" || name == "b");
    timeout(LIMIT, async {
        while client.endpoints().len() != 1 || !client.endpoints()[0].connected {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(
        spread(&backend, 50).await,
        HashMap::from([("b".to_owned(), 50)])
    );
}

#[tokio::test]
async fn tower_s_p2c_balancer_works_over_clients() {
    use tower::balance::p2c::Balance;
    use tower::{Service, ServiceExt};
    let proxies = [tcp_backend("a").await, tcp_backend("b").await];
    let mut clients = Vec::new();
    for proxy in &proxies {
        clients.push(
            Client::connect_tcp(proxy.addr(), Framing::Ndjson, ConnectionConfig::default())
                .await
                .unwrap(),
        );
    }
    let mut balance = Balance::new(tower::discover::ServiceList::new(clients.clone()));
    let mut counts = HashMap::<String, usize>::new();
    for _ in 0..200 {
        let request = CallRequest::new("whoami", &()).unwrap();
        let response = balance.ready().await.unwrap().call(request).await.unwrap();
        *counts
            .entry(response.decode::<String>("whoami").unwrap())
            .or_default() += 1;
    }
    assert_eq!(counts.len(), 2, "{counts:?}");
    // A closed client fails readiness and leaves the balancer.
    clients[0].close();
    timeout(LIMIT, clients[0].closed()).await.unwrap();
    for _ in 0..20 {
        let request = CallRequest::new("whoami", &()).unwrap();
        let response = balance.ready().await.unwrap().call(request).await.unwrap();
        assert_eq!(response.decode::<String>("whoami").unwrap(), "b");
    }
    assert_eq!(tower::load::Load::load(&clients[1]), 0);
}

#[tokio::test]
async fn a_managed_client_sends_typed_batches_and_stops_when_dropped() {
    let proxy = tcp_backend("a").await;
    let client = Client::reconnecting(tcp_endpoint(proxy.addr()), quick());
    let backend = BackendClient::new(client.clone());
    let mut batch = backend.batch();
    let first = batch.whoami();
    let second = batch.slow(1);
    let mut answers = timeout(LIMIT, batch).await.unwrap().unwrap();
    assert_eq!(answers.take(first).unwrap(), "a");
    assert_eq!(answers.take(second).unwrap(), "a");
    // Closing stops reconnecting; calls after it are not sent.
    client.close();
    timeout(LIMIT, client.closed()).await.unwrap();
    assert!(client.is_closed());
    let err = backend.whoami().await.unwrap_err();
    assert!(err.is_not_sent(), "{err}");
}
