use std::collections::BTreeMap;

use super::*;
use crate::{AzureSpec, Secret, Timeouts};

fn spec(kind: ProviderKind, base_url: &str) -> ProviderSpec {
    ProviderSpec {
        name: "p".into(),
        kind,
        base_url: base_url.into(),
        api_key: Some(Secret::new("sk-test")),
        models: vec![],
        headers: BTreeMap::from([("x-extra".to_owned(), Secret::new("v"))]),
        azure: None,
        google: None,
        aws: None,
        timeouts: Timeouts::default(),
        responses_api: crate::ResponsesApi::default_for(kind),
    }
}

#[tokio::test]
async fn openai_requests_carry_bearer_key_host_and_origin_form_path() {
    let p = Provider::new(spec(ProviderKind::OpenAi, "http://127.0.0.1:9/v1")).unwrap();
    let req = p
        .build(
            Endpoint::ChatCompletions,
            "gpt-4o-mini",
            false,
            Bytes::from_static(b"{}"),
        )
        .unwrap();
    let req = p.http_request(&req);
    assert_eq!(req.uri(), "/v1/chat/completions");
    assert_eq!(req.headers()["host"], "127.0.0.1:9");
    assert_eq!(req.headers()["authorization"], "Bearer sk-test");
    assert_eq!(req.headers()["x-extra"], "v");
    assert!(req.headers()["authorization"].is_sensitive());
}

#[tokio::test]
async fn azure_requests_use_deployment_url_and_api_key_header() {
    let mut s = spec(ProviderKind::Azure, "https://res.openai.azure.com");
    s.azure = Some(AzureSpec {
        api_version: "2024-10-21".into(),
        deployments: BTreeMap::from([("gpt-4o".to_owned(), "prod gpt4o".to_owned())]),
    });
    let p = Provider::new(s).unwrap();
    let req = p.http_request(
        &p.build(Endpoint::Embeddings, "gpt-4o", false, Bytes::new())
            .unwrap(),
    );
    assert_eq!(
        req.uri(),
        "/openai/deployments/prod%20gpt4o/embeddings?api-version=2024-10-21"
    );
    assert_eq!(req.headers()["host"], "res.openai.azure.com");
    assert_eq!(req.headers()["api-key"], "sk-test");
    assert!(req.headers().get("authorization").is_none());
    let req = p.http_request(
        &p.build(Endpoint::ChatCompletions, "other", false, Bytes::new())
            .unwrap(),
    );
    assert_eq!(
        req.uri(),
        "/openai/deployments/other/chat/completions?api-version=2024-10-21"
    );
}

#[tokio::test]
async fn the_responses_api_goes_to_openais_path_and_azures_v1_surface() {
    let p = Provider::new(spec(ProviderKind::OpenAi, "http://127.0.0.1:9/v1")).unwrap();
    let req = p.http_request(
        &p.build(Endpoint::Responses, "gpt-4o", true, Bytes::new())
            .unwrap(),
    );
    assert_eq!(req.uri(), "/v1/responses");
    assert_eq!(p.body_model("gpt-4o"), "gpt-4o");
    let mut s = spec(ProviderKind::Azure, "https://res.openai.azure.com");
    s.azure = Some(AzureSpec {
        api_version: "2024-10-21".into(),
        deployments: BTreeMap::from([("gpt-4o".to_owned(), "prod-gpt4o".to_owned())]),
    });
    let p = Provider::new(s).unwrap();
    let req = p.http_request(
        &p.build(Endpoint::Responses, "gpt-4o", false, Bytes::new())
            .unwrap(),
    );
    assert_eq!(req.uri(), "/openai/v1/responses");
    assert_eq!(req.headers()["api-key"], "sk-test");
    assert_eq!(p.body_model("gpt-4o"), "prod-gpt4o");
    // providers of other dialects have no Responses API
    let p = Provider::new(spec(ProviderKind::Anthropic, "http://127.0.0.1:9/v1")).unwrap();
    assert!(p
        .build(Endpoint::Responses, "claude", false, Bytes::new())
        .is_err());
}

#[tokio::test]
async fn refused_connection_names_the_provider() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let p = Provider::new(spec(
        ProviderKind::OpenAi,
        &format!("http://127.0.0.1:{port}/v1"),
    ))
    .unwrap();
    let req = p
        .build(Endpoint::ChatCompletions, "m", false, Bytes::new())
        .unwrap();
    let err = p.send(&req).await.err().unwrap();
    assert_eq!(err.kind, UpstreamErrorKind::Connect);
    assert!(err.to_string().contains("provider `p`"), "{err}");
}

/// A server that answers one request per connection with `Connection: close` semantics hidden:
/// it closes idle keep-alive connections right after answering, as servers do after their idle
/// timeout. The next request finds the pooled connection dead and must go out on a fresh one.
#[tokio::test]
async fn a_stale_pooled_connection_is_replaced_transparently() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let body = "{\"ok\":true}";
                let head = format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                let _ = socket.write_all(head.as_bytes()).await;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                // Close while the client keeps the connection in its pool.
            });
        }
    });
    let p = Provider::new(spec(
        ProviderKind::OpenAi,
        &format!("http://127.0.0.1:{port}/v1"),
    ))
    .unwrap();
    for _ in 0..3 {
        let req = p
            .build(
                Endpoint::ChatCompletions,
                "m",
                false,
                Bytes::from_static(b"{}"),
            )
            .unwrap();
        let response = p.send(&req).await.unwrap();
        assert_eq!(response.status(), 200);
        let body = p.read_body(response.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"{\"ok\":true}");
        tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    }
}
