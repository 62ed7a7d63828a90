//! Cascade (`[router] cascade_min_logprob`): for a request the rules keep local, the local model
//! answers first — whole, with its tokens' log-probabilities — and the answer is kept when their
//! mean reaches the threshold; otherwise (or when the local tier fails and `overflow` is on) the
//! frontier answers. A streaming client only ever receives the final answer's stream: the kept
//! local answer is unfolded into a stream, an escalated request streams from the frontier.
//! The discarded local answer is logged as an attempt that says why it was discarded.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use serde_json::Value;

use super::{ApiRequest, Gateway};
use crate::api::ClientApi;
use crate::cache::replay;
use crate::clock::unix_ms;
use crate::hybrid::{Hybrid, Routed};
use crate::reply::Reply;
use crate::retry::Attempt;
use crate::{GatewayError, ReplyBody, RequestContext};

/// What the client asked for that the local call changes.
struct Asked {
    stream: bool,
    include_usage: bool,
    logprobs: bool,
}

/// Runs the cascade for a request routed to the local tier.
pub(crate) async fn run(
    gateway: &Gateway,
    hybrid: &Hybrid,
    ctx: &RequestContext,
    request: ApiRequest,
    routed: Routed,
) -> Result<Reply, GatewayError> {
    let min = hybrid
        .config
        .cascade_min_logprob
        .unwrap_or(f64::NEG_INFINITY);
    let (body, asked) = local_body(&request.body, &hybrid.config.local)?;
    let mut local = request.clone();
    local.body = body;
    let started_ms = unix_ms();
    let began = std::time::Instant::now();
    // the tiers are plain aliases (`auto:local`, `hybrid:NAME:local`): no hybrid route takes them
    let reason = match Box::pin(gateway.api(ctx, local)).await {
        Ok(reply) => {
            let confidence = reply
                .response
                .body()
                .full_bytes()
                .and_then(|b| mean_logprob(b));
            match confidence {
                Some(c) if c >= min => {
                    let reason = format!(
                        "{}; cascade: local answer kept (mean logprob {c:.2} >= {min:.2})",
                        routed.reason
                    );
                    let mut reply = for_client(reply, &asked)?;
                    reply.set_routing(Routed { reason, ..routed });
                    return Ok(reply);
                }
                other => {
                    let why = match other {
                        Some(c) => format!("local mean logprob {c:.2} < {min:.2}"),
                        None => "the local answer had no logprobs".to_owned(),
                    };
                    let reason = format!("{}; cascade: {why}, escalated", routed.reason);
                    ctx.push_attempt(Attempt {
                        step: 0,
                        requested: hybrid.config.model.clone(),
                        provider: reply.served.provider.clone(),
                        provider_kind: reply.served.provider_kind,
                        model: reply.served.model.clone(),
                        status: 200,
                        error: format!(
                            "cascade: {why}: answer discarded, escalated to the frontier"
                        ),
                        started_ms,
                        took: began.elapsed(),
                    });
                    reason
                }
            }
        }
        Err(e) if hybrid.config.overflow => {
            format!(
                "{}; cascade: the local tier failed ({}), escalated",
                routed.reason, e.message
            )
        }
        Err(e) => return Err(e),
    };
    let mut frontier = request;
    frontier.body = with_model(&frontier.body, &hybrid.config.frontier_tier)?;
    let mut reply = Box::pin(gateway.api(ctx, frontier)).await?;
    reply.set_routing(Routed {
        model: hybrid.config.frontier.first().cloned().unwrap_or_default(),
        reason,
        local: false,
        route: hybrid.config.model.clone(),
    });
    Ok(reply)
}

fn object(body: &[u8]) -> Result<serde_json::Map<String, Value>, GatewayError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(GatewayError::bad_body(
            "the request body must be a JSON object".to_owned(),
        )),
    }
}

fn with_model(body: &[u8], model: &str) -> Result<Bytes, GatewayError> {
    let mut m = object(body)?;
    m.insert("model".into(), Value::String(model.to_owned()));
    serde_json::to_vec(&m)
        .map(Bytes::from)
        .map_err(|e| GatewayError::internal(format!("rewriting the body: {e}")))
}

/// The local call: the local model itself (no fallbacks: escalation is decided here), whole,
/// with logprobs.
fn local_body(body: &[u8], local: &str) -> Result<(Bytes, Asked), GatewayError> {
    let mut m = object(body)?;
    let asked = Asked {
        stream: m.get("stream").and_then(Value::as_bool) == Some(true),
        include_usage: m
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true),
        logprobs: m.get("logprobs").and_then(Value::as_bool) == Some(true),
    };
    m.insert("model".into(), Value::String(local.to_owned()));
    m.insert("stream".into(), Value::Bool(false));
    m.remove("stream_options");
    m.insert("logprobs".into(), Value::Bool(true));
    let bytes = serde_json::to_vec(&m)
        .map_err(|e| GatewayError::internal(format!("rewriting the body: {e}")))?;
    Ok((Bytes::from(bytes), asked))
}

/// The mean log-probability of the answer's tokens (OpenAI `choices[0].logprobs.content`).
pub(crate) fn mean_logprob(body: &[u8]) -> Option<f64> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let content = v.pointer("/choices/0/logprobs/content")?.as_array()?;
    let lps: Vec<f64> = content
        .iter()
        .filter_map(|t| t.get("logprob")?.as_f64())
        .collect();
    (!lps.is_empty()).then(|| lps.iter().sum::<f64>() / lps.len() as f64)
}

/// The kept local answer as the client asked for it: without the logprobs it did not ask for,
/// unfolded into a stream for a streaming client (usage kept for the log either way).
fn for_client(mut reply: Reply, asked: &Asked) -> Result<Reply, GatewayError> {
    let Some(body) = reply.response.body().full_bytes().cloned() else {
        return Ok(reply);
    };
    let mut v: Value = serde_json::from_slice(&body)
        .map_err(|e| GatewayError::internal(format!("the local answer is not JSON: {e}")))?;
    if !asked.logprobs {
        if let Some(choices) = v.get_mut("choices").and_then(Value::as_array_mut) {
            for c in choices {
                c["logprobs"] = Value::Null;
            }
        }
    }
    let json =
        Bytes::from(serde_json::to_vec(&v).map_err(|e| GatewayError::internal(e.to_string()))?);
    let usage = crate::answer::usage_of(ClientApi::ChatCompletions, false, &json);
    let headers = reply.response.headers_mut();
    let out = if asked.stream {
        let stream = crate::answer::json_as_stream(
            ClientApi::ChatCompletions,
            &json,
            asked.include_usage,
            unix_ms().max(0) as u64,
        )
        .ok_or_else(|| GatewayError::internal("the local answer could not be streamed"))?;
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(replay::EVENT_STREAM));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        headers.remove(http::header::CONTENT_LENGTH);
        reply.served.stream = true;
        stream
    } else {
        headers.remove(http::header::CONTENT_LENGTH);
        json
    };
    reply.served.usage_slot = Some(Arc::new(Mutex::new(usage)));
    *reply.response.body_mut() = ReplyBody::full(out);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mean_is_over_the_answers_tokens() {
        let body = br#"{"choices":[{"logprobs":{"content":[{"token":"a","logprob":-0.5},{"token":"b","logprob":-1.5}]}}]}"#;
        assert_eq!(mean_logprob(body), Some(-1.0));
        assert_eq!(mean_logprob(br#"{"choices":[{"logprobs":null}]}"#), None);
        assert_eq!(
            mean_logprob(br#"{"choices":[{"logprobs":{"content":[]}}]}"#),
            None
        );
    }

    #[test]
    fn the_local_call_is_whole_with_logprobs_on_the_local_model() {
        let (body, asked) = local_body(
            br#"{"model":"auto","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#,
            "smol",
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["model"], "smol");
        assert_eq!(v["stream"], false);
        assert_eq!(v["logprobs"], true);
        assert!(v.get("stream_options").is_none());
        assert!(asked.stream && asked.include_usage && !asked.logprobs);
    }
}
