//! The keywords of `#[rpc_service(..)]` and `#[rpc(..)]`, named once.

/// The attribute on methods and parameters.
pub const RPC: &str = "rpc";

// Trait options.
pub const NAMESPACE: &str = "namespace";
pub const SEPARATOR: &str = "separator";
// The OpenRPC document's info.
pub const TITLE: &str = "title";
pub const VERSION: &str = "version";

// Trait and method options: whether a params object's unknown keys are refused.
pub const STRICT: &str = "strict";
pub const LENIENT: &str = "lenient";

// Method options.
pub const NAME: &str = "name";
pub const ALIASES: &str = "aliases";
pub const NOTIFICATION: &str = "notification";
pub const BLOCKING: &str = "blocking";
pub const POOL: &str = "pool";
pub const TIMEOUT: &str = "timeout";
pub const CONCURRENCY: &str = "concurrency";
pub const POSITIONAL: &str = "positional";
pub const NAMED: &str = "named";
pub const RAW_PARAMS: &str = "raw_params";
pub const UNORDERED: &str = "unordered";
pub const IDEMPOTENT: &str = "idempotent";
// Streaming method options.
pub const ITEM: &str = "item";
pub const UNSUBSCRIBE: &str = "unsubscribe";
pub const BUFFER: &str = "buffer";
pub const OVERFLOW: &str = "overflow";

// Parameter options.
pub const RENAME: &str = "rename";

/// Options accepted on the trait.
pub const TRAIT_OPTIONS: &[&str] = &[
    NAMESPACE, SEPARATOR, POSITIONAL, NAMED, STRICT, LENIENT, TITLE, VERSION,
];

/// Options accepted on a method.
pub const METHOD_OPTIONS: &[&str] = &[
    NAME,
    ALIASES,
    NOTIFICATION,
    BLOCKING,
    POOL,
    TIMEOUT,
    CONCURRENCY,
    POSITIONAL,
    NAMED,
    RAW_PARAMS,
    UNORDERED,
    IDEMPOTENT,
    STRICT,
    LENIENT,
    ITEM,
    UNSUBSCRIBE,
    BUFFER,
    OVERFLOW,
];

/// Options accepted on a parameter.
pub const PARAM_OPTIONS: &[&str] = &[RENAME];

/// Wire names with this prefix belong to the protocol (JSON-RPC 2.0, section 4).
pub const RESERVED_PREFIX: &str = "rpc.";

/// Inherent methods of the generated client; a service method of the same name
/// would shadow them.
pub const CLIENT_METHODS: &[&str] = &["new", "inner", "batch", "with_timeout"];

// `#[derive(IntoRpcError)]` options.
pub const CODE: &str = "code";
pub const MESSAGE: &str = "message";
pub const DATA: &str = "data";

/// Options accepted on an error type or one of its variants.
pub const ERROR_OPTIONS: &[&str] = &[CODE, MESSAGE];

/// Options accepted on a field of an error type.
pub const ERROR_FIELD_OPTIONS: &[&str] = &[DATA];
