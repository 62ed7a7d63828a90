//! Rule signals of a chat request (prompt length, tools, images, JSON schema, requested output,
//! metadata) and the first rule that sends it to the frontier tier.

use serde_json::{Map, Value};
use switchyard_config::router::RouterConfig;

/// What the rules look at, read once from the request body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// The prompt's text (system and messages), for the complexity score.
    pub text: String,
    pub prompt_tokens: u64,
    pub tools: bool,
    pub images: bool,
    pub json_schema: bool,
    pub max_tokens: Option<u64>,
}

fn collect_text(v: &Value, out: &mut String, images: &mut bool) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(parts) => {
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("image_url" | "image" | "input_image") => *images = true,
                    _ => {
                        if let Some(t) = p.get("text") {
                            collect_text(t, out, images);
                        } else if let Some(c) = p.get("content") {
                            collect_text(c, out, images);
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

impl Signals {
    /// From an OpenAI chat, Anthropic messages or OpenAI Responses body.
    pub fn of(body: &Value) -> Signals {
        let mut text = String::new();
        let mut images = false;
        for system in ["system", "instructions"] {
            if let Some(system) = body.get(system) {
                collect_text(system, &mut text, &mut images);
            }
        }
        // the Responses API's `input`: a string, or items with content (or a tool's output)
        match body.get("input") {
            Some(Value::Array(items)) => {
                for item in items {
                    if let Some(c) = item.get("content").or_else(|| item.get("output")) {
                        collect_text(c, &mut text, &mut images);
                    }
                }
            }
            Some(input) => collect_text(input, &mut text, &mut images),
            None => {}
        }
        for m in body
            .get("messages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(c) = m.get("content") {
                collect_text(c, &mut text, &mut images);
            }
        }
        let schema = body
            .pointer("/response_format/type")
            .or_else(|| body.pointer("/text/format/type"))
            .and_then(Value::as_str)
            .is_some_and(|t| t == "json_schema");
        Signals {
            prompt_tokens: crate::observe::tokens::count_text(&text),
            text,
            tools: body
                .get("tools")
                .and_then(Value::as_array)
                .is_some_and(|t| !t.is_empty()),
            images,
            json_schema: schema,
            max_tokens: body
                .get("max_completion_tokens")
                .or_else(|| body.get("max_tokens"))
                .or_else(|| body.get("max_output_tokens"))
                .and_then(Value::as_u64),
        }
    }
}

/// The first rule that escalates, as a reason; `None` = the local tier may answer.
pub fn escalation(
    r: &RouterConfig,
    s: &Signals,
    metadata: Option<&Map<String, Value>>,
) -> Option<String> {
    for (key, want) in &r.metadata {
        let got = metadata.and_then(|m| m.get(key)).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if got.as_deref() == Some(want.as_str()) {
            return Some(format!("metadata {key} = {want}"));
        }
    }
    if s.images && r.escalate_images {
        return Some("images in the prompt".into());
    }
    if s.tools && r.escalate_tools {
        return Some("tools requested".into());
    }
    if s.json_schema && r.escalate_json_schema {
        return Some("JSON schema requested".into());
    }
    if let Some(max) = r.max_prompt_tokens {
        if s.prompt_tokens > max {
            return Some(format!("prompt is {} tokens > {max}", s.prompt_tokens));
        }
    }
    if let (Some(max), Some(asked)) = (r.max_output_tokens, s.max_tokens) {
        if asked > max {
            return Some(format!("max_tokens {asked} > {max}"));
        }
    }
    if let Some(ctx) = r.local_context {
        let need = s.prompt_tokens + s.max_tokens.unwrap_or(0);
        if need > u64::from(ctx) {
            return Some(format!("needs {need} tokens; the local context is {ctx}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_responses_body_gives_the_same_signals_as_chat() {
        let s = Signals::of(&serde_json::json!({
            "model": "auto", "instructions": "Be brief.", "max_output_tokens": 300,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "Describe this"},
                                                    {"type": "input_image", "image_url": "https://x/y.png"}]},
                      {"type": "function_call_output", "call_id": "c", "output": "sunny"}],
            "text": {"format": {"type": "json_schema", "name": "n", "schema": {}}},
            "tools": [{"type": "function", "name": "f"}]}));
        assert!(
            s.text.contains("Be brief.")
                && s.text.contains("Describe this")
                && s.text.contains("sunny")
        );
        assert!(s.images && s.tools && s.json_schema);
        assert_eq!(s.max_tokens, Some(300));
        let plain = Signals::of(&serde_json::json!({"model": "auto", "input": "Hello there"}));
        assert_eq!(plain.text.trim(), "Hello there");
        assert!(plain.prompt_tokens > 0);
    }
}
