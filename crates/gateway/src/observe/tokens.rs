//! Local token counts for answers whose provider reported no usage: OpenAI's `o200k_base` BPE
//! (tiktoken, compiled in — nothing is downloaded) over the text of the messages and the answer.
//! Exact for GPT-4o-family models, an estimate for others; records say `tokens_estimated` either
//! way.

use std::sync::OnceLock;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

use crate::ClientApi;

fn bpe() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

/// Tokens in `text` (cl100k), for rules and estimates.
pub fn count_text(text: &str) -> u64 {
    count(text)
}

fn count(text: &str) -> u64 {
    match bpe() {
        Some(bpe) => bpe.encode_ordinary(text).len() as u64,
        None => text.len().div_ceil(4) as u64,
    }
}

/// Every string under `v` (message texts, tool arguments, system prompt), joined by newlines.
fn strings(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| strings(i, out)),
        _ => {}
    }
}

/// Input tokens of a request body: the text of its messages (and system prompt / input).
pub fn input_tokens(body: &[u8]) -> u64 {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return body.len().div_ceil(4) as u64;
    };
    let mut text = String::new();
    for key in ["system", "messages", "input", "prompt"] {
        if let Some(part) = v.get(key) {
            strings(part, &mut text);
        }
    }
    count(&text)
}

/// Output tokens of an answer (JSON or SSE in the client's dialect): its text, reasoning and tool
/// arguments.
pub fn output_tokens(api: ClientApi, stream: bool, answer: &[u8]) -> u64 {
    match crate::answer::answer_of(api, stream, answer) {
        Some(text) => count(&text),
        None => answer.len().div_ceil(4) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_like_tiktoken() {
        // "Hello, world!" is 4 tokens in o200k_base
        assert_eq!(count("Hello, world!"), 4);
        let body = br#"{"model":"m","messages":[{"role":"user","content":"Hello, world!"}]}"#;
        // the role is counted as text too ("user\n" + "Hello, world!\n")
        assert!(input_tokens(body) >= 4);
        let answer = br#"{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello, world!"},"finish_reason":"stop"}]}"#;
        assert_eq!(output_tokens(ClientApi::ChatCompletions, false, answer), 4);
    }
}
