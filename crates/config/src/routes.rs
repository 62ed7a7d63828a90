//! `[[routes]]`: dynamic routes, addressed as `model = "dynamic/NAME"` — a small graph of nodes
//! walked per request: conditions on metadata or headers, percentage splits, rate-limit and
//! budget gates, and model nodes (each with its own timeout, attempts and fallback edge).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_providers::ProviderSpec;

use crate::limits::{Budget, RateLimit};
use crate::{ConfigError, ModelRef, Source};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    pub name: String,
    /// The first node (default: the first listed).
    pub start: Option<String>,
    pub nodes: Vec<RawNode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub id: String,
    /// `condition` | `split` | `rate_limit` | `budget` | `model`.
    #[serde(rename = "type")]
    pub kind: String,
    /// condition: `metadata.plan == "free"`, `header.x-tier != "gold"`.
    pub when: Option<String>,
    pub then: Option<String>,
    #[serde(rename = "else")]
    pub otherwise: Option<String>,
    /// split: `{ "a" = 80, "b" = 20 }` (node → percent, summing to 100).
    pub split: Option<BTreeMap<String, u32>>,
    /// rate_limit: `100/min` for each user (`field`, default `user`), or for the route if no
    /// metadata entry is named.
    pub limit: Option<String>,
    pub field: Option<String>,
    /// budget: USD per period for the route, e.g. `50/day`.
    pub budget: Option<String>,
    /// gates and models: where to go next (gates: on pass).
    pub next: Option<String>,
    /// model: `provider/model`.
    pub model: Option<String>,
    pub timeout_ms: Option<u64>,
    pub max_attempts: Option<u32>,
    /// model: the node to try when this one fails or times out.
    pub fallback: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Test {
    Eq,
    Ne,
}

/// Where a condition looks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Subject {
    Metadata(String),
    Header(String),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Node {
    Condition {
        subject: Subject,
        test: Test,
        value: String,
        then: usize,
        otherwise: usize,
    },
    /// Cumulative percent bounds and their nodes.
    Split(Vec<(u32, usize)>),
    RateLimit {
        limit: RateLimit,
        field: Option<String>,
        next: usize,
        otherwise: Option<usize>,
    },
    Budget {
        budget: Budget,
        next: usize,
        otherwise: Option<usize>,
    },
    Model {
        target: ModelRef,
        timeout: Option<Duration>,
        max_attempts: Option<u32>,
        fallback: Option<usize>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    pub name: String,
    pub start: usize,
    /// Node ids, by index.
    pub ids: Vec<String>,
    pub nodes: Vec<Node>,
}

fn condition(s: &str) -> Option<(Subject, Test, String)> {
    let (lhs, test, rhs) = if let Some((l, r)) = s.split_once("!=") {
        (l, Test::Ne, r)
    } else {
        let (l, r) = s.split_once("==")?;
        (l, Test::Eq, r)
    };
    let lhs = lhs.trim();
    let subject = if let Some(k) = lhs.strip_prefix("metadata.") {
        Subject::Metadata(k.to_owned())
    } else {
        Subject::Header(lhs.strip_prefix("header.")?.to_ascii_lowercase())
    };
    let rhs = rhs.trim();
    let value = rhs
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(rhs);
    Some((subject, test, value.to_owned()))
}

pub(crate) fn routes(
    raw: Vec<RawRoute>,
    src: &Source<'_>,
    providers: &[ProviderSpec],
) -> Result<Vec<Route>, ConfigError> {
    let mut out: Vec<Route> = Vec::new();
    for r in raw {
        let fail = |m: String| src.error(None, format!("route `{}`: {m}", r.name));
        if r.name.is_empty() || out.iter().any(|o| o.name == r.name) {
            return Err(fail("names must be unique and not empty".into()));
        }
        let ids: Vec<String> = r.nodes.iter().map(|n| n.id.clone()).collect();
        let find = |id: &Option<String>, what: &str, node: &str| -> Result<usize, ConfigError> {
            let id = id
                .as_ref()
                .ok_or_else(|| fail(format!("node `{node}` needs `{what}`")))?;
            ids.iter()
                .position(|i| i == id)
                .ok_or_else(|| fail(format!("node `{node}`: `{what}` names no node `{id}`")))
        };
        let mut nodes = Vec::new();
        for n in &r.nodes {
            let node = match n.kind.as_str() {
                "condition" => {
                    let text = n.when.as_deref().unwrap_or_default();
                    let (subject, test, value) = condition(text).ok_or_else(|| {
                        fail(format!("node `{}`: `when` must read like metadata.plan == \"free\" or header.x-tier != \"gold\"", n.id))
                    })?;
                    Node::Condition {
                        subject,
                        test,
                        value,
                        then: find(&n.then, "then", &n.id)?,
                        otherwise: find(&n.otherwise, "else", &n.id)?,
                    }
                }
                "split" => {
                    let split = n.split.as_ref().ok_or_else(|| fail(format!("node `{}` needs `split`", n.id)))?;
                    let mut bounds = Vec::new();
                    let mut total = 0;
                    for (next, percent) in split {
                        total += percent;
                        bounds.push((total, find(&Some(next.clone()), "split", &n.id)?));
                    }
                    if total != 100 {
                        return Err(fail(format!("node `{}`: split percentages add up to {total}, not 100", n.id)));
                    }
                    Node::Split(bounds)
                }
                "rate_limit" => {
                    let spec = n.limit.as_deref().ok_or_else(|| fail(format!("node `{}` needs `limit`", n.id)))?;
                    Node::RateLimit {
                        limit: crate::limits::parse_rate(spec).map_err(fail)?,
                        field: n.field.clone(),
                        next: find(&n.next, "next", &n.id)?,
                        otherwise: n.otherwise.as_ref().map(|_| find(&n.otherwise, "else", &n.id)).transpose()?,
                    }
                }
                "budget" => {
                    let spec = n.budget.as_deref().ok_or_else(|| fail(format!("node `{}` needs `budget`", n.id)))?;
                    Node::Budget {
                        budget: crate::limits::parse_budget(spec).map_err(fail)?,
                        next: find(&n.next, "next", &n.id)?,
                        otherwise: n.otherwise.as_ref().map(|_| find(&n.otherwise, "else", &n.id)).transpose()?,
                    }
                }
                "model" => {
                    let text = n.model.as_deref().ok_or_else(|| fail(format!("node `{}` needs `model`", n.id)))?;
                    let (provider, model) = text
                        .split_once('/')
                        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
                        .ok_or_else(|| fail(format!("node `{}`: model `{text}` is not provider/model", n.id)))?;
                    if !providers.iter().any(|p| p.name == provider) {
                        return Err(fail(format!("node `{}`: no provider `{provider}`", n.id)));
                    }
                    if n.max_attempts.is_some_and(|a| !(1..=crate::control::MAX_ATTEMPTS).contains(&a)) {
                        return Err(fail(format!("node `{}`: max_attempts must be 1 to 5", n.id)));
                    }
                    Node::Model {
                        target: ModelRef {
                            provider: provider.to_owned(),
                            model: model.to_owned(),
                        },
                        timeout: n.timeout_ms.map(Duration::from_millis),
                        max_attempts: n.max_attempts,
                        fallback: n.fallback.as_ref().map(|_| find(&n.fallback, "fallback", &n.id)).transpose()?,
                    }
                }
                other => {
                    return Err(fail(format!(
                        "node `{}`: type must be condition, split, rate_limit, budget or model, not `{other}`",
                        n.id
                    )))
                }
            };
            nodes.push(node);
        }
        if nodes.is_empty() {
            return Err(fail("needs at least one node".into()));
        }
        let start = match &r.start {
            Some(_) => find(&r.start, "start", "(route)")?,
            None => 0,
        };
        // every walk must end at a model: no cycles through conditions, splits and gates
        for (first, id) in ids.iter().enumerate() {
            let mut seen = vec![false; nodes.len()];
            let mut stack = vec![first];
            while let Some(i) = stack.pop() {
                if std::mem::replace(&mut seen[i], true) {
                    if i == first {
                        return Err(fail(format!("node `{id}` is part of a cycle")));
                    }
                    continue;
                }
                match &nodes[i] {
                    Node::Condition {
                        then, otherwise, ..
                    } => stack.extend([*then, *otherwise]),
                    Node::Split(b) => stack.extend(b.iter().map(|(_, n)| *n)),
                    Node::RateLimit {
                        next, otherwise, ..
                    }
                    | Node::Budget {
                        next, otherwise, ..
                    } => {
                        stack.push(*next);
                        stack.extend(*otherwise);
                    }
                    Node::Model { .. } => {}
                }
            }
        }
        out.push(Route {
            name: r.name,
            start,
            ids,
            nodes,
        });
    }
    Ok(out)
}
