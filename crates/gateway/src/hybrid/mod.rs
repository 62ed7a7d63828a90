//! Hybrid routing: `model = "auto"` answered by the local tier unless a rule sends the request to
//! the frontier tier; every decision explained (`cf-aig-routed-model`, `cf-aig-routing-reason`,
//! and the same in the request log).
//!
//! - [`rules`]: the request's signals and the rules over them.
//! - [`eval`]: `switchyard router eval`, the cost/quality sweep of a router's score.
//!
//! The decision only rewrites `model` to one of two aliases the config made (`auto:local`,
//! whose fallbacks are the frontier tiers when `overflow` is on — a busy or failing local model
//! escalates instead of answering 429 — and `auto:frontier`); everything after is the ordinary
//! pipeline.

pub mod eval;
pub mod knn;
pub mod rules;

use bytes::Bytes;
use serde_json::Value;
use switchyard_config::router::RouterConfig;

use crate::{ClientApi, GatewayError};

pub use crate::reply::Routed;

pub struct Hybrid {
    pub(crate) config: RouterConfig,
    classifier: Option<knn::Classifier>,
    /// For a classifier over static vectors: the embedder's token table.
    statics: Option<switchyard_runtime::embed::StaticEmbedder>,
    runtime: std::sync::Arc<switchyard_runtime::Runtime>,
}

impl Hybrid {
    /// Loads the classifier, if one is configured (its embedding model must be a local one).
    pub fn new(
        config: RouterConfig,
        runtime: std::sync::Arc<switchyard_runtime::Runtime>,
    ) -> Result<Self, String> {
        let mut statics = None;
        let classifier = match &config.classifier {
            Some(path) => {
                let c = knn::Classifier::load(path)?;
                let settings = runtime.settings(&c.embedder).map_err(|e| {
                    format!(
                        "[router] classifier {}: embedding model: {e}",
                        path.display()
                    )
                })?;
                if c.static_idf.is_some() {
                    statics = Some(
                        switchyard_runtime::embed::StaticEmbedder::load(&settings.path)
                            .map_err(|e| format!("[router] classifier {}: {e}", path.display()))?,
                    );
                }
                Some(c)
            }
            None => None,
        };
        Ok(Hybrid {
            config,
            classifier,
            statics,
            runtime,
        })
    }

    fn frontier(&self, reason: String) -> Routed {
        Routed {
            model: self.config.frontier.first().cloned().unwrap_or_default(),
            reason,
            local: false,
            route: self.config.model.clone(),
        }
    }

    /// The decision for `body` (an OpenAI chat or Anthropic messages body): the rules, then the
    /// complexity score when a classifier is configured.
    pub async fn decide(
        &self,
        body: &Value,
        metadata: Option<&serde_json::Map<String, Value>>,
    ) -> Result<Routed, GatewayError> {
        let signals = rules::Signals::of(body);
        if let Some(reason) = rules::escalation(&self.config, &signals, metadata) {
            return Ok(self.frontier(reason));
        }
        let mut reason = format!(
            "no escalation rule matched ({} prompt tokens)",
            signals.prompt_tokens
        );
        if let Some(c) = &self.classifier {
            let score = self.complexity(c, &signals.text).await?;
            let threshold = self.config.complexity_threshold;
            if score >= threshold {
                return Ok(self.frontier(format!("complexity {score:.2} >= {threshold:.2}")));
            }
            reason = format!("complexity {score:.2} < {threshold:.2}; {reason}");
        }
        Ok(Routed {
            model: self.config.local.clone(),
            reason,
            local: true,
            route: self.config.model.clone(),
        })
    }

    /// The classifier's score for `text`, embedded by its local embedding model (or its static
    /// token vectors: no model call).
    async fn complexity(&self, c: &knn::Classifier, text: &str) -> Result<f64, GatewayError> {
        if let (Some(se), Some(idf)) = (&self.statics, &c.static_idf) {
            return Ok(c.score(&se.embed(&se.token_ids(text), |t| idf.weight(t))));
        }
        let v = crate::local::embed(&self.runtime, &c.embedder, text, true)
            .await
            .map_err(|e| GatewayError::internal(format!("[router] embedding the prompt: {e}")))?;
        Ok(c.score(&v))
    }

    /// The model name this route answers (`auto`, `dynamic/NAME`).
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// For `model = "auto"` (or this route's name): the body pointed at the chosen tier, and the
    /// decision.
    pub async fn route(
        &self,
        api: ClientApi,
        body: &Bytes,
        metadata: Option<&serde_json::Map<String, Value>>,
    ) -> Result<Option<(Bytes, Routed)>, GatewayError> {
        let name = self.config.model.as_bytes();
        let quoted = memchr::memmem::find_iter(body, name)
            .any(|i| i > 0 && body[i - 1] == b'"' && body.get(i + name.len()) == Some(&b'"'));
        let chat = matches!(
            api,
            ClientApi::ChatCompletions | ClientApi::Messages | ClientApi::Responses
        );
        if !chat || !quoted {
            return Ok(None);
        }
        let Ok(Value::Object(mut v)) = serde_json::from_slice::<Value>(body) else {
            return Ok(None); // the parse step reports malformed bodies precisely
        };
        if v.get("model").and_then(Value::as_str) != Some(self.config.model.as_str()) {
            return Ok(None);
        }
        let whole = Value::Object(v.clone());
        let routed = self.decide(&whole, metadata).await?;
        let tier = if routed.local {
            &self.config.local_tier
        } else {
            &self.config.frontier_tier
        };
        v.insert("model".into(), Value::String(tier.clone()));
        let bytes = serde_json::to_vec(&v)
            .map_err(|e| GatewayError::internal(format!("rewriting the routed body: {e}")))?;
        Ok(Some((Bytes::from(bytes), routed)))
    }
}
