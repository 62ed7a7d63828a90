//! Training examples from the request log: answers that `model = "auto"` kept on the local tier
//! and that someone rated (`PATCH /api/logs/{id}` with `feedback`). A thumbs-down on a local
//! answer says the frontier was needed (gain 1); a thumbs-up says the local answer was enough
//! (gain 0). Frontier answers say nothing about what the local model would have done, so they
//! are not used.

use anyhow::Context;
use switchyard_config::Config;
use switchyard_gateway::tools::Signals;
use switchyard_store::logs::{LogFilter, LogStore};

/// (prompt, weak quality, strong quality), like a labelled file's lines.
pub type Example = (String, f64, f64);

pub async fn examples(config: &Config, since_ms: i64) -> anyhow::Result<Vec<Example>> {
    let store = LogStore::open(&config.logs.url).await.with_context(|| {
        format!(
            "opening the request log at {}",
            switchyard_config::redact_url(&config.logs.url)
        )
    })?;
    let filter = LogFilter {
        since: Some(since_ms),
        provider: Some("local".to_owned()),
        success: Some(true),
        ..LogFilter::default()
    };
    let mut out = Vec::new();
    for row in store.scan(&filter).await? {
        let Some(feedback) = row.feedback.filter(|f| *f != 0) else {
            continue;
        };
        if !routed_by_auto(row.metadata.as_deref()) {
            continue;
        }
        // bodies are not in scans: fetch the row itself
        let Some(full) = store.get(&row.id).await? else {
            continue;
        };
        let Some(text) = full.request_body.as_deref().and_then(prompt_text) else {
            continue;
        };
        let weak = if feedback > 0 { 1.0 } else { 0.0 };
        out.push((text, weak, 1.0));
    }
    Ok(out)
}

fn routed_by_auto(metadata: Option<&str>) -> bool {
    metadata
        .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
        .is_some_and(|m| m.get("routed_model").is_some())
}

/// The text the router scores (system and messages), as at request time.
fn prompt_text(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    let text = Signals::of(&v).text;
    (!text.trim().is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_auto_routed_rows_with_a_prompt_count() {
        assert!(routed_by_auto(Some(
            r#"{"routed_model":"smol","team":"a"}"#
        )));
        assert!(!routed_by_auto(Some(r#"{"team":"a"}"#)));
        assert!(!routed_by_auto(None));
        let t = prompt_text(
            r#"{"model":"auto","messages":[{"role":"user","content":"Name a fruit."}]}"#,
        );
        assert!(t.unwrap().contains("Name a fruit."));
        assert_eq!(prompt_text(r#"{"messages":[]}"#), None);
        assert_eq!(prompt_text("not json"), None);
    }
}
