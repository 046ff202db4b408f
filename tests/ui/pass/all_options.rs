//! Every option of `#[rpc_service]` and `#[rpc]`, compiled with warnings denied.
#![deny(warnings, missing_docs, unused_qualifications)]
#![deny(clippy::all)]

use std::borrow::Cow;
use std::time::Duration;

use rpc::service::{Execution, Service};
use rpc::{rpc_service, RpcError};
use serde_json::value::RawValue;

/// An error of the service's own, convertible into the wire's error object.
pub struct Refused;

impl From<Refused> for RpcError {
    fn from(_: Refused) -> RpcError {
        RpcError::new(rpc::ErrorCode(-32050), "refused")
    }
}

/// Every option at once.
#[rpc_service(namespace = "all", separator = "/", positional)]
pub trait Everything {
    /// Plain async method; the client sends positional params (the trait's default).
    /// Safe to run twice, so a managed client sends it again after a lost connection.
    #[rpc(idempotent)]
    async fn add(&self, a: i64, b: i64) -> i64;
    /// Named params, a renamed parameter and an optional one; unknown keys refused.
    #[rpc(named, strict)]
    async fn greet(
        &self,
        #[rpc(rename = "firstName")] first: String,
        title: Option<String>,
    ) -> String;
    /// A full wire name and aliases.
    #[rpc(name = "tools/call", aliases = ["call", "tools.call"])]
    async fn call_tool(&self, name: &str, arguments: Option<&RawValue>) -> Result<String, Refused>;
    /// A notification.
    #[rpc(notification)]
    async fn log(&self, line: Cow<'_, str>);
    /// The whole params value, raw.
    #[rpc(raw_params)]
    async fn sum(&self, numbers: Vec<f64>) -> f64;
    /// A raw params value borrowed from the frame.
    #[rpc(raw_params, notification)]
    async fn trace<'a>(&self, params: &'a RawValue);
    /// The blocking pool.
    #[rpc(blocking)]
    fn checksum(&self, data: Vec<u8>) -> u32;
    /// A named pool, a timeout and a concurrency limit.
    #[rpc(pool = "io", timeout = "1500ms", concurrency = 4)]
    async fn fetch(&self, url: String) -> Vec<u8>;
    /// Timeouts in seconds and minutes.
    #[rpc(timeout = "5s")]
    async fn slow(&self) -> ();
    /// Another unit.
    #[rpc(timeout = "2m")]
    async fn slower(&self);
    /// A default body.
    async fn version(&self) -> String {
        String::from("1.0")
    }
    /// Several options in several attributes.
    #[rpc(name = "r#type")]
    #[rpc(concurrency = 1)]
    async fn r#type(&self, r#in: u8) -> u8;
    /// A result with the runtime's error.
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;
    /// A notification that may run out of arrival order.
    #[rpc(notification, unordered)]
    async fn heartbeat(&self);
}

/// No methods at all.
#[rpc_service]
pub trait Empty {}

/// One method without params, and a private trait.
#[rpc_service]
trait Minimal {
    async fn ping(&self);
}

/// Unknown parameter names refused by every method but one; `raw_params` methods take
/// the whole value regardless.
#[rpc_service(strict)]
pub trait Strict {
    /// Strict, as the trait.
    async fn set(&self, key: &str, value: Option<&str>) -> bool;
    /// Opted out.
    #[rpc(lenient)]
    async fn touch(&self, key: String);
    /// The whole value.
    #[rpc(raw_params)]
    async fn count(&self, entries: Vec<u8>) -> usize;
}

/// One strict method in an explicitly lenient trait.
#[rpc_service(lenient)]
pub trait Lenient {
    /// Strict.
    #[rpc(strict)]
    async fn set(&self, key: String) -> bool;
    /// Lenient, as the trait.
    async fn get(&self, key: String) -> String;
}

struct Impl;

impl Empty for Impl {}

impl Minimal for Impl {
    async fn ping(&self) {}
}

impl Strict for Impl {
    async fn set(&self, key: &str, value: Option<&str>) -> bool {
        key.is_empty() && value.is_none()
    }
    async fn touch(&self, _key: String) {}
    async fn count(&self, entries: Vec<u8>) -> usize {
        entries.len()
    }
}

impl Lenient for Impl {
    async fn set(&self, key: String) -> bool {
        key.is_empty()
    }
    async fn get(&self, key: String) -> String {
        key
    }
}

impl Everything for Impl {
    async fn add(&self, a: i64, b: i64) -> i64 {
        a + b
    }
    async fn greet(&self, first: String, title: Option<String>) -> String {
        format!("{} {first}", title.unwrap_or_default())
    }
    async fn call_tool(&self, name: &str, arguments: Option<&RawValue>) -> Result<String, Refused> {
        if name.is_empty() {
            return Err(Refused);
        }
        Ok(arguments.map_or_else(String::new, |a| a.get().to_owned()))
    }
    async fn log(&self, _line: Cow<'_, str>) {}
    async fn heartbeat(&self) {}
    async fn sum(&self, numbers: Vec<f64>) -> f64 {
        numbers.iter().sum()
    }
    async fn trace<'a>(&self, _params: &'a RawValue) {}
    fn checksum(&self, data: Vec<u8>) -> u32 {
        data.iter().map(|&b| u32::from(b)).sum()
    }
    async fn fetch(&self, url: String) -> Vec<u8> {
        url.into_bytes()
    }
    async fn slow(&self) {}
    async fn slower(&self) {}
    async fn r#type(&self, r#in: u8) -> u8 {
        r#in
    }
    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError> {
        Ok(a / b)
    }
}

#[allow(dead_code)]
async fn client_calls(client: EverythingClient) -> Result<(), rpc::Error> {
    let _: i64 = client.add(1, 2).await?;
    let _: String = client.greet("a".into(), None).await?;
    let _: String = client.call_tool("echo", None).await?;
    client.log(Cow::Borrowed("line")).await?;
    let _: f64 = client.sum(vec![1.0]).await?;
    client
        .trace(&RawValue::from_string("[]".into()).unwrap())
        .await?;
    let _: u32 = client.checksum(vec![1]).await?;
    let _: Vec<u8> = client.fetch("x".into()).await?;
    client.slow().await?;
    client.slower().await?;
    let _: String = client.version().await?;
    let _: u8 = client.r#type(1).await?;
    let _: f64 = client.divide(1.0, 2.0).await?;
    let _: &rpc::Client = client.clone().inner();
    Ok(())
}

fn main() {
    let _ = EmptyServer::new(Impl).methods().len();
    let _ = MinimalServer::new(Impl).route("ping");
    let _ = StrictServer::new(Impl).route("set");
    let _ = LenientServer::new(Impl).route("get");
    let _ = |c: StrictClient| async move { c.set("k", None).await };
    let _ = |c: LenientClient| async move { c.set("k".into()).await };
    let _ = |c: MinimalClient| async move { c.ping().await };
    let server = EverythingServer::new(Impl);
    let methods = server.methods();
    assert_eq!(methods[0].name, "all/add");
    assert_eq!(server.route("tools.call"), Some(2));
    assert_eq!(methods[6].execution, Execution::Blocking);
    assert_eq!(methods[7].execution, Execution::Pool("io".into()));
    assert_eq!(methods[7].timeout, Some(Duration::from_millis(1500)));
    assert_eq!(methods[8].timeout, Some(Duration::from_secs(5)));
    assert_eq!(methods[9].timeout, Some(Duration::from_secs(120)));
    assert_eq!(server.route("r#type"), Some(11));
    assert!(methods[13].unordered && !methods[3].unordered);
    fn is_service<S: Service>(_: &S) {}
    is_service(&server.clone());
    let _ = format!("{server:?}");
    let _ = server.get_ref();
}
