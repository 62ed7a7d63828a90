//! The local runtime as a provider. Local models are bound to the provider `local`, which speaks
//! the OpenAI dialect; instead of an HTTP request, the call goes to [`Runtime::call`] and its
//! answer is dressed as an HTTP response, so translation, usage, retries, fallbacks, limits and
//! the request log treat a local model like any other.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use switchyard_config::{LocalTask, RuntimeConfig};
use switchyard_providers::UpstreamBody;
use switchyard_runtime::{LocalApi, LocalBody, ModelSettings, Runtime, TaskKind};

use crate::in_process::{InProcess, InProcessCall};
pub use crate::local_speech::vtt;
use crate::{ClientApi, GatewayError};

/// The runtime for the configured local models (nothing loads until first use).
pub fn runtime(config: &RuntimeConfig) -> Runtime {
    Runtime::new(config.models.iter().map(settings).collect())
}

/// One `[[models]]` entry as the runtime's settings.
pub fn settings(m: &switchyard_config::LocalModel) -> ModelSettings {
    let task = match m.task {
        LocalTask::TextGeneration => TaskKind::TextGeneration,
        LocalTask::Embeddings => TaskKind::Embeddings,
        LocalTask::SpeechRecognition => TaskKind::SpeechRecognition,
        LocalTask::Rerank => TaskKind::Rerank,
        LocalTask::TextClassification => TaskKind::TextClassification,
        LocalTask::TextToImage => TaskKind::TextToImage,
    };
    let mut s = ModelSettings::new(&m.name, task, m.path.clone());
    s.image_steps = m.steps;
    s.image_guidance = m.guidance;
    s.threads = m.threads;
    s.context_size = m.context_size;
    if let Some(b) = m.max_batch {
        s.max_batch = b;
    }
    if let Some(q) = m.queue {
        s.queue = q;
    }
    s.idle_unload = m.idle_unload;
    if let Some(t) = m.max_tokens {
        s.default_max_tokens = t;
    }
    if let switchyard_config::ModelSource::Hub(src) = &m.source {
        s.missing_hint = Some(format!("fetch it with `switchyard models pull {src}`"));
    }
    s
}

/// Which runtime API answers a client API.
fn local_api(api: ClientApi) -> Option<LocalApi> {
    match api {
        ClientApi::ChatCompletions | ClientApi::Messages | ClientApi::Responses => {
            Some(LocalApi::ChatCompletions)
        }
        ClientApi::Completions => Some(LocalApi::Completions),
        ClientApi::Embeddings => Some(LocalApi::Embeddings),
        ClientApi::Rerank => Some(LocalApi::Rerank),
        ClientApi::Classify => Some(LocalApi::Classify),
        ClientApi::Images => Some(LocalApi::Images),
        // speech is not an OpenAI body the runtime reads (see `local_speech`)
        ClientApi::CountTokens | ClientApi::Transcriptions | ClientApi::Translations => None,
    }
}

/// The local runtime as an in-process provider: a local model called with an OpenAI body, its
/// answer dressed as an upstream HTTP response.
pub(crate) struct LocalModels(pub(crate) Arc<Runtime>);

impl InProcess for LocalModels {
    fn call<'a>(
        &'a self,
        call: InProcessCall<'a>,
    ) -> BoxFuture<'a, Result<Response<UpstreamBody>, GatewayError>> {
        Box::pin(async move {
            if call.api.is_speech() {
                let translate = call.api == ClientApi::Translations;
                return crate::local_speech::transcribe(&self.0, call.model, call.body, translate)
                    .await;
            }
            let Some(local) = local_api(call.api) else {
                return Err(GatewayError::unsupported_api("local", call.api.name()));
            };
            let reply = self.0.call(local, call.model, call.body).await;
            let content_type = if reply.is_stream() {
                "text/event-stream"
            } else {
                "application/json"
            };
            let body = match reply.body {
                LocalBody::Full(bytes) => {
                    UpstreamBody::local(Box::pin(futures_util::stream::once(async move { bytes })))
                }
                LocalBody::Stream(chunks) => UpstreamBody::local(chunks),
            };
            let mut response = Response::new(body);
            *response.status_mut() =
                StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
            Ok(response)
        })
    }
}

/// Compute units of local requests, from their tokens and the model's rates; and, with a
/// `[router]`, what local answers would have cost on the frontier tier.
#[derive(Default)]
pub struct Meter {
    rates: std::collections::HashMap<String, switchyard_runtime::meter::Rate>,
    /// The frontier tier's first model (provider name, kind, model) and the prices.
    frontier: Option<(
        String,
        &'static str,
        String,
        crate::observe::pricing::PriceTable,
    )>,
}

impl Meter {
    pub fn new(config: &switchyard_config::Config) -> Self {
        let frontier = config
            .models
            .iter()
            .find(|b| b.name == switchyard_config::router::FRONTIER_TIER)
            .and_then(|b| {
                let p = config
                    .providers
                    .iter()
                    .find(|p| p.name == b.target.provider)?;
                Some((
                    p.name.clone(),
                    p.kind.name(),
                    b.target.model.clone(),
                    crate::observe::pricing::PriceTable::new(&config.pricing),
                ))
            });
        Meter {
            frontier,
            ..Self::local(&config.runtime)
        }
    }

    /// Units only (no router).
    pub fn local(config: &RuntimeConfig) -> Self {
        Meter {
            frontier: None,
            rates: config
                .models
                .iter()
                .map(|m| {
                    let rate = switchyard_runtime::meter::Rate {
                        units_per_1k_input: m.units_per_1k_input,
                        units_per_1k_output: m.units_per_1k_output,
                    };
                    (m.name.clone(), rate)
                })
                .collect(),
        }
    }

    /// What `r` would have cost on the frontier tier: a local answer priced as the frontier
    /// model; other rows as they were.
    pub fn all_frontier(&self, r: &switchyard_store::logs::LogRecord) -> Option<f64> {
        let (provider, kind, model, prices) = self.frontier.as_ref()?;
        if r.provider.as_deref() != Some("local") {
            return Some(r.cost_usd.unwrap_or(0.0));
        }
        let n = |t: Option<i64>| t.unwrap_or(0).max(0) as u64;
        let usage = crate::answer::TokenUsage {
            input: n(r.input_tokens),
            output: n(r.output_tokens),
            ..Default::default()
        };
        prices.cost(provider, kind, model, &usage)
    }

    /// The units a logged request used: `None` unless a local model served it.
    pub fn units(&self, r: &switchyard_store::logs::LogRecord) -> Option<f64> {
        if r.provider.as_deref() != Some("local") {
            return None;
        }
        let rate = self.rates.get(r.model.as_deref()?)?;
        let n = |t: Option<i64>| t.unwrap_or(0).max(0) as u64;
        Some(rate.units(n(r.input_tokens), n(r.output_tokens)))
    }

    /// A log row as JSON, with `units` for local requests.
    pub fn row_json(&self, r: &switchyard_store::logs::LogRecord) -> serde_json::Value {
        let mut v = serde_json::to_value(r).unwrap_or_default();
        if let (Some(units), Some(obj)) = (self.units(r), v.as_object_mut()) {
            obj.insert("units".into(), serde_json::json!(units));
        }
        v
    }
}

impl crate::observe::analytics::RowMeter for Meter {
    fn units(&self, r: &switchyard_store::logs::LogRecord) -> Option<f64> {
        Meter::units(self, r)
    }

    fn all_frontier_cost(&self, r: &switchyard_store::logs::LogRecord) -> Option<f64> {
        self.all_frontier(r)
    }
}

/// One text's unit vector from local embedding model `model`; a text over the model's length is
/// cut to it when `truncate`, refused otherwise.
pub async fn embed(
    runtime: &switchyard_runtime::Runtime,
    model: &str,
    text: &str,
    truncate: bool,
) -> Result<Vec<f32>, switchyard_runtime::RuntimeError> {
    use switchyard_runtime::task::Embed;
    use switchyard_runtime::{Event, RuntimeError, Task};
    let mut events = runtime
        .schedule(
            model,
            Task::Embed(Embed {
                inputs: vec![text.to_owned()],
                truncate,
            }),
        )
        .await?;
    while let Some(e) = events.recv().await {
        match e {
            Event::Vectors(mut v) if !v.is_empty() => return Ok(v.swap_remove(0)),
            Event::Failed(e) => return Err(e),
            _ => {}
        }
    }
    Err(RuntimeError::engine("no embedding came back"))
}
