//! The request log on PostgreSQL under rows it refuses: the batch survives, the row is set aside.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::logging::*;
use common::{config, start_with};
use switchyard_testkit::PostgresServer;

/// A row PostgreSQL refuses costs only itself: the batch it came in is written row by row, the
/// rest stored, it kept in the `.rejected` file and counted; bodies with NUL bytes are stored.
#[tokio::test]
async fn a_row_postgres_refuses_is_set_aside_without_losing_its_batch() {
    let pg = PostgresServer::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let spill = dir.path().join("spill.jsonl");
    let extra = format!(
        "[logs]\nurl = \"{}\"\nspill_path = \"{}\"\n",
        pg.url(),
        spill.display()
    );
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    // the schema exists once the gateway has started; a constraint stands in for whatever
    // makes one row unwritable
    let admin = sqlx::PgPool::connect(&pg.url()).await.unwrap();
    sqlx::query(
        "ALTER TABLE request_logs ADD CONSTRAINT no_poison CHECK (request_body NOT LIKE '%poison%')",
    )
    .execute(&admin)
    .await
    .unwrap();
    // sent together (likely one batch; alone in its batch, the row is set aside all the same):
    // four good rows, one poison, one with a NUL byte in its body
    let mut calls = Vec::new();
    for model in ["a", "b", "poison", "c", "d"] {
        let url = url.clone();
        calls.push(tokio::spawn(async move {
            post(&url, "/v1/chat/completions", &chat(model, false), &[])
                .await
                .0
        }));
    }
    let nul = serde_json::json!({"model": "mock-openai/gpt-4o-mini",
        "messages": [{"role": "user", "content": "zero \u{0} byte"}]});
    calls.push(tokio::spawn({
        let url = url.clone();
        async move { post(&url, "/v1/chat/completions", &nul, &[]).await.0 }
    }));
    for c in calls {
        assert_eq!(c.await.unwrap(), 200);
    }
    rows(&url, 5).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while metric(&url, "switchyard_log_rows_set_aside_total").await < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            metrics_text(&url).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rejected = std::fs::read_to_string(spill.with_extension("rejected")).unwrap();
    assert_eq!(rejected.lines().count(), 1);
    assert!(rejected.contains("poison"));
    assert_eq!(metric(&url, "switchyard_log_spilled_total").await, 0.0);
}
