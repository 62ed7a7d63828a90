//! OpenAI's Responses API (`POST /v1/responses`, and Azure's `POST /openai/v1/responses`), shaped
//! like OpenAI's API reference: a pretty-printed `response` object (message items with
//! `output_text` parts, a `function_call` item when function tools are offered and the input does
//! not end with a call's output, usage with its details),
//! and the streaming event grammar with `sequence_number`s (`response.created` …
//! `response.completed`). Steered by model name like the chat side: `status-NNN`, `delay-MS`,
//! `hang`, `error-stream` (an `error` event), `cut-stream` (ends without `response.completed`),
//! `broken-stream` (the connection drops).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

use super::{behaviour, error_response, record, Behaviour, CancelGuard, MockState};

const TEXT: [&str; 3] = ["Hello", " from", " mock"];

fn response(id: &str, model: &str, body: &Value, status: &str, output: Vec<Value>) -> Value {
    let done = status == "completed";
    json!({
        "id": id,
        "object": "response",
        "created_at": 1_741_476_542,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "instructions": body.get("instructions").cloned().unwrap_or(Value::Null),
        "max_output_tokens": body.get("max_output_tokens").cloned().unwrap_or(Value::Null),
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": body.get("previous_response_id").cloned().unwrap_or(Value::Null),
        "reasoning": {"effort": null, "summary": null},
        "store": body.get("store").cloned().unwrap_or(Value::Bool(true)),
        "temperature": body.get("temperature").cloned().unwrap_or(json!(1.0)),
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": body.get("tools").cloned().unwrap_or(json!([])),
        "top_p": body.get("top_p").cloned().unwrap_or(json!(1.0)),
        "truncation": "disabled",
        "usage": if done {
            json!({"input_tokens": 36, "input_tokens_details": {"cached_tokens": 4},
                   "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0},
                   "total_tokens": 39})
        } else {
            Value::Null
        },
        "user": body.get("user").cloned().unwrap_or(Value::Null),
        "metadata": body.get("metadata").cloned().unwrap_or(json!({}))
    })
}

fn message(text: &str, status: &str) -> Value {
    let content = match text {
        "" => json!([]),
        t => json!([{"type": "output_text", "text": t, "annotations": []}]),
    };
    json!({"id": "msg_mock_1", "type": "message", "status": status, "role": "assistant",
           "content": content})
}

fn call(name: &str, arguments: &str, status: &str) -> Value {
    json!({"id": "fc_mock_1", "type": "function_call", "status": status, "call_id": "call_mock_1",
           "name": name, "arguments": arguments})
}

/// One event, `type` first as OpenAI writes it, then `sequence_number` and the rest.
fn event(seq: &mut u64, kind: &str, data: Value) -> Bytes {
    let rest = data.to_string();
    let rest = rest.strip_prefix('{').unwrap_or("}");
    let sep = if rest == "}" { "" } else { "," };
    let line = format!("{{\"type\":\"{kind}\",\"sequence_number\":{seq}{sep}{rest}");
    *seq += 1;
    Bytes::from(format!("event: {kind}\ndata: {line}\n\n"))
}

pub(super) async fn create(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    let authorized = recorded
        .header("authorization")
        .is_some_and(|v| v.starts_with("Bearer "))
        || recorded.header("api-key").is_some();
    if !authorized {
        return error_response(401);
    }
    let body = recorded.json();
    if body.get("input").is_none() || body.get("previous_response_id").is_some() {
        // this mock stores nothing: a continued conversation must arrive whole
        return error_response(400);
    }
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let mut guard = CancelGuard {
        state: state.clone(),
        armed: true,
    };
    let plan = behaviour(&model);
    match plan {
        Behaviour::Status(code) => {
            guard.armed = false;
            return error_response(code);
        }
        Behaviour::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Behaviour::Hang => std::future::pending::<()>().await,
        _ => {}
    }
    guard.armed = false;
    // a function tool is called unless refused, or the input ends with a call's output
    let answered = body["input"]
        .as_array()
        .and_then(|items| items.last())
        .is_some_and(|item| item["type"] == "function_call_output");
    let tool = body["tools"][0]["name"]
        .as_str()
        .filter(|_| body["tool_choice"] != "none" && !answered)
        .map(str::to_owned);
    let id = "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b";
    let text: String = TEXT.concat();
    let mut output = vec![message(&text, "completed")];
    if let Some(name) = &tool {
        output.push(call(name, r#"{"city":"Paris"}"#, "completed"));
    }
    if body["stream"] != true {
        let answer = response(id, &model, &body, "completed", output);
        return (
            [
                ("content-type", "application/json"),
                ("x-request-id", "req_mock_responses"),
            ],
            serde_json::to_string_pretty(&answer).unwrap_or_default(),
        )
            .into_response();
    }
    let mut seq = 0;
    let started = response(id, &model, &body, "in_progress", Vec::new());
    let mut events = vec![
        event(&mut seq, "response.created", json!({"response": started})),
        event(
            &mut seq,
            "response.in_progress",
            json!({"response": started}),
        ),
        event(
            &mut seq,
            "response.output_item.added",
            json!({"output_index": 0, "item": message("", "in_progress")}),
        ),
        event(
            &mut seq,
            "response.content_part.added",
            json!({"item_id": "msg_mock_1", "output_index": 0, "content_index": 0,
                     "part": {"type": "output_text", "text": "", "annotations": []}}),
        ),
    ];
    for delta in TEXT {
        events.push(event(
            &mut seq,
            "response.output_text.delta",
            json!({"item_id": "msg_mock_1", "output_index": 0, "content_index": 0,
                   "delta": delta, "logprobs": []}),
        ));
    }
    if plan == Behaviour::ErrorStream {
        events.push(event(
            &mut seq,
            "error",
            json!({"code": "server_error", "message": "The server had an error", "param": null}),
        ));
        return sse(events, false);
    }
    events.push(event(
        &mut seq,
        "response.output_text.done",
        json!({"item_id": "msg_mock_1", "output_index": 0, "content_index": 0, "text": text,
               "logprobs": []}),
    ));
    events.push(event(
        &mut seq,
        "response.content_part.done",
        json!({"item_id": "msg_mock_1", "output_index": 0, "content_index": 0,
               "part": {"type": "output_text", "text": text, "annotations": []}}),
    ));
    events.push(event(
        &mut seq,
        "response.output_item.done",
        json!({"output_index": 0, "item": message(&text, "completed")}),
    ));
    if let Some(name) = &tool {
        events.push(event(
            &mut seq,
            "response.output_item.added",
            json!({"output_index": 1, "item": call(name, "", "in_progress")}),
        ));
        for delta in [r#"{"city":"#, r#""Paris"}"#] {
            events.push(event(
                &mut seq,
                "response.function_call_arguments.delta",
                json!({"item_id": "fc_mock_1", "output_index": 1, "delta": delta}),
            ));
        }
        events.push(event(
            &mut seq,
            "response.function_call_arguments.done",
            json!({"item_id": "fc_mock_1", "output_index": 1, "name": name,
                   "arguments": r#"{"city":"Paris"}"#}),
        ));
        events.push(event(
            &mut seq,
            "response.output_item.done",
            json!({"output_index": 1, "item": call(name, r#"{"city":"Paris"}"#, "completed")}),
        ));
    }
    if plan != Behaviour::CutStream {
        let done = response(id, &model, &body, "completed", output);
        events.push(event(
            &mut seq,
            "response.completed",
            json!({"response": done}),
        ));
    }
    sse(events, plan == Behaviour::BrokenStream)
}

fn sse(mut events: Vec<Bytes>, broken: bool) -> Response {
    if broken {
        events.truncate(5);
    }
    Response::builder()
        .header("content-type", "text/event-stream; charset=utf-8")
        .body(super::faults::event_body(events, broken))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
