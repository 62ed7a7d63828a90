//! Local models: `[[models]]` entries with a `source` (served in-process by the runtime), and the
//! `[runtime]` table (models directory, metering).
//!
//! A local model is addressable as `local/NAME`, `NAME` and each of its `aliases` (e.g. the
//! Workers AI name `@cf/…`); the config adds a provider named `local` for them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use std::collections::BTreeMap;

use switchyard_providers::{ProviderKind, ProviderSpec, Timeouts};

use crate::raw::RawModel;
use crate::{ConfigError, ModelBinding, Source};

/// The tasks a `[[models]]` entry may name.
const TASKS: &str =
    "text-generation, embeddings, speech-recognition, rerank, text-classification or text-to-image";

/// What a local model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LocalTask {
    TextGeneration,
    Embeddings,
    /// Whisper: audio in, text out (a folder in the Hugging Face or CTranslate2 layout).
    SpeechRecognition,
    /// A cross-encoder scoring documents against a query (metered per document).
    Rerank,
    /// A sequence classifier: text in, labels with probabilities out.
    TextClassification,
    /// Stable Diffusion (a diffusers folder): a prompt in, PNG images out (metered in
    /// denoising steps × 512² tiles).
    TextToImage,
}

/// Where the weights are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelSource {
    /// A GGUF file or a model folder on disk.
    Path(PathBuf),
    /// `hf:org/repo[/file]`, fetched by `switchyard models pull` into the models directory.
    Hub(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct LocalModel {
    pub name: String,
    pub task: LocalTask,
    #[serde(serialize_with = "source_text")]
    pub source: ModelSource,
    /// The file or folder the engine loads (for a hub source: where `models pull` puts it).
    #[serde(skip)]
    pub path: PathBuf,
    pub aliases: Vec<String>,
    /// 0 = every core.
    pub threads: u32,
    pub context_size: Option<u32>,
    pub max_batch: Option<u32>,
    pub queue: Option<usize>,
    #[serde(rename = "idle_unload_seconds", serialize_with = "idle_seconds")]
    pub idle_unload: Option<Duration>,
    pub max_tokens: Option<u32>,
    /// Compute units per 1,000 input / output tokens (metering).
    pub units_per_1k_input: f64,
    pub units_per_1k_output: f64,
    /// Text-to-image defaults (else the model's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub semantic_cache: Option<crate::semantic::SemanticCacheConfig>,
}

fn source_text<S: serde::Serializer>(s: &ModelSource, ser: S) -> Result<S::Ok, S::Error> {
    match s {
        ModelSource::Path(p) => ser.serialize_str(&p.to_string_lossy()),
        ModelSource::Hub(h) => ser.serialize_str(h),
    }
}

/// 0 = never (as in the file).
fn idle_seconds<S: serde::Serializer>(d: &Option<Duration>, ser: S) -> Result<S::Ok, S::Error> {
    ser.serialize_u64(d.map_or(0, |d| d.as_secs()))
}

/// The `source` of the price rows made from metering rates.
pub(crate) const METERING_SOURCE: &str = "local metering: ";

/// `[runtime]` as `config check` prints it.
#[derive(Serialize)]
pub(crate) struct RuntimeView<'a> {
    models_dir: &'a Path,
    usd_per_1k_units: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    free_units_per_day: Option<f64>,
}

impl<'a> From<&'a RuntimeConfig> for RuntimeView<'a> {
    fn from(r: &'a RuntimeConfig) -> Self {
        RuntimeView {
            models_dir: &r.models_dir,
            usd_per_1k_units: r.usd_per_1k_units,
            free_units_per_day: r.free_units_per_day,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    /// Where `models pull` stores models (default `.switchyard/models`).
    pub models_dir: Option<String>,
    /// What 1,000 compute units cost, in USD (default 0.011, Workers AI's price per 1,000 neurons).
    pub usd_per_1k_units: Option<f64>,
    /// Compute units each API key may spend on local models per UTC day; more gets `429`.
    pub free_units_per_day: Option<f64>,
    /// Offer the default local models ([`DEFAULT_MODELS`]): unset = only when nothing else is
    /// configured.
    pub default_models: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuntimeConfig {
    pub models_dir: PathBuf,
    pub usd_per_1k_units: f64,
    pub free_units_per_day: Option<f64>,
    pub models: Vec<LocalModel>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            models_dir: PathBuf::from(".switchyard/models"),
            usd_per_1k_units: 0.011,
            free_units_per_day: None,
            models: Vec::new(),
        }
    }
}

impl RuntimeConfig {
    pub fn model(&self, name: &str) -> Option<&LocalModel> {
        self.models.iter().find(|m| m.name == name)
    }
}

pub(crate) fn runtime(raw: RawRuntime, src: &Source<'_>) -> Result<RuntimeConfig, ConfigError> {
    let d = RuntimeConfig::default();
    let price = raw.usd_per_1k_units.unwrap_or(d.usd_per_1k_units);
    if !(price >= 0.0 && price.is_finite()) {
        return Err(src.error(
            None,
            "`runtime.usd_per_1k_units` must be a non-negative number",
        ));
    }
    if raw
        .free_units_per_day
        .is_some_and(|f| !(f >= 0.0 && f.is_finite()))
    {
        return Err(src.error(
            None,
            "`runtime.free_units_per_day` must be a non-negative number",
        ));
    }
    Ok(RuntimeConfig {
        models_dir: raw.models_dir.map_or(d.models_dir, PathBuf::from),
        usd_per_1k_units: price,
        free_units_per_day: raw.free_units_per_day,
        models: Vec::new(),
    })
}

/// A `[[models]]` entry with a `source`.
pub(crate) fn local_model(
    raw: &RawModel,
    source: &Spanned<String>,
    models_dir: &Path,
    src: &Source<'_>,
) -> Result<LocalModel, ConfigError> {
    let name = raw.name.get_ref().trim().to_owned();
    let fail = |span: Option<std::ops::Range<usize>>, msg: String| Err(src.error(span, msg));
    if name.is_empty() || name.contains('/') {
        return fail(Some(raw.name.span()), format!("local model name `{name}` must be non-empty and have no `/` (it is addressed as `local/{name}`)"));
    }
    if raw.target.is_some() || !raw.targets.is_empty() {
        return fail(Some(raw.name.span()), format!("model `{name}` has a `source` (a local model) and a `target` (an alias): choose one"));
    }
    let task = match raw.task.as_ref().map(|t| t.get_ref().as_str()) {
        Some("text-generation") => LocalTask::TextGeneration,
        Some("embeddings" | "text-embeddings") => LocalTask::Embeddings,
        Some("speech-recognition" | "automatic-speech-recognition") => LocalTask::SpeechRecognition,
        Some("rerank" | "reranking") => LocalTask::Rerank,
        Some("text-classification" | "classification") => LocalTask::TextClassification,
        Some("text-to-image" | "image-generation") => LocalTask::TextToImage,
        Some(other) => {
            return fail(
                raw.task.as_ref().map(Spanned::span),
                format!("`task` must be {TASKS}, not `{other}`"),
            )
        }
        None => {
            return fail(
                Some(raw.name.span()),
                format!("local model `{name}` needs a `task` ({TASKS})"),
            )
        }
    };
    let text = source.get_ref();
    let (source_kind, path) = if text.starts_with("hf:") {
        let Some(rest) = text
            .strip_prefix("hf:")
            .filter(|r| r.split('/').filter(|p| !p.is_empty()).count() >= 2)
        else {
            return fail(
                Some(source.span()),
                format!("`source = \"{text}\"`: expected hf:org/repo[/file]"),
            );
        };
        let rest = rest.split('@').next().unwrap_or(rest);
        (ModelSource::Hub(text.clone()), models_dir.join(rest))
    } else {
        let p = PathBuf::from(text);
        (ModelSource::Path(p.clone()), p)
    };
    if task == LocalTask::TextGeneration && path.extension().is_none_or(|e| e != "gguf") {
        return fail(
            Some(source.span()),
            format!("text-generation model `{name}`: `source` must be a .gguf file"),
        );
    }
    let positive = |v: Option<u64>, field: &str| -> Result<Option<u64>, ConfigError> {
        match v {
            Some(0) => Err(src.error(
                Some(raw.name.span()),
                format!("model `{name}`: `{field}` must be at least 1"),
            )),
            v => Ok(v),
        }
    };
    let rate = |v: Option<f64>, default: f64, field: &str| -> Result<f64, ConfigError> {
        match v {
            Some(x) if !(x >= 0.0 && x.is_finite()) => Err(src.error(
                Some(raw.name.span()),
                format!("model `{name}`: `{field}` must be a non-negative number"),
            )),
            Some(x) => Ok(x),
            None => Ok(default),
        }
    };
    let aliases: Vec<String> = raw
        .aliases
        .iter()
        .map(|a| a.trim().to_owned())
        .filter(|a| !a.is_empty())
        .collect();
    let context_size = positive(raw.context_size, "context_size")?.map(|n| n as u32);
    let max_batch = positive(raw.max_batch, "max_batch")?.map(|n| n as u32);
    let queue = positive(raw.queue, "queue")?.map(|n| n as usize);
    let max_tokens = positive(raw.max_tokens, "max_tokens")?.map(|n| n as u32);
    let steps = positive(raw.steps, "steps")?;
    let guidance = match raw.guidance {
        Some(g) => Some(rate(Some(g), 0.0, "guidance")?),
        None => None,
    };
    // speech models count seconds of audio in (Workers AI's Whisper: ≈ 0.69 units a second);
    // rerankers count documents
    let units_per_1k_input = rate(
        raw.units_per_1k_input,
        match task {
            LocalTask::SpeechRecognition => 686.0,
            // Workers AI's image models: ≈ 4.8 units a step on a 512×512 tile
            LocalTask::TextToImage => 4800.0,
            _ => 10.0,
        },
        "units_per_1k_input",
    )?;
    let units_per_1k_output = rate(
        raw.units_per_1k_output,
        match task {
            LocalTask::TextGeneration => 50.0,
            LocalTask::Embeddings
            | LocalTask::SpeechRecognition
            | LocalTask::Rerank
            | LocalTask::TextClassification
            | LocalTask::TextToImage => 0.0,
        },
        "units_per_1k_output",
    )?;
    Ok(LocalModel {
        name,
        task,
        source: source_kind,
        path,
        aliases,
        threads: raw.threads.unwrap_or(0),
        context_size,
        max_batch,
        queue,
        idle_unload: match raw.idle_unload_seconds {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(s)),
            None => Some(Duration::from_secs(900)),
        },
        max_tokens,
        units_per_1k_input,
        units_per_1k_output,
        steps: steps.map(|n| n as u32),
        guidance: guidance.map(|g| g as f32),
        semantic_cache: match &raw.semantic_cache {
            Some(s) => Some(crate::semantic::semantic(s, src)?),
            None => None,
        },
    })
}

/// The default local models, as `[[models]]` entries (see the file for when they apply).
pub const DEFAULT_MODELS: &str = include_str!("../default_models.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultModels {
    models: Vec<RawModel>,
}

/// Adds the default local models whose names (and aliases) neither a local model nor one of the
/// user's `[[models]]` aliases takes.
pub(crate) fn add_default_models(
    runtime: &mut RuntimeConfig,
    aliases: &[RawModel],
) -> Result<(), ConfigError> {
    let taken = |name: &str| {
        runtime
            .models
            .iter()
            .any(|m| m.name == name || m.aliases.iter().any(|a| a == name))
            || aliases.iter().any(|a| a.name.get_ref().trim() == name)
    };
    let defaults = default_models(&runtime.models_dir, taken)?;
    runtime.models.extend(defaults);
    Ok(())
}

/// The default local models whose names (and aliases) `taken` leaves free.
fn default_models(
    models_dir: &Path,
    taken: impl Fn(&str) -> bool,
) -> Result<Vec<LocalModel>, ConfigError> {
    let src = Source {
        name: "<default models>",
        text: DEFAULT_MODELS,
    };
    let raw: DefaultModels =
        toml::from_str(DEFAULT_MODELS).map_err(|e| src.error(e.span(), e.message().to_owned()))?;
    let mut out = Vec::new();
    for m in &raw.models {
        let Some(source) = &m.source else { continue };
        let model = local_model(m, source, models_dir, &src)?;
        if !std::iter::once(&model.name)
            .chain(&model.aliases)
            .any(|n| taken(n))
        {
            out.push(model);
        }
    }
    Ok(out)
}

/// The provider that serves local models in-process.
pub(crate) fn provider(runtime: &RuntimeConfig) -> ProviderSpec {
    ProviderSpec {
        name: "local".to_owned(),
        kind: ProviderKind::Local,
        // never dialled: calls to this provider are answered in-process
        base_url: "http://local.invalid".to_owned(),
        api_key: None,
        models: runtime.models.iter().map(|m| m.name.clone()).collect(),
        headers: BTreeMap::new(),
        azure: None,
        google: None,
        aws: None,
        timeouts: Timeouts::default(),
        responses_api: switchyard_providers::ResponsesApi::Chat,
    }
}

/// `NAME` and each alias of a local model, bound to `local/NAME`.
pub(crate) fn bindings(runtime: &RuntimeConfig) -> Vec<ModelBinding> {
    let mut out = Vec::new();
    for m in &runtime.models {
        let target = crate::ModelRef {
            provider: "local".to_owned(),
            model: m.name.clone(),
        };
        for name in std::iter::once(&m.name).chain(&m.aliases) {
            out.push(ModelBinding {
                name: name.clone(),
                target: target.clone(),
                targets: vec![target.clone()],
                weights: vec![1],
                strategy: crate::model::Strategy::Weighted,
                fallbacks: Vec::new(),
                cache_ttl: None,
                semantic: m.semantic_cache.clone(),
            });
        }
    }
    out
}

/// Price rows for local models: USD per million tokens = units per 1k tokens × USD per 1k units.
pub(crate) fn prices(runtime: &RuntimeConfig) -> Vec<crate::PriceRow> {
    let p = runtime.usd_per_1k_units;
    runtime
        .models
        .iter()
        .map(|m| crate::PriceRow {
            provider: "local".to_owned(),
            model: m.name.clone(),
            input: m.units_per_1k_input * p,
            output: m.units_per_1k_output * p,
            cached_input: None,
            reasoning: None,
            per_image: None,
            per_audio_minute: None,
            date: String::new(),
            source: format!(
                "{METERING_SOURCE}{} / {} units per 1k input / output tokens at ${p} per 1k units",
                m.units_per_1k_input, m.units_per_1k_output
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests;
