//! A successful answer, and what the edge reports about it (which step served it, what the cache
//! did, what it took from the limits).

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue};
use http::Response;

use crate::answer::TokenUsage;
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

/// A successful answer: the response, and who answered it and how (what the record step needs).
pub struct Reply {
    pub response: Response<ReplyBody>,
    pub served: ServedNote,
    /// Budget gates of a dynamic route passed on a fallback walk: settled with the ticket.
    pub(crate) gate_holds: Vec<BudgetHold>,
}

/// Who answered a request and how: handed to the request's context by the edge, read by the
/// access log, `server-timing` and the record step.
#[derive(Debug, Clone)]
pub struct ServedNote {
    pub provider: String,
    /// The provider's kind (for prices).
    pub provider_kind: &'static str,
    /// The model as the provider knows it.
    pub model: String,
    /// The model as the client named it.
    pub requested_model: Option<String>,
    pub stream: bool,
    /// From sending the upstream request to its response headers.
    pub upstream_latency: Duration,
    /// What the cache did, when it took part.
    pub cache: Option<CacheStatus>,
    /// On a cache hit: the tokens the stored answer used, i.e. what the hit saved (priced by the
    /// cost step).
    pub saved_usage: Option<TokenUsage>,
    /// Usage taken out of the client's stream (see `usage`).
    pub usage_slot: Option<UsageSlot>,
    /// Why the relayed stream was ended with an error event, once it was.
    pub stream_fault: Option<crate::relay::FaultSlot>,
    /// Which step answered: 0 = the model asked for, 1.. = its fallbacks.
    pub step: u32,
    /// What the request took from rate limits and budgets, settled by the record step.
    pub ticket: Option<Arc<Ticket>>,
    /// Where `model = "auto"` sent it, and why.
    pub routing: Option<Routed>,
    /// A semantic-cache hit: how similar the stored answer's prompt was.
    pub similarity: Option<f32>,
}

impl ServedNote {
    /// `provider` (of `provider_kind`) serving `model`; everything else empty (no cache, step
    /// 0, no ticket) for the caller to set.
    pub fn new(provider: String, model: String, provider_kind: &'static str) -> Self {
        ServedNote {
            provider,
            provider_kind,
            model,
            requested_model: None,
            stream: false,
            upstream_latency: Duration::ZERO,
            cache: None,
            saved_usage: None,
            usage_slot: None,
            stream_fault: None,
            step: 0,
            ticket: None,
            routing: None,
            similarity: None,
        }
    }
}

static STEP: HeaderName = HeaderName::from_static("cf-aig-step");
static SERVED_MODEL: HeaderName = HeaderName::from_static("cf-aig-model");
static SERVED_PROVIDER: HeaderName = HeaderName::from_static("cf-aig-provider");
static ROUTED_MODEL: HeaderName = HeaderName::from_static("cf-aig-routed-model");
static ROUTING_REASON: HeaderName = HeaderName::from_static("cf-aig-routing-reason");

impl Reply {
    pub fn new(response: Response<ReplyBody>, served: ServedNote) -> Self {
        Reply {
            response,
            served,
            gate_holds: Vec::new(),
        }
    }

    /// Which step answered, in the reply and its `cf-aig-step` header; a fallback (or any
    /// answer when `named`, as for dynamic routes) also names what served it
    /// (`cf-aig-provider`, `cf-aig-model`).
    pub fn set_step(&mut self, step: u32, named: bool) {
        self.served.step = step;
        let headers = self.response.headers_mut();
        headers.insert(STEP.clone(), HeaderValue::from(step));
        if step > 0 || named {
            if let Ok(v) = HeaderValue::from_str(&self.served.provider) {
                headers.insert(SERVED_PROVIDER.clone(), v);
            }
            if let Ok(v) = HeaderValue::from_str(&self.served.model) {
                if !self.served.model.is_empty() {
                    headers.insert(SERVED_MODEL.clone(), v);
                }
            }
        }
    }

    /// Records what the cache did, in the reply and its `cf-aig-cache-status` header.
    pub fn mark_cache(&mut self, status: CacheStatus) {
        self.served.cache = Some(status);
        status.write_headers(self.response.headers_mut());
    }

    /// Says where `auto` sent the request; a local tier that failed over says so too.
    pub fn set_routing(&mut self, mut routed: Routed) {
        if routed.local && self.served.step > 0 {
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
        self.served.routing = Some(routed);
    }
}
