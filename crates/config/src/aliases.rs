//! `[[models]]` aliases: a name, its target (or balanced targets with weights and a strategy),
//! fallbacks and cache TTL, checked against the configured providers.

use switchyard_providers::ProviderSpec;
use toml::Spanned;

use crate::model::Strategy;
use crate::raw::RawModel;
use crate::{ConfigError, ModelBinding, ModelRef, Source};

pub(crate) fn model(
    raw: RawModel,
    src: &Source<'_>,
    providers: &[ProviderSpec],
) -> Result<ModelBinding, ConfigError> {
    let name = raw.name.get_ref().trim();
    if name.is_empty() {
        return Err(src.error(
            Some(raw.name.span()),
            "model alias `name` must not be empty",
        ));
    }
    let targets = match (&raw.target, raw.targets.is_empty()) {
        (Some(t), true) => vec![model_ref(t, src, providers)?],
        (None, false) => raw
            .targets
            .iter()
            .map(|t| model_ref(t, src, providers))
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(src.error(
                Some(raw.name.span()),
                format!("model alias `{name}` needs `target` or `targets` (not both)"),
            ))
        }
    };
    if !raw.weights.is_empty() && raw.weights.len() != targets.len() {
        return Err(src.error(
            Some(raw.name.span()),
            format!("model alias `{name}`: `weights` needs one weight per target"),
        ));
    }
    if raw.weights.contains(&0) {
        return Err(src.error(Some(raw.name.span()), "weights must be positive"));
    }
    let strategy = match raw.strategy.as_ref().map(|s| s.get_ref().as_str()) {
        None | Some("weighted") => Strategy::Weighted,
        Some("least-in-flight") => Strategy::LeastInFlight,
        Some("latency") => Strategy::Latency,
        Some(other) => {
            let span = raw.strategy.as_ref().map(Spanned::span);
            return Err(src.error(
                span,
                format!("`strategy` must be weighted, least-in-flight or latency, not `{other}`"),
            ));
        }
    };
    let target = targets[0].clone();
    let fallbacks = raw
        .fallbacks
        .iter()
        .map(|f| model_ref(f, src, providers))
        .collect::<Result<Vec<_>, _>>()?;
    let cache_ttl = match &raw.cache_ttl_seconds {
        Some(ttl) => crate::cache::ttl_seconds(ttl, "cache_ttl_seconds", src)?,
        None => None,
    };
    let semantic = match &raw.semantic_cache {
        Some(s) => Some(crate::semantic::semantic(s, src)?),
        None => None,
    };
    Ok(ModelBinding {
        name: name.to_owned(),
        target,
        weights: if raw.weights.is_empty() {
            vec![1; targets.len()]
        } else {
            raw.weights.clone()
        },
        targets,
        strategy,
        fallbacks,
        cache_ttl,
        semantic,
    })
}

fn model_ref(
    value: &Spanned<String>,
    src: &Source<'_>,
    providers: &[ProviderSpec],
) -> Result<ModelRef, ConfigError> {
    let text = value.get_ref();
    let Some((provider, model)) = text
        .split_once('/')
        .filter(|(p, m)| !p.is_empty() && !m.is_empty())
    else {
        return Err(src.error(
            Some(value.span()),
            format!("invalid model target `{text}`: expected \"provider/model\", e.g. \"openai/gpt-4o-mini\""),
        ));
    };
    if !providers.iter().any(|p| p.name == provider) {
        let known: Vec<&str> = providers.iter().map(|p| p.name.as_str()).collect();
        return Err(src.error(
            Some(value.span()),
            format!(
                "model target `{text}` names provider `{provider}`, which is not configured (configured: {})",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ),
        ));
    }
    Ok(ModelRef {
        provider: provider.to_owned(),
        model: model.to_owned(),
    })
}
