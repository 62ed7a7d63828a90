//! A successful answer, and what the edge reports about it (which step served it, what the cache
//! did, what it took from the limits).

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Response;

use crate::answer::TokenUsage;
use crate::api::ClientApi;
use crate::cache::status::CacheStatus;
use crate::control::limits::BudgetHold;
use crate::control::Ticket;
use crate::usage::UsageSlot;
use crate::ReplyBody;

/// Where `auto` went and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The tier's model as configured (`[router] local` or the first `frontier`).
    pub model: String,
    pub reason: String,
    pub local: bool,
    /// The hybrid route: `auto` or `dynamic/NAME` (per-route savings group by it).
    pub route: String,
}

/// A successful answer, plus what the edge reports about it.
pub struct Reply {
    pub response: Response<ReplyBody>,
    pub provider: String,
    pub upstream_model: String,
    /// From sending the upstream request to its response headers.
    pub upstream_latency: Duration,
    pub stream: bool,
    /// What the cache did, when it took part.
    pub cache: Option<CacheStatus>,
    /// On a cache hit: the tokens the stored answer used, i.e. what the hit saved (priced by the
    /// cost step).
    pub saved_usage: Option<TokenUsage>,
    /// What the log record needs: the client API (None for native passthrough), the provider's
    /// kind (for prices) and the model as the client named it.
    pub api: Option<ClientApi>,
    pub provider_kind: &'static str,
    pub requested_model: Option<String>,
    /// Usage taken out of the client's stream (see [`crate::usage`]).
    pub usage_slot: Option<UsageSlot>,
    /// Which step answered: 0 = the model asked for, 1.. = its fallbacks.
    pub step: u32,
    /// What the request took from rate limits and budgets, settled by the record step.
    pub ticket: Option<Arc<Ticket>>,
    /// Budget gates of a dynamic route passed on a fallback walk: settled with the ticket.
    pub(crate) gate_holds: Vec<BudgetHold>,
    /// Where `model = "auto"` sent it, and why.
    pub routing: Option<Routed>,
    /// A semantic-cache hit: how similar the stored answer's prompt was.
    pub similarity: Option<f32>,
}

static STEP: HeaderName = HeaderName::from_static("cf-aig-step");
static SERVED_MODEL: HeaderName = HeaderName::from_static("cf-aig-model");
static SERVED_PROVIDER: HeaderName = HeaderName::from_static("cf-aig-provider");
static ROUTED_MODEL: HeaderName = HeaderName::from_static("cf-aig-routed-model");
static ROUTING_REASON: HeaderName = HeaderName::from_static("cf-aig-routing-reason");

impl Reply {
    /// `response` from `provider` (of `provider_kind`) serving `upstream_model`; everything else
    /// empty (no cache, step 0, no ticket) for the caller to set.
    pub fn new(
        response: Response<ReplyBody>,
        provider: String,
        upstream_model: String,
        provider_kind: &'static str,
    ) -> Self {
        Reply {
            response,
            provider,
            upstream_model,
            upstream_latency: Duration::ZERO,
            stream: false,
            cache: None,
            saved_usage: None,
            api: None,
            provider_kind,
            requested_model: None,
            usage_slot: None,
            step: 0,
            ticket: None,
            gate_holds: Vec::new(),
            routing: None,
            similarity: None,
        }
    }

    /// Which step answered, in the reply and its `cf-aig-step` header; a fallback (or any
    /// answer when `named`, as for dynamic routes) also names what served it
    /// (`cf-aig-provider`, `cf-aig-model`).
    pub fn set_step(&mut self, step: u32, named: bool) {
        self.step = step;
        let headers = self.response.headers_mut();
        headers.insert(STEP.clone(), HeaderValue::from(step));
        if step > 0 || named {
            if let Ok(v) = HeaderValue::from_str(&self.provider) {
                headers.insert(SERVED_PROVIDER.clone(), v);
            }
            if let Ok(v) = HeaderValue::from_str(&self.upstream_model) {
                if !self.upstream_model.is_empty() {
                    headers.insert(SERVED_MODEL.clone(), v);
                }
            }
        }
    }

    /// Records what the cache did, in the reply and its `cf-aig-cache-status` header.
    pub fn mark_cache(&mut self, status: CacheStatus) {
        self.cache = Some(status);
        status.write_headers(self.response.headers_mut());
    }
}

impl Reply {
    /// Says where `auto` sent the request; a local tier that failed over says so too.
    pub fn set_routing(&mut self, mut routed: Routed) {
        if routed.local && self.step > 0 {
            routed.reason = format!(
                "{}; the local tier failed, escalated to the frontier",
                routed.reason
            );
        }
        let headers = self.response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&routed.model) {
            headers.insert(ROUTED_MODEL.clone(), v);
        }
        if let Ok(v) = HeaderValue::from_str(&routed.reason) {
            headers.insert(ROUTING_REASON.clone(), v);
        }
        self.routing = Some(routed);
    }
}
