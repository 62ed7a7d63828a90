//! Rerank, as Cohere documents `POST /v2/rerank` (`{model, query, documents: [string],
//! top_n}` → `{id, results: [{index, relevance_score}], meta: {billed_units: {search_units}}}`)
//! and Jina documents `POST /v1/rerank` (documents may be objects; `return_documents`;
//! `usage.total_tokens`). A document's score is the share of the query's words it contains, so
//! the order is known to the tests.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

use super::{record, MockState};

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn ranked(body: &Value) -> Result<Vec<(usize, f64, String)>, &'static str> {
    let query = words(body["query"].as_str().ok_or("query is required")?);
    let docs = body["documents"]
        .as_array()
        .filter(|d| !d.is_empty())
        .ok_or("documents is required")?;
    let mut scored = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let text = d
            .as_str()
            .or_else(|| d["text"].as_str())
            .ok_or("documents must be strings")?;
        let have = words(text);
        let hits = query.iter().filter(|w| have.contains(w)).count();
        scored.push((i, hits as f64 / query.len().max(1) as f64, text.to_owned()));
    }
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let top = body["top_n"].as_u64().map_or(scored.len(), |n| n as usize);
    scored.truncate(top);
    Ok(scored)
}

/// Cohere v2.
pub(super) async fn cohere(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    let body = recorded.json();
    match ranked(&body) {
        Ok(r) => {
            let results: Vec<Value> = r
                .iter()
                .map(|(i, s, _)| json!({"index": i, "relevance_score": s}))
                .collect();
            axum::Json(json!({"id": "rr-1", "results": results,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}))
            .into_response()
        }
        Err(m) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": format!("invalid request: {m}")})),
        )
            .into_response(),
    }
}

/// Jina (and vLLM's, TEI's Cohere-compatible route).
pub(super) async fn jina(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    let body = recorded.json();
    let with_docs = body["return_documents"].as_bool().unwrap_or(true);
    match ranked(&body) {
        Ok(r) => {
            let results: Vec<Value> = r
                .iter()
                .map(|(i, s, t)| {
                    let mut v = json!({"index": i, "relevance_score": s});
                    if with_docs {
                        v["document"] = json!({"text": t});
                    }
                    v
                })
                .collect();
            axum::Json(json!({"model": body["model"], "results": results,
                "usage": {"total_tokens": 42}}))
            .into_response()
        }
        Err(m) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(json!({"detail": m})),
        )
            .into_response(),
    }
}
