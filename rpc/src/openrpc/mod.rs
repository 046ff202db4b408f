//! OpenRPC documents: a service that describes itself, for the tools that read
//! [OpenRPC](https://spec.open-rpc.org) (the playground, client generators, test
//! coverage), answered by `rpc.discover`.
//!
//! A `#[rpc_service]` trait describes its methods from its definition: each method's
//! wire name, its summary and description (the doc comment's first paragraph, and
//! the whole of it), its params as content descriptors (required unless `Option`),
//! the result's schema (none for a notification), the error codes its error type
//! declares (`#[derive(IntoRpcError)]`), `deprecated` from `#[deprecated]`, and for
//! a streaming method, the subscription (see below). Schemas come from
//! [`schemars::JsonSchema`] derives, as JSON Schema draft-07 with shared definitions
//! under `#/components/schemas/`: params in their deserialize contract, results in
//! their serialize one. A type without `JsonSchema` is described by the schema that
//! accepts anything, with an `x-rust-type` naming it, so a service compiles whether or
//! not its types derive it.
//!
//! A [`crate::Server`] answers `rpc.discover` with the document of its service
//! (composed services give one document), computed at the first request; turn it off
//! with [`crate::ServerConfig::discover`]. [`crate::Server::openrpc`] returns it, and
//! a generated `{Trait}Server::openrpc()` gives the document of one trait, to write
//! to a file at build or test time. A [`crate::service::Router`] method carries its
//! description by hand ([`crate::service::Router::describe`]).
//!
//! Streaming methods: OpenRPC has no subscriptions, so a streaming method is a method
//! whose result is the subscription id (a string), with the extension
//! `x-subscription`: `{"notification": <item method>, "unsubscribe": <method>,
//! "item": <content descriptor of each item>}`; its unsubscribe method is listed as
//! a method of its own, taking the id and answering a boolean.
//!
//! # Examples
//!
//! ```
//! use rpc::prelude::*;
//!
//! #[rpc_service(namespace = "calc")]
//! pub trait Calculator {
//!     /// Adds two integers.
//!     async fn add(&self, a: i64, b: i64) -> i64;
//! }
//!
//! let document = CalculatorServer::openrpc();
//! assert_eq!(document["methods"][0]["name"], "calc.add");
//! assert_eq!(document["methods"][0]["summary"], "Adds two integers.");
//! assert_eq!(document["methods"][0]["params"][1]["schema"]["type"], "integer");
//! ```

mod document;
mod schema;

pub use document::{ContentDescriptor, ErrorDoc, Info, MethodDoc, ParamStructure};
pub use schema::Describer;

#[doc(hidden)]
pub use schema::{ErrorsOf, SchemaOf, ViaAnySchema, ViaDeclaredErrors, ViaJsonSchema, ViaNoErrors};

/// The OpenRPC version of the documents written here.
pub const OPENRPC_VERSION: &str = "1.3.2";

/// The method that answers a server's document.
pub const DISCOVER_METHOD: &str = "rpc.discover";

/// An error type's error codes, for the `errors` of the methods that return it.
/// `#[derive(IntoRpcError)]` implements it from each variant's code and message.
pub trait DeclaredErrors {
    /// The errors, one per code.
    fn declared_errors() -> Vec<ErrorDoc>;
}

/// The document of `service`, or `None` when it describes none of its methods.
pub fn document_of(service: &dyn crate::service::Service) -> Option<serde_json::Value> {
    let mut describer = Describer::new();
    service.describe(&mut describer);
    (!describer.is_empty()).then(|| describer.into_document())
}
