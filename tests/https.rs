//! HTTPS and WSS: a certificate made at run time; `Server::serve_https` answering a
//! hand-written client that trusts only it, with the protocol offered by ALPN; and
//! our own clients (`Client::connect_http` with HTTP/2 by ALPN, `Client::connect_ws`
//! over `wss://`) with that trust, or refusing the certificate without it.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rpc::http::{HttpClientConfig, HttpConfig};
use rpc::{rpc_service, CallContext, Client, ConnectionConfig, ErrorCode, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;
use tokio_rustls::rustls::pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName,
};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::TlsConnector;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service]
pub trait Calc {
    async fn add(&self, a: i64, b: i64) -> i64;
    /// The HTTP version the request came in, and its `authorization` header.
    async fn seen(&self, cx: &CallContext) -> (String, Option<String>);
}

struct Impl;

impl Calc for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn seen(&self, cx: &CallContext) -> (String, Option<String>) {
        let version = cx
            .http_request()
            .map(|r| format!("{:?}", r.version))
            .unwrap_or_default();
        let auth = cx
            .headers()
            .and_then(|h| h.get("authorization"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (version, auth)
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[tokio::test]
async fn a_call_is_answered_over_tls_to_a_client_that_trusts_the_certificate() {
    let (server, addr, trust, serving) = certified_server().await;
    let mut client_tls = (*trust).clone();
    client_tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = TlsConnector::from(Arc::new(client_tls));
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = timeout(
        LIMIT,
        connector.connect(ServerName::try_from("localhost").unwrap(), tcp),
    )
    .await
    .unwrap()
    .unwrap();
    // The server offered ALPN and agreed on what the client asked for.
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let body = r#"{"jsonrpc":"2.0","id":1,"method":"add","params":[2,3]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = timeout(LIMIT, tls.read_to_end(&mut raw)).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.ends_with(r#"{"jsonrpc":"2.0","id":1,"result":5}"#),
        "{text}"
    );

    // A plain-text client gets no answer it could mistake for one: the handshake fails.
    let mut plain = TcpStream::connect(addr).await.unwrap();
    plain.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = timeout(LIMIT, plain.read_to_end(&mut raw)).await.unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("result"));

    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

/// A server on a certificate for `localhost` made now, and a client configuration
/// that trusts that certificate alone.
async fn certified_server() -> (
    Arc<Server>,
    std::net::SocketAddr,
    Arc<ClientConfig>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_der: CertificateDer<'static> = cert.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let server_tls = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key)
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Arc::new(Server::new(CalcServer::new(Impl)));
    let serving = {
        let server = server.clone();
        let tls = Arc::new(server_tls);
        tokio::spawn(async move {
            server
                .serve_https(listener, HttpConfig::default(), tls)
                .await
        })
    };
    let mut roots = RootCertStore::empty();
    roots.add(cert_der).unwrap();
    let client_tls = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (server, addr, Arc::new(client_tls), serving)
}

fn bearer() -> HttpClientConfig {
    HttpClientConfig::default().header(
        HeaderName::from_static("authorization"),
        HeaderValue::from_static("Bearer t"),
    )
}

#[tokio::test]
async fn the_http_client_calls_over_https_on_http2_agreed_by_alpn() {
    let (server, addr, trust, serving) = certified_server().await;
    let url = format!("https://localhost:{}/", addr.port());
    let http = bearer().tls(trust);
    let calc = CalcClient::new(
        Client::connect_http_with(&url, ConnectionConfig::default(), http).unwrap(),
    );
    assert_eq!(timeout(LIMIT, calc.add(2, 3)).await.unwrap().unwrap(), 5);
    let (version, auth) = timeout(LIMIT, calc.seen()).await.unwrap().unwrap();
    assert_eq!(
        version, "HTTP/2.0",
        "the server offers h2 and the client takes it"
    );
    assert_eq!(auth.as_deref(), Some("Bearer t"));
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_websocket_client_calls_over_wss_with_the_upgrade_s_headers() {
    let (server, addr, trust, serving) = certified_server().await;
    let url = format!("wss://localhost:{}/", addr.port());
    let http = bearer().tls(trust);
    let client = timeout(
        LIMIT,
        Client::connect_ws_with(&url, ConnectionConfig::default(), &http),
    )
    .await
    .unwrap()
    .unwrap();
    let calc = CalcClient::new(client);
    assert_eq!(timeout(LIMIT, calc.add(20, 22)).await.unwrap().unwrap(), 42);
    // Every call on the WebSocket sees the upgrade request's head.
    let (version, auth) = timeout(LIMIT, calc.seen()).await.unwrap().unwrap();
    assert_eq!(version, "HTTP/1.1");
    assert_eq!(auth.as_deref(), Some("Bearer t"));
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_certificate_the_client_does_not_trust_fails_with_why() {
    let (server, addr, _trust, serving) = certified_server().await;
    // The default trust is the web's public authorities: a self-signed certificate
    // is not among them.
    let url = format!("https://localhost:{}/", addr.port());
    let calc = CalcClient::new(Client::connect_http(&url, ConnectionConfig::default()).unwrap());
    let err = timeout(LIMIT, calc.add(1, 1)).await.unwrap().unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::INTERNAL_ERROR), "{err}");
    let message = &err.rpc_error().unwrap().message;
    assert!(message.contains("certificate"), "{message}");

    let url = format!("wss://localhost:{}/", addr.port());
    let err = timeout(LIMIT, Client::connect_ws(&url, ConnectionConfig::default()))
        .await
        .unwrap()
        .expect_err("the handshake fails");
    assert!(err.is_connect(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("TLS failed: invalid peer certificate"),
        "{text}"
    );
    server.shutdown(Duration::from_secs(5)).await;
    serving.await.unwrap().unwrap();
}
