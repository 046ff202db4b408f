//! The derive names everything by absolute path: it compiles without the prelude.
#![no_implicit_prelude]
#![deny(warnings, unused_qualifications)]

mod errors {
    #[derive(::rpc::IntoRpcError)]
    #[rpc(code = 1)]
    pub enum E {
        A(#[rpc(data)] u8),
        #[rpc(message = "b")]
        B,
    }

    impl ::core::fmt::Display for E {
        fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
            f.write_str("e")
        }
    }
}

fn main() {
    let err: ::rpc::RpcError = ::core::convert::From::from(errors::E::A(1));
    ::core::assert_eq!(err.code, ::rpc::ErrorCode(1));
    let _ = ::core::convert::Into::<::rpc::RpcError>::into(errors::E::B);
}
