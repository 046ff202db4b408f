//! A generic service trait, served and called for concrete instantiations: one
//! trait, `Store<K, V>`, served as `Store<String, u64>` and `Store<u32, Vec<String>>`
//! side by side.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use rpc::framing::Framing;
use rpc::service::Service;
use rpc::transport::memory;
use rpc::{rpc_service, Client, ConnectionConfig, RpcError, Server};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(10);

#[rpc_service(namespace = "store")]
pub trait Store<K, V: Clone>
where
    K: Serialize + DeserializeOwned,
    V: Serialize + DeserializeOwned,
{
    /// Puts a value; answers the one it replaced.
    async fn put(&self, key: K, value: V) -> Option<V>;
    async fn get(&self, key: K) -> Result<V, RpcError>;
    /// Several values in one call: generic types inside other types.
    async fn get_many(&self, keys: Vec<K>) -> Vec<Option<V>>;
    #[rpc(notification)]
    async fn forget(&self, key: K);
}

struct Memory<K, V>(Mutex<HashMap<K, V>>);

impl<K, V> Store<K, V> for Memory<K, V>
where
    K: Serialize + DeserializeOwned + Eq + Hash + Send + Sync,
    V: Serialize + DeserializeOwned + Clone + Send + Sync,
{
    async fn put(&self, key: K, value: V) -> Option<V> {
        self.0.lock().unwrap().insert(key, value)
    }
    async fn get(&self, key: K) -> Result<V, RpcError> {
        self.0
            .lock()
            .unwrap()
            .get(&key)
            .cloned()
            .ok_or_else(|| RpcError::invalid_params("no such key"))
    }
    async fn get_many(&self, keys: Vec<K>) -> Vec<Option<V>> {
        let map = self.0.lock().unwrap();
        keys.iter().map(|k| map.get(k).cloned()).collect()
    }
    async fn forget(&self, key: K) {
        self.0.lock().unwrap().remove(&key);
    }
}

fn memory<K, V>() -> Memory<K, V> {
    Memory(Mutex::new(HashMap::new()))
}

#[tokio::test]
async fn one_generic_trait_serves_two_instantiations() {
    let (a_client, a_server) = memory::pair(Framing::Ndjson, 1 << 16);
    let (b_client, b_server) = memory::pair(Framing::Ndjson, 1 << 16);
    // The implementation fixes the instantiation; the server's parameters follow.
    let by_name = Server::new(StoreServer::new(memory::<String, u64>()));
    let by_number = Server::new(StoreServer::<_, u32, Vec<String>>::new(memory()));
    by_name.serve_connection(a_server);
    by_number.serve_connection(b_server);

    let names: StoreClient<String, u64> =
        StoreClient::new(Client::new(a_client, ConnectionConfig::default()));
    let numbers =
        StoreClient::<u32, Vec<String>>::new(Client::new(b_client, ConnectionConfig::default()));

    assert_eq!(names.put("a".into(), 1).await.unwrap(), None);
    assert_eq!(names.put("a".into(), 2).await.unwrap(), Some(1));
    assert_eq!(
        timeout(LIMIT, names.get("a".into()))
            .await
            .unwrap()
            .unwrap(),
        2
    );
    let err = names.get("b".into()).await.unwrap_err();
    assert_eq!(err.rpc_error().unwrap().message, "no such key");

    numbers.put(7, vec!["x".into()]).await.unwrap();
    assert_eq!(
        numbers.get_many(vec![7, 8]).await.unwrap(),
        vec![Some(vec!["x".to_owned()]), None]
    );
    numbers.forget(7).await.unwrap();
    // A typed batch of a generic client.
    let mut batch = numbers.batch();
    let gone = batch.get_many(vec![7]);
    let mut answers = timeout(LIMIT, batch).await.unwrap().unwrap();
    assert_eq!(answers.take(gone).unwrap(), vec![None]);

    // The wire names do not depend on the instantiation.
    let table = StoreServer::<Memory<u8, u8>, u8, u8>::new(memory())
        .methods()
        .len();
    assert_eq!(table, 4);
}

#[tokio::test]
async fn the_wrong_instantiation_is_a_params_error_on_the_wire() {
    let (client_end, server_end) = memory::pair(Framing::Ndjson, 1 << 16);
    let server = Server::new(StoreServer::new(memory::<u32, u64>()));
    server.serve_connection(server_end);
    // A client of another instantiation sends strings where numbers are expected.
    let wrong =
        StoreClient::<String, u64>::new(Client::new(client_end, ConnectionConfig::default()));
    let err = wrong.get("a".into()).await.unwrap_err();
    assert_eq!(err.code(), Some(rpc::ErrorCode::INVALID_PARAMS), "{err}");
    assert!(
        err.rpc_error()
            .unwrap()
            .message
            .starts_with("invalid params: parameter `key`: invalid type: string"),
        "{err}"
    );
}
