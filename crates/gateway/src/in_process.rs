//! Providers answered inside this process instead of over HTTP: the local runtime (every
//! provider of kind `local`), or a test's fake (see [`crate::Gateway::answer_in_process`]).
//!
//! The pipeline treats them like any provider — the body they get is already rewritten or
//! translated into the provider's dialect, and what they return goes through the same checks,
//! translation back, retries, fallbacks, cache and record as an HTTP answer.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Response;
use switchyard_providers::UpstreamBody;

use crate::api::ClientApi;
use crate::GatewayError;

/// One call to an in-process provider.
pub struct InProcessCall<'a> {
    /// The API the client called (the provider API serving it is `api.endpoint()`).
    pub api: ClientApi,
    /// The model as the provider knows it.
    pub model: &'a str,
    /// The body in the provider's dialect.
    pub body: &'a Bytes,
    /// Whether the client asked for a stream.
    pub stream: bool,
}

/// A provider that answers in this process.
pub trait InProcess: Send + Sync {
    /// The answer as an HTTP response would carry it: status, `content-type`, and the body (JSON,
    /// or an event stream in the provider's dialect).
    fn call<'a>(
        &'a self,
        call: InProcessCall<'a>,
    ) -> BoxFuture<'a, Result<Response<UpstreamBody>, GatewayError>>;
}

/// The in-process providers, by provider name (a handful at most: a linear scan).
#[derive(Default)]
pub(crate) struct InProcessProviders(Vec<(String, Arc<dyn InProcess>)>);

impl InProcessProviders {
    /// `provider` is answered by `handler` from now on (replacing an earlier one).
    pub(crate) fn insert(&mut self, provider: &str, handler: Arc<dyn InProcess>) {
        self.0.retain(|(name, _)| name != provider);
        self.0.push((provider.to_owned(), handler));
    }

    pub(crate) fn get(&self, provider: &str) -> Option<&dyn InProcess> {
        self.0
            .iter()
            .find(|(name, _)| name == provider)
            .map(|(_, h)| h.as_ref())
    }
}
