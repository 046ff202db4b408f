//! OpenRPC documents generated from `#[rpc_service]` traits: every kind of param,
//! results, errors, deprecation, streams, composed services and `rpc.discover`.
//! Validation against the official meta-schema is in `tests/openrpc_meta_schema.rs`.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rpc::prelude::*;
use rpc::service::Services;
use rpc::ServerConfig;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[path = "support/openrpc.rs"]
mod support;

/// A point on the plane.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

/// A shape, tagged by kind.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Shape {
    Circle { center: Point, radius: f64 },
    Polygon { corners: Vec<Point> },
}

/// Takes a default when deserialized, and skips a field when serialized: its two
/// contracts differ.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Settings {
    #[serde(default)]
    pub verbose: bool,
    #[serde(skip_serializing)]
    pub secret: Option<String>,
}

/// Not described by a schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Opaque(pub u8);

#[derive(Debug, thiserror::Error, rpc::IntoRpcError)]
pub enum DrawError {
    /// The shape has no area.
    #[error("the shape is degenerate")]
    #[rpc(code = -32010)]
    Degenerate,
    #[rpc(code = -32011, message = "the canvas is full")]
    #[error("full: {0} shapes")]
    Full(u32),
}

/// Drawing on a canvas.
///
/// Shapes go in, areas come out.
#[rpc_service(namespace = "canvas", title = "Canvas", version = "2.1.0")]
pub trait Canvas {
    /// Draws a shape.
    ///
    /// Answers its area; a shape without one is refused.
    async fn draw(&self, shape: Shape, label: Option<String>) -> Result<f64, DrawError>;
    /// Every kind of param at once.
    #[allow(clippy::too_many_arguments)]
    async fn kinds(
        &self,
        cx: &CallContext,
        n: u32,
        text: &str,
        name: Cow<'_, str>,
        tags: Vec<String>,
        map: BTreeMap<String, i64>,
        pair: (u8, bool),
        #[rpc(rename = "maybePoint")] maybe: Option<Point>,
        settings: Settings,
    ) -> Settings;
    /// Takes what no schema describes.
    async fn opaque(&self, value: Opaque) -> Opaque;
    /// Clears the canvas.
    #[rpc(notification)]
    async fn clear(&self);
    /// Old name of `draw`.
    #[deprecated(note = "use canvas.draw")]
    async fn paint(&self, shape: Shape) -> f64;
    /// Streams the shapes as they are drawn.
    fn subscribe_shapes(&self) -> impl rpc::stream::Stream<Item = Shape> + Send;
    /// Nothing to return.
    async fn touch(&self);
    /// Adds the numbers it is given: the whole params value is the list.
    #[rpc(raw_params)]
    async fn total(&self, values: Vec<f64>) -> f64;
}

#[allow(deprecated)]
struct Impl;

#[allow(deprecated)]
impl Canvas for Impl {
    async fn draw(&self, shape: Shape, _label: Option<String>) -> Result<f64, DrawError> {
        match shape {
            Shape::Circle { radius, .. } if radius > 0.0 => {
                Ok(std::f64::consts::PI * radius * radius)
            }
            _ => Err(DrawError::Degenerate),
        }
    }
    async fn kinds(
        &self,
        _cx: &CallContext,
        _n: u32,
        _text: &str,
        _name: Cow<'_, str>,
        _tags: Vec<String>,
        _map: BTreeMap<String, i64>,
        _pair: (u8, bool),
        _maybe: Option<Point>,
        settings: Settings,
    ) -> Settings {
        settings
    }
    async fn opaque(&self, value: Opaque) -> Opaque {
        value
    }
    async fn clear(&self) {}
    async fn paint(&self, _shape: Shape) -> f64 {
        0.0
    }
    fn subscribe_shapes(&self) -> impl rpc::stream::Stream<Item = Shape> + Send + 'static {
        futures_util::stream::empty()
    }
    async fn touch(&self) {}
    async fn total(&self, values: Vec<f64>) -> f64 {
        values.iter().sum()
    }
}

fn method<'a>(document: &'a Value, name: &str) -> &'a Value {
    document["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no method {name} in {document:#}"))
}

#[test]
fn the_document_describes_every_method_from_the_trait() {
    let document = CanvasServer::openrpc();
    assert_eq!(document["openrpc"], "1.3.2");
    assert_eq!(
        document["info"],
        json!({"title": "Canvas", "version": "2.1.0", "description": "Drawing on a canvas.\n\nShapes go in, areas come out."})
    );
    let names: Vec<&str> = document["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "canvas.draw",
            "canvas.kinds",
            "canvas.opaque",
            "canvas.clear",
            "canvas.paint",
            "canvas.subscribe_shapes",
            "canvas.unsubscribe_shapes",
            "canvas.touch",
            "canvas.total"
        ]
    );

    let draw = method(&document, "canvas.draw");
    assert_eq!(draw["summary"], "Draws a shape.");
    assert_eq!(
        draw["description"],
        "Draws a shape.\n\nAnswers its area; a shape without one is refused."
    );
    assert_eq!(draw["paramStructure"], "either");
    assert_eq!(draw["params"][0]["name"], "shape");
    assert_eq!(draw["params"][0]["required"], true);
    assert_eq!(
        draw["params"][0]["schema"],
        json!({"$ref": "#/components/schemas/Shape"})
    );
    assert_eq!(draw["params"][1]["name"], "label");
    assert!(
        draw["params"][1].get("required").is_none(),
        "an Option is not required"
    );
    assert_eq!(draw["result"]["schema"]["type"], "number");
    assert_eq!(
        draw["errors"],
        json!([
            {"code": -32010, "message": "the shape is degenerate"},
            {"code": -32011, "message": "the canvas is full"}
        ])
    );

    let kinds = method(&document, "canvas.kinds");
    let params: Vec<&str> = kinds["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    // The context is not a param; a renamed param has its wire name.
    assert_eq!(
        params,
        [
            "n",
            "text",
            "name",
            "tags",
            "map",
            "pair",
            "maybePoint",
            "settings"
        ]
    );
    assert_eq!(kinds["params"][0]["schema"]["type"], "integer");
    assert_eq!(kinds["params"][1]["schema"]["type"], "string");
    assert_eq!(kinds["params"][2]["schema"]["type"], "string");
    assert_eq!(kinds["params"][3]["schema"]["type"], "array");
    assert_eq!(kinds["params"][4]["schema"]["type"], "object");
    assert_eq!(kinds["params"][5]["schema"]["type"], "array");
    assert!(kinds["params"][6].get("required").is_none());
    // Settings: the deserialize contract for the param, the serialize one for the
    // result, under two names when they differ.
    assert_eq!(
        kinds["params"][7]["schema"],
        json!({"$ref": "#/components/schemas/Settings"})
    );
    assert_eq!(
        kinds["result"]["schema"],
        json!({"$ref": "#/components/schemas/SettingsOutput"})
    );
    let schemas = &document["components"]["schemas"];
    assert!(schemas["Settings"]["properties"].get("secret").is_some());
    assert!(schemas["SettingsOutput"]["properties"]
        .get("secret")
        .is_none());
    assert!(schemas.get("Point").is_some() && schemas.get("Shape").is_some());

    let opaque = method(&document, "canvas.opaque");
    assert!(opaque["params"][0]["schema"]["x-rust-type"]
        .as_str()
        .unwrap()
        .ends_with("Opaque"));

    let clear = method(&document, "canvas.clear");
    assert!(
        clear.get("result").is_none(),
        "a notification has no result"
    );
    assert_eq!(
        method(&document, "canvas.touch")["result"]["schema"]["type"],
        "null"
    );

    assert_eq!(method(&document, "canvas.paint")["deprecated"], true);
    assert!(draw.get("deprecated").is_none());

    let subscribe = method(&document, "canvas.subscribe_shapes");
    assert_eq!(subscribe["result"]["schema"]["type"], "string");
    assert_eq!(subscribe["x-subscription"]["notification"], "canvas.shapes");
    assert_eq!(
        subscribe["x-subscription"]["unsubscribe"],
        "canvas.unsubscribe_shapes"
    );
    assert_eq!(
        subscribe["x-subscription"]["item"]["schema"],
        json!({"$ref": "#/components/schemas/Shape"})
    );
    let unsubscribe = method(&document, "canvas.unsubscribe_shapes");
    assert_eq!(unsubscribe["params"][0]["name"], "subscription");
    assert_eq!(unsubscribe["result"]["schema"]["type"], "boolean");

    // The whole params value is not one param: a content descriptor cannot say it.
    let total = method(&document, "canvas.total");
    assert_eq!(total["params"], json!([]));
    assert_eq!(total["result"]["schema"]["type"], "number");

    support::assert_refs_resolve(&document);
}

#[rpc_service]
pub trait Clock {
    /// The time, in seconds since the epoch.
    async fn now(&self) -> u64;
}

struct Fixed;

impl Clock for Fixed {
    async fn now(&self) -> u64 {
        42
    }
}

#[tokio::test]
async fn rpc_discover_answers_the_document_of_the_composed_services() {
    let both = Services::new()
        .with(CanvasServer::new(Impl))
        .unwrap()
        .with(ClockServer::new(Fixed))
        .unwrap();
    let server = Server::new(both);
    let answer = server
        .handle_frame(r#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}"#)
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    let document = &answer["result"];
    // The first service's info; every service's methods.
    assert_eq!(document["info"]["title"], "Canvas");
    assert_eq!(
        method(document, "now")["result"]["schema"]["type"],
        "integer"
    );
    assert_eq!(
        method(document, "canvas.draw")["params"][0]["name"],
        "shape"
    );
    assert_eq!(*document, server.openrpc().unwrap());
    support::assert_refs_resolve(document);

    // In a batch too.
    let answer = server
        .handle_frame(r#"[{"jsonrpc":"2.0","id":2,"method":"rpc.discover"},{"jsonrpc":"2.0","id":3,"method":"now"}]"#)
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer[0]["result"]["openrpc"], "1.3.2");
    assert_eq!(answer[1]["result"], 42);
}

#[tokio::test]
async fn rpc_discover_can_be_turned_off() {
    let config = ServerConfig {
        discover: false,
        ..ServerConfig::default()
    };
    let server = Server::with_config(ClockServer::new(Fixed), config);
    let answer = server
        .handle_frame(r#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}"#)
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
}

#[tokio::test]
async fn a_router_that_describes_nothing_does_not_answer_rpc_discover() {
    let router = rpc::service::Router::new().method(MethodInfo::new("ping"), |call| async move {
        call.respond("pong")
    });
    let server = Server::new(router);
    assert!(server.openrpc().is_none());
    let answer = server
        .handle_frame(r#"{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}"#)
        .await
        .unwrap();
    let answer: Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["error"]["code"], -32601, "{answer}");
}

#[path = "support/examples.rs"]
mod examples;

#[test]
fn generated_documents_validate_against_the_official_meta_schema() {
    let validator = support::meta_schema_validator();
    let canvas = CanvasServer::openrpc();
    support::assert_valid(&validator, &canvas);
    support::assert_valid(&validator, &ClockServer::openrpc());
    let both = Services::new()
        .with(CanvasServer::new(Impl))
        .unwrap()
        .with(ClockServer::new(Fixed))
        .unwrap();
    support::assert_valid(&validator, &Server::new(both).openrpc().unwrap());
    // The validator is not one that accepts anything.
    let mut broken = canvas.clone();
    broken["methods"][0].as_object_mut().unwrap().remove("name");
    assert!(!validator.is_valid(&broken));
    let mut broken = canvas;
    broken["components"]["schemas"]["Point"] = json!({ "type": 12 });
    assert!(!validator.is_valid(&broken));
}

/// What `example` (started with `args`) answers to `rpc.discover` on its stdin.
fn discover_over_stdio(example: &str, args: &[&str]) -> Value {
    use std::io::{BufRead, BufReader, Write};
    let mut child = std::process::Command::new(examples::example(example))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"rpc.discover\"}\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    drop(stdin);
    let _ = child.kill();
    let _ = child.wait();
    let answer: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    answer["result"].clone()
}

#[test]
fn the_examples_documents_validate_and_calculator_s_matches_its_snapshot() {
    let validator = support::meta_schema_validator();
    for (example, args) in [
        ("spec_server", &[][..]),
        ("mcp_server", &[][..]),
        ("streams", &["--stdio"][..]),
    ] {
        let document = discover_over_stdio(example, args);
        support::assert_valid(&validator, &document);
    }
    let spec = discover_over_stdio("spec_server", &[]);
    assert_eq!(method(&spec, "subtract")["params"][1]["name"], "subtrahend");
    assert_eq!(
        method(&spec, "get_data")["result"]["schema"]["type"],
        "array"
    );
    let streams = discover_over_stdio("streams", &["--stdio"]);
    assert_eq!(
        method(&streams, "subscribe_count")["x-subscription"]["notification"],
        "count"
    );

    // `calculator --openrpc` prints its document; the snapshot is reviewed when it
    // changes (UPDATE_SNAPSHOTS=1 rewrites it).
    let output = std::process::Command::new(examples::example("calculator"))
        .arg("--openrpc")
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    let document: Value = serde_json::from_str(&printed).unwrap();
    support::assert_valid(&validator, &document);
    let snapshot = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/snapshots/calculator.openrpc.json");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(snapshot.parent().unwrap()).unwrap();
        std::fs::write(&snapshot, &printed).unwrap();
    }
    let kept = std::fs::read_to_string(&snapshot).unwrap_or_default();
    assert!(
        kept == printed,
        "calculator's OpenRPC document changed: review it, then run with UPDATE_SNAPSHOTS=1 \
         to keep it ({})\n{printed}",
        snapshot.display()
    );
}
