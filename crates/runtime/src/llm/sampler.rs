//! A request's sampler chain (penalties → grammar → truncation → temperature → draw), and the
//! grammars behind JSON mode, JSON schemas and tool calls.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use serde_json::{json, Value};

use crate::task::{Constraint, Sampling};
use crate::RuntimeError;

/// How many recent tokens the repetition penalties look at.
const PENALTY_WINDOW: i32 = 64;

/// The sampler chain for one request. Fails (400) when the constraint's grammar cannot be built.
pub fn build(
    model: &LlamaModel,
    s: &Sampling,
    constraint: &Constraint,
    ignore_eos: bool,
) -> Result<LlamaSampler, RuntimeError> {
    let mut chain = Vec::new();
    if ignore_eos {
        let vocab = model.vocab();
        let mut banned = vec![vocab.eos()];
        if vocab.eot() != vocab.eos() && vocab.eot().0 >= 0 {
            banned.push(vocab.eot());
        }
        let biases: Vec<LlamaLogitBias> = banned
            .into_iter()
            .map(|t| LlamaLogitBias::new(t, f32::NEG_INFINITY))
            .collect();
        chain.push(LlamaSampler::logit_bias(model.n_vocab(), &biases));
    }
    if s.repetition_penalty != 1.0 || s.frequency_penalty != 0.0 || s.presence_penalty != 0.0 {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            PENALTY_WINDOW,
            s.repetition_penalty,
            s.frequency_penalty,
            s.presence_penalty,
        ));
    }
    if let Some(gbnf) = grammar(constraint)? {
        let g = LlamaSampler::grammar(model, &gbnf, "root").map_err(|e| {
            RuntimeError::invalid(
                "response_format",
                format!("the output grammar is invalid: {e}"),
            )
        })?;
        chain.push(g);
    }
    if s.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if s.top_k > 0 {
            chain.push(LlamaSampler::top_k(s.top_k));
        }
        if s.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(s.top_p, 1));
        }
        if s.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(s.min_p, 1));
        }
        chain.push(LlamaSampler::temp(s.temperature));
        chain.push(LlamaSampler::dist(s.seed));
    }
    Ok(LlamaSampler::chain_simple(chain))
}

/// The GBNF grammar a constraint needs, if any.
pub fn grammar(constraint: &Constraint) -> Result<Option<String>, RuntimeError> {
    let schema = match constraint {
        Constraint::None => return Ok(None),
        // tool_choice "auto": the model may answer in text; a JSON call is recognised afterwards
        Constraint::Tools {
            required: false, ..
        } => return Ok(None),
        Constraint::JsonObject => json!({"type": "object"}),
        Constraint::JsonSchema(schema) => schema.clone(),
        Constraint::Tools { tools, .. } => tool_call_schema(tools),
    };
    let text = checked_schema(&schema)?;
    llama_cpp_2::json_schema_to_grammar(&text)
        .map(Some)
        .map_err(|e| {
            RuntimeError::invalid(
                "response_format",
                format!("this JSON schema cannot be turned into a grammar: {e}"),
            )
        })
}

/// Nesting a schema may have (the converter recurses through it, on the request's thread).
const MAX_SCHEMA_DEPTH: usize = 64;
/// A schema's size as JSON text (the grammar, and the time to build it, grow with it).
const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// `schema` as JSON text, once it is known to be small and shallow enough that turning it into
/// a grammar takes bounded time and stack.
fn checked_schema(schema: &Value) -> Result<String, RuntimeError> {
    // depth first, without recursion (the check itself must not be the deep call)
    let mut stack = vec![(schema, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        if depth > MAX_SCHEMA_DEPTH {
            return Err(RuntimeError::invalid(
                "response_format",
                format!("the JSON schema is nested too deep (more than {MAX_SCHEMA_DEPTH} levels)"),
            ));
        }
        match v {
            Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    let text = serde_json::to_string(schema).unwrap_or_default();
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(RuntimeError::invalid(
            "response_format",
            format!(
                "the JSON schema is {} KiB; local models take schemas of at most {} KiB",
                text.len() / 1024,
                MAX_SCHEMA_BYTES / 1024
            ),
        ));
    }
    Ok(text)
}

/// `{"name": "<tool>", "arguments": {<its parameters>}}` for one of `tools` (OpenAI shapes).
pub fn tool_call_schema(tools: &[Value]) -> Value {
    let calls: Vec<Value> = tools
        .iter()
        .filter_map(|t| {
            let f = t.get("function")?;
            let name = f.get("name")?.as_str()?;
            let params = f
                .get("parameters")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"}));
            Some(json!({
                "type": "object",
                "properties": {"name": {"const": name}, "arguments": params},
                "required": ["name", "arguments"],
            }))
        })
        .collect();
    match calls.len() {
        1 => calls.into_iter().next().unwrap_or_default(),
        _ => json!({"oneOf": calls}),
    }
}

/// A generated tool call (`{"name", "arguments"}`), if `text` is one of `tools`.
pub fn parse_tool_call(text: &str, tools: &[Value]) -> Option<(String, String)> {
    let v: Value = serde_json::from_str(text.trim()).ok()?;
    let name = v.get("name")?.as_str()?;
    let known = tools
        .iter()
        .any(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name));
    if !known {
        return None;
    }
    let args = v.get("arguments").cloned().unwrap_or_else(|| json!({}));
    Some((name.to_owned(), args.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(name: &str) -> Value {
        json!({"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}})
    }

    #[test]
    fn one_tool_is_one_object_schema() {
        let s = tool_call_schema(&[tool("weather")]);
        assert_eq!(s["properties"]["name"]["const"], "weather");
        let two = tool_call_schema(&[tool("a"), tool("b")]);
        assert_eq!(two["oneOf"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn tool_calls_are_recognised_only_for_known_tools() {
        let tools = [tool("weather")];
        let (name, args) = parse_tool_call(
            r#" {"name":"weather","arguments":{"city":"Oslo"}} "#,
            &tools,
        )
        .unwrap();
        assert_eq!(name, "weather");
        assert_eq!(args, r#"{"city":"Oslo"}"#);
        assert!(parse_tool_call(r#"{"name":"other","arguments":{}}"#, &tools).is_none());
        assert!(parse_tool_call("Sunny", &tools).is_none());
    }
}

#[cfg(test)]
mod bounds {
    use super::*;

    #[test]
    fn schemas_too_deep_or_too_large_are_refused_before_compiling() {
        // hundreds of levels of nesting would run the converter's recursion deep
        let mut deep = json!({"type": "string"});
        for _ in 0..200 {
            deep = json!({"type": "object", "properties": {"a": deep}});
        }
        let err = grammar(&Constraint::JsonSchema(deep)).unwrap_err();
        assert_eq!(err.param, Some("response_format"));
        assert!(err.message.contains("deep"), "{}", err.message);
        let properties: serde_json::Map<String, Value> = (0..20_000)
            .map(|i| (format!("field_{i}"), json!({"type": "string"})))
            .collect();
        let large = json!({"type": "object", "properties": properties});
        let err = grammar(&Constraint::JsonSchema(large)).unwrap_err();
        assert!(err.message.contains("KiB"), "{}", err.message);
        // an ordinary schema still compiles
        let fine = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
        assert!(grammar(&Constraint::JsonSchema(fine)).unwrap().is_some());
    }
}
