//! The cache's own life cycle, without a network: TTL on tokio's paused clock, JSON recording,
//! coalesced followers, failures published to followers.

use std::time::Duration;

use bytes::Bytes;
use http::Response;
use switchyard_config::CacheConfig;

use super::*;
use crate::ClientApi;

fn lookup(key: u8, ttl: u64, stream: bool) -> Lookup {
    Lookup {
        requested: "p/m".into(),
        provider_kind: "openai",
        key: [key; 32],
        tag: None,
        identity: String::new(),
        ttl: Duration::from_secs(ttl),
        want: Wanted {
            api: ClientApi::ChatCompletions,
            stream,
            include_usage: false,
        },
    }
}

fn json_reply() -> Reply {
    let body = r#"{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}"#;
    let mut response = Response::new(ReplyBody::full(body));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Reply::new(
        response,
        crate::reply::ServedNote {
            upstream_latency: Duration::from_millis(5),
            ..crate::reply::ServedNote::new("p".into(), "m".into(), "openai")
        },
    )
}

async fn cache() -> ResponseCache {
    ResponseCache::open(&CacheConfig::default()).await.unwrap()
}

/// Lets the spawned store task run.
async fn settle() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply.response.headers()[name].to_str().unwrap()
}

#[tokio::test(start_paused = true)]
async fn entries_live_exactly_their_ttl() {
    let cache = cache().await;
    let l = lookup(1, 60, false);
    let Found::Lead(leader) = cache.find(&l).await else {
        panic!("empty cache: lead")
    };
    let reply = cache.record(leader, &l, None, Ok(json_reply())).unwrap();
    assert_eq!(header(&reply, "cf-aig-cache-status"), "MISS");
    settle().await;

    tokio::time::advance(Duration::from_secs(59)).await;
    let Found::Hit(hit) = cache.find(&l).await else {
        panic!("59 s after: still a hit")
    };
    assert_eq!(header(&hit, "cf-aig-cache-status"), "HIT");
    assert_eq!(header(&hit, "age"), "59");
    assert_eq!(hit.served.cache, Some(CacheStatus::Hit));
    assert_eq!(
        hit.response.body().full_bytes(),
        json_reply().response.body().full_bytes()
    );

    tokio::time::advance(Duration::from_secs(2)).await;
    assert!(
        matches!(cache.find(&l).await, Found::Lead(_)),
        "61 s after: expired"
    );
    let stats = cache.stats().await;
    assert_eq!((stats.hits, stats.misses, stats.stores), (1, 2, 1));
}

#[tokio::test]
async fn followers_share_the_leaders_answer_in_their_own_mode() {
    let cache = cache().await;
    let l = lookup(2, 60, false);
    let Found::Lead(leader) = cache.find(&l).await else {
        panic!()
    };
    // a streaming follower arrives while the leader is in the air
    let streaming = lookup(2, 60, true);
    let follower = async { cache.find(&streaming).await };
    let lead = async {
        tokio::task::yield_now().await;
        cache.record(leader, &l, None, Ok(json_reply())).unwrap()
    };
    let (found, _) = tokio::join!(follower, lead);
    let Found::Hit(reply) = found else {
        panic!("the follower is answered")
    };
    assert_eq!(reply.served.cache, Some(CacheStatus::Coalesced));
    assert_eq!(header(&reply, "content-type"), "text/event-stream");
    let body = reply.response.body().full_bytes().unwrap();
    assert!(body.ends_with(b"data: [DONE]\n\n"));
    assert_eq!(cache.stats().await.coalesced, 1);
}

#[tokio::test]
async fn a_failed_leader_fails_its_followers_and_stores_nothing() {
    let cache = cache().await;
    let l = lookup(3, 60, false);
    let Found::Lead(leader) = cache.find(&l).await else {
        panic!()
    };
    let follower = async { cache.find(&l).await };
    let lead = async {
        tokio::task::yield_now().await;
        let err = GatewayError::upstream_status("p", http::StatusCode::BAD_GATEWAY, b"boom");
        match cache.record(leader, &l, None, Err(err)) {
            Err(e) => e,
            Ok(_) => panic!("an error stays an error"),
        }
    };
    let (found, err) = tokio::join!(follower, lead);
    let Found::Failed(e) = found else {
        panic!("the follower gets the error")
    };
    assert_eq!(e.message, err.message);
    assert!(
        matches!(cache.find(&l).await, Found::Lead(_)),
        "nothing stored"
    );
}

#[tokio::test]
async fn controls_and_config_decide_the_plan() {
    let config = CacheConfig {
        ttl: Some(Duration::from_secs(30)),
        ..CacheConfig::default()
    };
    let on = ResponseCache::open(&config).await.unwrap();
    let off = cache().await;
    let gateway_config = switchyard_config::load_str_with_env(
        "t",
        "[providers.p]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:9\"\napi_key = \"k\"\n[[models]]\nname = \"never\"\ntarget = \"p/m\"\ncache_ttl_seconds = 0\n",
        &std::collections::HashMap::new(),
    )
    .unwrap();
    let gateway = crate::Gateway::new(&gateway_config, off).unwrap();
    let body = Bytes::from_static(br#"{"model":"p/m","messages":[{"role":"user","content":"x"}]}"#);
    let call = gateway.prepare(ClientApi::ChatCompletions, &body).unwrap();
    let none = CacheControls::default();
    let plan = |cache: &ResponseCache, c: &CacheControls| match cache.plan(&call, &body, c, "") {
        Ok(Plan::Off) => "off",
        Ok(Plan::Bypass) => "bypass",
        Ok(Plan::Use(l)) => {
            if l.ttl == Duration::from_secs(30) {
                "use-30"
            } else {
                "use-other"
            }
        }
        Err(_) => "error",
    };
    assert_eq!(plan(gateway.cache(), &none), "off", "off unless configured");
    assert_eq!(plan(&on, &none), "use-30");
    let ttl_header = CacheControls {
        ttl: Some(Duration::from_secs(5)),
        ..CacheControls::default()
    };
    assert_eq!(
        plan(gateway.cache(), &ttl_header),
        "use-other",
        "the header turns it on"
    );
    let skip = CacheControls {
        skip: true,
        ..CacheControls::default()
    };
    assert_eq!(plan(&on, &skip), "bypass");
    let zero = CacheControls {
        ttl: Some(Duration::ZERO),
        ..CacheControls::default()
    };
    assert_eq!(plan(&on, &zero), "bypass");
    // an alias with cache_ttl_seconds = 0 is never cached, whatever the default
    let body =
        Bytes::from_static(br#"{"model":"never","messages":[{"role":"user","content":"x"}]}"#);
    let call = gateway.prepare(ClientApi::ChatCompletions, &body).unwrap();
    assert!(matches!(on.plan(&call, &body, &none, ""), Ok(Plan::Off)));
}
