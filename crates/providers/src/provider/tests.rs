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
        timeouts: Timeouts::default(),
    }
}

#[tokio::test]
async fn openai_requests_carry_bearer_key_and_fixed_uri() {
    let p = Provider::new(spec(ProviderKind::OpenAi, "http://127.0.0.1:9/v1")).unwrap();
    let req = p
        .build(
            Endpoint::ChatCompletions,
            "gpt-4o-mini",
            Bytes::from_static(b"{}"),
        )
        .unwrap();
    assert_eq!(req.uri(), "http://127.0.0.1:9/v1/chat/completions");
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
    let req = p
        .build(Endpoint::Embeddings, "gpt-4o", Bytes::new())
        .unwrap();
    assert_eq!(
        req.uri(),
        "https://res.openai.azure.com/openai/deployments/prod%20gpt4o/embeddings?api-version=2024-10-21"
    );
    assert_eq!(req.headers()["api-key"], "sk-test");
    assert!(req.headers().get("authorization").is_none());
    let req = p
        .build(Endpoint::ChatCompletions, "other", Bytes::new())
        .unwrap();
    assert_eq!(
        req.uri(),
        "https://res.openai.azure.com/openai/deployments/other/chat/completions?api-version=2024-10-21"
    );
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
        .build(Endpoint::ChatCompletions, "m", Bytes::new())
        .unwrap();
    let err = p.send(req).await.unwrap_err();
    assert_eq!(err.kind, UpstreamErrorKind::Connect);
    assert!(err.to_string().contains("provider `p`"), "{err}");
}
