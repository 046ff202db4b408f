//! [`Client`] as a `tower::Service` of calls, reporting its load, so that tower's
//! middleware and balancers (`tower::balance::p2c::Balance` over a set of clients)
//! work over it.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::Serialize;
use serde_json::value::RawValue;

use super::{CallOptions, Client};
use crate::error::Error;
use crate::peer::RawResponse;

/// One call, as a `tower::Service` request to a [`Client`]: the method, its params
/// already encoded, and how to make it.
#[derive(Debug, Clone)]
pub struct CallRequest {
    /// The method to call.
    pub method: Cow<'static, str>,
    /// Its params, as JSON text (`None`: no params member).
    pub params: Option<Box<RawValue>>,
    /// The deadline, and whether it may be sent again.
    pub options: CallOptions,
}

impl CallRequest {
    /// A call of `method` with `params` (encoded now).
    ///
    /// # Errors
    ///
    /// [`Error::Encode`] when the params fail to encode.
    pub fn new<P: Serialize + ?Sized>(
        method: impl Into<Cow<'static, str>>,
        params: &P,
    ) -> Result<Self, Error> {
        let params = serde_json::value::to_raw_value(params)
            .map_err(|e| Error::Encode(crate::message::EncodeError::from(e)))?;
        Ok(CallRequest {
            method: method.into(),
            params: Some(params),
            options: CallOptions::new(),
        })
    }

    /// With these options.
    #[must_use]
    pub fn options(mut self, options: CallOptions) -> Self {
        self.options = options;
        self
    }
}

/// Calls as a service: ready while the client is open (a closed one fails
/// readiness, so balancers drop it), each call answered with its raw response.
impl tower::Service<CallRequest> for Client {
    type Response = RawResponse;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<RawResponse, Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(if self.is_closed() {
            Err(Error::NotSent {
                reason: "the client is closed".into(),
            })
        } else {
            Ok(())
        })
    }

    fn call(&mut self, request: CallRequest) -> Self::Future {
        let client = self.clone();
        Box::pin(async move {
            client
                .call_raw_with(&request.method, request.params.as_deref(), request.options)
                .await
        })
    }
}

/// The load tower's balancers compare: calls waiting for responses.
impl tower::load::Load for Client {
    type Metric = usize;

    fn load(&self) -> usize {
        self.pending_calls()
    }
}
