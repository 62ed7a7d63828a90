//! `[router]`: hybrid routing for `model = "auto"` — a local tier, frontier tiers, and the rules
//! that escalate a request. The config adds two aliases the gateway routes to: `auto:local`
//! (the local tier, falling back to the frontier tiers when `overflow` is on) and
//! `auto:frontier` (the frontier tiers in order). `[routers.NAME]` tables are more hybrid
//! routes of the same shape, addressed as `dynamic/NAME` (tiers `hybrid:NAME:local`,
//! `hybrid:NAME:frontier`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{ConfigError, ModelBinding, ModelRef, Source};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouter {
    /// The local tier: a local model's name, an alias, or `provider/model`.
    pub local: Option<String>,
    /// Frontier tiers, in order: aliases or `provider/model`.
    #[serde(default)]
    pub frontier: Vec<String>,
    pub max_prompt_tokens: Option<u64>,
    pub max_output_tokens: Option<u64>,
    pub escalate_tools: Option<bool>,
    pub escalate_images: Option<bool>,
    pub escalate_json_schema: Option<bool>,
    /// The local tier busy (queue full) or failing → the frontier answers instead of a 429/5xx.
    pub overflow: Option<bool>,
    /// `key = "value"` pairs of `cf-aig-metadata` that send a request to the frontier.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// A complexity classifier made by `switchyard router train` (JSON file).
    pub classifier: Option<String>,
    /// Escalate when the complexity score reaches this (default 0.5).
    pub complexity_threshold: Option<f64>,
    /// Cascade: the local tier answers first; its answer is kept when the mean log-probability
    /// of its tokens is at least this (e.g. -1.0), otherwise the frontier answers.
    pub cascade_min_logprob: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouterConfig {
    pub local: String,
    pub frontier: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_prompt_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u64>,
    pub escalate_tools: bool,
    pub escalate_images: bool,
    pub escalate_json_schema: bool,
    pub overflow: bool,
    pub metadata: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub classifier: Option<std::path::PathBuf>,
    pub complexity_threshold: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cascade_min_logprob: Option<f64>,
    /// The local model's context window, when it is a configured local model with a set size.
    #[serde(skip)]
    pub local_context: Option<u32>,
    /// The model name clients use: `auto`, or `dynamic/NAME` for a named route.
    #[serde(skip)]
    pub model: String,
    /// The aliases the decision rewrites `model` to.
    #[serde(skip)]
    pub local_tier: String,
    #[serde(skip)]
    pub frontier_tier: String,
}

/// The alias names `auto` routes to.
pub const LOCAL_TIER: &str = "auto:local";
pub const FRONTIER_TIER: &str = "auto:frontier";

/// `[routers.NAME]`: each a hybrid route addressed as `dynamic/NAME`.
pub(crate) fn named(
    raw: std::collections::BTreeMap<String, RawRouter>,
    runtime: &crate::RuntimeConfig,
    models: &mut Vec<ModelBinding>,
    src: &Source<'_>,
) -> Result<Vec<RouterConfig>, ConfigError> {
    let mut out = Vec::new();
    for (name, r) in raw {
        if name.is_empty() || name.contains('/') || name.contains(':') {
            return Err(src.error(
                None,
                format!("`[routers.{name}]`: a route name is non-empty, without `/` or `:`"),
            ));
        }
        let tiers = Tiers {
            table: format!("[routers.{name}]"),
            model: format!("dynamic/{name}"),
            local: format!("hybrid:{name}:local"),
            frontier: format!("hybrid:{name}:frontier"),
        };
        if let Some(c) = router(Some(r), &tiers, runtime, models, src)? {
            out.push(c);
        }
    }
    Ok(out)
}

/// A `dynamic/NAME` is either a `[[routes]]` graph or a `[routers.NAME]` hybrid route.
pub(crate) fn distinct_from_routes(
    routers: &[RouterConfig],
    routes: &[crate::routes::Route],
    src: &Source<'_>,
) -> Result<(), ConfigError> {
    let clash = routers.iter().find(|r| {
        routes
            .iter()
            .any(|x| r.model == format!("dynamic/{}", x.name) || r.model == x.name)
    });
    match clash {
        Some(r) => Err(src.error(
            None,
            format!(
                "`{}` is both a [[routes]] route and a [routers] hybrid route",
                r.model
            ),
        )),
        None => Ok(()),
    }
}

/// What a hybrid route is called: its table, the model clients use, its two tier aliases.
pub(crate) struct Tiers {
    pub table: String,
    pub model: String,
    pub local: String,
    pub frontier: String,
}

impl Tiers {
    pub(crate) fn auto() -> Self {
        Tiers {
            table: "[router]".into(),
            model: "auto".into(),
            local: LOCAL_TIER.into(),
            frontier: FRONTIER_TIER.into(),
        }
    }
}

pub(crate) fn router(
    raw: Option<RawRouter>,
    tiers: &Tiers,
    runtime: &crate::RuntimeConfig,
    models: &mut Vec<ModelBinding>,
    src: &Source<'_>,
) -> Result<Option<RouterConfig>, ConfigError> {
    let Some(raw) = raw else { return Ok(None) };
    let table = &tiers.table;
    let Some(local) = raw.local.filter(|l| !l.trim().is_empty()) else {
        return Err(src.error(
            None,
            format!("`{table}` needs `local` (the local tier's model)"),
        ));
    };
    if raw.frontier.is_empty() {
        return Err(src.error(
            None,
            format!("`{table}` needs `frontier` (at least one frontier model)"),
        ));
    }
    let resolve = |name: &str, models: &[ModelBinding]| -> Result<ModelRef, ConfigError> {
        if let Some(b) = models.iter().find(|b| b.name == name) {
            return Ok(b.target.clone());
        }
        match name.split_once('/') {
            Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok(ModelRef {
                provider: p.to_owned(),
                model: m.to_owned(),
            }),
            _ => Err(src.error(
                None,
                format!("`{table}`: `{name}` is neither a model name nor \"provider/model\""),
            )),
        }
    };
    let local_ref = resolve(&local, models)?;
    let frontier: Vec<ModelRef> = raw
        .frontier
        .iter()
        .map(|f| resolve(f, models))
        .collect::<Result<_, _>>()?;
    let overflow = raw.overflow.unwrap_or(true);
    let binding = |name: &str, target: ModelRef, fallbacks: Vec<ModelRef>| ModelBinding {
        name: name.to_owned(),
        target: target.clone(),
        targets: vec![target],
        weights: vec![1],
        strategy: crate::model::Strategy::Weighted,
        fallbacks,
        cache_ttl: None,
        semantic: None,
    };
    if models
        .iter()
        .any(|b| b.name == tiers.local || b.name == tiers.frontier || b.name == tiers.model)
    {
        return Err(src.error(
            None,
            format!(
                "model names `{}`, `{}` and `{}` are reserved by `{table}`",
                tiers.model, tiers.local, tiers.frontier
            ),
        ));
    }
    models.push(binding(
        &tiers.local,
        local_ref.clone(),
        if overflow {
            frontier.clone()
        } else {
            Vec::new()
        },
    ));
    models.push(binding(
        &tiers.frontier,
        frontier[0].clone(),
        frontier[1..].to_vec(),
    ));
    let local_context = runtime
        .models
        .iter()
        .find(|m| local_ref.provider == "local" && m.name == local_ref.model)
        .and_then(|m| m.context_size);
    Ok(Some(RouterConfig {
        local,
        frontier: raw.frontier,
        max_prompt_tokens: raw.max_prompt_tokens,
        max_output_tokens: raw.max_output_tokens,
        escalate_tools: raw.escalate_tools.unwrap_or(true),
        escalate_images: raw.escalate_images.unwrap_or(true),
        escalate_json_schema: raw.escalate_json_schema.unwrap_or(false),
        overflow,
        metadata: raw.metadata,
        classifier: raw.classifier.map(std::path::PathBuf::from),
        complexity_threshold: raw.complexity_threshold.unwrap_or(0.5),
        cascade_min_logprob: match raw.cascade_min_logprob {
            Some(x) if !(x <= 0.0 && x.is_finite()) => {
                return Err(src.error(
                    None,
                    "`[router] cascade_min_logprob` is a mean log-probability: a number at most 0 (e.g. -1.0)",
                ))
            }
            x => x,
        },
        local_context,
        model: tiers.model.clone(),
        local_tier: tiers.local.clone(),
        frontier_tier: tiers.frontier.clone(),
    }))
}
