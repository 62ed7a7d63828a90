//! Real clients are the judge: the official `openai` and `anthropic` Python SDKs (installed from
//! PyPI by scripts/test.sh, found through its `PYTHONPATH`) against the real binary, changing only
//! the base URL and keeping their own model names (`gpt-4o-mini`, `claude-sonnet-4-5`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

#[tokio::test]
async fn openai_and_anthropic_sdks_work_by_changing_only_the_base_url() {
    let h = common::start_with(|mock| common::openai_and_anthropic(&mock.root_url())).await;
    common::run_client(&h.gateway, "drop_in.py", &[], "drop-in clients: ok").await;
    // the SDKs' keys never reached the providers
    for r in h.mock.requests() {
        let auth = [r.header("authorization"), r.header("x-api-key")];
        assert!(
            !auth
                .iter()
                .flatten()
                .any(|v| v.contains("whatever-the-app-had")),
            "{r:?}"
        );
    }
}

#[tokio::test]
async fn an_openai_agents_sdk_agent_runs_its_tool_loop_through_the_gateway() {
    let h = common::start_with(|mock| common::openai_and_anthropic(&mock.root_url())).await;
    common::run_client(&h.gateway, "agents_sdk.py", &[], "agents sdk: ok").await;
    // every model call of the loops went to a provider, none with the app's key
    let calls = h.mock.requests();
    assert!(calls.iter().any(|r| r.path == "/v1/responses"), "{calls:?}");
    assert!(calls.iter().any(|r| r.path == "/v1/messages"), "{calls:?}");
    for r in &calls {
        let auth = r.header("authorization").unwrap_or_default();
        assert!(!auth.contains("whatever-the-app-had"), "{r:?}");
    }
}

#[tokio::test]
async fn langchain_chat_tools_structured_output_responses_and_embeddings_work() {
    let h = common::start_with(|mock| {
        format!(
            "{}[[models]]\nname = \"smol\"\ntask = \"text-generation\"\nsource = \"{smol}\"\n\
             [[models]]\nname = \"minilm\"\ntask = \"embeddings\"\nsource = \"{minilm}/\"\n",
            common::openai_and_anthropic(&mock.root_url()),
            smol = switchyard_testkit::models::smollm2().display(),
            minilm = switchyard_testkit::models::minilm().display(),
        )
    })
    .await;
    common::run_client(&h.gateway, "langchain_client.py", &[], "langchain: ok").await;
}

#[tokio::test]
async fn cloudflare_sdk_and_workers_ai_openai_endpoints_work_by_changing_only_the_base_url() {
    let h = common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n\
             [providers.oa]\nkind = \"openai\"\nbase_url = \"{root}\"\napi_key = \"sk-oa\"\n\
             [[models]]\nname = \"@cf/meta/llama-3.1-8b-instruct\"\ntarget = \"oa/gpt-4o-mini\"\n\
             [[models]]\nname = \"@cf/baai/bge-small-en-v1.5\"\ntarget = \"oa/text-embedding-3-small\"\n\
             [[models]]\nname = \"smol\"\ntask = \"text-generation\"\nsource = \"hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2-135m-instruct-q4_k_m.gguf\"\n\
             aliases = [\"@cf/huggingface/smollm2-135m-instruct\"]\n",
            root = mock.root_url()
        )
    })
    .await;
    common::run_client(
        &h.gateway,
        "cloudflare_sdk.py",
        &[],
        "cloudflare clients: ok",
    )
    .await;
    // AI Gateway's Workers AI provider path, with no provider named `workers-ai`: answered here
    let client = reqwest::Client::new();
    let run = client
        .post(
            h.gateway
                .url("/v1/acct/gw/workers-ai/@cf/meta/llama-3.1-8b-instruct"),
        )
        .json(&serde_json::json!({"prompt": "Hi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(run.status(), 200);
    let v: serde_json::Value = run.json().await.unwrap();
    assert_eq!(v["result"]["response"], "Hello from mock", "{v}");
    let chat = client
        .post(h.gateway.url("/v1/acct/gw/workers-ai/v1/chat/completions"))
        .json(
            &serde_json::json!({"model": "@cf/meta/llama-3.1-8b-instruct",
                                  "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200);
    let v: serde_json::Value = chat.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"], "Hello from mock",
        "{v}"
    );
    // the Cloudflare token never reached the provider
    for r in h.mock.requests() {
        let auth = r.header("authorization").unwrap_or_default();
        assert!(!auth.contains("cf-token"), "{r:?}");
    }
}
