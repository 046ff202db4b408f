//! The expansion names everything by absolute path: it compiles without the prelude.
#![no_implicit_prelude]
#![deny(warnings, unused_qualifications)]

mod service {
    /// Named like the generated code's locals: a type that mentions it must still
    /// see this constant.
    #[allow(non_upper_case_globals)]
    pub const params: usize = 2;

    // Constants and unit structs in scope would turn a binding of the same name
    // into a pattern; the generated code's bindings must not meet them.
    #[allow(dead_code, non_upper_case_globals)]
    mod shadows {
        pub const service: u8 = 0;
        pub const call: u8 = 0;
        pub const client: u8 = 0;
        pub const value: u8 = 0;
        pub const key: u8 = 0;
        pub const err: u8 = 0;
        pub const out: u8 = 0;
        pub const name: u8 = 0;
        pub const f: u8 = 0;
        pub const d: u8 = 0;
        pub const s: u8 = 0;
        pub const v: u8 = 0;
        pub const a0: u8 = 0;
        pub const serializer: u8 = 0;
    }
    #[allow(unused_imports)]
    use self::shadows::*;

    /// A service declared where nothing is in scope.
    #[::rpc::rpc_service(namespace = "np")]
    pub trait Calculator {
        /// Adds.
        async fn add(&self, a: i64, b: i64) -> i64;
        /// Borrows.
        async fn echo(
            &self,
            text: &str,
            shout: ::std::option::Option<bool>,
        ) -> ::std::string::String;
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
        /// A type naming a constant that shares its name with a generated local.
        async fn pair(&self, xy: [u8; params]) -> [u8; params];
    }
}

fn main() {}
