//! Cloudflare Workers AI through its native `/ai/run/{model}` API (kind `workers-ai-run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};

#[tokio::test]
async fn run_envelope_chat_stream_tools_embeddings_and_errors() {
    let h = common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n[providers.cf]\nkind = \"workers-ai-run\"\nbase_url = \"{}/client/v4/accounts/acct/ai\"\napi_key = \"cf-token\"\n",
            mock.root_url()
        )
    })
    .await;
    let mock = &h.mock;
    let model = "cf/@cf/meta/llama-3.1-8b-instruct";

    let answer: Value = h
        .post_json("/v1/chat/completions", &common::chat(model))
        .await;
    assert_eq!(
        answer["choices"][0]["message"]["content"], "Hello from mock",
        "{answer}"
    );
    assert_eq!(answer["usage"]["total_tokens"], 11);
    let seen = mock.last_request().unwrap();
    assert_eq!(
        seen.path,
        "/client/v4/accounts/acct/ai/run/@cf/meta/llama-3.1-8b-instruct"
    );
    assert_eq!(seen.header("authorization"), Some("Bearer cf-token"));
    assert_eq!(
        seen.json()["messages"][0],
        json!({"role": "user", "content": "Say hello"})
    );

    let mut body = common::chat(model);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = h
        .post("/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"content\":\"Hello\"")
            && text.ends_with("data: [DONE]\n\n")
            && text.contains("\"total_tokens\":11"),
        "{text}"
    );

    let mut body = common::chat(model);
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let answer: Value = h.post_json("/v1/chat/completions", &body).await;
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );

    let response = h
        .post(
            "/v1/embeddings",
            &json!({"model": "cf/@cf/baai/bge-base-en-v1.5", "input": ["a", "b"]}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"][1]["embedding"], json!([1.0, 0.75, -0.75]));
    assert_eq!(
        mock.last_request().unwrap().json(),
        json!({"text": ["a", "b"]})
    );

    let response = h
        .post("/v1/chat/completions", &common::chat("cf/@cf/x/status-400"))
        .await;
    let error = common::expect_error(response, 400).await;
    assert!(
        error["message"].as_str().unwrap().contains("Bad input"),
        "{error}"
    );
}

/// An OpenAI transcription upload with `fields` and a few bytes of "audio".
fn upload(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, value) in fields {
        out.extend_from_slice(
            format!("--B\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
    }
    out.extend_from_slice(b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\nContent-Type: audio/wav\r\n\r\nRIFF\x01\x02\r\n--B--\r\n");
    out
}

#[tokio::test]
async fn speech_uploads_become_whisper_runs() {
    let h = common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n[providers.cf]\nkind = \"workers-ai-run\"\nbase_url = \"{}/client/v4/accounts/acct/ai\"\napi_key = \"cf-token\"\n",
            mock.root_url()
        )
    })
    .await;
    let send = |path: &'static str, body: Vec<u8>| {
        h.http
            .post(h.gateway.url(path))
            .header("content-type", "multipart/form-data; boundary=B")
            .body(body)
            .send()
    };
    // whisper: the audio's bytes in JSON, `{text}` back
    let r = send(
        "/v1/audio/transcriptions",
        upload(&[("model", "cf/@cf/openai/whisper")]),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["text"], "Hello from mock whisper.", "{v}");
    let sent = h.mock.last_request().unwrap();
    assert_eq!(
        sent.path,
        "/client/v4/accounts/acct/ai/run/@cf/openai/whisper"
    );
    assert_eq!(sent.json(), json!({"audio": [82, 73, 70, 70, 1, 2]}));
    // large-v3-turbo: base64 with task, language and prompt; verbose_json from its segments
    let r = send(
        "/v1/audio/translations",
        upload(&[
            ("model", "cf/@cf/openai/whisper-large-v3-turbo"),
            ("language", "es"),
            ("prompt", "Carlos"),
            ("response_format", "verbose_json"),
        ]),
    )
    .await
    .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["text"], "Hello, translated.", "{v}");
    assert_eq!(v["segments"][0]["end"], 2.4);
    assert_eq!(v["language"], "es");
    assert_eq!(v["usage"]["seconds"], 3.0);
    assert_eq!(
        h.mock.last_request().unwrap().json(),
        json!({"audio": "UklGRgEC", "task": "translate", "language": "es", "initial_prompt": "Carlos"})
    );
    // what the run cannot do is refused by name before it is sent
    for (path, fields, says) in [
        (
            "/v1/audio/translations",
            vec![("model", "cf/@cf/openai/whisper")],
            "translation",
        ),
        (
            "/v1/audio/transcriptions",
            vec![
                ("model", "cf/@cf/openai/whisper"),
                ("response_format", "srt"),
            ],
            "response_format",
        ),
    ] {
        let r = send(path, upload(&fields)).await.unwrap();
        let e = common::expect_error(r, 400).await;
        assert!(e["message"].as_str().unwrap().contains(says), "{e}");
    }
    // logged with the seconds the run reported
    let rows = common::logging::rows(h.gateway.base_url(), 4).await;
    assert!(rows.iter().any(|r| r["input_tokens"] == 3), "{rows:?}");
}
