//! Dynamic routes (`model = "dynamic/NAME"`): each request walks its route's node graph —
//! conditions on metadata or headers, percentage splits (by the request id's random bits),
//! rate-limit and budget gates (on the limiter's counters, so they hold across replicas with
//! Redis) — to a model node, which brings its own timeout, attempts and fallback edge.

use http::HeaderMap;
use serde_json::{Map, Value};
use switchyard_config::routes::{Node, Route, Subject, Test};

use crate::control::limits::BudgetHold;
use crate::control::limits::Limiter;
use crate::{GatewayError, RequestContext};

/// What the walk may look at.
pub struct WalkInput<'a> {
    pub metadata: Option<&'a Map<String, Value>>,
    pub headers: &'a HeaderMap,
}

/// Where a walk ended: a model node of a route, and the budget gates it passed (settled with
/// the call's real cost).
pub struct Walked {
    pub route: usize,
    pub node: usize,
    pub holds: Vec<BudgetHold>,
}

/// Routes as configured, with their `dynamic/NAME` spelling.
pub struct DynamicRoutes {
    pub routes: Vec<Route>,
    pub names: Vec<String>,
}

impl DynamicRoutes {
    pub fn new(routes: &[Route]) -> Self {
        DynamicRoutes {
            names: routes
                .iter()
                .map(|r| format!("dynamic/{}", r.name))
                .collect(),
            routes: routes.to_vec(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    pub fn find(&self, requested: &str) -> Option<usize> {
        self.names.iter().position(|n| n == requested)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

/// The model named in a body, read without building the rest.
pub fn peek_model(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Peek {
        model: Option<String>,
    }
    serde_json::from_slice::<Peek>(body).ok()?.model
}

impl DynamicRoutes {
    /// From node `from` of route `route` to a model node; rate-limit and budget nodes take from
    /// `limiter`.
    pub(crate) async fn walk(
        &self,
        limiter: &Limiter,
        ctx: &RequestContext,
        route: usize,
        from: usize,
        input: &WalkInput<'_>,
    ) -> Result<Walked, GatewayError> {
        let r = &self.routes[route];
        let mut holds = Vec::new();
        let mut at = from;
        // the config check rules out cycles; the bound is a second guard
        for _ in 0..=r.nodes.len() {
            at = match &r.nodes[at] {
                Node::Model { .. } => {
                    return Ok(Walked {
                        route,
                        node: at,
                        holds,
                    })
                }
                Node::Condition {
                    subject,
                    test,
                    value,
                    then,
                    otherwise,
                } => {
                    let seen = match subject {
                        Subject::Metadata(k) => {
                            input.metadata.and_then(|m| m.get(k)).and_then(text)
                        }
                        Subject::Header(h) => input
                            .headers
                            .get(h.as_str())
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned),
                    };
                    let equal = seen.as_deref() == Some(value.as_str());
                    if equal == (*test == Test::Eq) {
                        *then
                    } else {
                        *otherwise
                    }
                }
                Node::Split(bounds) => {
                    let roll = (ctx.id.as_u128() as u64 % 100) as u32;
                    bounds
                        .iter()
                        .find(|(upto, _)| roll < *upto)
                        .map_or(bounds[bounds.len() - 1].1, |(_, n)| *n)
                }
                Node::RateLimit {
                    limit,
                    field,
                    next,
                    otherwise,
                } => {
                    let who = match field {
                        Some(f) => input.metadata.and_then(|m| m.get(f)).and_then(text),
                        None => None,
                    };
                    let name = format!("dyn:{}:{}:{}", r.name, r.ids[at], who.unwrap_or_default());
                    if limiter.take(&name, limit).await {
                        *next
                    } else {
                        otherwise.ok_or_else(|| {
                            GatewayError::rate_limited(format!(
                                "route `{}`: the rate limit at node `{}` is reached",
                                r.name, r.ids[at]
                            ))
                        })?
                    }
                }
                Node::Budget {
                    budget,
                    next,
                    otherwise,
                } => {
                    let name = format!("dyn:{}:{}", r.name, r.ids[at]);
                    match limiter.hold(&name, budget).await {
                        Some(hold) => {
                            holds.push(hold);
                            *next
                        }
                        None => otherwise.ok_or_else(|| {
                            GatewayError::rate_limited(format!(
                                "route `{}`: the budget at node `{}` is spent",
                                r.name, r.ids[at]
                            ))
                        })?,
                    }
                }
            };
        }
        Err(GatewayError::internal(format!(
            "route `{}` did not reach a model",
            r.name
        )))
    }
}
