use super::*;

fn chat_err(body: &str) -> RequestError {
    ChatRequest::parse(body.as_bytes()).unwrap_err()
}

#[test]
fn minimal_chat_request_parses() {
    let body = br#"{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
    let req = ChatRequest::parse(body).unwrap();
    assert_eq!(req.model(), "mock/gpt-4o-mini");
    assert_eq!(req.stream(), StreamFlag::Absent);
}

#[test]
fn stream_flag_is_read() {
    let body = br#"{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true}"#;
    assert!(ChatRequest::parse(body).unwrap().stream().is_on());
}

#[test]
fn rewrite_touches_only_model() {
    let body = r#"{"model":"mock/gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"auto","response_format":{"type":"json_object"},"stream_options":{"include_usage":true},"n":2,"logprobs":true,"seed":7,"logit_bias":{"50256":-100},"x_custom":{"a":[1,2]}}"#;
    let req = ChatRequest::parse(body.as_bytes()).unwrap();
    let out = req.rewrite("gpt-4o-mini").finish();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        body.replace("mock/gpt-4o-mini", "gpt-4o-mini")
    );
}

#[test]
fn missing_and_mistyped_fields_name_the_field() {
    let e = chat_err(r#"{"messages":[{"role":"user","content":"x"}]}"#);
    assert_eq!(e.param.as_deref(), Some("model"));
    let e = chat_err(r#"{"model":"m"}"#);
    assert_eq!(e.param.as_deref(), Some("messages"));
    let e = chat_err(r#"{"model":"m","messages":[]}"#);
    assert_eq!(e.param.as_deref(), Some("messages"));
    let e = chat_err(r#"{"model":3,"messages":[{"role":"user","content":"x"}]}"#);
    assert_eq!(e.param.as_deref(), Some("model"));
    assert!(e.message.contains("expected a string"), "{}", e.message);
    let e =
        chat_err(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#);
    assert_eq!(e.param.as_deref(), Some("temperature"));
    let e = chat_err(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"n":1.5}"#);
    assert_eq!(e.param.as_deref(), Some("n"));
    let e = chat_err(r#"{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#);
    assert_eq!(e.param.as_deref(), Some("stream"));
    let e = chat_err(r#"{"model":"m","messages":[{"content":"x"}]}"#);
    assert_eq!(e.param.as_deref(), Some("messages[0].role"));
    let e = chat_err(
        r#"{"model":"m","messages":[{"role":"user","content":"x"},{"role":"robot","content":"x"}]}"#,
    );
    assert_eq!(e.param.as_deref(), Some("messages[1].role"));
    let e = chat_err(r#"{"model":"m","messages":[{"role":"user","content":5}]}"#);
    assert_eq!(e.param.as_deref(), Some("messages[0].content"));
    let e = chat_err(r#"{"model":"m","messages":["hi"]}"#);
    assert_eq!(e.param.as_deref(), Some("messages[0]"));
}

#[test]
fn nulls_are_accepted_for_optional_fields() {
    let body = br#"{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[]}],"temperature":null,"stop":null}"#;
    ChatRequest::parse(body).unwrap();
}

#[test]
fn malformed_json_reports_position() {
    let e = chat_err("{\"model\": \"m\",\n \"messages\": [}");
    assert_eq!(e.code, "invalid_json");
    assert!(e.message.contains("line 2"), "{}", e.message);
    assert!(e.message.contains("column"), "{}", e.message);
}

#[test]
fn embeddings_request_validates_input() {
    let req = EmbeddingsRequest::parse(br#"{"model":"p/e","input":["a","b"]}"#).unwrap();
    assert_eq!(req.model(), "p/e");
    let e = EmbeddingsRequest::parse(br#"{"model":"p/e"}"#).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("input"));
    let e = EmbeddingsRequest::parse(br#"{"model":"p/e","input":[ ]}"#).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("input"));
    let e = EmbeddingsRequest::parse(br#"{"model":"p/e","input":5}"#).unwrap_err();
    assert_eq!(e.param.as_deref(), Some("input"));
}

#[test]
fn upstream_messages_are_extracted() {
    assert_eq!(
        ErrorBody::message_from_upstream(br#"{"error":{"message":"bad key","type":"x"}}"#),
        "bad key"
    );
    assert_eq!(
        ErrorBody::message_from_upstream(br#"{"error":"nope"}"#),
        "nope"
    );
    assert_eq!(ErrorBody::message_from_upstream(br#"{"detail":"d"}"#), "d");
    assert_eq!(
        ErrorBody::message_from_upstream(b"plain text\n"),
        "plain text"
    );
}
