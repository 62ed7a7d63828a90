//! `{"error": {"message", "type", "param", "code"}}`, the error body OpenAI clients parse.

use serde::{Deserialize, Serialize};

/// An OpenAI-shaped error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub message: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub param: Option<String>,
    pub code: Option<String>,
}

impl ErrorBody {
    pub fn new(
        message: impl Into<String>,
        kind: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Self {
        ErrorBody {
            error: ErrorDetail {
                message: message.into(),
                kind: kind.to_owned(),
                param: param.map(str::to_owned),
                code: code.map(str::to_owned),
            },
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        // Serialising a struct of strings cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Best effort extraction of a human-readable message from any provider's error body: OpenAI's
    /// `error.message`, a bare `error` string, `message`, `detail`, or the raw text itself.
    pub fn message_from_upstream(body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
            return truncate(text.trim(), 1000);
        };
        let pick = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let found = value
            .pointer("/error/message")
            .and_then(pick)
            .or_else(|| value.get("error").and_then(pick))
            .or_else(|| value.get("message").and_then(pick))
            .or_else(|| value.get("detail").and_then(pick))
            .or_else(|| value.pointer("/0/error/message").and_then(pick))
            .or_else(|| value.pointer("/errors/0/message").and_then(pick));
        truncate(found.as_deref().unwrap_or(text.trim()), 1000)
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
