//! Model addressing: which provider serves the model a client named, and under which upstream name.
//!
//! Resolution order: an alias from `[[models]]` (exact name), then `provider/model`, then a bare
//! name — declared in a provider's `models` list (the first, in config order), else listed by a
//! provider's own model list ([`catalog`]), else of a family whose vendor is unambiguous
//! (`claude-*` → the one `anthropic`-kind provider), else, with a single provider configured,
//! that provider. A name several providers could serve is a 400 naming them.
//!
//! # Layout
//! - [`catalog`]: the providers' own model lists, fetched and kept a few minutes.

mod catalog;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchyard_config::semantic::SemanticCacheConfig;

use switchyard_config::{Config, ModelRef};
use switchyard_protocol::openai::{ModelEntry, ModelList};
use switchyard_providers::{Provider, ProviderKind, UpstreamError};

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
    /// The provider was inferred from a bare model name (not an alias or `provider/model`): the
    /// answer names it (`cf-aig-provider`).
    pub inferred: bool,
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
    /// What providers without a declared list serve, asked from them.
    catalog: catalog::Catalog,
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
            catalog: catalog::Catalog::new(&providers),
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
                let pick = pool.pick(crate::clock::unix_ms());
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
                inferred: false,
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
                    inferred: false,
                });
            }
        }
        let i = self.serving(requested)?;
        Ok(Route {
            provider: &self.providers[i],
            upstream_model: requested,
            alias: None,
            cache_ttl: None,
            requested,
            semantic: None,
            slot: None,
            inferred: true,
        })
    }

    /// The provider that serves a bare model name (see the module's resolution order).
    fn serving(&self, model: &str) -> Result<usize, GatewayError> {
        if let Some(&i) = self.declared.get(model) {
            return Ok(i);
        }
        let family = |candidates: &[usize]| -> Vec<usize> {
            candidates
                .iter()
                .copied()
                .filter(|&i| self.providers[i].spec().kind.owns_model(model))
                .collect()
        };
        let listing = self.catalog.providers_listing(model);
        match listing.as_slice() {
            [i] => return Ok(*i),
            [] => {}
            several => {
                return match family(several).as_slice() {
                    [i] => Ok(*i),
                    _ => Err(self.ambiguous(model, several)),
                }
            }
        }
        // local models are all aliases: never a candidate for an unknown name
        let remote: Vec<usize> = (0..self.providers.len())
            .filter(|&i| self.providers[i].spec().kind != ProviderKind::Local)
            .collect();
        // `x/model` with no provider `x` is a typo unless a list or a family knows the name
        // (OpenRouter's `anthropic/claude-…`, Workers AI's `@cf/…`)
        let single = if model.contains('/') {
            &[][..]
        } else {
            &remote[..]
        };
        match (family(&remote).as_slice(), single) {
            ([i], _) | ([], [i]) => Ok(*i),
            ([], _) => Err(self.unknown(model)),
            (several, _) => Err(self.ambiguous(model, several)),
        }
    }

    fn ambiguous(&self, model: &str, candidates: &[usize]) -> GatewayError {
        let names: Vec<&str> = candidates
            .iter()
            .map(|&i| self.providers[i].name())
            .collect();
        let spelled: Vec<String> = names.iter().map(|p| format!("\"{p}/{model}\"")).collect();
        GatewayError::ambiguous_model(format!(
            "model `{model}` could be served by several providers ({}): name one as {}, or declare an alias in [[models]]",
            names.join(", "),
            spelled.join(" or ")
        ))
    }

    /// Whether a provider's model list is due to be fetched (never fetched, or old).
    pub fn catalog_is_stale(&self) -> bool {
        self.catalog.is_stale()
    }

    /// Fetches the providers' model lists that are due.
    pub async fn refresh_catalog(&self) {
        self.catalog.refresh(&self.providers).await;
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
            inferred: false,
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
            inferred: false,
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

    /// `GET /v1/models`: every alias, then each provider's models as `provider/model` — those it
    /// declares, else those its own model list gave (see [`ModelRouter::refresh_catalog`]), else,
    /// for Azure, its deployments.
    pub fn model_list(&self) -> ModelList {
        let mut data: Vec<ModelEntry> = self
            .alias_order
            .iter()
            .map(|alias| ModelEntry::new(alias.clone(), "switchyard"))
            .collect();
        for (i, p) in self.providers.iter().enumerate() {
            let spec = p.spec();
            let listed;
            let models: &[String] = if !spec.models.is_empty() {
                &spec.models
            } else if let Some(azure) = &spec.azure {
                listed = azure.deployments.keys().cloned().collect::<Vec<_>>();
                &listed
            } else {
                listed = self.catalog.listed(i);
                &listed
            };
            for model in models {
                data.push(ModelEntry::new(format!("{}/{model}", p.name()), p.name()));
            }
        }
        ModelList::new(data)
    }

    /// `GET /v1/models/{id}`: a listed model, or any name that resolves (`provider/model`, a bare
    /// name a provider serves); owned by the provider that would serve it.
    pub fn model_entry(&self, id: &str) -> Result<ModelEntry, GatewayError> {
        if let Some(entry) = self.model_list().data.into_iter().find(|m| m.id == id) {
            return Ok(entry);
        }
        let route = self.resolve(id)?;
        let provider = route.provider.name();
        // a provider whose own list works and lacks the model does not serve it
        let index = self.by_name.get(provider).copied();
        if index.and_then(|i| self.catalog.lists(i, route.upstream_model)) == Some(false) {
            return Err(GatewayError::model_not_found(format!(
                "model `{id}` not found: provider `{provider}` does not list `{}` (GET /v1/models shows what it serves)",
                route.upstream_model
            )));
        }
        Ok(ModelEntry::new(id, provider))
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
