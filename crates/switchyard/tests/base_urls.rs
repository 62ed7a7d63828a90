//! `base_url` as users write it: the root URL their vendor's SDK takes (`https://api.anthropic.com`)
//! and the versioned one (`…/v1`) both work, for chat, streams, embeddings and native passthrough
//! (whose paths already carry the version, which is never doubled).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Harness as H;
use serde_json::json;

/// A gateway with one provider `p` of `kind` whose `base_url` is the mock's root plus `suffix`.
async fn start(kind: &str, suffix: &str) -> H {
    let (kind, suffix) = (kind.to_owned(), suffix.to_owned());
    common::start_with(move |mock| {
        format!(
            "[server]\nenv_providers = false\n[providers.p]\nkind = \"{kind}\"\nbase_url = \"{}{suffix}\"\napi_key = \"k-test\"\n",
            mock.root_url()
        )
    })
    .await
}

/// Sends `body` to `path`, expects a 200, and returns the path the mock saw and the answer.
async fn exchange(h: &H, path: &str, body: &serde_json::Value) -> (String, String) {
    let response = h.post(path, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    (h.mock.last_request().unwrap().path, text)
}

fn streaming(mut body: serde_json::Value) -> serde_json::Value {
    body["stream"] = json!(true);
    body
}

#[tokio::test]
async fn anthropic_root_and_versioned_base_urls() {
    for suffix in ["", "/", "/v1", "/v1/"] {
        let h = start("anthropic", suffix).await;
        let chat = common::chat("p/claude-sonnet-4-5");
        let (seen, text) = exchange(&h, "/v1/chat/completions", &chat).await;
        assert_eq!(seen, "/v1/messages", "base_url {suffix:?}");
        assert!(text.contains("chat.completion"), "{text}");

        let (seen, text) = exchange(&h, "/v1/chat/completions", &streaming(chat)).await;
        assert_eq!(seen, "/v1/messages", "base_url {suffix:?}");
        assert!(text.contains("data: [DONE]"), "{text}");

        let messages = json!({"model": "p/claude-sonnet-4-5", "max_tokens": 20,
            "messages": [{"role": "user", "content": "Hi"}]});
        let (seen, _) = exchange(&h, "/v1/messages", &messages).await;
        assert_eq!(seen, "/v1/messages");
        let (_, text) = exchange(&h, "/v1/messages", &streaming(messages.clone())).await;
        assert!(text.contains("event: message_stop"), "{text}");

        // native passthrough: the client's `/v1` is not doubled, and may be left out
        let mut native = messages.clone();
        native["model"] = json!("claude-sonnet-4-5");
        for path in ["/p/v1/messages", "/p/messages"] {
            let (seen, _) = exchange(&h, path, &native).await;
            assert_eq!(seen, "/v1/messages", "{path} with base_url {suffix:?}");
        }
        let (seen, _) = exchange(&h, "/v1/acct/gw/p/v1/messages", &native).await;
        assert_eq!(seen, "/v1/messages", "Cloudflare's URL shape");
    }
}

#[tokio::test]
async fn gemini_root_and_versioned_base_urls() {
    for suffix in ["", "/v1beta"] {
        let h = start("gemini", suffix).await;
        let chat = common::chat("p/gemini-2.5-flash");
        let (seen, _) = exchange(&h, "/v1/chat/completions", &chat).await;
        assert_eq!(seen, "/v1beta/models/gemini-2.5-flash:generateContent");
        let (seen, text) = exchange(&h, "/v1/chat/completions", &streaming(chat)).await;
        assert_eq!(
            seen,
            "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
        );
        assert!(text.contains("data: [DONE]"), "{text}");

        let embed = json!({"model": "p/text-embedding-004", "input": ["a", "b"]});
        let (seen, text) = exchange(&h, "/v1/embeddings", &embed).await;
        assert_eq!(seen, "/v1beta/models/text-embedding-004:batchEmbedContents");
        assert!(text.contains("\"embedding\""), "{text}");

        let native = json!({"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]});
        for path in [
            "/p/v1beta/models/gemini-2.5-flash:generateContent",
            "/p/models/gemini-2.5-flash:generateContent",
        ] {
            let (seen, _) = exchange(&h, path, &native).await;
            assert_eq!(
                seen, "/v1beta/models/gemini-2.5-flash:generateContent",
                "{path} with base_url {suffix:?}"
            );
        }
    }
}

#[tokio::test]
async fn cohere_root_and_versioned_base_urls() {
    for suffix in ["", "/v2"] {
        let h = start("cohere", suffix).await;
        let (seen, _) = exchange(&h, "/v1/chat/completions", &common::chat("p/command-r")).await;
        assert_eq!(seen, "/v2/chat", "base_url {suffix:?}");
        let embed = json!({"model": "p/embed-english-v3.0", "input": "a"});
        let (seen, _) = exchange(&h, "/v1/embeddings", &embed).await;
        assert_eq!(seen, "/v2/embed", "base_url {suffix:?}");
    }
}

#[tokio::test]
async fn openai_root_and_versioned_base_urls() {
    for suffix in ["", "/v1"] {
        let h = start("openai", suffix).await;
        let chat = common::chat("p/gpt-4o-mini");
        let (seen, _) = exchange(&h, "/v1/chat/completions", &chat).await;
        assert_eq!(seen, "/v1/chat/completions", "base_url {suffix:?}");
        let (_, text) = exchange(&h, "/v1/chat/completions", &streaming(chat)).await;
        assert!(text.contains("data: [DONE]"), "{text}");
        let embed = json!({"model": "p/text-embedding-3-small", "input": "a"});
        let (seen, _) = exchange(&h, "/v1/embeddings", &embed).await;
        assert_eq!(seen, "/v1/embeddings");
        let (seen, _) = exchange(&h, "/p/v1/chat/completions", &common::chat("gpt-4o-mini")).await;
        assert_eq!(seen, "/v1/chat/completions");
        let (seen, _) = exchange(&h, "/p/chat/completions", &common::chat("gpt-4o-mini")).await;
        assert_eq!(seen, "/v1/chat/completions");
    }
}
