//! HTTPS (`Server::serve_https`): a certificate made at run time, a client that
//! trusts only it, a call answered over TLS, and the protocol offered by ALPN.

use std::sync::Arc;
use std::time::Duration;

use rpc::http::HttpConfig;
use rpc::{rpc_service, Server};
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
}

struct Impl;

impl Calc for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[tokio::test]
async fn a_call_is_answered_over_tls_to_a_client_that_trusts_the_certificate() {
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
    let mut client_tls = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
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
