//! Model addressing: which provider serves the model a client named, and under which upstream name.
//!
//! Resolution order: an alias from `[[models]]` (exact name), then `provider/model`, then a bare
//! model name that exactly one provider declares in its `models` list (the first, in config order).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_config::semantic::SemanticCacheConfig;

use switchyard_config::{Config, ModelRef};
use switchyard_protocol::openai::{ModelEntry, ModelList};
use switchyard_providers::{Provider, UpstreamError};

use crate::balance::Pool;
use crate::GatewayError;

/// Where a request goes.
#[derive(Clone)]
pub struct Route<'a> {
    pub provider: &'a Provider,
    /// The model name to send upstream.
    pub upstream_model: &'a str,
    /// The alias the client used, if any.
    pub alias: Option<&'a str>,
    /// The alias's own cache TTL (`cache_ttl_seconds`), if it sets one.
    pub cache_ttl: Option<Duration>,
    /// The model as the client named it.
    pub requested: &'a str,
    /// For an alias balancing several targets: which one was picked.
    pub slot: Option<Slot>,
    /// The alias's semantic cache, if it has one.
    pub semantic: Option<Arc<SemanticCacheConfig>>,
}

/// A balanced alias's pick: the pool, the member, and whether every member is ejected.
#[derive(Clone)]
pub struct Slot {
    pub pool: Arc<Pool>,
    pub index: usize,
    pub ejected: bool,
}

struct Target {
    provider: usize,
    model: String,
    cache_ttl: Option<Duration>,
    semantic: Option<Arc<SemanticCacheConfig>>,
    /// What to try, in order, when this target fails.
    fallbacks: Vec<(usize, String)>,
    /// Several targets, balanced.
    pool: Option<Arc<Pool>>,
}

/// Immutable routing table built from the config.
pub struct ModelRouter {
    providers: Vec<Provider>,
    by_name: HashMap<String, usize>,
    /// Alias → target and its fallbacks.
    aliases: HashMap<String, Target>,
    declared: HashMap<String, usize>,
    alias_order: Vec<String>,
}

impl ModelRouter {
    pub fn new(config: &Config) -> Result<Self, UpstreamError> {
        let providers = config
            .providers
            .iter()
            .cloned()
            .map(Provider::new)
            .collect::<Result<Vec<_>, _>>()?;
        let by_name: HashMap<String, usize> = providers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.name().to_owned(), i))
            .collect();
        let target = |r: &ModelRef| -> Option<Target> {
            Some(Target {
                provider: *by_name.get(&r.provider)?,
                model: r.model.clone(),
                cache_ttl: None,
                semantic: None,
                fallbacks: Vec::new(),
                pool: None,
            })
        };
        let mut aliases = HashMap::new();
        let mut alias_order = Vec::new();
        for binding in &config.models {
            // The config crate has checked that every target names a configured provider.
            let Some(mut t) = target(&binding.target) else {
                continue;
            };
            t.cache_ttl = binding.cache_ttl;
            t.semantic = binding.semantic.clone().map(Arc::new);
            if binding.targets.len() > 1 {
                let members = binding
                    .targets
                    .iter()
                    .zip(&binding.weights)
                    .filter_map(|(r, w)| Some((*by_name.get(&r.provider)?, r.model.clone(), *w)))
                    .collect();
                t.pool = Some(Arc::new(Pool::new(
                    members,
                    binding.strategy,
                    config.breaker,
                )));
            }
            t.fallbacks = binding
                .fallbacks
                .iter()
                .filter_map(|f| Some((*by_name.get(&f.provider)?, f.model.clone())))
                .collect();
            aliases.insert(binding.name.clone(), t);
            alias_order.push(binding.name.clone());
        }
        let mut declared = HashMap::new();
        for (i, p) in providers.iter().enumerate() {
            for model in &p.spec().models {
                declared.entry(model.clone()).or_insert(i);
            }
        }
        Ok(ModelRouter {
            providers,
            by_name,
            aliases,
            declared,
            alias_order,
        })
    }

    /// Resolves the model a client asked for.
    pub fn resolve<'a>(&'a self, requested: &'a str) -> Result<Route<'a>, GatewayError> {
        if let Some(alias) = self.aliases.get(requested) {
            if let Some(pool) = &alias.pool {
                let pick = pool.pick(crate::context::unix_ms());
                return Ok(self.pooled(requested, alias, pool, (pick.index, pick.ejected)));
            }
            return Ok(Route {
                provider: &self.providers[alias.provider],
                upstream_model: &alias.model,
                alias: Some(requested),
                cache_ttl: alias.cache_ttl,
                requested,
                semantic: alias.semantic.clone(),
                slot: None,
            });
        }
        if let Some((provider, model)) = requested.split_once('/') {
            if let Some(&i) = self.by_name.get(provider) {
                if model.is_empty() {
                    return Err(self.unknown(requested));
                }
                return Ok(Route {
                    provider: &self.providers[i],
                    upstream_model: model,
                    alias: None,
                    cache_ttl: None,
                    requested,
                    semantic: None,
                    slot: None,
                });
            }
        }
        if let Some(&i) = self.declared.get(requested) {
            return Ok(Route {
                provider: &self.providers[i],
                upstream_model: requested,
                alias: None,
                cache_ttl: None,
                requested,
                semantic: None,
                slot: None,
            });
        }
        Err(self.unknown(requested))
    }

    /// The alias `requested`'s deployment `index` (a retry moved off a failing one).
    pub fn member<'a>(&'a self, requested: &'a str, index: usize) -> Option<Route<'a>> {
        let alias = self.aliases.get(requested)?;
        let pool = alias.pool.as_ref()?;
        Some(self.pooled(requested, alias, pool, (index, false)))
    }

    /// The route to member `index` of a balanced alias's `pool` (`ejected`: every member is out).
    fn pooled<'a>(
        &'a self,
        requested: &'a str,
        alias: &'a Target,
        pool: &'a Arc<Pool>,
        (index, ejected): (usize, bool),
    ) -> Route<'a> {
        let member = pool.member(index);
        Route {
            provider: &self.providers[member.provider],
            upstream_model: &member.model,
            alias: Some(requested),
            cache_ttl: alias.cache_ttl,
            requested,
            semantic: alias.semantic.clone(),
            slot: Some(Slot {
                pool: pool.clone(),
                index,
                ejected,
            }),
        }
    }

    /// Fallback `n` (1-based: step 1 is the first fallback) of the alias `requested`, if any.
    pub fn fallback<'a>(&'a self, requested: &'a str, n: usize) -> Option<Route<'a>> {
        let alias = self.aliases.get(requested)?;
        let (provider, model) = alias.fallbacks.get(n.checked_sub(1)?)?;
        Some(Route {
            provider: &self.providers[*provider],
            upstream_model: model,
            alias: Some(requested),
            cache_ttl: alias.cache_ttl,
            requested,
            semantic: alias.semantic.clone(),
            slot: None,
        })
    }

    fn unknown(&self, requested: &str) -> GatewayError {
        let providers: Vec<&str> = self.providers.iter().map(Provider::name).collect();
        let mut message = format!(
            "model `{requested}` not found: address a model as \"provider/model\" (e.g. \"{}/gpt-4o-mini\") or by an alias declared in [[models]]",
            providers.first().copied().unwrap_or("openai")
        );
        if let Some((p, _)) = requested.split_once('/') {
            if !self.by_name.contains_key(p) {
                message.push_str(&format!("; no provider is named `{p}`"));
            }
        }
        message.push_str(&format!(
            ". Configured providers: {}",
            if providers.is_empty() {
                "none (set OPENAI_API_KEY or similar, or pass --config)".to_owned()
            } else {
                providers.join(", ")
            }
        ));
        if !self.alias_order.is_empty() {
            message.push_str(&format!("; aliases: {}", self.alias_order.join(", ")));
        }
        GatewayError::model_not_found(message)
    }

    /// `GET /v1/models`: every alias, then each provider's declared models as `provider/model`.
    pub fn model_list(&self) -> ModelList {
        let mut data: Vec<ModelEntry> = self
            .alias_order
            .iter()
            .map(|alias| ModelEntry::new(alias.clone(), "switchyard"))
            .collect();
        for p in &self.providers {
            for model in &p.spec().models {
                data.push(ModelEntry::new(format!("{}/{model}", p.name()), p.name()));
            }
        }
        ModelList::new(data)
    }

    /// A provider by its configured name.
    pub fn provider(&self, name: &str) -> Option<&Provider> {
        self.by_name.get(name).map(|&i| &self.providers[i])
    }

    pub fn providers(&self) -> &[Provider] {
        &self.providers
    }
}

#[cfg(test)]
mod tests;
