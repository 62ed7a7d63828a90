//! What only the SQLite layout has: row keys from the ids, bodies in compressed blocks, the
//! upgrade from schema version 1.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::log_id;

use switchyard_store::logs::{seq_of, LogFilter, LogRecord, LogStore, Retention, RetentionMode};

fn row(n: i64, body_len: usize) -> LogRecord {
    let ms = 1_700_000_000_000 + n;
    LogRecord {
        id: log_id(ms, 0),
        created_at: ms,
        finished_at: ms + 1,
        dialect: "openai".into(),
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        route: "/v1/chat/completions".into(),
        status: 200,
        success: true,
        duration_ms: 1.0,
        request_body: Some(format!(
            "{{\"n\":{n},\"pad\":\"{}\"}}",
            "q".repeat(body_len)
        )),
        response_body: (n % 3 != 0).then(|| format!("answer {n}")),
        ..LogRecord::default()
    }
}

async fn open(dir: &tempfile::TempDir) -> (String, LogStore) {
    let url = format!("sqlite://{}", dir.path().join("logs.db").display());
    let store = LogStore::open(&url).await.unwrap();
    (url, store)
}

async fn blocks(url: &str) -> i64 {
    let path = url.strip_prefix("sqlite://").unwrap().to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("SELECT COUNT(*) FROM request_log_blocks", [], |r| r.get(0))
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn bodies_span_blocks_and_go_with_their_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (url, store) = open(&dir).await;
    // 40 KB bodies: a 256 KB block holds ~6 rows, so 60 rows make ~10 blocks
    let rows: Vec<LogRecord> = (0..60).map(|n| row(n, 40_000)).collect();
    store.insert(&rows).await.unwrap();
    assert!(blocks(&url).await >= 8);
    for r in [&rows[0], &rows[7], &rows[59]] {
        assert_eq!(&store.get(&r.id).await.unwrap().unwrap(), r);
    }
    // a row without bodies points at no block
    let mut bare = row(100, 0);
    (bare.request_body, bare.response_body) = (None, None);
    store.insert(std::slice::from_ref(&bare)).await.unwrap();
    assert_eq!(store.get(&bare.id).await.unwrap().unwrap(), bare);

    // deleting rows frees the blocks no row points at any more, and only those
    let deleted = store
        .delete(&LogFilter {
            until: Some(rows[30].created_at),
            ..LogFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(deleted, 30);
    let left = blocks(&url).await;
    assert!((4..=6).contains(&left), "{left} blocks left");
    assert_eq!(&store.get(&rows[45].id).await.unwrap().unwrap(), &rows[45]);
    assert!(store.get(&rows[3].id).await.unwrap().is_none());

    // retention takes the oldest rows and their blocks
    let keep_5 = Retention {
        max_rows: Some(5),
        max_age: None,
        mode: RetentionMode::DeleteOldest,
    };
    store.enforce(&keep_5, 0).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 5);
    assert!(blocks(&url).await <= 2);
    assert_eq!(&store.get(&rows[59].id).await.unwrap().unwrap(), &rows[59]);
}

#[tokio::test]
async fn a_key_taken_by_another_id_does_not_lose_the_row() {
    let dir = tempfile::tempdir().unwrap();
    let (_, store) = open(&dir).await;
    let a = row(1, 10);
    let mut b = row(2, 10);
    // same ms and counter, different random bits: the same row key
    b.id = format!("{}ffffffffffff", &a.id[..24]);
    assert_eq!(seq_of(&a.id), seq_of(&b.id));
    store.insert(&[a.clone(), b.clone()]).await.unwrap();
    store.insert(&[a.clone(), b.clone()]).await.unwrap(); // a replay stores nothing twice
    assert_eq!(store.count().await.unwrap(), 2);
    assert_eq!(store.get(&a.id).await.unwrap().unwrap(), a);
    assert_eq!(store.get(&b.id).await.unwrap().unwrap(), b);
    assert_eq!(store.scan(&LogFilter::default()).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_version_1_log_is_upgraded_with_its_rows_and_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.db");
    let old_id = "01900000-0001-7abc-8def-0123456789ab";
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE switchyard_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL);
             INSERT INTO switchyard_migrations VALUES (1, 0);
             CREATE TABLE request_logs (id TEXT PRIMARY KEY, created_at BIGINT NOT NULL, finished_at BIGINT NOT NULL, api_key_id TEXT, dialect TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, route TEXT NOT NULL, provider TEXT, requested_model TEXT, model TEXT, status BIGINT NOT NULL, success BIGINT NOT NULL, cached BIGINT NOT NULL, cache_status TEXT, step BIGINT NOT NULL, stream BIGINT NOT NULL, input_tokens BIGINT, output_tokens BIGINT, cached_input_tokens BIGINT, reasoning_tokens BIGINT, tokens_estimated BIGINT NOT NULL, cost_usd DOUBLE PRECISION, custom_cost_usd DOUBLE PRECISION, saved_cost_usd DOUBLE PRECISION, duration_ms DOUBLE PRECISION NOT NULL, ttft_ms DOUBLE PRECISION, upstream_ms DOUBLE PRECISION, overhead_ms DOUBLE PRECISION, metadata TEXT, user_agent TEXT, error TEXT, request_body TEXT, response_body TEXT, feedback BIGINT, score DOUBLE PRECISION);",
        )
        .unwrap();
        // the old gateway's created_at came from another clock read than its id
        conn.execute(
            "INSERT INTO request_logs (id, created_at, finished_at, dialect, method, path, route, status, success, cached, step, stream, tokens_estimated, duration_ms, request_body, response_body)
             VALUES (?1, ?2, ?2, 'openai', 'POST', '/v1/chat/completions', '/v1/chat/completions', 200, 1, 0, 0, 0, 0, 1.5, '{\"old\":true}', 'old answer')",
            rusqlite::params![old_id, 0x0190_0000_0001_i64 + 1],
        )
        .unwrap();
    }
    let url = format!("sqlite://{}", path.display());
    let store = LogStore::open(&url).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 1);
    let got = store.get(old_id).await.unwrap().unwrap();
    assert_eq!(got.request_body.as_deref(), Some("{\"old\":true}"));
    assert_eq!(got.response_body.as_deref(), Some("old answer"));
    // new rows land after it and both list newest first
    let new = row(0x0190_0000_0001 - 1_700_000_000_000 + 5, 10);
    store.insert(std::slice::from_ref(&new)).await.unwrap();
    let ids: Vec<String> = store
        .list(&LogFilter::default(), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, [new.id.clone(), old_id.to_owned()]);
    drop(store);
    // reopening does not migrate again
    let store = LogStore::open(&url).await.unwrap();
    assert_eq!(store.count().await.unwrap(), 2);
    assert_eq!(store.newest_seq().await.unwrap(), seq_of(&new.id));
}
