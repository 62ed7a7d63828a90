//! What providers without a declared `models` list actually serve, asked from the providers
//! themselves: OpenAI-compatible `GET /models`, Anthropic `GET /v1/models` (paged by `after_id`),
//! Gemini `GET /v1beta/models` (paged by `pageToken`). Azure's models are its configured
//! deployments. Lists are kept for [`FRESH`]; a provider whose list cannot be had (down, no such
//! endpoint, an answer that is not a model list) lists nothing and is asked again after
//! [`RETRY`], with a warning in the log — it never fails the listing or a request.
//!
//! Nothing is fetched at start-up: `GET /v1/models` refreshes stale lists, and so does a request
//! whose bare model name nothing else resolves.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;
use switchyard_providers::{Provider, ProviderKind};

/// How long a fetched list is used before it is asked for again.
pub const FRESH: Duration = Duration::from_secs(300);
/// How long after a failed fetch the provider is asked again.
pub const RETRY: Duration = Duration::from_secs(60);
/// The longest one provider's list may take (every page).
const FETCH_LIMIT: Duration = Duration::from_secs(10);
/// Pages followed at most (Anthropic and Gemini page their lists).
const MAX_PAGES: usize = 20;
/// The largest model-list answer read.
const MAX_BODY: usize = 8 << 20;

/// One provider's fetched list.
struct Listing {
    at: Instant,
    ok: bool,
    models: Vec<String>,
}

/// One provider's place in the catalog.
enum Slot {
    /// The provider declares its models, or has no list to ask for.
    NotAsked,
    Due,
    Fetched(Listing),
}

impl Slot {
    fn is_due(&self) -> bool {
        match self {
            Slot::NotAsked => false,
            Slot::Due => true,
            Slot::Fetched(l) => l.at.elapsed() >= if l.ok { FRESH } else { RETRY },
        }
    }
}

/// Upstream model lists, one slot per provider (index as in the router).
pub(crate) struct Catalog {
    slots: RwLock<Vec<Slot>>,
    /// Model name → providers listing it, in config order.
    index: RwLock<HashMap<String, Vec<usize>>>,
    /// One refresh at a time; a second caller waits for it and finds the lists fresh.
    refreshing: tokio::sync::Mutex<()>,
}

/// Whether `provider`'s models are asked from it.
fn asks_upstream(provider: &Provider) -> bool {
    let spec = provider.spec();
    spec.models.is_empty() && list_path(spec.kind).is_some()
}

/// Where a kind lists its models, relative to `base_url`.
fn list_path(kind: ProviderKind) -> Option<&'static str> {
    match kind {
        ProviderKind::Azure
        | ProviderKind::Bedrock
        | ProviderKind::Vertex
        | ProviderKind::Cohere
        | ProviderKind::WorkersAi
        | ProviderKind::WorkersAiRun
        | ProviderKind::Local => None,
        _ => Some("models"),
    }
}

impl Catalog {
    pub(crate) fn new(providers: &[Provider]) -> Self {
        let slots = providers
            .iter()
            .map(|p| {
                if asks_upstream(p) {
                    Slot::Due
                } else {
                    Slot::NotAsked
                }
            })
            .collect();
        Catalog {
            slots: RwLock::new(slots),
            index: RwLock::new(HashMap::new()),
            refreshing: tokio::sync::Mutex::new(()),
        }
    }

    /// The providers whose upstream list has `model`, in config order.
    pub(crate) fn providers_listing(&self, model: &str) -> Vec<usize> {
        self.index
            .read()
            .ok()
            .and_then(|i| i.get(model).cloned())
            .unwrap_or_default()
    }

    /// Provider `i`'s listed models (empty when it declares its own or has none).
    pub(crate) fn listed(&self, i: usize) -> Vec<String> {
        self.slots
            .read()
            .ok()
            .and_then(|s| match s.get(i)? {
                Slot::Fetched(l) => Some(l.models.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Whether provider `i`'s own list has `model`; `None` when it has no list that worked.
    pub(crate) fn lists(&self, i: usize, model: &str) -> Option<bool> {
        let slots = self.slots.read().ok()?;
        match slots.get(i)? {
            Slot::Fetched(l) if l.ok => Some(l.models.iter().any(|m| m == model)),
            _ => None,
        }
    }

    /// Whether some list was never fetched or is due again.
    pub(crate) fn is_stale(&self) -> bool {
        self.slots
            .read()
            .map(|s| s.iter().any(Slot::is_due))
            .unwrap_or(false)
    }

    /// Fetches every list that is due, all providers at once.
    pub(crate) async fn refresh(&self, providers: &[Provider]) {
        let _one = self.refreshing.lock().await;
        let due_now: Vec<usize> = match self.slots.read() {
            Ok(s) => (0..s.len()).filter(|&i| s[i].is_due()).collect(),
            Err(_) => return,
        };
        if due_now.is_empty() {
            return;
        }
        let fetched = futures_util::future::join_all(due_now.iter().map(|&i| async move {
            let p = &providers[i];
            let result = match tokio::time::timeout(FETCH_LIMIT, fetch(p)).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer within {} s", FETCH_LIMIT.as_secs())),
            };
            (i, result)
        }))
        .await;
        let Ok(mut slots) = self.slots.write() else {
            return;
        };
        for (i, result) in fetched {
            let listing = match result {
                Ok(models) => Listing {
                    at: Instant::now(),
                    ok: true,
                    models,
                },
                Err(e) => {
                    tracing::warn!(
                        provider = providers[i].name(),
                        "cannot list the provider's models ({e}); /v1/models leaves them out and bare names do not resolve to them"
                    );
                    // a list that worked before is kept until the provider answers again
                    let kept = match std::mem::replace(&mut slots[i], Slot::Due) {
                        Slot::Fetched(l) if l.ok => l.models,
                        _ => Vec::new(),
                    };
                    Listing {
                        at: Instant::now(),
                        ok: false,
                        models: kept,
                    }
                }
            };
            slots[i] = Slot::Fetched(listing);
        }
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, slot) in slots.iter().enumerate() {
            if let Slot::Fetched(listing) = slot {
                for m in &listing.models {
                    index.entry(m.clone()).or_default().push(i);
                }
            }
        }
        if let Ok(mut shared) = self.index.write() {
            *shared = index;
        }
    }
}

/// One provider's whole list, every page.
async fn fetch(provider: &Provider) -> Result<Vec<String>, String> {
    let kind = provider.spec().kind;
    let path = list_path(kind).ok_or("no model list")?;
    let mut models = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let query = page_query(kind, cursor.as_deref());
        let request = provider
            .passthrough(
                Method::GET,
                path,
                query.as_deref(),
                &HeaderMap::new(),
                Bytes::new(),
            )
            .map_err(|e| e.to_string())?;
        let response = provider.send(&request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let body = provider
            .read_body(response.into_body(), MAX_BODY)
            .await
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(format!("GET {path}: HTTP {status}: {text}"));
        }
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| format!("GET {path}: the answer is not JSON ({e})"))?;
        let page = parse_page(kind, &json)
            .ok_or_else(|| format!("GET {path}: the answer is not a model list"))?;
        models.extend(page.models);
        match page.next {
            Some(next) if !next.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    models.dedup();
    Ok(models)
}

fn page_query(kind: ProviderKind, cursor: Option<&str>) -> Option<String> {
    match (kind, cursor) {
        (ProviderKind::Anthropic, None) => Some("limit=1000".to_owned()),
        (ProviderKind::Anthropic, Some(c)) => Some(format!("limit=1000&after_id={c}")),
        (ProviderKind::Gemini, None) => Some("pageSize=1000".to_owned()),
        (ProviderKind::Gemini, Some(c)) => Some(format!("pageSize=1000&pageToken={c}")),
        _ => None,
    }
}

/// One page of a model list.
#[derive(Debug, PartialEq)]
pub(crate) struct Page {
    pub models: Vec<String>,
    /// The cursor of the next page.
    pub next: Option<String>,
}

/// Reads a model-list answer in `kind`'s shape; `None` when it is not one.
pub(crate) fn parse_page(kind: ProviderKind, json: &Value) -> Option<Page> {
    let ids = |items: &Vec<Value>, field: &str, strip: &str| -> Vec<String> {
        items
            .iter()
            .filter_map(|m| m.get(field)?.as_str())
            .map(|id| id.strip_prefix(strip).unwrap_or(id).to_owned())
            .filter(|id| !id.is_empty())
            .collect()
    };
    match kind {
        ProviderKind::Anthropic => {
            let data = json.get("data")?.as_array()?;
            let more = json.get("has_more").and_then(Value::as_bool) == Some(true);
            let last = json
                .get("last_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some(Page {
                models: ids(data, "id", ""),
                next: last.filter(|_| more),
            })
        }
        ProviderKind::Gemini => {
            // an account with no models answers `{}`
            let empty = Vec::new();
            let models = match json.get("models") {
                Some(m) => m.as_array()?,
                None if json.is_object() => &empty,
                None => return None,
            };
            Some(Page {
                models: ids(models, "name", "models/"),
                next: json
                    .get("nextPageToken")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            })
        }
        // OpenAI's `{"object": "list", "data": [...]}`; Together answers a bare array
        _ => {
            let data = match json {
                Value::Array(items) => items,
                _ => json.get("data")?.as_array()?,
            };
            Some(Page {
                models: ids(data, "id", ""),
                next: None,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn model_lists_in_each_shape() {
        let openai = json!({"object": "list", "data": [
            {"id": "gpt-4o", "object": "model", "created": 1, "owned_by": "system"},
            {"id": "text-embedding-3-small", "object": "model"}]});
        assert_eq!(
            parse_page(ProviderKind::OpenAi, &openai).unwrap().models,
            ["gpt-4o", "text-embedding-3-small"]
        );
        let together = json!([{"id": "meta-llama/Llama-3-8b", "object": "model"}]);
        assert_eq!(
            parse_page(ProviderKind::Together, &together)
                .unwrap()
                .models,
            ["meta-llama/Llama-3-8b"]
        );
        let anthropic = json!({"data": [{"type": "model", "id": "claude-sonnet-4-5",
            "display_name": "Claude Sonnet 4.5", "created_at": "2025-09-29T00:00:00Z"}],
            "has_more": true, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"});
        assert_eq!(
            parse_page(ProviderKind::Anthropic, &anthropic).unwrap(),
            Page {
                models: vec!["claude-sonnet-4-5".into()],
                next: Some("claude-sonnet-4-5".into())
            }
        );
        let gemini = json!({"models": [{"name": "models/gemini-2.5-flash",
            "supportedGenerationMethods": ["generateContent"]}], "nextPageToken": "p2"});
        assert_eq!(
            parse_page(ProviderKind::Gemini, &gemini).unwrap(),
            Page {
                models: vec!["gemini-2.5-flash".into()],
                next: Some("p2".into())
            }
        );
        // a 2xx that is not a model list
        assert!(parse_page(ProviderKind::OpenAi, &json!({"error": "nope"})).is_none());
        assert!(parse_page(ProviderKind::Anthropic, &json!("text")).is_none());
    }
}
