//! The `#[rpc_service]` attribute macro of the `rpc` SDK.
//!
//! The pipeline: [`attr`] reads the options, [`ast`] builds the service model and
//! checks what concerns one item, [`check`] checks what needs the whole service, and
//! [`expand`] generates the code. Errors are gathered in a [`ctxt::Ctxt`]; when there
//! are any, the user's trait is emitted unchanged (less our attributes) beside them,
//! with stand-ins for the generated `{Trait}Client` and `{Trait}Server<T>`, so each
//! mistake gives its own error and nothing else, even where other code names the
//! generated types.
#![warn(missing_docs)]

mod ast;
mod attr;
mod check;
mod ctxt;
mod derive_error;
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
/// A parameter of type `CallContext` or `&CallContext` (in any position) is not
/// part of the params: the handler gets the call's `rpc::CallContext`
/// (the calling peer for callbacks, the connection, the deadline, a cancellation
/// token), and the client leaves it out.
///
/// A method under `#[cfg(..)]` is left out everywhere when its cfg is off: the
/// trait, the client and batch methods, the table (later methods' indexes follow)
/// and the route. Two methods of one wire name under different cfgs are
/// alternatives, not duplicates.
///
/// Supertraits other than `Send`, `Sync` and `'static` are refused: make the base
/// trait a service of its own and serve both with `rpc::service::Services`.
///
/// A generic trait (`trait Store<K, V> where K: Serialize + DeserializeOwned, ..`)
/// is served and called for one instantiation at a time: `StoreServer<T, K, V>`
/// (usually inferred from the implementation: `StoreServer::new(MyStore)`) and
/// `StoreClient<K, V>`. Its type parameters need the serde traits they are used
/// with, declared on the trait (a missing one is one error, on the parameter), and
/// the server asks them to be `Send + Sync + 'static`. The wire names do not depend
/// on the instantiation. Lifetime and const parameters are refused.
///
/// A method returns `T`, or `Result<T, E>` with `E: rpc::IntoRpcError`: `RpcError`
/// itself, or an error type of your own with `#[derive(IntoRpcError)]` (a code per
/// variant, the message from `Display`, see [`derive@IntoRpcError`]) or
/// `impl From<E> for RpcError`; the error becomes the error response. Parameter types must be `Deserialize` and return types
/// `Serialize` (and `DeserializeOwned` for the client). `&str`, `&RawValue` and
/// `Cow<str>` parameters borrow from the received frame (a `&str` cannot hold a string
/// with escapes; `Cow<str>` copies only then). `Option<T>` parameters may be left out.
/// See [Params](#params) for what the server accepts and what it answers otherwise.
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
/// | `strict` / `lenient` | whether the server refuses a params object's names that a method does not take (default `lenient`: ignored); a method's own option wins |
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
/// | `strict` / `lenient` | refuse (or ignore) names in a params object that the method does not take, over the trait's choice; not with `raw_params`, which has no names to check (a `strict` trait's `raw_params` methods take the whole value as ever) |
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
/// # Params
///
/// The server takes a method's params as an array (by position) or an object (by wire
/// name, after `rename`), whatever shape its client sends; absent params are `[]`.
/// Decoding streams the params text into the parameters without building a
/// `serde_json::Value`, and allocates nothing when it succeeds (but for what the
/// parameters' own types allocate, such as a `String`, and a copy of the first unknown
/// name if it is written with escapes). Anything else is answered
/// -32602 `invalid params: ..`, naming the parameter in the caller's terms (wire
/// names, JSON types):
///
/// | params | answer |
/// |---|---|
/// | a required parameter left out | ``missing parameter `key` ``, and if the object had names the method does not take, the first: ``missing parameter `key` (got unknown `kye`)`` |
/// | a name the method does not take | ignored; with `strict`, ``unknown parameter `ttl`; this method takes `key`, `value` `` (or `takes no parameters`) |
/// | more positional params than parameters (in every mode) | ``too many parameters: got 3; this method takes `key`, `value` `` |
/// | a name given twice | ``duplicate parameter `key` `` |
/// | a value of the wrong type | ``parameter `ttl`: invalid type: string "x", expected u64`` |
/// | a string with escapes for a `&str` | ``parameter `text`: this method cannot take a string with escape sequences (like `\n`, `\"` or `\u00e9`)`` |
///
/// `strict` suits methods whose callers should learn of a misspelt or unsupported
/// option at once; lenient (the default) suits protocols that add members over time
/// (MCP's `_meta`, say). Both cost the same when the names are right.
///
/// A `&str` parameter borrows from the frame, which is only possible when the JSON
/// string has no escape sequences (`\n`, `\"`, `\/`, `\u00e9`, ..): its text then is the
/// frame's text. Callers' JSON encoders escape quotes, control characters and
/// sometimes `/` or any non-ASCII character, so take `String` or `Cow<str>` (which
/// borrows when it can and copies otherwise) for any text a caller may write, and keep
/// `&str` for names and identifiers.
///
/// # Generated items
///
/// For `trait Calculator`, with the trait's visibility:
///
/// - `CalculatorClient`: `new(impl Into<rpc::Client>)` (a `Client`, closed when the
///   last clone goes, or a `Peer`, left open), `inner()`, `with_timeout(Duration)`,
///   `batch()`, `Clone`, and one `async fn` per method returning
///   `Result<T, rpc::Error>` (a server's error response is `rpc::Error::Rpc`). A call
///   waits for the method's `timeout` plus a tenth (at least 100 ms more, so that the
///   server's own timeout answer normally comes first), else the connection's
///   `request_timeout`; `with_timeout` replaces both for that handle. Methods named
///   `new`, `inner`, `batch` or `with_timeout` would clash and are refused.
/// - `CalculatorBatch<'_>`: from `batch()`, one method per service method that adds
///   the call to the batch and returns an `rpc::BatchCall<T>` handle (nothing for a
///   notification); `.await` sends the batch as one frame and gives the
///   `rpc::BatchResponses`, from which `take(handle)` reads each call's result.
/// - `CalculatorServer<T>`: `new(T)`, `from_arc(Arc<T>)`, `get_ref()`, `Clone`, and
///   `rpc::service::Service` for any `T: Calculator + Send + Sync + 'static`: a
///   static method table (execution, timeout, concurrency), a `match` from wire name
///   (and aliases) to index, and a `match` from index to the method's decoder and
///   handler.
/// - Hidden, in a `const _` block: per-method params decoders that accept an array
///   (by position) or an object (by name) without building a `serde_json::Value`,
///   and report a missing, duplicate, unknown (with `strict`) or mistyped parameter as
///   -32602 naming it (see [Params](#params)); the
///   client's params encoders; and `CalculatorServer::__call_{method}`, which decodes
///   params text and runs the handler (exposed for allocation tests).
///
/// The shared decoding code (the -32602 messages, the seeds that name a parameter in
/// its error) is ordinary runtime code, which the generated code calls.
///
/// When the trait has a mistake, the macro reports it and still emits the trait and
/// stand-ins for `CalculatorClient` and `CalculatorServer<T>` with the same
/// constructors, `Service` impl and client methods, so that code using them adds no
/// errors of its own.
#[proc_macro_attribute]
pub fn rpc_service(args: TokenStream, input: TokenStream) -> TokenStream {
    rpc_service_impl(args.into(), input.into()).into()
}

/// Derives `impl From<MyError> for rpc::RpcError` for an error enum or struct, so
/// that `#[rpc_service]` methods can return `Result<T, MyError>`.
///
/// # Examples
///
/// ```
/// use rpc::prelude::*;
///
/// /// `Display` gives the messages (as `thiserror`'s `#[error("...")]` would).
/// #[derive(Debug, IntoRpcError)]
/// #[rpc(code = -32010)] // the default of the variants without a code of their own
/// pub enum PaymentError {
///     #[rpc(code = -32011)]
///     UnknownAccount(String),
///     // The field marked `data` becomes the error's `data`.
///     InsufficientFunds {
///         #[rpc(data)]
///         missing_cents: u64,
///     },
///     #[rpc(code = -32602, message = "the amount must be positive")]
///     NotPositive,
/// }
///
/// impl std::fmt::Display for PaymentError {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         match self {
///             Self::UnknownAccount(id) => write!(f, "no account {id}"),
///             Self::InsufficientFunds { missing_cents } => write!(f, "{missing_cents} cents short"),
///             Self::NotPositive => f.write_str("not positive"),
///         }
///     }
/// }
///
/// #[rpc_service]
/// pub trait Payments {
///     async fn pay(&self, account: String, cents: i64) -> Result<u64, PaymentError>;
/// }
///
/// let err = RpcError::from(PaymentError::UnknownAccount("acc-7".into()));
/// assert_eq!((err.code, &*err.message), (ErrorCode(-32011), "no account acc-7"));
///
/// let err = RpcError::from(PaymentError::InsufficientFunds { missing_cents: 250 });
/// assert_eq!((err.code, &*err.message), (ErrorCode(-32010), "250 cents short"));
/// assert_eq!(err.data::<u64>().unwrap().unwrap(), 250);
///
/// let err = RpcError::from(PaymentError::NotPositive);
/// assert_eq!(err.code, ErrorCode::INVALID_PARAMS);
/// assert_eq!(err.message, "the amount must be positive");
/// assert!(err.data.is_none());
/// ```
///
/// # Options
///
/// | where | option | meaning |
/// |---|---|---|
/// | variant, or struct | `#[rpc(code = -32010)]` | the error code (an integer literal); required |
/// | enum | `#[rpc(code = -32010)]` | the code of every variant without one |
/// | variant, struct or enum | `#[rpc(message = "...")]` | the message, instead of `Display` (on the enum: for every variant without one) |
/// | field | `#[rpc(data)]` | this field, serialized, is the error's `data`; at most one per variant |
///
/// **Message.** Without `message`, the type's `Display` text, cut to
/// `rpc::message::MAX_MESSAGE_LEN` (256) bytes (a message
/// may quote what the caller sent; details belong in `data`). So it works with
/// `#[derive(thiserror::Error)]` and its `#[error("...")]`; a type without `Display`
/// needs `message` on every variant.
///
/// **Data.** The field must be `Serialize`; it is attached with `RpcError::with_data`,
/// so data that fails to serialize is left out, and the server leaves out data that
/// would make the answer larger than the connection's frame limit. Without a `data`
/// field the error has none.
///
/// **Codes.** JSON-RPC 2.0 reserves -32768..=-32000. A domain error may use -32602
/// (invalid params: a check beyond the params' types), -32603 (internal error) and
/// the server-error range -32099..=-32000, which the spec leaves to
/// implementations. The runtime itself answers -32000 (overloaded), -32001 (deadline)
/// and -32002 (shutting down): use those only for an error that means the same, since
/// a client cannot tell them apart. The other reserved codes are refused at compile
/// time: -32700, -32600 and -32601 describe a request the runtime rejects before any
/// method runs, and the rest are reserved by the spec. Any code outside the reserved
/// range is yours.
///
/// **Generics.** A generic type gets `T: Serialize`-style bounds for the data fields
/// that name a type parameter, and `MyError<T>: Display` when a message comes from
/// `Display`.
///
/// Strings (`Result<T, String>`) are not errors: they have no code. Map them in the
/// method (`.map_err(RpcError::internal)` answers -32603), or give them a type.
#[proc_macro_derive(IntoRpcError, attributes(rpc))]
pub fn derive_into_rpc_error(input: TokenStream) -> TokenStream {
    derive_error::derive(input.into()).into()
}

/// The macro on `proc_macro2` tokens: the expansion, or the errors with what goes
/// beside them (see [`expand::fallback`]).
fn rpc_service_impl(
    args: proc_macro2::TokenStream,
    input: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(err) => {
            let mut out = err.to_compile_error();
            if let Some(item) = expand::unparsed_trait(input.clone()) {
                out.extend(expand::fallback_types(&item));
            }
            out.extend(input);
            return out;
        }
    };
    let Item::Trait(item) = item else {
        return not_a_trait(item);
    };

    let mut cx = ctxt::Ctxt::default();
    let attrs = attr::trait_attrs(&mut cx, args);
    let service = ast::Service::from_syn(&mut cx, attrs, &item);
    check::check(&mut cx, &service);
    match cx.finish() {
        None => expand::expand(&service),
        Some(err) => {
            let mut out = err.to_compile_error();
            out.extend(expand::fallback(&item));
            out
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

#[cfg(test)]
mod tests {
    use quote::quote;

    use super::rpc_service_impl;

    /// The expansion as one string, with the spacing `TokenStream`'s `Display` gives.
    fn expand(args: proc_macro2::TokenStream, input: proc_macro2::TokenStream) -> String {
        rpc_service_impl(args, input).to_string()
    }

    fn occurrences(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn an_error_comes_with_stand_in_client_and_server() {
        let out = expand(
            quote!(),
            quote! {
                pub trait Calculator {
                    #[rpc(bogus)]
                    async fn add(&self, a: i64, b: i64) -> i64;
                    async fn divide(&self, a: f64, b: f64) -> Result<f64, RpcError>;
                    #[rpc(notification)]
                    async fn log(&self, line: String);
                    #[rpc(blocking)]
                    fn checksum<'a>(&self, data: &'a str) -> u32;
                }
            },
        );
        assert_eq!(occurrences(&out, "compile_error"), 1, "{out}");
        assert!(out.contains("pub trait Calculator"), "{out}");
        assert!(!out.contains("# [rpc"), "{out}");
        assert!(out.contains("pub struct CalculatorClient"), "{out}");
        assert!(out.contains("pub struct CalculatorServer < T >"), "{out}");
        for constructor in ["fn new", "fn inner", "fn from_arc", "fn get_ref"] {
            assert!(out.contains(constructor), "{constructor}: {out}");
        }
        assert!(out.contains(":: rpc :: __private :: Service for CalculatorServer"));
        // One stand-in method per trait method, with the client's result types.
        assert!(out.contains(
            "pub async fn add (& self , _ : i64 , _ : i64) -> :: core :: result :: Result < i64 ,"
        ));
        assert!(out.contains("pub async fn divide (& self , _ : f64 , _ : f64) -> :: core :: result :: Result < f64 ,"));
        assert!(out.contains(
            "pub async fn log (& self , _ : String) -> :: core :: result :: Result < () ,"
        ));
        assert!(out.contains("pub async fn checksum < 'a > (& self , _ : & 'a str) -> :: core :: result :: Result < u32 ,"));
        // Nothing that touches the user's types beyond the signatures.
        assert!(!out.contains("__rpc_send"), "{out}");
        assert!(!out.contains("__call_"), "{out}");
    }

    #[test]
    fn the_stand_in_client_leaves_out_methods_it_could_not_have() {
        let out = expand(
            quote!(),
            quote! {
                pub(crate) trait Factory<K> {
                    type Item;
                    async fn new(&self, kind: String) -> u64;
                    async fn inner(&self) -> u64;
                    async fn item(&self) -> Self::Item;
                    async fn keyed(&self, key: K) -> u64;
                    async fn shown(&self) -> impl std::fmt::Display;
                    async fn guessed(&self, values: Vec<_>) -> u64;
                    async fn converted(&self, name: impl Into<String>) -> u64;
                    async fn kept(&self, name: String) -> Result<String, RpcError>;
                    async fn kept(&self) -> u64;
                }
            },
        );
        assert!(out.contains("pub (crate) struct FactoryClient"), "{out}");
        assert!(
            out.contains("pub (crate) struct FactoryServer < T , K >"),
            "{out}"
        );
        // The constructors only, not the methods of the same names.
        assert_eq!(occurrences(&out, "pub fn new"), 2, "{out}");
        assert_eq!(occurrences(&out, "pub fn inner"), 1, "{out}");
        assert!(out.contains("pub async fn converted (& self , _ : impl Into < String >)"));
        for method in ["new", "inner", "item", "keyed", "shown", "guessed"] {
            assert!(!out.contains(&format!("pub async fn {method}")), "{out}");
        }
        assert_eq!(occurrences(&out, "pub async fn kept"), 1, "{out}");
        assert!(out.contains(
            "pub async fn kept (& self , _ : String) -> :: core :: result :: Result < String ,"
        ));
    }

    #[test]
    fn input_that_does_not_parse_still_gets_stand_ins() {
        let out = expand(
            quote!(),
            quote!(pub trait Calculator { async fn add(&self) -> ; }),
        );
        assert_eq!(occurrences(&out, "compile_error"), 1, "{out}");
        assert!(out.contains("pub struct CalculatorClient"), "{out}");
        assert!(out.contains("pub struct CalculatorServer < T >"), "{out}");

        let out = expand(quote!(), quote!(struct NotATrait { x: }));
        assert!(!out.contains("Client"), "{out}");
    }

    #[test]
    fn a_correct_trait_expands_without_stand_ins() {
        let out = expand(
            quote!(namespace = "calc"),
            quote!(
                pub trait Calculator {
                    async fn add(&self, a: i64, b: i64) -> i64;
                }
            ),
        );
        assert!(!out.contains("compile_error"), "{out}");
        assert!(!out.contains("unreachable"), "{out}");
        assert!(out.contains("\"calc.add\""), "{out}");
        assert!(
            out.contains(":: rpc :: __private :: decode_generated_params"),
            "{out}"
        );
        assert!(!out.contains("fn __rpc_decode <"), "{out}");
    }
}
