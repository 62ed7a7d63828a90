//! `semantic_cache = { embedder = "minilm", threshold = 0.92 }` on a `[[models]]` entry: answers
//! for prompts that mean the same (cosine similarity of their local embeddings), not only for
//! identical bodies. Opt-in per binding.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::{ConfigError, LocalTask, ModelBinding, RuntimeConfig, Source};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSemanticCache {
    /// A local embeddings model (its name or an alias).
    pub embedder: Spanned<String>,
    /// Cosine similarity at or above which a stored answer is served (default 0.95).
    pub threshold: Option<Spanned<f64>>,
    /// Also for requests that offer tools (default false: a paraphrase may need another call).
    pub tools: Option<bool>,
    /// How long answers stay, when neither the request, the alias nor `[cache]` sets a TTL
    /// (default 3600).
    pub ttl_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SemanticCacheConfig {
    /// The local embedding model's name (an alias resolved).
    pub embedder: String,
    pub threshold: f32,
    pub tools: bool,
    #[serde(rename = "ttl_seconds", serialize_with = "crate::ser::seconds")]
    pub ttl: Duration,
}

pub(crate) fn semantic(
    raw: &RawSemanticCache,
    src: &Source<'_>,
) -> Result<SemanticCacheConfig, ConfigError> {
    let threshold = match &raw.threshold {
        Some(t) if !(t.get_ref() > &0.0 && t.get_ref() <= &1.0) => {
            return Err(src.error(
                Some(t.span()),
                "`semantic_cache.threshold` is a cosine similarity: above 0 and at most 1",
            ))
        }
        Some(t) => *t.get_ref() as f32,
        None => 0.95,
    };
    let ttl = raw.ttl_seconds.unwrap_or(3600);
    if ttl == 0 {
        return Err(src.error(
            Some(raw.embedder.span()),
            "`semantic_cache.ttl_seconds` must be above 0",
        ));
    }
    Ok(SemanticCacheConfig {
        embedder: raw.embedder.get_ref().trim().to_owned(),
        threshold,
        tools: raw.tools.unwrap_or(false),
        ttl: Duration::from_secs(ttl),
    })
}

/// Each binding's embedder must be a local embeddings model; aliases are resolved to its name.
pub(crate) fn resolve_embedders(
    models: &mut [ModelBinding],
    runtime: &RuntimeConfig,
    src: &Source<'_>,
) -> Result<(), ConfigError> {
    for b in models.iter_mut() {
        let Some(sc) = b.semantic.as_mut() else {
            continue;
        };
        let found = runtime
            .models
            .iter()
            .find(|m| m.name == sc.embedder || m.aliases.contains(&sc.embedder));
        match found {
            Some(m) if m.task == LocalTask::Embeddings => sc.embedder = m.name.clone(),
            Some(m) => {
                return Err(src.error(
                    None,
                    format!(
                        "model `{}`: `semantic_cache.embedder` `{}` is a text-generation model; it needs an embeddings model",
                        b.name, m.name
                    ),
                ))
            }
            None => {
                return Err(src.error(
                    None,
                    format!(
                        "model `{}`: `semantic_cache.embedder` `{}` is not a local model (declare it in [[models]] with `source` and `task = \"embeddings\"`)",
                        b.name, sc.embedder
                    ),
                ))
            }
        }
    }
    Ok(())
}
