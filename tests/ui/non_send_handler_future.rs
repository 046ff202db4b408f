use rpc::rpc_service;

use std::rc::Rc;

#[rpc_service]
pub trait Calculator {
    async fn add(&self, a: i64, b: i64) -> i64;
}

struct Calc;

impl Calculator for Calc {
    async fn add(&self, a: i64, b: i64) -> i64 {
        let shared = Rc::new(a);
        tokio::task::yield_now().await;
        *shared + b
    }
}

fn main() {}
