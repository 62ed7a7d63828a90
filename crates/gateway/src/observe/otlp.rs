//! OpenTelemetry: one span per request, following the GenAI semantic conventions
//! (`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.usage.input_tokens`, …), exported in
//! batches over OTLP/HTTP with the JSON encoding (`POST {endpoint}/v1/traces`). An incoming W3C
//! `traceparent` makes the span a child of the caller's.

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use super::Finished;

pub struct Exporter {
    url: String,
    service: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// `(trace id, parent span id)` from `00-<32 hex>-<16 hex>-<2 hex>`.
pub fn parse_traceparent(v: &str) -> Option<(String, String)> {
    let mut parts = v.trim().split('-');
    let (version, trace, parent, _flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit()) && s.bytes().any(|b| b != b'0')
    };
    (version.len() == 2 && hex(trace, 32) && hex(parent, 16))
        .then(|| (trace.to_ascii_lowercase(), parent.to_ascii_lowercase()))
}

fn random_hex(n: usize) -> String {
    // UUIDv7's last 8 bytes are random (fast-rng)
    let mut s = String::new();
    while s.len() < n {
        let u = uuid::Uuid::now_v7();
        s.push_str(&uuid::fmt::Simple::from_uuid(u).to_string()[16..]);
    }
    s.truncate(n);
    s
}

fn attr(key: &str, value: Value) -> Value {
    let v = match value {
        Value::String(s) => json!({ "stringValue": s }),
        Value::Bool(b) => json!({ "boolValue": b }),
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "intValue": n.to_string() }),
        Value::Number(n) => json!({ "doubleValue": n }),
        other => json!({ "stringValue": other.to_string() }),
    };
    json!({ "key": key, "value": v })
}

/// The span for one request.
pub fn span(f: &Finished) -> Value {
    let r = &f.record;
    let (trace_id, parent) = f
        .traceparent
        .as_deref()
        .and_then(parse_traceparent)
        .map_or_else(|| (random_hex(32), None), |(t, p)| (t, Some(p)));
    let operation = if r.path.ends_with("/embeddings") {
        "embeddings"
    } else {
        "chat"
    };
    let mut attributes = vec![
        attr("gen_ai.operation.name", json!(operation)),
        attr("http.request.method", json!(r.method)),
        attr("url.path", json!(r.path)),
        attr("http.response.status_code", json!(r.status)),
        attr("switchyard.log_id", json!(r.id)),
        attr("switchyard.cached", json!(r.cached)),
    ];
    let mut opt = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            attributes.push(attr(k, v));
        }
    };
    opt("gen_ai.provider.name", r.provider.clone().map(Value::from));
    opt(
        "gen_ai.request.model",
        r.requested_model.clone().map(Value::from),
    );
    opt("gen_ai.response.model", r.model.clone().map(Value::from));
    opt("gen_ai.usage.input_tokens", r.input_tokens.map(Value::from));
    opt(
        "gen_ai.usage.output_tokens",
        r.output_tokens.map(Value::from),
    );
    opt("switchyard.cost_usd", r.cost_usd.map(Value::from));
    opt("switchyard.ttft_ms", r.ttft_ms.map(Value::from));
    opt("error.type", r.error.clone().map(Value::from));
    let model = r
        .requested_model
        .as_deref()
        .or(r.model.as_deref())
        .unwrap_or("");
    let mut span = json!({
        "traceId": trace_id,
        "spanId": random_hex(16),
        "name": format!("{operation} {model}").trim().to_owned(),
        "kind": 2,
        "startTimeUnixNano": (r.created_at as u128 * 1_000_000).to_string(),
        "endTimeUnixNano": ((r.created_at as f64 + r.duration_ms) * 1_000_000.0).round().to_string(),
        "attributes": attributes,
        "status": if r.success { json!({"code": 1}) } else { json!({"code": 2, "message": r.error.clone().unwrap_or_default()}) },
    });
    if let Some(p) = parent {
        span["parentSpanId"] = json!(p);
    }
    span
}

impl Exporter {
    pub fn new(endpoint: &str, service: &str) -> Self {
        Exporter {
            url: format!("{endpoint}/v1/traces"),
            service: service.to_owned(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// Sends the spans of a batch in the background; a collector that is down costs a warning.
    pub fn export(&self, batch: &[Finished]) {
        if batch.is_empty() {
            return;
        }
        let spans: Vec<Value> = batch.iter().map(span).collect();
        let body = json!({"resourceSpans": [{
            "resource": {"attributes": [attr("service.name", json!(self.service))]},
            "scopeSpans": [{"scope": {"name": "switchyard", "version": env!("CARGO_PKG_VERSION")}, "spans": spans}]
        }]});
        let request = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())));
        let Ok(request) = request else {
            return;
        };
        let client = self.client.clone();
        let url = self.url.clone();
        tokio::spawn(async move {
            let sent =
                tokio::time::timeout(std::time::Duration::from_secs(10), client.request(request))
                    .await;
            match sent {
                Ok(Ok(r)) if r.status().is_success() => {}
                Ok(Ok(r)) => tracing::warn!("OTLP export to {url} answered {}", r.status()),
                Ok(Err(e)) => tracing::warn!("OTLP export to {url} failed: {e}"),
                Err(_) => tracing::warn!("OTLP export to {url} timed out"),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_strictly() {
        let (t, p) =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(
            (t.as_str(), p.as_str()),
            ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
        );
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
        assert!(parse_traceparent("garbage").is_none());
        assert_eq!(random_hex(32).len(), 32);
    }
}
