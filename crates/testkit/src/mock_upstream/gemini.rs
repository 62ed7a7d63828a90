//! Google Gemini (AI Studio) `models/{model}:generateContent`, `:streamGenerateContent?alt=sse`
//! (events framed with `\r\n\r\n`, no terminator) and `:batchEmbedContents`, authenticated with
//! `x-goog-api-key`. Steered by model name: `status-NNN`, `safety-block`, `broken-stream`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

use super::{behaviour, record, Behaviour, MockState};

fn error(code: u16, status: &str, message: &str) -> Response {
    let http = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        http,
        axum::Json(json!({"error": {"code": code, "message": message, "status": status}})),
    )
        .into_response()
}

fn usage(candidates: u64) -> Value {
    json!({"promptTokenCount": 9, "candidatesTokenCount": candidates, "totalTokenCount": 9 + candidates})
}

fn chunk(parts: Value, finish: Option<&str>, candidates: u64) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    if let Some(f) = finish {
        candidate["finishReason"] = json!(f);
    }
    json!({"candidates": [candidate], "usageMetadata": usage(candidates), "modelVersion": "gemini-2.5-flash", "responseId": "resp-mock"})
}

/// `GET /v1beta/models`: the model list, paged (`pageToken`), names as `models/…`; a request
/// without `x-goog-api-key` gets Google's 403.
pub(super) async fn list(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    if recorded.header("x-goog-api-key").is_none() {
        return error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers",
        );
    }
    let second = recorded
        .query
        .as_deref()
        .is_some_and(|q| q.contains("pageToken="));
    let page = if second {
        json!({"models": [{"name": "models/text-embedding-004", "displayName": "Text Embedding 004",
            "supportedGenerationMethods": ["embedContent"]}]})
    } else {
        json!({"models": [{"name": "models/gemini-2.5-flash", "displayName": "Gemini 2.5 Flash",
            "supportedGenerationMethods": ["generateContent", "countTokens"]}],
            "nextPageToken": "page-2"})
    };
    axum::Json(page).into_response()
}

pub(super) async fn models(
    State(state): State<Arc<MockState>>,
    Path(rest): Path<String>,
    request: Request,
) -> Response {
    let recorded = record(&state, request).await;
    let vertex_token = recorded.header("authorization") == Some("Bearer ya29.mock-token");
    if recorded.header("x-goog-api-key").is_none() && !vertex_token {
        return error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers. Please use API Key.",
        );
    }
    let Some((model, method)) = rest.split_once(':') else {
        return error(404, "NOT_FOUND", "unknown method");
    };
    let body = recorded.json();
    if let Behaviour::Status(code) = behaviour(model) {
        return match code {
            429 => error(
                429,
                "RESOURCE_EXHAUSTED",
                "Resource has been exhausted (e.g. check quota).",
            ),
            400..=499 => error(code, "INVALID_ARGUMENT", "Invalid JSON payload received."),
            _ => error(code, "INTERNAL", "An internal error has occurred."),
        };
    }
    let tool = body["tools"][0]["functionDeclarations"][0]["name"]
        .as_str()
        .map(str::to_owned);
    match method {
        "countTokens" => {
            let request = &body["generateContentRequest"];
            if request["model"].as_str() != Some(&format!("models/{model}")) {
                return error(
                    400,
                    "INVALID_ARGUMENT",
                    "generateContentRequest.model is required",
                );
            }
            axum::Json(json!({"totalTokens": request["contents"].to_string().len() / 4, "promptTokensDetails": []})).into_response()
        }
        "batchEmbedContents" => {
            let n = body["requests"].as_array().map_or(0, Vec::len);
            let embeddings: Vec<Value> = (0..n)
                .map(|i| json!({"values": [0.01 * i as f64, 0.5, -0.25]}))
                .collect();
            axum::Json(json!({"embeddings": embeddings})).into_response()
        }
        "generateContent" => {
            if model == "safety-block" {
                return axum::Json(json!({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9}, "modelVersion": "gemini-2.5-flash"})).into_response();
            }
            let parts = match &tool {
                Some(name) => {
                    json!([{"functionCall": {"name": name, "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLW1vY2s="}])
                }
                None => json!([{"text": "Hello from mock"}]),
            };
            axum::Json(chunk(parts, Some("STOP"), 3)).into_response()
        }
        "streamGenerateContent" => {
            let mut events: Vec<Value> = match &tool {
                Some(name) => vec![chunk(
                    json!([{"functionCall": {"name": name, "args": {"city": "Paris"}}, "thoughtSignature": "c2lnLW1vY2s="}]),
                    Some("STOP"),
                    3,
                )],
                None => vec![
                    chunk(json!([{"text": "Hello"}]), None, 1),
                    chunk(json!([{"text": " from"}]), None, 2),
                    chunk(json!([{"text": " mock"}]), Some("STOP"), 3),
                ],
            };
            let broken = matches!(behaviour(model), Behaviour::BrokenStream);
            if broken {
                events.truncate(1);
            }
            let frames: Vec<Bytes> = events
                .iter()
                .map(|e| Bytes::from(format!("data: {e}\r\n\r\n")))
                .collect();
            let body = super::faults::event_body(frames, broken);
            Response::builder()
                .header("content-type", "text/event-stream")
                .body(body)
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        _ => error(404, "NOT_FOUND", "unknown method"),
    }
}

/// Google's OAuth token endpoint for service accounts: takes a JWT-bearer assertion, answers a
/// short-lived access token. The assertion is recorded; tests verify its signature.
pub(super) async fn token(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    let form = String::from_utf8_lossy(&recorded.body).into_owned();
    let grant = form.contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer");
    let assertion = form
        .split('&')
        .find_map(|kv| kv.strip_prefix("assertion="))
        .unwrap_or_default();
    if !grant || assertion.split('.').count() != 3 {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": "Invalid JWT"})),
        )
            .into_response();
    }
    axum::Json(
        json!({"access_token": "ya29.mock-token", "expires_in": 3599, "token_type": "Bearer"}),
    )
    .into_response()
}
