//! Engine events → OpenAI response bodies: whole JSON answers, or SSE chunks as tokens arrive.

use base64::Engine as _;
use bytes::Bytes;
use futures_util::stream::{self, BoxStream, StreamExt};
use serde_json::{json, Value};

use super::request::Shape;
use super::LocalApi;
use crate::llm::sampler::parse_tool_call;
use crate::task::{Counts, Event, EventStream, Finish, TokenLogprob};
use crate::RuntimeError;

/// Everything about the answer but its text.
pub(crate) struct Head {
    pub api: LocalApi,
    pub shape: Shape,
    pub model: String,
    pub id: String,
    pub created: u64,
}

fn finish_name(f: Finish) -> &'static str {
    match f {
        Finish::Stop => "stop",
        Finish::Length => "length",
        Finish::ToolCalls => "tool_calls",
    }
}

fn usage(c: Counts) -> Value {
    json!({"prompt_tokens": c.input, "completion_tokens": c.output, "total_tokens": c.input + c.output})
}

/// A whole answer, as the engine produced it.
pub(crate) struct Collected {
    pub text: String,
    pub vectors: Option<Vec<Vec<f32>>>,
    pub logprobs: Vec<TokenLogprob>,
    pub finish: Finish,
    pub counts: Counts,
}

/// Reads the whole answer, or the engine's failure.
pub(crate) async fn collect(mut events: EventStream) -> Result<Collected, RuntimeError> {
    let mut text = String::new();
    let mut vectors = None;
    let mut logprobs = Vec::new();
    while let Some(e) = events.recv().await {
        match e {
            Event::Text(t) => text.push_str(&t),
            Event::Logprob(l) => logprobs.push(l),
            Event::Vectors(v) => vectors = Some(v),
            Event::Segments(_)
            | Event::Language(_)
            | Event::Scores(_)
            | Event::Classes(_)
            | Event::Image { .. } => {}
            Event::Done { finish, counts } => {
                return Ok(Collected {
                    text,
                    vectors,
                    logprobs,
                    finish,
                    counts,
                })
            }
            Event::Failed(e) => return Err(e),
        }
    }
    Err(RuntimeError::engine(
        "the model stopped before finishing the answer",
    ))
}

/// `tool_calls` when the text is a call of an offered tool.
fn tool_calls(head: &Head, text: &str) -> Option<Value> {
    let (name, arguments) = parse_tool_call(text, &head.shape.tools)?;
    Some(json!([{
        "id": format!("call_{}", &head.id[head.id.len().saturating_sub(24)..]),
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }]))
}

/// OpenAI's chat `logprobs` object, or `null` when they were not asked for.
fn logprobs_json(head: &Head, tokens: &[TokenLogprob]) -> Value {
    if !head.shape.logprobs {
        return Value::Null;
    }
    let content: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"token": t.token, "logprob": t.logprob, "bytes": t.bytes, "top_logprobs": []}))
        .collect();
    json!({"content": content, "refusal": null})
}

/// The whole JSON answer.
pub(crate) fn whole(head: &Head, answer: Collected) -> Value {
    let Collected {
        text,
        vectors,
        logprobs,
        finish,
        counts,
    } = answer;
    match head.api {
        LocalApi::Embeddings => {
            let data: Vec<Value> = vectors
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let embedding = if head.shape.base64 {
                        let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                        Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
                    } else {
                        json!(v)
                    };
                    json!({"object": "embedding", "index": i, "embedding": embedding})
                })
                .collect();
            json!({"object": "list", "data": data, "model": head.model,
                   "usage": {"prompt_tokens": counts.input, "total_tokens": counts.input}})
        }
        LocalApi::Completions => json!({
            "id": head.id, "object": "text_completion", "created": head.created, "model": head.model,
            "choices": [{"index": 0, "text": text, "finish_reason": finish_name(finish), "logprobs": null}],
            "usage": usage(counts),
        }),
        LocalApi::ChatCompletions => {
            let (message, finish) = match tool_calls(head, &text) {
                Some(calls) => (
                    json!({"role": "assistant", "content": null, "tool_calls": calls}),
                    Finish::ToolCalls,
                ),
                None => (json!({"role": "assistant", "content": text}), finish),
            };
            json!({
                "id": head.id, "object": "chat.completion", "created": head.created, "model": head.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish_name(finish), "logprobs": logprobs_json(head, &logprobs)}],
                "usage": usage(counts),
            })
        }
        // answered by `rank`, never here
        LocalApi::Rerank | LocalApi::Classify | LocalApi::Images => Value::Null,
    }
}

fn frame(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

fn chunk(head: &Head, delta: Value, finish: Option<Finish>) -> Bytes {
    chunk_with(head, delta, finish, &mut Vec::new())
}

/// A chunk carrying the log-probabilities of the tokens since the last one.
fn chunk_with(
    head: &Head,
    delta: Value,
    finish: Option<Finish>,
    pending: &mut Vec<TokenLogprob>,
) -> Bytes {
    let logprobs = logprobs_json(head, pending);
    pending.clear();
    let finish = finish.map(finish_name);
    let v = match head.api {
        LocalApi::Completions => json!({
            "id": head.id, "object": "text_completion", "created": head.created, "model": head.model,
            "choices": [{"index": 0, "text": delta.get("content").cloned().unwrap_or(json!("")), "finish_reason": finish, "logprobs": null}],
        }),
        _ => json!({
            "id": head.id, "object": "chat.completion.chunk", "created": head.created, "model": head.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": logprobs}],
        }),
    };
    frame(&v)
}

/// The answer as SSE, token by token. With tools offered the text is held until the end (it
/// may turn out to be a call). Dropping the stream cancels generation.
pub(crate) fn sse(head: Head, events: EventStream) -> BoxStream<'static, Bytes> {
    struct State {
        head: Head,
        events: EventStream,
        held: String,
        pending: Vec<TokenLogprob>,
        started: bool,
        ended: bool,
    }
    let state = State {
        head,
        events,
        held: String::new(),
        pending: Vec::new(),
        started: false,
        ended: false,
    };
    stream::unfold(state, |mut s| async move {
        if s.ended {
            return None;
        }
        let mut out = Vec::new();
        if !s.started {
            s.started = true;
            if s.head.api == LocalApi::ChatCompletions {
                out.push(chunk(&s.head, json!({"role": "assistant", "content": ""}), None));
            }
        }
        match s.events.recv().await {
            Some(Event::Text(t)) if !s.head.shape.tools.is_empty() => s.held.push_str(&t),
            Some(Event::Text(t)) => out.push(chunk_with(
                &s.head,
                json!({"content": t}),
                None,
                &mut s.pending,
            )),
            Some(Event::Logprob(l)) => s.pending.push(l),
            Some(
                Event::Vectors(_)
                | Event::Segments(_)
                | Event::Language(_)
                | Event::Scores(_)
                | Event::Classes(_)
                | Event::Image { .. },
            ) => {}
            Some(Event::Done { finish, counts }) => {
                let mut finish = finish;
                if !s.held.is_empty() {
                    let text = std::mem::take(&mut s.held);
                    match tool_calls(&s.head, &text) {
                        Some(calls) => {
                            let calls = indexed(calls);
                            out.push(chunk(&s.head, json!({"tool_calls": calls}), None));
                            finish = Finish::ToolCalls;
                        }
                        None => out.push(chunk(&s.head, json!({"content": text}), None)),
                    }
                }
                out.push(chunk_with(
                    &s.head,
                    json!({}),
                    Some(finish),
                    &mut s.pending,
                ));
                if s.head.shape.include_usage {
                    let v = json!({
                        "id": s.head.id, "object": "chat.completion.chunk", "created": s.head.created,
                        "model": s.head.model, "choices": [], "usage": usage(counts),
                    });
                    out.push(frame(&v));
                }
                out.push(Bytes::from_static(b"data: [DONE]\n\n"));
                s.ended = true;
            }
            Some(Event::Failed(e)) => {
                out.push(frame(&e.to_json()));
                s.ended = true;
            }
            None => {
                out.push(frame(&RuntimeError::engine("the model stopped before finishing the answer").to_json()));
                s.ended = true;
            }
        }
        let bytes: Vec<u8> = out.concat();
        Some((Bytes::from(bytes), s))
    })
    .filter(|b| std::future::ready(!b.is_empty()))
    .boxed()
}

/// Stream deltas give each tool call its index.
fn indexed(calls: Value) -> Value {
    match calls {
        Value::Array(a) => Value::Array(
            a.into_iter()
                .enumerate()
                .map(|(i, mut c)| {
                    c["index"] = json!(i);
                    c
                })
                .collect(),
        ),
        v => v,
    }
}
