//! What a Responses request asks of the store — keep the answer? continue which response? — and
//! the conversation a continued request carries: the earlier response's input and output items
//! ahead of the new input, as OpenAI's `previous_response_id` does (instructions are not carried).

use std::borrow::Cow;

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use switchyard_protocol::openai::RequestError;

use crate::GatewayError;

/// A Responses request's state fields.
pub(super) struct Ask {
    /// `previous_response_id`.
    pub previous: Option<String>,
    /// `store` (default true, as OpenAI).
    pub store: bool,
    /// This request's own input items, normalised (ids given, content as parts), a JSON array.
    pub input: Vec<Value>,
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(borrow)]
    previous_response_id: Option<Cow<'a, str>>,
    store: Option<bool>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
}

/// Reads `body`'s state fields; `None` when it is not a JSON object with a well-formed `input`
/// (the request's own parse reports that precisely). `ids`: the base of the ids given to items
/// that have none.
pub(super) fn ask(body: &[u8], ids: &str) -> Option<Ask> {
    let head: Head<'_> = serde_json::from_slice(body).ok()?;
    let input = match head.input.map(RawValue::get) {
        None => Vec::new(),
        Some(raw) if raw.starts_with('"') => {
            let text: String = serde_json::from_str(raw).ok()?;
            vec![json!({"role": "user", "content": text})]
        }
        Some(raw) => serde_json::from_str(raw).ok()?,
    };
    Some(Ask {
        previous: head.previous_response_id.map(Cow::into_owned),
        store: head.store.unwrap_or(true),
        input: input
            .into_iter()
            .enumerate()
            .map(|(i, item)| normalised(item, ids, i))
            .collect(),
    })
}

/// An input item as the store lists it: typed, with an id, message content as parts.
fn normalised(item: Value, ids: &str, n: usize) -> Value {
    let Value::Object(mut item) = item else {
        return item;
    };
    if !item.contains_key("type") && item.contains_key("role") {
        item.insert("type".into(), "message".into());
    }
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("item")
        .to_owned();
    let prefix = match kind.as_str() {
        "message" => "msg",
        "function_call" => "fc",
        "function_call_output" => "fco",
        "reasoning" => "rs",
        _ => "item",
    };
    if !item.contains_key("id") {
        let id = format!("{prefix}_{ids}{n:04x}");
        item.insert("id".into(), id.into());
    }
    if kind == "message" {
        let part = match item.get("role").and_then(Value::as_str) {
            Some("assistant") => "output_text",
            _ => "input_text",
        };
        if let Some(Value::String(text)) = item.get_mut("content") {
            let text = std::mem::take(text);
            item.insert("content".into(), json!([{"type": part, "text": text}]));
        }
    }
    Value::Object(item)
}

/// The conversation so far, from a chain of stored responses (newest first): each one's own
/// input, then its output items, oldest first.
pub(super) fn conversation<'a>(
    chain: impl DoubleEndedIterator<Item = (&'a str, &'a str)>,
) -> Result<Vec<Value>, GatewayError> {
    let broken = |e: serde_json::Error| {
        GatewayError::internal(format!("a stored response could not be read back: {e}"))
    };
    #[derive(Deserialize)]
    struct Output {
        #[serde(default)]
        output: Vec<Value>,
    }
    let mut items = Vec::new();
    for (input, response) in chain.rev() {
        let mut own: Vec<Value> = serde_json::from_str(input).map_err(broken)?;
        items.append(&mut own);
        let out: Output = serde_json::from_str(response).map_err(broken)?;
        items.extend(out.output);
    }
    Ok(items)
}

/// `body` with `input` replaced by `items` and `previous_response_id` removed.
pub(super) fn continued(body: &[u8], items: &[Value]) -> Result<Bytes, GatewayError> {
    let mut map: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        GatewayError::invalid_request(RequestError {
            message: format!("invalid request: {e}"),
            param: None,
            code: "invalid_json",
        })
    })?;
    map.remove("previous_response_id");
    map.insert("input".into(), Value::Array(for_upstream(items)));
    serde_json::to_vec(&map)
        .map(Bytes::from)
        .map_err(|e| GatewayError::internal(format!("serialising a continued request: {e}")))
}

/// The conversation as a provider is sent it: item ids and statuses left out (they are this
/// gateway's, or another provider's, and mean nothing to the one answering now), and reasoning
/// items only when self-contained (`encrypted_content`): a provider cannot look up another's.
fn for_upstream(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .filter(|item| {
            item.get("type").and_then(Value::as_str) != Some("reasoning")
                || item.get("encrypted_content").is_some_and(Value::is_string)
        })
        .map(|item| {
            let mut item = item.clone();
            if let Value::Object(map) = &mut item {
                map.remove("id");
                map.remove("status");
            }
            item
        })
        .collect()
}

/// `previous_response_id` names a conversation missing an earlier turn.
pub(super) fn lost_turn(message: String) -> GatewayError {
    GatewayError::invalid_request(RequestError {
        message,
        param: Some("previous_response_id".into()),
        code: "previous_response_not_found",
    })
}

/// `previous_response_id` names nothing this caller may continue.
pub(super) fn not_found(id: &str, stored: bool) -> GatewayError {
    let why = match stored {
        true => "",
        false => " (responses are stored only while the request log is on: [logs] enabled)",
    };
    GatewayError::invalid_request(RequestError {
        message: format!("Previous response with id '{id}' not found.{why}"),
        param: Some("previous_response_id".into()),
        code: "previous_response_not_found",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_input_is_one_user_message_with_an_id() {
        let a = ask(br#"{"model":"m","input":"Hi"}"#, "ab").unwrap();
        assert!(a.store);
        assert_eq!(a.previous, None);
        assert_eq!(
            a.input,
            vec![json!({"type":"message","id":"msg_ab0000","role":"user",
                        "content":[{"type":"input_text","text":"Hi"}]})]
        );
    }

    #[test]
    fn items_keep_their_ids_and_get_parts() {
        let body = br#"{"store":false,"previous_response_id":"resp_1","input":[
            {"role":"assistant","content":"Yes"},
            {"type":"function_call_output","call_id":"c","output":"42","id":"mine"},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"x"}]}]}"#;
        let a = ask(body, "f").unwrap();
        assert!(!a.store);
        assert_eq!(a.previous.as_deref(), Some("resp_1"));
        assert_eq!(
            a.input[0]["content"][0],
            json!({"type":"output_text","text":"Yes"})
        );
        assert_eq!(a.input[0]["id"], "msg_f0000");
        assert_eq!(a.input[1]["id"], "mine");
        assert_eq!(a.input[2]["id"], "msg_f0002");
        assert_eq!(a.input[2]["content"][0]["text"], "x");
    }

    #[test]
    fn a_chain_reads_oldest_first() {
        let chain = [
            (r#"["c"]"#, r#"{"output":["d"]}"#),
            (r#"["a"]"#, r#"{"output":["b"]}"#),
        ];
        let items = conversation(chain.into_iter()).unwrap();
        assert_eq!(items, vec![json!("a"), json!("b"), json!("c"), json!("d")]);
    }

    #[test]
    fn malformed_bodies_are_left_to_the_request_parse() {
        assert!(ask(b"{", "a").is_none());
        assert!(ask(br#"{"input":7}"#, "a").is_none());
        assert!(ask(br#"{"store":"yes"}"#, "a").is_none());
    }

    #[test]
    fn a_continued_request_carries_input_then_output() {
        let items = conversation(std::iter::once((
            r#"[{"type":"message","id":"msg_1","role":"user","content":"Hi"}]"#,
            r#"{"id":"resp_1","output":[{"type":"reasoning","id":"rs_1","summary":[]},
                {"type":"reasoning","id":"rs_2","summary":[],"encrypted_content":"gAAA"},
                {"type":"message","id":"msg_2","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello"}]}]}"#,
        )))
        .unwrap();
        assert_eq!(items.len(), 4);
        let body = continued(
            br#"{"model":"m","previous_response_id":"resp_1","input":"ignored","instructions":"be brief"}"#,
            &items,
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v.get("previous_response_id"), None);
        assert_eq!(v["input"][0].get("id"), None, "ids stay in the store");
        assert_eq!(v["instructions"], "be brief");
        // a reasoning item only another provider could look up is left out
        assert_eq!(v["input"][1]["encrypted_content"], "gAAA");
        assert_eq!(v["input"][2]["content"][0]["text"], "Hello");
        assert_eq!(v["input"][2].get("status"), None);
        assert_eq!(v["input"].as_array().unwrap().len(), 3);
    }
}
