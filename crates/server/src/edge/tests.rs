use axum::routing::get;
use http_body_util::BodyExt;

use super::*;

#[tokio::test]
async fn a_panicking_handler_becomes_a_500_with_json() {
    async fn boom() -> &'static str {
        panic!("kaboom")
    }
    let router = Router::new().route("/boom", get(boom));
    let request = Request::get("/boom").body(Body::empty()).unwrap();
    let response = handle(router, None, usize::MAX, request).await.unwrap();
    assert_eq!(response.status(), 500);
    assert!(response.headers().contains_key("cf-aig-request-id"));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"]["type"], "internal_error");
}

#[tokio::test]
async fn every_response_gets_an_id_and_timing() {
    let router = Router::new().route("/ok", get(|| async { "ok" }));
    let response = handle(
        router,
        None,
        usize::MAX,
        Request::get("/ok").body(Body::empty()).unwrap(),
    )
    .await
    .unwrap();
    let id = response.headers()["cf-aig-request-id"].to_str().unwrap();
    assert_eq!(uuid::Uuid::parse_str(id).unwrap().get_version_num(), 7);
    assert!(response.headers()["server-timing"]
        .to_str()
        .unwrap()
        .starts_with("gateway;dur="));
}

#[test]
fn server_timing_splits_gateway_and_upstream() {
    let s = server_timing(
        Duration::from_micros(1500),
        Some(Duration::from_micros(1200)),
    );
    assert_eq!(s, "gateway;dur=0.300, upstream;dur=1.200");
}
