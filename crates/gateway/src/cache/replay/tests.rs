use serde_json::json;

use super::*;
use crate::cache::entry::EntryMeta;

const OPENAI_STREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":3,\"total_tokens\":15}}\n\n",
    "data: [DONE]\n\n",
);

fn entry(api: ClientApi, stream: bool, body: &str) -> Entry {
    let usage = usage_of(api, stream, body.as_bytes());
    Entry {
        meta: EntryMeta {
            created_ms: 1_730_000_000_000,
            expires_ms: u64::MAX,
            provider: "p".into(),
            model: "m".into(),
            stream,
            content_type: if stream { EVENT_STREAM } else { JSON }.into(),
            usage,
        },
        body: Bytes::from(body.to_owned()),
    }
}

fn want(api: ClientApi, stream: bool, include_usage: bool) -> Wanted {
    Wanted {
        api,
        stream,
        include_usage,
    }
}

fn data_lines(sse: &[u8]) -> Vec<String> {
    let mut events = Vec::new();
    sse::Parser::new().feed(sse, &mut events);
    events.into_iter().map(|e| e.data).collect()
}

#[test]
fn same_mode_replays_the_stored_bytes() {
    let e = entry(ClientApi::ChatCompletions, true, OPENAI_STREAM);
    let (body, ct) = render(&e, &want(ClientApi::ChatCompletions, true, true)).unwrap();
    assert_eq!(
        (body.as_ref(), ct.as_str()),
        (OPENAI_STREAM.as_bytes(), EVENT_STREAM)
    );
    let json = entry(
        ClientApi::ChatCompletions,
        false,
        r#"{"id":"x","usage":{"prompt_tokens":1}}"#,
    );
    let (body, _) = render(&json, &want(ClientApi::ChatCompletions, false, false)).unwrap();
    assert_eq!(body, json.body);
}

#[test]
fn a_stored_stream_answers_a_json_request() {
    let e = entry(ClientApi::ChatCompletions, true, OPENAI_STREAM);
    assert_eq!(e.meta.usage.map(|u| (u.input, u.output)), Some((12, 3)));
    let (body, ct) = render(&e, &want(ClientApi::ChatCompletions, false, false)).unwrap();
    assert_eq!(ct, JSON);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["id"], "c1");
    assert_eq!(v["choices"][0]["message"]["content"], "Hello");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["total_tokens"], 15);
}

#[test]
fn a_stored_json_answer_is_unfolded_into_a_valid_stream() {
    let body = json!({"id": "c2", "object": "chat.completion", "created": 1, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": null,
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}});
    let e = entry(ClientApi::ChatCompletions, false, &body.to_string());
    for include_usage in [true, false] {
        let (sse_body, ct) =
            render(&e, &want(ClientApi::ChatCompletions, true, include_usage)).unwrap();
        assert_eq!(ct, EVENT_STREAM);
        let lines = data_lines(&sse_body);
        assert_eq!(lines.last().map(String::as_str), Some("[DONE]"));
        let chunks: Vec<Value> = lines[..lines.len() - 1]
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == "c2"));
        let args: String = chunks
            .iter()
            .filter_map(|c| {
                c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            })
            .collect();
        assert_eq!(args, "{\"a\":1}");
        let usage = chunks.iter().find(|c| c["usage"].is_object());
        assert_eq!(usage.is_some(), include_usage);
        if let Some(u) = usage {
            assert_eq!(u["usage"]["completion_tokens"], 7);
        }
    }
}

#[test]
fn usage_is_stripped_or_refused_never_invented() {
    let e = entry(ClientApi::ChatCompletions, true, OPENAI_STREAM);
    let (body, _) = render(&e, &want(ClientApi::ChatCompletions, true, false)).unwrap();
    let lines = data_lines(&body);
    assert_eq!(lines.len(), 5, "the usage chunk is gone, the rest intact");
    assert!(!lines.iter().any(|l| l.contains("\"usage\"")));
    assert_eq!(lines.last().map(String::as_str), Some("[DONE]"));

    let without: String = OPENAI_STREAM
        .split_inclusive("\n\n")
        .filter(|e| !e.contains("\"usage\""))
        .collect();
    let e = entry(ClientApi::ChatCompletions, true, &without);
    assert!(e.meta.usage.is_none());
    assert!(render(&e, &want(ClientApi::ChatCompletions, true, false)).is_some());
    assert!(render(&e, &want(ClientApi::ChatCompletions, true, true)).is_none());
    assert!(render(&e, &want(ClientApi::ChatCompletions, false, false)).is_none());
}

#[test]
fn anthropic_entries_replay_across_modes() {
    let message = json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude",
        "content": [{"type": "text", "text": "Bonjour"}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 9, "output_tokens": 2}});
    let e = entry(ClientApi::Messages, false, &message.to_string());
    let (stream, ct) = render(&e, &want(ClientApi::Messages, true, false)).unwrap();
    assert_eq!(ct, EVENT_STREAM);
    let mut events = Vec::new();
    sse::Parser::new().feed(&stream, &mut events);
    let names: Vec<&str> = events.iter().filter_map(|e| e.event.as_deref()).collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(names.contains(&"content_block_delta"));

    // and that stream, stored, answers a JSON request with the same message
    let stored = entry(
        ClientApi::Messages,
        true,
        std::str::from_utf8(&stream).unwrap(),
    );
    let (json_body, _) = render(&stored, &want(ClientApi::Messages, false, false)).unwrap();
    let v: Value = serde_json::from_slice(&json_body).unwrap();
    assert_eq!(v["content"][0]["text"], "Bonjour");
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"]["output_tokens"], 2);
    assert_eq!(v["id"], "msg_1");
}

#[test]
fn usage_is_read_whatever_the_details_say() {
    let body = br#"{"id":"x","usage":{"prompt_tokens":9,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":null},"completion_tokens_details":{"reasoning_tokens":2}}}"#;
    let u = usage_of(ClientApi::ChatCompletions, false, body).unwrap();
    assert_eq!(
        (u.input, u.output, u.cached_input, u.reasoning),
        (9, 4, 0, 2)
    );
    let u = usage_of(
        ClientApi::Embeddings,
        false,
        br#"{"usage":{"prompt_tokens":3,"total_tokens":3}}"#,
    )
    .unwrap();
    assert_eq!((u.input, u.output), (3, 0));
    assert!(usage_of(ClientApi::ChatCompletions, false, br#"{"id":"x"}"#).is_none());
}

#[test]
fn usage_is_found_wherever_it_sits_and_text_cannot_fake_it() {
    // usage first, and the answer's text mentions a usage object (escaped inside the string)
    let body = br#"{"usage" : {"prompt_tokens":5,"completion_tokens":1},"choices":[{"message":{"content":"say \"usage\": {\"prompt_tokens\": 99}"}}]}"#;
    let u = usage_of(ClientApi::ChatCompletions, false, body).unwrap();
    assert_eq!((u.input, u.output), (5, 1));
    let null = br#"{"choices":[],"usage":null}"#;
    assert!(usage_of(ClientApi::ChatCompletions, false, null).is_none());
}
