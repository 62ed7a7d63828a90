//! Reranking and text classification end to end: `POST /v1/rerank` (and Cohere's `/v2/rerank`)
//! to a local cross-encoder, to Cohere and to a Jina-style OpenAI-compatible server; Workers
//! AI's bge-reranker and distilbert-sst-2 run shapes (golden envelopes in
//! `tests/golden/workers_ai/`, `UPDATE_GOLDEN=1` rewrites them); logged and metered per
//! document; bad bodies refused by name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};
use switchyard_testkit::tiny_models::{cross_encoder, CrossEncoderLayout};

const DOCS: [&str; 3] = [
    "The lighthouse stands on the northern cliff.",
    "Bananas are rich in potassium.",
    "Lighthouses guide ships at night.",
];

/// Scores replaced by `"<0..1>"` after checking they are in range: the envelope's shape is
/// what the golden file holds (a tiny random model's numbers are not worth pinning).
fn shape(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = match (k.as_str(), x.as_f64()) {
                        ("score" | "relevance_score", Some(s)) => {
                            assert!((0.0..=1.0).contains(&s), "{k} = {s}");
                            json!("<0..1>")
                        }
                        _ => shape(x),
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        other => other.clone(),
    }
}

#[tokio::test]
async fn rerank_and_classification_are_served_locally_and_forwarded() {
    let models = tempfile::tempdir().unwrap();
    let reranker = models.path().join("reranker");
    let sentiment = models.path().join("sentiment");
    cross_encoder(&reranker, CrossEncoderLayout::Roberta, &["LABEL_0"], 5).unwrap();
    cross_encoder(
        &sentiment,
        CrossEncoderLayout::Bert,
        &["NEGATIVE", "POSITIVE"],
        9,
    )
    .unwrap();
    let h = common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n\
             [providers.co]\nkind = \"cohere\"\nbase_url = \"{root}/v2\"\napi_key = \"co-key\"\n\
             [providers.jina]\nkind = \"openai\"\nbase_url = \"{root}/v1\"\napi_key = \"jina-key\"\n\
             [providers.an]\nkind = \"anthropic\"\nbase_url = \"{root}\"\napi_key = \"sk-ant\"\n\
             [providers.cf]\nkind = \"workers-ai-run\"\nbase_url = \"{root}/client/v4/accounts/acct/ai\"\napi_key = \"cf-token\"\n\
             [[models]]\nname = \"rerank\"\ntask = \"rerank\"\nsource = \"{reranker}\"\n\
             aliases = [\"@cf/baai/bge-reranker-base\"]\n\
             [[models]]\nname = \"sentiment\"\ntask = \"text-classification\"\nsource = \"{sentiment}\"\n\
             aliases = [\"@cf/huggingface/distilbert-sst-2-int8\"]\n",
            root = mock.root_url(),
            reranker = reranker.display(),
            sentiment = sentiment.display(),
        )
    })
    .await;

    // local: best first, top_n honoured, documents returned when asked (strings or {text})
    let body = json!({"model": "rerank", "query": "where is the lighthouse",
        "documents": [DOCS[0], {"text": DOCS[1]}, DOCS[2]], "top_n": 2, "return_documents": true});
    let first = h.post_json("/v1/rerank", &body).await;
    let results = first["results"]
        .as_array()
        .unwrap_or_else(|| panic!("{first}"));
    assert_eq!(results.len(), 2, "{first}");
    let score = |r: &Value| r["relevance_score"].as_f64().unwrap();
    assert!(score(&results[0]) >= score(&results[1]), "{first}");
    for r in results {
        let i = r["index"].as_u64().unwrap() as usize;
        assert_eq!(r["document"]["text"], DOCS[i], "{first}");
    }
    assert_eq!(first["usage"]["documents"], 3);
    // the same question gets the same scores, on Cohere's v2 path too
    let again = h.post_json("/v2/rerank", &body).await;
    assert_eq!(again["results"], first["results"]);
    let all = h
        .post_json(
            "/v1/rerank",
            &json!({"model": "local/rerank", "query": "lighthouse", "documents": DOCS}),
        )
        .await;
    assert_eq!(all["results"].as_array().unwrap().len(), 3, "{all}");
    assert!(all["results"][0].get("document").is_none(), "{all}");

    // Cohere: the body relayed (model rewritten) to /v2/rerank, the answer as Cohere gave it
    let cohere = h
        .post_json("/v2/rerank", &json!({"model": "co/rerank-v3.5", "query": "lighthouse northern cliff", "documents": DOCS, "top_n": 2}))
        .await;
    assert_eq!(cohere["results"][0]["index"], 0, "{cohere}");
    assert_eq!(cohere["results"].as_array().unwrap().len(), 2);
    let sent = h.mock.last_request().unwrap();
    assert_eq!(sent.path, "/v2/rerank");
    assert_eq!(sent.json()["model"], "rerank-v3.5");
    assert_eq!(sent.header("authorization"), Some("Bearer co-key"));
    // an OpenAI-compatible reranker (Jina, vLLM, TEI): /v1/rerank
    let jina = h
        .post_json("/v1/rerank", &json!({"model": "jina/jina-reranker-v2", "query": "ships at night", "documents": DOCS}))
        .await;
    assert_eq!(jina["results"][0]["index"], 2, "{jina}");
    assert_eq!(jina["results"][0]["document"]["text"], DOCS[2]);
    assert_eq!(h.mock.last_request().unwrap().path, "/v1/rerank");
    // upstream Workers AI: bge-reranker's run, its answer read back into the rerank shape
    let cf = h
        .post_json("/v1/rerank", &json!({"model": "cf/@cf/baai/bge-reranker-base", "query": "q", "documents": DOCS, "top_n": 2}))
        .await;
    assert_eq!(
        cf["results"],
        json!([{"index": 2, "relevance_score": 1.0}, {"index": 1, "relevance_score": 2.0 / 3.0}]),
        "{cf}"
    );
    let sent = h.mock.last_request().unwrap();
    assert_eq!(
        sent.path,
        "/client/v4/accounts/acct/ai/run/@cf/baai/bge-reranker-base"
    );
    assert_eq!(
        sent.json(),
        json!({"query": "q", "contexts": DOCS.map(|d| json!({"text": d})), "top_k": 2})
    );

    // refused by name: missing query, empty documents, a provider without the API
    let e = common::expect_error(
        h.post("/v1/rerank", &json!({"model": "rerank", "documents": DOCS}))
            .await,
        400,
    )
    .await;
    assert_eq!(e["param"], "query", "{e}");
    let e = common::expect_error(
        h.post(
            "/v1/rerank",
            &json!({"model": "rerank", "query": "q", "documents": []}),
        )
        .await,
        400,
    )
    .await;
    assert_eq!(e["param"], "documents", "{e}");
    let e = common::expect_error(
        h.post(
            "/v1/rerank",
            &json!({"model": "an/claude-x", "query": "q", "documents": DOCS}),
        )
        .await,
        400,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("rerank"), "{e}");
    // a reranker is not a chat model
    let e = common::expect_error(
        h.post("/v1/chat/completions", &common::chat("rerank"))
            .await,
        400,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("rerank"), "{e}");

    // Workers AI: bge-reranker's shape, on both paths
    for path in [
        "/ai/run/@cf/baai/bge-reranker-base",
        "/client/v4/accounts/acct/ai/run/@cf/baai/bge-reranker-base",
    ] {
        let v = h
            .post_json(path, &json!({"query": "where is the lighthouse", "contexts": DOCS.map(|d| json!({"text": d})), "top_k": 2}))
            .await;
        assert_eq!(v["success"], true, "{v}");
        let ids: Vec<u64> = v["result"]["response"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect();
        let expect: Vec<u64> = results
            .iter()
            .map(|r| r["index"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, expect, "{v}");
        common::golden("rerank", &shape(&v));
    }
    let bad = h
        .post_json(
            "/ai/run/@cf/baai/bge-reranker-base",
            &json!({"query": "q", "contexts": ["a"]}),
        )
        .await;
    assert_eq!(bad["success"], false, "{bad}");
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("contexts[0]"),
        "{bad}"
    );

    // Workers AI: distilbert-sst-2's shape: [{label, score}], likeliest first
    let v = h
        .post_json(
            "/ai/run/@cf/huggingface/distilbert-sst-2-int8",
            &json!({"text": "What a lovely day"}),
        )
        .await;
    assert_eq!(v["success"], true, "{v}");
    let labels = v["result"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(labels.len(), 2);
    let p = |i: usize| labels[i]["score"].as_f64().unwrap();
    assert!(p(0) >= p(1) && (p(0) + p(1) - 1.0).abs() < 1e-4, "{v}");
    let mut names: Vec<&str> = labels
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["NEGATIVE", "POSITIVE"]);
    let mut sorted = shape(&v);
    sorted["result"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .for_each(|l| l["label"] = json!("<label>"));
    common::golden("classify", &sorted);
    // the models are listed under Workers AI's task, with their schemas
    let listed = common::logging::get_json(&format!(
        "{}/ai/models/search?task=Text%20Classification",
        h.gateway.base_url()
    ))
    .await;
    assert_eq!(listed["result"].as_array().unwrap().len(), 4, "{listed}");
    let schema = common::logging::get_json(&format!(
        "{}/ai/models/schema?model=@cf/baai/bge-reranker-base",
        h.gateway.base_url()
    ))
    .await;
    assert_eq!(
        schema["result"]["input"]["required"],
        json!(["query", "contexts"])
    );

    // logged; local reranks metered by the documents they scored
    let rows = common::logging::rows(h.gateway.base_url(), 16).await;
    let reranks: Vec<&Value> = rows
        .iter()
        .filter(|r| r["provider"] == "local" && r["model"] == "rerank" && r["status"] == 200)
        .collect();
    assert_eq!(reranks.len(), 5, "{rows:?}");
    assert!(
        reranks.iter().all(|r| r["input_tokens"] == 3),
        "{reranks:?}"
    );
    assert!(rows
        .iter()
        .any(|r| r["provider"] == "co" && r["input_tokens"] == 1));
    assert!(rows.iter().any(|r| r["route"] == "/v2/rerank"), "{rows:?}");
    let classified = rows.iter().find(|r| r["model"] == "sentiment").unwrap();
    assert!(
        classified["input_tokens"].as_i64().unwrap() > 3,
        "{classified}"
    );
}
