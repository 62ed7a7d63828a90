//! [`PreparedCall`]: a request checked, routed and rewritten for its provider — what the cache
//! keys and the attempt loop sends.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchyard_providers::Provider;

use crate::api::ClientApi;
use crate::translate::Translation;

/// A request checked, routed and rewritten, ready to send. Owns everything it needs, so the body
/// views used to build it are gone before the first `.await`.
pub struct PreparedCall {
    pub(crate) api: ClientApi,
    pub(crate) provider: Provider,
    pub(crate) upstream_model: String,
    pub(crate) body: Bytes,
    pub(crate) stream: bool,
    /// Set when the provider speaks another dialect than the client.
    pub(crate) translation: Option<Translation>,
    /// The alias's cache TTL, if it sets one.
    pub(crate) cache_ttl: Option<Duration>,
    /// The model as the client named it.
    pub(crate) requested: String,
    /// Usage was requested upstream on the client's behalf: strip it from the client's stream.
    pub(crate) strip_usage: bool,
    /// A balanced alias's pick (its outcome feeds the balancer and the circuit breaker).
    pub(crate) slot: Option<crate::router::Slot>,
    /// A dynamic route's model node: (route, node).
    pub(crate) node: Option<(usize, usize)>,
    /// The binding's semantic cache, if it has one.
    pub(crate) semantic: Option<Arc<switchyard_config::semantic::SemanticCacheConfig>>,
    /// The provider was inferred from a bare model name: the answer names it.
    pub(crate) inferred: bool,
}

impl PreparedCall {
    /// The body that will be sent upstream.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    pub fn api(&self) -> ClientApi {
        self.api
    }

    pub fn upstream_model(&self) -> &str {
        &self.upstream_model
    }

    /// Whether the client asked for a stream.
    /// The provider API it goes to: the Responses API natively when nothing is translated
    /// (`responses_api = "native"`), else the API serving the client's.
    pub(crate) fn endpoint(&self) -> switchyard_providers::Endpoint {
        match (self.api, &self.translation) {
            (ClientApi::Responses, None) => switchyard_providers::Endpoint::Responses,
            (api, _) => api.endpoint(),
        }
    }

    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// The model as the client named it.
    pub fn requested(&self) -> &str {
        &self.requested
    }

    pub fn cache_ttl(&self) -> Option<Duration> {
        self.cache_ttl
    }

    pub fn semantic(&self) -> Option<&switchyard_config::semantic::SemanticCacheConfig> {
        self.semantic.as_deref()
    }
}

impl PreparedCall {
    /// A call on `route`, its body still to be set.
    pub(crate) fn on(api: ClientApi, route: &crate::router::Route<'_>, stream: bool) -> Self {
        PreparedCall {
            api,
            provider: route.provider.clone(),
            upstream_model: route.upstream_model.to_owned(),
            body: Bytes::new(),
            stream,
            translation: None,
            cache_ttl: route.cache_ttl,
            requested: route.requested.to_owned(),
            strip_usage: false,
            slot: route.slot.clone(),
            node: None,
            semantic: route.semantic.clone(),
            inferred: route.inferred,
        }
    }
}
