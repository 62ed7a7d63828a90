//! The response cache end to end: the real binary, a mock upstream, real SQLite and Redis.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::cache::*;
use common::{bin, chat, config, start, start_with};
use serde_json::{json, Value};
use switchyard_testkit::{RedisServer, Switchyard};

#[tokio::test]
async fn miss_then_hit_then_bypass() {
    let h = start(CACHED).await;
    let body = chat_about("cache me");
    let first = h.ask(&body, &[]).await;
    assert_eq!((first.status, first.cache()), (200, "MISS"));
    assert_eq!(first.detail.as_deref(), Some("miss"));
    let second = h.ask(&body, &[]).await;
    assert_eq!((second.status, second.cache()), (200, "HIT"));
    assert_eq!(second.detail.as_deref(), Some("hit"));
    assert_eq!(second.body, first.body, "the stored bytes, unchanged");
    assert_eq!(second.age.as_deref(), Some("0"));
    assert_eq!(second.key, first.key);
    assert!(second.content_type.starts_with("application/json"));
    assert_eq!(h.upstream_calls(), 1);

    let skipped = h.ask(&body, &[("cf-aig-skip-cache", "true")]).await;
    // Cloudflare documents only HIT and MISS: a skipped lookup is a MISS, the reason is ours
    assert_eq!((skipped.status, skipped.cache()), (200, "MISS"));
    assert_eq!(skipped.detail.as_deref(), Some("bypass"));
    assert_eq!(h.upstream_calls(), 2);
    // control headers are the gateway's: never forwarded upstream
    let seen = h.mock.last_request().unwrap();
    assert!(
        !seen.headers.keys().any(|k| k.as_str().starts_with("cf-")),
        "{:?}",
        seen.headers
    );

    let s = stats(h.gateway.base_url()).await;
    assert_eq!(
        (&s["hits"], &s["misses"], &s["bypasses"], &s["entries"]),
        (&json!(1), &json!(1), &json!(1), &json!(1)),
        "{s}"
    );
    let logs = h.gateway.logs();
    assert!(logs.contains("cache=\"hit\""), "{logs}");
    assert!(logs.contains("cache=\"bypass\""), "{logs}");
    // the mock's answer used 12 + 3 tokens: that is what the hit saved
    assert!(
        logs.contains("saved_input_tokens=12 saved_output_tokens=3"),
        "{logs}"
    );
}

#[tokio::test]
async fn off_unless_configured_and_the_ttl_header_turns_it_on() {
    let h = start("").await;
    let body = chat_about("not cached");
    assert_eq!(h.ask(&body, &[]).await.cache(), "none");
    assert_eq!(h.ask(&body, &[]).await.cache(), "none");
    assert_eq!(h.upstream_calls(), 2);
    let ttl = [("cf-aig-cache-ttl", "60")];
    assert_eq!(h.ask(&body, &ttl).await.cache(), "MISS");
    assert_eq!(h.ask(&body, &ttl).await.cache(), "HIT");
    assert_eq!(h.upstream_calls(), 3);

    let bad = h.ask(&body, &[("cf-aig-cache-ttl", "forever")]).await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["error"]["param"], "cf-aig-cache-ttl");
}

#[tokio::test]
async fn anything_that_changes_the_answer_is_a_different_entry() {
    let h = start(CACHED).await;
    let base = chat_about("sensitive");
    assert_eq!(h.ask(&base, &[]).await.cache(), "MISS");
    let mut other_model = base.clone();
    other_model["model"] = json!("mock-openai/gpt-4o");
    let mut temperature = base.clone();
    temperature["temperature"] = json!(0.9);
    let mut tools = base.clone();
    tools["tools"] = json!([{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]);
    let mut messages = base.clone();
    messages["messages"][0]["content"] = json!("sensitive!");
    for variant in [&other_model, &temperature, &tools, &messages] {
        assert_eq!(h.ask(variant, &[]).await.cache(), "MISS", "{variant}");
    }
    // the same request, however it is written and addressed, is the same entry
    let mut same = base.clone();
    same["model"] = json!("gpt-4o-mini");
    same["temperature"] = json!(null);
    same.as_object_mut().unwrap().remove("temperature");
    assert_eq!(h.ask(&same, &[]).await.cache(), "HIT");
    assert_eq!(h.upstream_calls(), 5);
}

#[tokio::test]
async fn streams_replay_as_streams_and_across_modes() {
    let h = start(CACHED).await;
    let body = streaming(chat_about("stream me"), true);
    let first = h.ask(&body, &[]).await;
    assert_eq!(first.cache(), "MISS");
    let events = first.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let second = h.ask(&body, &[]).await;
    assert_eq!(second.cache(), "HIT");
    assert_eq!(second.body, first.body, "chunk for chunk, [DONE] included");
    assert!(second.content_type.starts_with("text/event-stream"));

    // the stored stream answers a JSON request
    let json_body = chat_about("stream me");
    let as_json = h.ask(&json_body, &[]).await;
    assert_eq!(as_json.cache(), "HIT");
    let v = as_json.json();
    assert_eq!(v["object"], "chat.completion");
    let streamed_text: String = events[..events.len() - 1]
        .iter()
        .filter_map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(v["choices"][0]["message"]["content"], streamed_text);
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);

    // and a stored JSON answer answers a streaming request
    let json_first = chat_about("json first");
    assert_eq!(h.ask(&json_first, &[]).await.cache(), "MISS");
    let replayed = h.ask(&streaming(json_first, false), &[]).await;
    assert_eq!(replayed.cache(), "HIT");
    let events = replayed.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let text: String = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).unwrap())
        .inspect(|c| assert_eq!(c["object"], "chat.completion.chunk"))
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Hello from mock");
    assert_eq!(h.upstream_calls(), 2);
}

#[tokio::test]
async fn the_anthropic_dialect_is_cached_in_its_own_shape() {
    let h = start(CACHED).await;
    let body = json!({"model": "mock-openai/gpt-4o-mini", "max_tokens": 64, "stream": true,
        "messages": [{"role": "user", "content": "Bonjour"}]});
    let first = send(h.gateway.base_url(), "/v1/messages", &body, &[]).await;
    assert_eq!((first.status, first.cache()), (200, "MISS"));
    assert!(std::str::from_utf8(&first.body)
        .unwrap()
        .contains("event: message_stop"));
    let mut json_body = body.clone();
    json_body["stream"] = json!(false);
    let hit = send(h.gateway.base_url(), "/v1/messages", &json_body, &[]).await;
    assert_eq!(hit.cache(), "HIT");
    let v = hit.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(h.upstream_calls(), 1);
    // the same request on the OpenAI endpoint is another entry (another dialect's answer)
    let openai = chat_about("Bonjour");
    assert_eq!(h.ask(&openai, &[]).await.cache(), "MISS");
}

#[tokio::test]
async fn errors_and_broken_streams_are_never_stored() {
    let h = start(CACHED).await;
    let failing = chat("mock-openai/status-500");
    assert_eq!(h.ask(&failing, &[]).await.status, 502);
    assert_eq!(h.ask(&failing, &[]).await.status, 502);
    assert_eq!(h.upstream_calls(), 2);

    let broken = streaming(chat("mock-openai/broken-stream"), false);
    let first = h.ask(&broken, &[]).await;
    assert!(std::str::from_utf8(&first.body)
        .unwrap()
        .contains("stream_broken"));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(h.ask(&broken, &[]).await.cache(), "MISS");
    assert_eq!(h.upstream_calls(), 4);
    assert_eq!(stats(h.gateway.base_url()).await["stores"], 0);
}

#[tokio::test]
async fn identical_concurrent_requests_make_one_upstream_call() {
    let h = start(CACHED).await;
    let url = h.gateway.base_url().to_owned();
    let body = chat("mock-openai/delay-300");
    let answers = futures_util::future::join_all(
        (0..8).map(|_| send(&url, "/v1/chat/completions", &body, &[])),
    )
    .await;
    assert_eq!(h.upstream_calls(), 1);
    let mut statuses: Vec<&str> = answers.iter().map(Answer::cache).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        ["HIT"; 7]
            .iter()
            .copied()
            .chain(["MISS"])
            .collect::<Vec<_>>()
    );
    assert!(answers
        .iter()
        .all(|a| a.status == 200 && a.body == answers[0].body));
    assert_eq!(stats(&url).await["coalesced"], 7);

    // streaming followers receive the leader's events as they arrive, and a JSON follower the
    // folded answer
    let stream = streaming(chat("mock-openai/slow-stream-6"), false);
    let json_follower = chat("mock-openai/slow-stream-6");
    let started = Instant::now();
    let (streams, json_answer) = tokio::join!(
        futures_util::future::join_all((0..4).map(|_| send(
            &url,
            "/v1/chat/completions",
            &stream,
            &[]
        ))),
        async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            send(&url, "/v1/chat/completions", &json_follower, &[]).await
        }
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    // one call for the four streams; the JSON caller's own call (see below)
    assert_eq!(h.upstream_calls(), 3);
    for s in &streams {
        assert_eq!(s.body, streams[0].body);
        assert_eq!(s.events().last().map(String::as_str), Some("[DONE]"));
    }
    // the leader's stream had no usage chunk, so a JSON caller cannot be answered from it
    // honestly: it made its own call (the mock answers JSON requests at once)
    assert_eq!((json_answer.status, json_answer.cache()), (200, "MISS"));
    assert_eq!(
        json_answer.json()["choices"][0]["message"]["content"],
        "Hello from mock"
    );

    // a leader that fails fails its followers: nobody hangs, one upstream call
    let failing = chat("mock-openai/fail-after-300");
    let before = h.upstream_calls();
    let answers = futures_util::future::join_all(
        (0..5).map(|_| send(&url, "/v1/chat/completions", &failing, &[])),
    )
    .await;
    assert!(answers.iter().all(|a| a.status == 502), "all fail");
    assert_eq!(h.upstream_calls(), before + 1);
}

#[tokio::test]
async fn coalescing_can_be_turned_off() {
    let h = start("[cache]\nttl_seconds = 60\ncoalesce = false\n").await;
    let url = h.gateway.base_url().to_owned();
    let body = chat("mock-openai/delay-200");
    futures_util::future::join_all((0..3).map(|_| send(&url, "/v1/chat/completions", &body, &[])))
        .await;
    assert_eq!(h.upstream_calls(), 3);
}

#[tokio::test]
async fn purge_by_hash_key_model_or_everything() {
    let h = start(CACHED).await;
    let url = h.gateway.base_url().to_owned();
    let purge = |query: &'static str| {
        let url = url.clone();
        async move {
            let r = reqwest::Client::new()
                .delete(format!("{url}/api/cache{query}"))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let a = chat_about("a");
    let b = chat_about("b");
    let key = h.ask(&a, &[]).await.key.unwrap();
    h.ask(&b, &[]).await;
    let by_hash = format!("?hash={key}");
    let by_hash: &'static str = Box::leak(by_hash.into_boxed_str());
    // entries are written just after their answers: purges wait for them (a busy machine is slow)
    stored(&url, 2).await;
    assert_eq!(purge(by_hash).await, (200, json!({"purged": 1})));
    assert_eq!(h.ask(&a, &[]).await.cache(), "MISS");
    assert_eq!(h.ask(&b, &[]).await.cache(), "HIT");

    let faq = [("cf-aig-cache-key", "faq-1")];
    assert_eq!(h.ask(&chat_about("anything"), &faq).await.cache(), "MISS");
    // a custom key replaces the computed one: another body, the same entry
    assert_eq!(
        h.ask(&chat_about("something else"), &faq).await.cache(),
        "HIT"
    );
    stored(&url, 4).await;
    assert_eq!(purge("?key=faq-1").await.1, json!({"purged": 1}));

    assert_eq!(purge("?model=gpt-4o-mini").await.1, json!({"purged": 2}));
    assert_eq!(h.ask(&b, &[]).await.cache(), "MISS");
    stored(&url, 5).await;
    assert_eq!(purge("").await.1, json!({"purged": 1}));
    assert_eq!(purge("?hash=zz").await.0, 400);
    assert_eq!(purge("?colour=red").await.0, 400);

    let metrics = common::logging::metrics_text(&url).await;
    assert!(
        metrics.contains("switchyard_cache_requests_total{backend=\"memory\",status=\"hit\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("switchyard_cache_entries{backend=\"memory\"} 0"));
}

#[tokio::test]
async fn sqlite_entries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cache.db");
    let extra = format!(
        "[cache]\nbackend = \"sqlite\"\npath = \"{}\"\nttl_seconds = 600\n",
        db.display()
    );
    let mut h = start_with(|mock| config(mock, &extra)).await;
    let body = streaming(chat_about("persist me"), true);
    let first = h.ask(&body, &[]).await;
    assert_eq!(first.cache(), "MISS");
    stored(h.gateway.base_url(), 1).await;
    h.gateway.terminate().unwrap();
    h.gateway.wait(Duration::from_secs(10)).await.unwrap();

    h.gateway = Switchyard::start(bin(), &config(&h.mock, &extra))
        .await
        .unwrap();
    let again = h.ask(&body, &[]).await;
    assert_eq!(again.cache(), "HIT");
    assert_eq!(again.body, first.body);
    assert_eq!(h.upstream_calls(), 1);
    let s = stats(h.gateway.base_url()).await;
    assert_eq!(
        (&s["backend"], &s["entries"]),
        (&json!("sqlite"), &json!(1))
    );
}

#[tokio::test]
async fn redis_is_shared_by_replicas_and_its_loss_is_only_a_miss() {
    let mut redis = RedisServer::start().unwrap();
    let extra = format!(
        "[cache]\nbackend = \"redis\"\nurl = \"{}\"\nttl_seconds = 600\ntimeout_ms = 200\ncompress_min_bytes = 64\n",
        redis.url()
    );
    let h = start_with(|mock| config(mock, &extra)).await;
    let replica = Switchyard::start(bin(), &config(&h.mock, &extra))
        .await
        .unwrap();
    let body = chat_about("shared");
    let first = h.ask(&body, &[]).await;
    assert_eq!(first.cache(), "MISS");
    stored(h.gateway.base_url(), 1).await;
    let other = send(replica.base_url(), "/v1/chat/completions", &body, &[]).await;
    assert_eq!(
        other.cache(),
        "HIT",
        "the replica reads what the first wrote"
    );
    assert_eq!(other.body, first.body);
    assert_eq!(h.upstream_calls(), 1);

    // a caller-chosen key is purged on every replica, whoever stored it
    let faq = [("cf-aig-cache-key", "faq-redis")];
    assert_eq!(h.ask(&chat_about("any"), &faq).await.cache(), "MISS");
    stored(h.gateway.base_url(), 2).await;
    let purged: Value = reqwest::Client::new()
        .delete(format!("{}/api/cache?key=faq-redis", replica.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(purged, json!({"purged": 1}));
    let again = send(
        replica.base_url(),
        "/v1/chat/completions",
        &chat_about("any"),
        &faq,
    )
    .await;
    assert_eq!(again.cache(), "MISS");

    redis.kill();
    for (i, url) in [h.gateway.base_url(), replica.base_url()]
        .into_iter()
        .enumerate()
    {
        let started = Instant::now();
        let answer = send(
            url,
            "/v1/chat/completions",
            &chat_about(&format!("after {i}")),
            &[],
        )
        .await;
        assert_eq!((answer.status, answer.cache()), (200, "MISS"));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let cached_before = send(url, "/v1/chat/completions", &body, &[]).await;
        assert_eq!((cached_before.status, cached_before.cache()), (200, "MISS"));
    }
    let s = stats(h.gateway.base_url()).await;
    assert!(s["backend_errors"].as_u64().unwrap() >= 1, "{s}");
    assert!(
        h.gateway.logs().contains("serving without the cache"),
        "{}",
        h.gateway.logs()
    );
}

#[tokio::test]
async fn followers_survive_the_leaders_client_leaving() {
    let h = start(CACHED).await;
    let url = h.gateway.base_url().to_owned();
    let body = streaming(chat("mock-openai/slow-stream-8"), false);
    // the leader's client gives up after 150 ms, mid-stream
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let leader = impatient
        .post(format!("{url}/v1/chat/completions"))
        .json(&body)
        .send();
    let follower = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        send(&url, "/v1/chat/completions", &body, &[]).await
    };
    let (leader, follower) = tokio::join!(
        async move {
            match leader.await {
                Ok(r) => r.bytes().await.is_err(),
                Err(_) => true,
            }
        },
        follower
    );
    assert!(leader, "the leader's client timed out");
    assert_eq!(follower.cache(), "HIT");
    let events = follower.events();
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(
        events.iter().any(|e| e.contains("tick7")),
        "the whole answer"
    );
    stored(&url, 1).await;
    assert_eq!(h.ask(&body, &[]).await.cache(), "HIT");
    assert_eq!(h.upstream_calls(), 1);
    assert_eq!(h.mock.cancelled(), 0, "the upstream call was carried on");

    // with nobody following, a client leaving cancels the upstream call and stores nothing
    let lone = streaming(chat("mock-openai/slow-stream-9"), false);
    let gone = impatient
        .post(format!("{url}/v1/chat/completions"))
        .json(&lone)
        .send()
        .await;
    if let Ok(r) = gone {
        assert!(r.bytes().await.is_err());
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while h.mock.cancelled() == 0 {
        assert!(Instant::now() < deadline, "upstream not cancelled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(h.ask(&lone, &[]).await.cache(), "MISS");
}

#[tokio::test]
async fn embeddings_are_cached_too() {
    let h = start(CACHED).await;
    let body = json!({"model": "mock-openai/text-embedding-3-small", "input": ["a", "b"]});
    let first = send(h.gateway.base_url(), "/v1/embeddings", &body, &[]).await;
    assert_eq!((first.status, first.cache()), (200, "MISS"));
    let second = send(h.gateway.base_url(), "/v1/embeddings", &body, &[]).await;
    assert_eq!((second.status, second.cache()), (200, "HIT"));
    assert_eq!(second.body, first.body);
    assert_eq!(second.json()["data"].as_array().unwrap().len(), 2);
    let mut other = body.clone();
    other["input"] = json!(["a", "c"]);
    let third = send(h.gateway.base_url(), "/v1/embeddings", &other, &[]).await;
    assert_eq!(third.cache(), "MISS");
    assert_eq!(h.upstream_calls(), 2);
}
