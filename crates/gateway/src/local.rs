//! The local runtime as a provider. Local models are bound to the provider `local`, which speaks
//! the OpenAI dialect; instead of an HTTP request, the call goes to [`Runtime::call`] and its
//! answer is dressed as an HTTP response, so translation, usage, retries, fallbacks, limits and
//! the request log treat a local model like any other.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Response, StatusCode};
use switchyard_config::{LocalTask, RuntimeConfig};
use switchyard_providers::UpstreamBody;
use switchyard_runtime::{LocalApi, LocalBody, ModelSettings, Runtime, TaskKind};

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
    };
    let mut s = ModelSettings::new(&m.name, task, m.path.clone());
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
    s
}

/// Which runtime API answers a client API.
fn local_api(api: ClientApi) -> Option<LocalApi> {
    match api {
        ClientApi::ChatCompletions | ClientApi::Messages => Some(LocalApi::ChatCompletions),
        ClientApi::Completions => Some(LocalApi::Completions),
        ClientApi::Embeddings => Some(LocalApi::Embeddings),
        ClientApi::CountTokens => None,
    }
}

/// Calls local model `model` with an OpenAI body; the answer as an upstream HTTP response.
pub async fn call(
    runtime: &Runtime,
    api: ClientApi,
    model: &str,
    body: &Bytes,
) -> Result<(Response<UpstreamBody>, Duration), GatewayError> {
    let Some(local) = local_api(api) else {
        return Err(GatewayError::unsupported_api("local", api.name()));
    };
    let sent = std::time::Instant::now();
    let reply = runtime.call(local, model, body).await;
    let latency = sent.elapsed();
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
    *response.status_mut() = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    Ok((response, latency))
}
