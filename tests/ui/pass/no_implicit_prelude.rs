//! The expansion names everything by absolute path: it compiles without the prelude.
#![no_implicit_prelude]
#![deny(warnings, unused_qualifications)]

mod service {
    /// A service declared where nothing is in scope.
    #[::rpc::rpc_service(namespace = "np")]
    pub trait Calculator {
        /// Adds.
        async fn add(&self, a: i64, b: i64) -> i64;
        /// Borrows.
        async fn echo(&self, text: &str, shout: ::std::option::Option<bool>) -> ::std::string::String;
        /// Fails.
        async fn fail(&self) -> ::std::result::Result<(), ::rpc::RpcError>;
        /// Raw.
        #[rpc(raw_params, positional)]
        async fn sum(&self, numbers: ::std::vec::Vec<f64>) -> f64;
        /// Blocking notification.
        #[rpc(blocking, notification)]
        fn log(&self, line: ::std::borrow::Cow<'_, str>);
        /// Nothing.
        async fn ping(&self);
    }
}

fn main() {}
