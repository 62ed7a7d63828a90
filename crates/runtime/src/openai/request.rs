//! OpenAI request bodies (`/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`) checked
//! and turned into [`Task`]s. Every refusal names the parameter at fault.

use serde_json::{Map, Value};

use crate::task::{Constraint, Embed, Generate, Message, Prompt, Sampling, Task};
use crate::RuntimeError;

/// What the response needs to know about the request.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub stream: bool,
    /// `stream_options.include_usage`.
    pub include_usage: bool,
    /// Tools offered (a JSON tool call in the answer becomes `tool_calls`).
    pub tools: Vec<Value>,
    /// `encoding_format: base64` (embeddings).
    pub base64: bool,
    /// `logprobs: true` (chat): each token's log-probability in the answer.
    pub logprobs: bool,
}

fn object(body: &[u8]) -> Result<Map<String, Value>, RuntimeError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(RuntimeError::invalid(
            "body",
            "the request body must be a JSON object",
        )),
        Err(e) => Err(RuntimeError::invalid(
            "body",
            format!("the request body is not valid JSON: {e}"),
        )),
    }
}

fn number(
    m: &Map<String, Value>,
    key: &'static str,
    lo: f64,
    hi: f64,
) -> Result<Option<f32>, RuntimeError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_f64() {
            Some(x) if (lo..=hi).contains(&x) => Ok(Some(x as f32)),
            Some(x) => Err(RuntimeError::invalid(
                key,
                format!("`{key}` must be between {lo} and {hi}, not {x}"),
            )),
            None => Err(RuntimeError::invalid(
                key,
                format!("`{key}` must be a number"),
            )),
        },
    }
}

fn integer(m: &Map<String, Value>, key: &'static str) -> Result<Option<u64>, RuntimeError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_u64().map(Some).ok_or_else(|| {
            RuntimeError::invalid(key, format!("`{key}` must be a non-negative integer"))
        }),
    }
}

fn flag(m: &Map<String, Value>, key: &'static str) -> Result<bool, RuntimeError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(RuntimeError::invalid(
            key,
            format!("`{key}` must be a boolean"),
        )),
    }
}

fn sampling(m: &Map<String, Value>) -> Result<Sampling, RuntimeError> {
    let d = Sampling::default();
    let top_k = integer(m, "top_k")?.unwrap_or(0);
    Ok(Sampling {
        temperature: number(m, "temperature", 0.0, 5.0)?.unwrap_or(d.temperature),
        top_p: number(m, "top_p", 0.0, 1.0)?
            .filter(|p| *p > 0.0)
            .unwrap_or(d.top_p),
        top_k: i32::try_from(top_k)
            .map_err(|_| RuntimeError::invalid("top_k", "`top_k` is too large"))?,
        min_p: number(m, "min_p", 0.0, 1.0)?.unwrap_or(d.min_p),
        seed: integer(m, "seed")?.map(|s| s as u32).unwrap_or(d.seed),
        repetition_penalty: number(m, "repetition_penalty", 0.01, 10.0)?
            .unwrap_or(d.repetition_penalty),
        frequency_penalty: number(m, "frequency_penalty", -2.0, 2.0)?
            .unwrap_or(d.frequency_penalty),
        presence_penalty: number(m, "presence_penalty", -2.0, 2.0)?.unwrap_or(d.presence_penalty),
    })
}

fn stops(m: &Map<String, Value>) -> Result<Vec<String>, RuntimeError> {
    match m.get("stop") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) if a.len() <= 16 => a
            .iter()
            .map(|s| s.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                RuntimeError::invalid("stop", "`stop` must be a string or an array of strings")
            }),
        Some(_) => Err(RuntimeError::invalid(
            "stop",
            "`stop` must be a string or an array of at most 16 strings",
        )),
    }
}

fn max_tokens(m: &Map<String, Value>) -> Result<Option<u32>, RuntimeError> {
    let n = match integer(m, "max_completion_tokens")? {
        Some(n) => Some(n),
        None => integer(m, "max_tokens")?,
    };
    match n {
        Some(0) => Err(RuntimeError::invalid(
            "max_tokens",
            "`max_tokens` must be at least 1",
        )),
        Some(n) => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
        None => Ok(None),
    }
}

fn shape(m: &Map<String, Value>) -> Result<Shape, RuntimeError> {
    if integer(m, "n")?.is_some_and(|n| n != 1) {
        return Err(RuntimeError::invalid(
            "n",
            "local models answer one choice (`n` = 1)",
        ));
    }
    let logprobs = m.get("logprobs").and_then(Value::as_bool) == Some(true);
    if integer(m, "top_logprobs")?.is_some_and(|n| n > 0) {
        return Err(RuntimeError::invalid(
            "top_logprobs",
            "local models return the chosen tokens' logprobs only (`top_logprobs` = 0)",
        ));
    }
    let stream = match m.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(RuntimeError::invalid(
                "stream",
                "`stream` must be a boolean",
            ))
        }
    };
    let include_usage = m
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(Shape {
        stream,
        include_usage,
        logprobs,
        ..Shape::default()
    })
}

/// `/v1/chat/completions`.
pub fn chat(body: &[u8]) -> Result<(Task, Shape), RuntimeError> {
    let m = object(body)?;
    let mut shape = shape(&m)?;
    let messages = match m.get("messages") {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .enumerate()
            .map(|(i, v)| message(i, v))
            .collect::<Result<Vec<_>, _>>()?,
        Some(Value::Array(_)) => {
            return Err(RuntimeError::invalid(
                "messages",
                "`messages` must not be empty",
            ))
        }
        _ => {
            return Err(RuntimeError::invalid(
                "messages",
                "`messages` must be an array",
            ))
        }
    };
    let tools: Vec<Value> = match m.get("tools") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(RuntimeError::invalid("tools", "`tools` must be an array")),
    };
    let constraint = constraint(&m, &tools)?;
    // tool_choice "none": the tools are neither shown nor callable
    let offered = if matches!(constraint, Constraint::Tools { .. }) {
        tools
    } else {
        Vec::new()
    };
    shape.tools = offered.clone();
    let generate = Generate {
        prompt: Prompt::Chat {
            messages,
            tools: offered,
        },
        max_tokens: max_tokens(&m)?,
        stop: stops(&m)?,
        sampling: sampling(&m)?,
        constraint,
        ignore_eos: flag(&m, "ignore_eos")?,
        logprobs: shape.logprobs,
    };
    Ok((Task::Generate(generate), shape))
}

fn message(i: usize, v: &Value) -> Result<Message, RuntimeError> {
    let bad = |what: &str| RuntimeError::invalid("messages", format!("messages[{i}]: {what}"));
    let role = v
        .get("role")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`role` must be a string"))?;
    if !matches!(role, "system" | "developer" | "user" | "assistant" | "tool") {
        return Err(bad(&format!("unknown role `{role}`")));
    }
    let content = match v.get("content") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut text = String::new();
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        text.push_str(p.get("text").and_then(Value::as_str).unwrap_or(""))
                    }
                    Some(other) => {
                        return Err(bad(&format!(
                            "content part `{other}` is not supported by local text models"
                        )))
                    }
                    None => return Err(bad("content parts need a `type`")),
                }
            }
            text
        }
        Some(_) => return Err(bad("`content` must be a string or an array of parts")),
    };
    let role = if role == "developer" { "system" } else { role };
    Ok(Message {
        role: role.to_owned(),
        content,
        tool_calls: v.get("tool_calls").filter(|t| !t.is_null()).cloned(),
        tool_call_id: v
            .get("tool_call_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn constraint(m: &Map<String, Value>, tools: &[Value]) -> Result<Constraint, RuntimeError> {
    if !tools.is_empty() {
        match m.get("tool_choice") {
            None | Some(Value::Null) => {
                return Ok(Constraint::Tools {
                    tools: tools.to_vec(),
                    required: false,
                })
            }
            Some(Value::String(s)) if s == "auto" => {
                return Ok(Constraint::Tools {
                    tools: tools.to_vec(),
                    required: false,
                })
            }
            Some(Value::String(s)) if s == "required" => {
                return Ok(Constraint::Tools {
                    tools: tools.to_vec(),
                    required: true,
                })
            }
            Some(Value::String(s)) if s == "none" => {}
            Some(v) => {
                let name = v.pointer("/function/name").and_then(Value::as_str).ok_or_else(|| {
                    RuntimeError::invalid("tool_choice", "`tool_choice` must be none, auto, required or {\"type\":\"function\",\"function\":{\"name\":…}}")
                })?;
                let chosen: Vec<Value> = tools
                    .iter()
                    .filter(|t| t.pointer("/function/name").and_then(Value::as_str) == Some(name))
                    .cloned()
                    .collect();
                if chosen.is_empty() {
                    return Err(RuntimeError::invalid(
                        "tool_choice",
                        format!("`tool_choice` names `{name}`, which is not in `tools`"),
                    ));
                }
                return Ok(Constraint::Tools {
                    tools: chosen,
                    required: true,
                });
            }
        }
    }
    let Some(format) = m.get("response_format").filter(|v| !v.is_null()) else {
        return Ok(Constraint::None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(Constraint::None),
        Some("json_object") => Ok(Constraint::JsonObject),
        Some("json_schema") => {
            let schema = format
                .pointer("/json_schema/schema")
                .filter(|s| s.is_object())
                .ok_or_else(|| {
                    RuntimeError::invalid(
                        "response_format",
                        "`response_format.json_schema.schema` must be an object",
                    )
                })?;
            Ok(Constraint::JsonSchema(schema.clone()))
        }
        _ => Err(RuntimeError::invalid(
            "response_format",
            "`response_format.type` must be text, json_object or json_schema",
        )),
    }
}

/// `/v1/completions`.
pub fn completion(body: &[u8]) -> Result<(Task, Shape), RuntimeError> {
    let m = object(body)?;
    let shape = shape(&m)?;
    let prompt = match m.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => {
            a[0].as_str().unwrap_or_default().to_owned()
        }
        _ => {
            return Err(RuntimeError::invalid(
                "prompt",
                "`prompt` must be a string (local models take one prompt per request)",
            ))
        }
    };
    if m.get("suffix").is_some_and(|s| !s.is_null()) {
        return Err(RuntimeError::invalid(
            "suffix",
            "`suffix` is not supported by local models",
        ));
    }
    let generate = Generate {
        prompt: Prompt::Text(prompt),
        max_tokens: max_tokens(&m)?.or(Some(16)),
        stop: stops(&m)?,
        sampling: sampling(&m)?,
        constraint: Constraint::None,
        ignore_eos: flag(&m, "ignore_eos")?,
        logprobs: false,
    };
    Ok((Task::Generate(generate), shape))
}

/// Inputs one embeddings request may carry (OpenAI's own limit).
pub const MAX_EMBED_INPUTS: usize = 2048;

/// `/v1/embeddings`.
pub fn embeddings(body: &[u8]) -> Result<(Task, Shape), RuntimeError> {
    let m = object(body)?;
    let inputs = match m.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| RuntimeError::invalid("input", "`input` must be a string or an array of strings (token arrays are not supported by local models)"))?,
        _ => return Err(RuntimeError::invalid("input", "`input` must be a non-empty string or array of strings")),
    };
    if inputs.len() > MAX_EMBED_INPUTS {
        return Err(RuntimeError::invalid(
            "input",
            format!(
                "`input` has {} items; at most {MAX_EMBED_INPUTS} per request",
                inputs.len()
            ),
        ));
    }
    let base64 = match m.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(RuntimeError::invalid(
                "encoding_format",
                format!("`encoding_format` must be float or base64, not `{other}`"),
            ))
        }
    };
    Ok((
        Task::Embed(Embed {
            inputs,
            truncate: false,
        }),
        Shape {
            base64,
            ..Shape::default()
        },
    ))
}

#[cfg(test)]
mod bounds {
    use super::*;

    #[test]
    fn embeddings_take_a_bounded_number_of_inputs() {
        let many: Vec<String> = (0..=MAX_EMBED_INPUTS).map(|i| format!("t{i}")).collect();
        let body = serde_json::to_vec(&serde_json::json!({"model": "m", "input": many})).unwrap();
        let err = embeddings(&body).unwrap_err();
        assert_eq!(err.param, Some("input"));
        assert!(err.message.contains("2048"), "{}", err.message);
        let body =
            serde_json::to_vec(&serde_json::json!({"model": "m", "input": ["a", "b"]})).unwrap();
        assert!(embeddings(&body).is_ok());
    }
}
