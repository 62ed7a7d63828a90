//! Web pages cannot drive the gateway: on a loopback listener only loopback `Host` values are
//! served (DNS rebinding), a request whose `Origin` is not allowed is refused (CORS answered for
//! the allowed ones, `[server] allowed_origins`), and API routes take JSON bodies only, so a
//! page's `text/plain` or form POST (no preflight) never spends the provider keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{config, start, start_with};

const CHAT: &str =
    r#"{"model":"mock-openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;

async fn send(
    h: &common::Harness,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&'static str>,
) -> reqwest::Response {
    let mut request = h.http.request(method, h.gateway.url(path));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    if let Some(body) = body {
        request = request.body(body);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn simple_cross_site_requests_are_refused() {
    let h = start("").await;
    let post = reqwest::Method::POST;
    // a page's fetch/form without a preflight: text/plain, form-encoded, or no type at all
    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let headers: Vec<(&str, &str)> = if content_type.is_empty() {
            vec![]
        } else {
            vec![("content-type", content_type)]
        };
        for path in ["/v1/chat/completions", "/universal", "/v1/messages"] {
            let r = send(&h, post.clone(), path, &headers, Some(CHAT)).await;
            assert_eq!(r.status(), 415, "{path} with {content_type:?}");
            let body: serde_json::Value = r.json().await.unwrap();
            assert!(body.to_string().contains("application/json"), "{body}");
        }
        let r = send(
            &h,
            post.clone(),
            "/mock-openai/chat/completions",
            &headers,
            Some(CHAT),
        )
        .await;
        assert_eq!(r.status(), 415, "passthrough with {content_type:?}");
    }
    // any other site's page: refused whatever it sends
    let evil = [
        ("origin", "https://evil.example"),
        ("content-type", "application/json"),
    ];
    let r = send(&h, post.clone(), "/v1/chat/completions", &evil, Some(CHAT)).await;
    assert_eq!(r.status(), 403);
    let r = send(&h, reqwest::Method::GET, "/api/logs", &evil[..1], None).await;
    assert_eq!(r.status(), 403);
    assert!(h.mock.requests().is_empty(), "nothing reached the provider");
    // JSON with a charset, and the gateway's own origin (its pages), are fine
    let json = [("content-type", "application/json; charset=utf-8")];
    let r = send(&h, post.clone(), "/v1/chat/completions", &json, Some(CHAT)).await;
    assert_eq!(r.status(), 200);
    let own = h.gateway.base_url().to_owned();
    let same = [
        ("origin", own.as_str()),
        ("content-type", "application/json"),
    ];
    let r = send(&h, post, "/v1/chat/completions", &same, Some(CHAT)).await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn dns_rebinding_is_refused_on_a_loopback_listener() {
    let h = start("").await;
    for host in ["evil.example", "evil.example:8787", "10.0.0.5"] {
        let r = send(
            &h,
            reqwest::Method::GET,
            "/api/logs",
            &[("host", host)],
            None,
        )
        .await;
        assert_eq!(r.status(), 403, "{host}");
        let r = send(
            &h,
            reqwest::Method::GET,
            "/v1/models",
            &[("host", host)],
            None,
        )
        .await;
        assert_eq!(r.status(), 403, "{host}");
    }
    for host in [
        "localhost",
        "localhost:8787",
        "127.0.0.1",
        "[::1]:8787",
        "app.localhost",
    ] {
        let r = send(
            &h,
            reqwest::Method::GET,
            "/v1/models",
            &[("host", host)],
            None,
        )
        .await;
        assert_eq!(r.status(), 200, "{host}");
    }
    // health checks stay reachable
    let r = send(
        &h,
        reqwest::Method::GET,
        "/healthz",
        &[("host", "evil.example")],
        None,
    )
    .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn allowed_origins_get_cors() {
    let h = start_with(|mock| {
        config(mock, "").replace(
            "env_providers = false\n",
            "env_providers = false\nallowed_origins = [\"http://localhost:3000\"]\n",
        )
    })
    .await;
    let preflight = [
        ("origin", "http://localhost:3000"),
        ("access-control-request-method", "POST"),
        (
            "access-control-request-headers",
            "content-type, authorization",
        ),
    ];
    let r = send(
        &h,
        reqwest::Method::OPTIONS,
        "/v1/chat/completions",
        &preflight,
        None,
    )
    .await;
    assert_eq!(r.status(), 204);
    let allow = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(
        allow(&r, "access-control-allow-origin"),
        "http://localhost:3000"
    );
    assert!(allow(&r, "access-control-allow-methods").contains("POST"));
    assert!(allow(&r, "access-control-allow-headers").contains("authorization"));
    let r = send(
        &h,
        reqwest::Method::POST,
        "/v1/chat/completions",
        &[
            ("origin", "http://localhost:3000"),
            ("content-type", "application/json"),
        ],
        Some(CHAT),
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        allow(&r, "access-control-allow-origin"),
        "http://localhost:3000"
    );
    assert!(allow(&r, "access-control-expose-headers").contains("cf-aig-request-id"));
    // another origin is still refused, preflight included
    let other = [
        ("origin", "http://localhost:4000"),
        ("access-control-request-method", "POST"),
    ];
    let r = send(
        &h,
        reqwest::Method::OPTIONS,
        "/v1/chat/completions",
        &other,
        None,
    )
    .await;
    assert_eq!(r.status(), 403);
}
