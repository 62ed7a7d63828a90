//! What a semantic lookup compares: the text of the request's last user turn (embedded), within a
//! scope — a SHA-256 over everything else (provider, API, upstream model, embedding model,
//! parameters, system prompt and earlier turns), so an answer only serves requests that differ
//! in how the last question is worded.

use serde_json::Value;

use super::index::ScopeId;
use crate::cache::key::{self, KeyScope};
use crate::ClientApi;

/// A request the semantic cache can take part in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Probe {
    pub scope: ScopeId,
    pub text: String,
}

/// What to leave out of a semantic lookup.
pub(crate) struct Rules<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub embedder: &'a str,
    /// Whose entries these are (empty: shared by every caller).
    pub caller: &'a str,
    /// Requests offering tools take part too.
    pub tools: bool,
}

/// The probe for `body`, or `None` when the request is not one a paraphrase can answer: not a
/// text generation API, tools offered (unless allowed), a last turn that is not the user's or
/// holds more than text (images, tool results).
pub(crate) fn probe(api: ClientApi, body: &[u8], rules: &Rules<'_>) -> Option<Probe> {
    let Ok(Value::Object(mut v)) = serde_json::from_slice::<Value>(body) else {
        return None;
    };
    let offers_tools = ["tools", "functions"].iter().any(|f| {
        v.get(*f)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    });
    if offers_tools && !rules.tools {
        return None;
    }
    let text = match api {
        ClientApi::ChatCompletions | ClientApi::Messages => {
            let messages = v.get_mut("messages")?.as_array_mut()?;
            let last = messages.pop()?;
            if last.get("role").and_then(Value::as_str) != Some("user") {
                return None;
            }
            text_of(last.get("content")?)?
        }
        ClientApi::Completions => match v.remove("prompt")? {
            Value::String(s) => s,
            Value::Array(mut a) if a.len() == 1 => match a.pop()? {
                Value::String(s) => s,
                _ => return None,
            },
            _ => return None,
        },
        // (Responses requests are not looked up semantically)
        ClientApi::Embeddings
        | ClientApi::CountTokens
        | ClientApi::Responses
        | ClientApi::Transcriptions
        | ClientApi::Translations
        | ClientApi::Rerank
        | ClientApi::Classify
        | ClientApi::Images => return None,
    };
    if text.trim().is_empty() {
        return None;
    }
    let rest = serde_json::to_vec(&v).ok()?;
    let identity = format!("semantic:{}:{}", rules.embedder, rules.caller);
    let scope = KeyScope {
        provider: rules.provider,
        api: api.name(),
        model: rules.model,
        identity: &identity,
    };
    let keyed = key::request_key(&scope, &rest).ok()?;
    Some(Probe {
        scope: keyed.key,
        text,
    })
}

/// A message's text: a string, or parts that are all text (OpenAI `{type: "text", text}`,
/// Anthropic `{type: "text", text}`).
fn text_of(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let mut out = String::new();
            for p in parts {
                if p.get("type").and_then(Value::as_str) != Some("text") {
                    return None;
                }
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(p.get("text")?.as_str()?);
            }
            Some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Rules<'static> = Rules {
        provider: "p",
        model: "m",
        embedder: "minilm",
        caller: "",
        tools: false,
    };

    fn chat(body: &str) -> Option<Probe> {
        probe(ClientApi::ChatCompletions, body.as_bytes(), &RULES)
    }

    #[test]
    fn the_last_user_turn_is_compared_within_everything_else() {
        let a = chat(r#"{"model":"x","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"What is the capital of France?"}],"temperature":0}"#).unwrap();
        let b = chat(r#"{"temperature":0,"stream":true,"model":"y","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"Which city is France's capital?"}]}]}"#).unwrap();
        assert_eq!(a.text, "What is the capital of France?");
        assert_eq!(b.text, "Which city is France's capital?");
        assert_eq!(
            a.scope, b.scope,
            "model, stream and key order do not matter"
        );
        for other in [
            r#"{"messages":[{"role":"system","content":"be long"},{"role":"user","content":"q"}],"temperature":0}"#,
            r#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"q"}],"temperature":1}"#,
            r#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"earlier"},{"role":"assistant","content":"a"},{"role":"user","content":"q"}],"temperature":0}"#,
        ] {
            assert_ne!(chat(other).unwrap().scope, a.scope, "{other}");
        }
        let other_model = probe(
            ClientApi::ChatCompletions,
            br#"{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"q"}],"temperature":0}"#,
            &Rules { model: "m2", ..RULES },
        )
        .unwrap();
        assert_ne!(other_model.scope, a.scope);
    }

    #[test]
    fn requests_a_paraphrase_cannot_answer_are_left_out() {
        for body in [
            r#"{"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f"}}]}"#,
            r#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:"}}]}]}"#,
            r#"{"messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}"#,
            r#"{"messages":[{"role":"user","content":"  "}]}"#,
            r#"{"messages":[]}"#,
            r#"not json"#,
        ] {
            assert_eq!(chat(body), None, "{body}");
        }
        let with_tools = r#"{"messages":[{"role":"user","content":"q"}],"tools":[{"type":"function","function":{"name":"f"}}]}"#;
        assert!(probe(
            ClientApi::ChatCompletions,
            with_tools.as_bytes(),
            &Rules {
                tools: true,
                ..RULES
            }
        )
        .is_some());
        assert_eq!(
            probe(ClientApi::Embeddings, br#"{"input":"q"}"#, &RULES),
            None
        );
        let c = probe(
            ClientApi::Completions,
            br#"{"prompt":"Once upon","max_tokens":5}"#,
            &RULES,
        )
        .unwrap();
        assert_eq!(c.text, "Once upon");
        let m = probe(ClientApi::Messages, br#"{"max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#, &RULES).unwrap();
        assert_eq!(m.text, "hi");
        assert_ne!(m.scope, c.scope);
    }
}
