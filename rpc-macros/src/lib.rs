//! The `#[rpc_service]` attribute macro of the `rpc` SDK.
//!
//! The pipeline: [`attr`] reads the options, [`ast`] builds the service model and
//! checks what concerns one item, [`check`] checks what needs the whole service, and
//! [`expand`] generates the code. Errors are gathered in a [`ctxt::Ctxt`]; when there
//! are any, the user's trait is emitted unchanged (less our attributes) beside them, so
//! each mistake gives its own error and nothing else.
#![warn(missing_docs)]

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod symbol;

use proc_macro::TokenStream;
use quote::ToTokens;
use syn::Item;

/// Turns a trait into a typed JSON-RPC 2.0 service: a client, a server adapter,
/// parameter codecs and a dispatch table.
///
/// # Examples
///
/// ```
/// use rpc::prelude::*;
///
/// #[rpc_service(namespace = "calc")] // wire names "calc.add", ...
/// pub trait Calculator {
///     /// Adds two numbers.
///     async fn add(&self, a: i64, b: i64) -> i64;
///     async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;
///     #[rpc(name = "text/echo")] // the whole wire name: the namespace is not added
///     async fn echo(&self, text: &str) -> String; // borrowed from the frame
///     #[rpc(notification)]
///     async fn log(&self, line: String);
///     #[rpc(blocking)] // runs on the blocking pool
///     fn checksum(&self, data: Vec<u8>) -> u32;
/// }
///
/// struct Calc;
///
/// impl Calculator for Calc {
///     async fn add(&self, a: i64, b: i64) -> i64 {
///         a + b
///     }
///     async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError> {
///         if b == 0.0 {
///             return Err(RpcError::invalid_params("division by zero"));
///         }
///         Ok(a / b)
///     }
///     async fn echo(&self, text: &str) -> String {
///         text.to_owned()
///     }
///     async fn log(&self, line: String) {
///         println!("{line}");
///     }
///     fn checksum(&self, data: Vec<u8>) -> u32 {
///         data.iter().map(|&b| u32::from(b)).sum()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), rpc::Error> {
/// let (client_end, server_end) = rpc::transport::memory::pair(Framing::Ndjson, 1 << 16);
/// let server = Server::new(CalculatorServer::new(Calc));
/// server.serve_connection(server_end);
///
/// let calc = CalculatorClient::new(Client::new(client_end, ConnectionConfig::default()));
/// assert_eq!(calc.add(2, 3).await?, 5);
/// assert_eq!(calc.echo("hi").await?, "hi");
/// assert!(calc.divide(1.0, 0.0).await.unwrap_err().is_rpc());
/// calc.log("fire and forget".into()).await?;
/// # Ok(())
/// # }
/// ```
///
/// # The trait
///
/// Methods are `async fn` (run on the async runtime) or `fn` marked
/// `#[rpc(blocking)]`, and take `&self`. In the emitted trait each `async fn` becomes
/// `fn .. -> impl Future<Output = T> + Send`, so the server can run handlers on any
/// thread; implementations still write `async fn`, and one whose future is not `Send`
/// fails to compile at that method. Doc comments and other attributes stay.
///
/// A method returns `T`, or `Result<T, E>` with `E: Into<RpcError>` (the error
/// becomes the error response). Parameter types must be `Deserialize` and return types
/// `Serialize` (and `DeserializeOwned` for the client). `&str`, `&RawValue` and
/// `Cow<str>` parameters borrow from the received frame (a `&str` cannot hold a string
/// with escapes; `Cow<str>` copies only then). `Option<T>` parameters may be left out.
///
/// # Options
///
/// On the trait, `#[rpc_service(..)]`:
///
/// | option | meaning |
/// |---|---|
/// | `namespace = "calc"` | names taken from methods become `calc.add` |
/// | `separator = "/"` | what joins namespace and method (default `.`) |
/// | `positional` / `named` | the default shape of the client's params (default `named`) |
///
/// On a method, `#[rpc(..)]`:
///
/// | option | meaning |
/// |---|---|
/// | `name = "tools/call"` | the whole wire name (the namespace is not added) |
/// | `aliases = ["a", "b"]` | more wire names the server answers to (taken as written) |
/// | `notification` | no response; the method returns nothing, the client's call returns once sent |
/// | `unordered` | with `notification`: it may run alongside the calls around it (see below) |
/// | `blocking` | a `fn` method run on the blocking pool |
/// | `pool = "io"` | run in the named worker pool (a bulkhead) |
/// | `timeout = "500ms"` | the method's deadline: a whole number with `ms`, `s` or `m` |
/// | `concurrency = 4` | at most this many calls run at once |
/// | `positional` / `named` | the shape the client sends; the server accepts both |
/// | `raw_params` | the one parameter receives the whole params value (e.g. `Vec<f64>` for a variadic `sum`, or `&RawValue`) |
///
/// On a parameter, `#[rpc(rename = "firstName")]` sets its name in a params object.
///
/// On one connection, notifications are handled one after another in arrival order,
/// and a call that arrives after a notification starts only once that notification's
/// handler has finished; requests run concurrently. A notification marked
/// `unordered` neither waits for the others nor holds back what follows it.
///
/// Wire names beginning with `rpc.` are reserved by the protocol and refused, as are
/// duplicates after namespace, `name` and `aliases`.
///
/// # Generated items
///
/// For `trait Calculator`, with the trait's visibility:
///
/// - `CalculatorClient`: `new(rpc::Client)`, `inner()`, `Clone`, and one
///   `async fn` per method returning `Result<T, rpc::Error>` (a server's error
///   response is `rpc::Error::Rpc`). Methods named `new` or `inner` would clash and
///   are refused.
/// - `CalculatorServer<T>`: `new(T)`, `from_arc(Arc<T>)`, `get_ref()`, `Clone`, and
///   `rpc::service::Service` for any `T: Calculator + Send + Sync + 'static`: a
///   static method table (execution, timeout, concurrency), a `match` from wire name
///   (and aliases) to index, and a `match` from index to the method's decoder and
///   handler.
/// - Hidden, in a `const _` block: per-method params decoders that accept an array
///   (by position) or an object (by name) without building a `serde_json::Value`,
///   and report a missing, duplicate or mistyped parameter as -32602 naming it; the
///   client's params encoders; and `CalculatorServer::__call_{method}`, which decodes
///   params text and runs the handler (exposed for allocation tests).
#[proc_macro_attribute]
pub fn rpc_service(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse(input.clone()) {
        Ok(item) => item,
        Err(err) => {
            let mut out = err.to_compile_error();
            out.extend(proc_macro2::TokenStream::from(input));
            return out.into();
        }
    };
    let Item::Trait(item) = item else {
        return not_a_trait(item).into();
    };

    let mut cx = ctxt::Ctxt::default();
    let attrs = attr::trait_attrs(&mut cx, args.into());
    let service = ast::Service::from_syn(&mut cx, attrs, &item);
    check::check(&mut cx, &service);
    match cx.finish() {
        None => expand::expand(&service).into(),
        Some(err) => {
            let mut item = item.clone();
            expand::strip_for_fallback(&mut item);
            let mut out = err.to_compile_error();
            item.to_tokens(&mut out);
            out.into()
        }
    }
}

fn not_a_trait(item: Item) -> proc_macro2::TokenStream {
    const MESSAGE: &str = "#[rpc_service] applies to a trait: `pub trait Calculator { async fn add(&self, a: i64, b: i64) -> i64; }`";
    let err = match &item {
        Item::Struct(s) => syn::Error::new_spanned(s.struct_token, MESSAGE),
        Item::Enum(e) => syn::Error::new_spanned(e.enum_token, MESSAGE),
        Item::Union(u) => syn::Error::new_spanned(u.union_token, MESSAGE),
        Item::Fn(f) => syn::Error::new_spanned(f.sig.fn_token, MESSAGE),
        Item::Impl(i) => syn::Error::new_spanned(i.impl_token, MESSAGE),
        Item::Mod(m) => syn::Error::new_spanned(m.mod_token, MESSAGE),
        Item::Type(t) => syn::Error::new_spanned(t.type_token, MESSAGE),
        other => syn::Error::new_spanned(other, MESSAGE),
    };
    let mut out = err.to_compile_error();
    item.to_tokens(&mut out);
    out
}
