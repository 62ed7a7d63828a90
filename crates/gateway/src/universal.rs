//! The universal endpoint (`POST /universal`, and Cloudflare's `POST /v1/{account}/{gateway}`):
//! a JSON array of provider-native steps `{provider, endpoint, headers, query}`, tried in order
//! until one answers with a success; the answer says which in `cf-aig-step`. Each step goes out
//! like a passthrough request (the gateway's credentials for that provider, the step's other
//! headers, `query` as the JSON body). Every failed step is logged with its index.

use std::collections::BTreeMap;
use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{HeaderMap, Method};
use serde::Deserialize;

use crate::control::ApiKey;
use crate::retry::Attempt;
use crate::{Gateway, GatewayError, NativeRequest, Reply, RequestContext};

/// Most steps one request may carry.
pub const MAX_STEPS: usize = 10;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// A configured provider's name.
    pub provider: String,
    /// The path under the provider's base URL, e.g. `chat/completions`.
    pub endpoint: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body.
    pub query: serde_json::Value,
}

/// Header names whose values are credentials (Cloudflare's universal format carries the upstream
/// key in each step's `headers`).
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "cf-aig-authorization",
    "cookie",
];

/// The body as the request log may keep it: each step's credential headers' values replaced by
/// `[redacted]`. The body itself when there is nothing to hide (or it is not JSON).
pub fn redacted_for_log(body: &Bytes) -> Bytes {
    let Ok(mut value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return body.clone();
    };
    let mut changed = false;
    let steps: Vec<&mut serde_json::Value> = match &mut value {
        serde_json::Value::Array(steps) => steps.iter_mut().collect(),
        one => vec![one],
    };
    for step in steps {
        let Some(headers) = step.get_mut("headers").and_then(|h| h.as_object_mut()) else {
            continue;
        };
        for (name, v) in headers.iter_mut() {
            if CREDENTIAL_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                *v = serde_json::Value::from("[redacted]");
                changed = true;
            }
        }
    }
    match changed {
        true => serde_json::to_vec(&value).map_or_else(|_| body.clone(), Bytes::from),
        false => body.clone(),
    }
}

/// A JSON array of steps (or one step object).
pub fn parse_steps(body: &[u8]) -> Result<Vec<Step>, GatewayError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
        GatewayError::bad_body(format!(
            "the universal endpoint takes a JSON array of steps: {e}"
        ))
    })?;
    let steps: Vec<Step> = match value {
        serde_json::Value::Array(_) => serde_json::from_value(value),
        _ => serde_json::from_value(value).map(|s| vec![s]),
    }
    .map_err(|e| {
        GatewayError::bad_body(format!(
            "each step is {{\"provider\", \"endpoint\", \"headers\", \"query\"}}: {e}"
        ))
    })?;
    if steps.is_empty() || steps.len() > MAX_STEPS {
        return Err(GatewayError::bad_body(format!(
            "between 1 and {MAX_STEPS} steps, not {}",
            steps.len()
        )));
    }
    Ok(steps)
}

fn headers_of(step: &Step) -> Result<HeaderMap, GatewayError> {
    let mut out = HeaderMap::new();
    for (k, v) in &step.headers {
        let name = HeaderName::try_from(k.as_str()).map_err(|_| {
            GatewayError::bad_body(format!("step header `{k}` is not a header name"))
        })?;
        let value = HeaderValue::try_from(v.as_str()).map_err(|_| {
            GatewayError::bad_body(format!("step header `{k}` has an invalid value"))
        })?;
        out.insert(name, value);
    }
    out.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(out)
}

impl Gateway {
    /// `POST /universal`: the steps in `body`, admitted once (limits; budgets refuse it, its
    /// usage is not read) and tried in order; the first success answers (a last failure is the
    /// answer too). `key`: the gateway key the request authenticated with.
    pub(crate) async fn universal(
        &self,
        ctx: &RequestContext,
        body: &[u8],
        key: Option<&ApiKey>,
    ) -> Result<Reply, GatewayError> {
        crate::passthrough::refuse_restricted(key)?;
        let steps = parse_steps(body)?;
        let ticket = self
            .admit_native(key, "", body, None, &Method::POST)
            .await?;
        let mut reply = self.steps(ctx, steps, key).await?;
        reply.served.ticket = ticket.map(std::sync::Arc::new);
        Ok(reply)
    }

    async fn steps(
        &self,
        ctx: &RequestContext,
        steps: Vec<Step>,
        key: Option<&ApiKey>,
    ) -> Result<Reply, GatewayError> {
        let last = steps.len().saturating_sub(1);
        for (i, step) in steps.into_iter().enumerate() {
            let model = step.query["model"].as_str().unwrap_or_default().to_owned();
            let native = NativeRequest {
                provider: step.provider.clone(),
                method: Method::POST,
                rest: step.endpoint.trim_start_matches('/').to_owned(),
                query: None,
                headers: headers_of(&step)?,
                body: Bytes::from(serde_json::to_vec(&step.query).unwrap_or_default()),
                key: key.cloned(),
                verify: true,
            };
            let started_ms = crate::clock::unix_ms();
            let started = Instant::now();
            let failed = |status: u16, error: String| Attempt {
                step: i as u32,
                requested: model.clone(),
                provider: step.provider.clone(),
                provider_kind: "",
                model: model.clone(),
                status,
                error,
                started_ms,
                took: started.elapsed(),
            };
            match self.passthrough(ctx, native).await {
                Ok(mut reply) if reply.response.status().is_success() || i == last => {
                    if reply.served.model.is_empty() {
                        reply.served.model = model.clone();
                    }
                    reply.set_step(i as u32, false);
                    return Ok(reply);
                }
                Ok(reply) => {
                    let status = reply.response.status();
                    ctx.push_attempt(failed(
                        status.as_u16(),
                        format!(
                            "step {i}: provider `{}` answered HTTP {}",
                            step.provider,
                            status.as_u16()
                        ),
                    ));
                }
                Err(e) => {
                    ctx.push_attempt(failed(e.status.as_u16(), e.message.clone()));
                    if i == last {
                        return Err(e);
                    }
                }
            }
        }
        Err(GatewayError::bad_body("no steps".into()))
    }
}
