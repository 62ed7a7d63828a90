//! The request-log store on both databases: the same assertions against SQLite and a real
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::log_id;

use std::time::Duration;

use switchyard_store::logs::{
    LogFilter, LogPatch, LogRecord, LogStore, PackedRows, Retention, RetentionMode,
};
use switchyard_testkit::PostgresServer;

fn row(n: i64, model: &str, cached: bool) -> LogRecord {
    LogRecord {
        id: log_id(1_700_000_000_000 + n * 1000, n % 7),
        created_at: 1_700_000_000_000 + n * 1000,
        finished_at: 1_700_000_000_000 + n * 1000 + 5,
        dialect: "openai".into(),
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        route: "/v1/chat/completions".into(),
        provider: Some("p".into()),
        requested_model: Some(format!("p/{model}")),
        model: Some(model.into()),
        status: if n % 5 == 0 { 502 } else { 200 },
        success: n % 5 != 0,
        cached,
        input_tokens: Some(10 + n),
        output_tokens: Some(2),
        cost_usd: Some(0.001 * n as f64),
        duration_ms: n as f64,
        metadata: Some(format!("{{\"team\":\"t{}\",\"n\":{n}}}", n % 2)),
        request_body: Some(format!("{{\"n\":{n}}}")),
        response_body: Some("{\"ok\":true}".into()),
        ..LogRecord::default()
    }
}

/// Rows packed as the gateway packs them (bodies apart from the record) are stored as they
/// were: every field, both bodies, across block boundaries; the packer comes back empty.
async fn packed_round_trip(store: &LogStore) {
    let before = store.count().await.unwrap();
    let rows: Vec<LogRecord> = (5000..6300)
        .map(|n| {
            let mut r = row(n, "packed", n % 2 == 0);
            if n % 10 == 0 {
                r.response_body = None;
            }
            r
        })
        .collect();
    let mut packed = PackedRows::default();
    for r in &rows {
        let bare = LogRecord {
            request_body: None,
            response_body: None,
            ..r.clone()
        };
        packed.push(
            &bare,
            r.request_body.as_deref().map(str::as_bytes),
            r.response_body.as_deref().map(str::as_bytes),
        );
    }
    assert_eq!(packed.len(), rows.len());
    assert_eq!(
        packed.records().unwrap(),
        rows,
        "what a failed write would spill"
    );
    let packed = store
        .append_packed(packed)
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    assert!(packed.is_empty());
    assert_eq!(store.count().await.unwrap(), before + rows.len() as u64);
    for r in [&rows[0], &rows[1023], &rows[1024], &rows[1299]] {
        assert_eq!(&store.get(&r.id).await.unwrap().unwrap(), r);
    }
    let model = LogFilter {
        model: Some("packed".into()),
        ..LogFilter::default()
    };
    assert_eq!(store.scan(&model).await.unwrap().len(), rows.len());
    assert_eq!(store.delete(&model).await.unwrap(), rows.len() as u64);
}

async fn exercise(store: LogStore) {
    packed_round_trip(&store).await;
    let rows: Vec<LogRecord> = (1..=250)
        .map(|n| row(n, if n % 3 == 0 { "b" } else { "a" }, n % 4 == 0))
        .collect();
    store
        .insert_owned(rows.clone())
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    store.insert(&rows[..10]).await.unwrap(); // replayed: nothing twice
    store
        .insert_owned(rows[..5].to_vec())
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 250);

    // every field survives the round trip
    let got = store.get(&rows[6].id).await.unwrap().unwrap();
    assert_eq!(got, rows[6]);

    // newest first, no bodies, cursor pagination
    let page = store.list(&LogFilter::default(), 100).await.unwrap();
    assert_eq!(page.len(), 100);
    assert_eq!(page[0].id, rows[249].id);
    assert!(page[0].request_body.is_none());
    let next = LogFilter {
        before: Some(page[99].id.clone()),
        ..LogFilter::default()
    };
    let page2 = store.list(&next, 1000).await.unwrap();
    assert_eq!(page2.len(), 150);
    assert_eq!(page2[0].id, rows[149].id);

    let count = |f: LogFilter| {
        let store = &store;
        async move { store.scan(&f).await.unwrap().len() }
    };
    assert_eq!(
        count(LogFilter {
            model: Some("b".into()),
            ..Default::default()
        })
        .await,
        83
    );
    assert_eq!(
        count(LogFilter {
            model: Some("p/b".into()),
            ..Default::default()
        })
        .await,
        83
    );
    assert_eq!(
        count(LogFilter {
            success: Some(false),
            ..Default::default()
        })
        .await,
        50
    );
    assert_eq!(
        count(LogFilter {
            status: Some(502),
            ..Default::default()
        })
        .await,
        50
    );
    assert_eq!(
        count(LogFilter {
            cached: Some(true),
            ..Default::default()
        })
        .await,
        62
    );
    assert_eq!(
        count(LogFilter {
            min_cost: Some(0.2),
            ..Default::default()
        })
        .await,
        51
    );
    assert_eq!(
        count(LogFilter {
            metadata: Some("team=t1".into()),
            ..Default::default()
        })
        .await,
        125
    );
    assert_eq!(
        count(LogFilter {
            metadata: Some("n=7".into()),
            ..Default::default()
        })
        .await,
        1
    );
    let since = rows[99].created_at;
    assert_eq!(
        count(LogFilter {
            since: Some(since),
            until: Some(since + 10_000),
            ..Default::default()
        })
        .await,
        10
    );
    assert!(store
        .scan(&LogFilter {
            metadata: Some("nokey".into()),
            ..Default::default()
        })
        .await
        .is_err());

    let patch = LogPatch {
        feedback: Some(1),
        score: Some(0.5),
        metadata: Some(serde_json::from_str(r#"{"team":"t9"}"#).unwrap()),
    };
    assert!(store.patch(&rows[0].id, &patch).await.unwrap());
    assert!(!store.patch("nope", &patch).await.unwrap());
    let got = store.get(&rows[0].id).await.unwrap().unwrap();
    assert_eq!(
        (got.feedback, got.score, got.metadata.as_deref()),
        (Some(1), Some(0.5), Some(r#"{"team":"t9"}"#))
    );

    assert_eq!(
        store
            .delete(&LogFilter {
                model: Some("b".into()),
                ..Default::default()
            })
            .await
            .unwrap(),
        83
    );
    assert_eq!(store.count().await.unwrap(), 167);

    let keep_100 = Retention {
        max_rows: Some(100),
        max_age: None,
        mode: RetentionMode::DeleteOldest,
    };
    assert_eq!(store.enforce(&keep_100, 0).await.unwrap(), 67);
    assert_eq!(store.count().await.unwrap(), 100);
    let kept: Vec<String> = store
        .scan(&LogFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    let remaining: Vec<String> = rows
        .iter()
        .filter(|r| r.model.as_deref() != Some("b"))
        .map(|r| r.id.clone())
        .collect();
    let newest = remaining[remaining.len() - 100..].to_vec();
    assert_eq!(kept, newest, "the oldest went first");
    let by_age = Retention {
        max_rows: None,
        max_age: Some(Duration::from_secs(10)),
        mode: RetentionMode::DeleteOldest,
    };
    let now = rows[249].created_at;
    store.enforce(&by_age, now).await.unwrap();
    assert!(store
        .scan(&LogFilter::default())
        .await
        .unwrap()
        .iter()
        .all(|r| r.created_at >= now - 10_000));
}

#[tokio::test]
async fn sqlite_log_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join("logs/switchyard.db").display()
    );
    exercise(LogStore::open(&url).await.unwrap()).await;
    // reopening finds the schema in place
    assert!(LogStore::open(&url).await.unwrap().count().await.unwrap() > 0);
}

#[tokio::test]
async fn postgres_log_store() {
    let pg = PostgresServer::start().unwrap();
    exercise(LogStore::open(&pg.url()).await.unwrap()).await;
    assert!(
        LogStore::open(&pg.url())
            .await
            .unwrap()
            .count()
            .await
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn postgres_mixed_nulls_in_one_batch() {
    let pg = PostgresServer::start().unwrap();
    let store = LogStore::open(&pg.url()).await.unwrap();
    let a = row(1, "a", false);
    let mut b = row(2, "a", false);
    b.request_body = None;
    b.response_body = None;
    b.custom_cost_usd = Some(0.5);
    let mut c = row(3, "a", false);
    c.error = Some("boom".into());
    c.saved_cost_usd = Some(0.25);
    c.ttft_ms = Some(1.5);
    c.feedback = Some(1);
    store.insert(&[a.clone(), b.clone()]).await.unwrap();
    // the same statement shape, now with numbers where NULLs were
    let mut d = row(4, "a", false);
    d.saved_cost_usd = Some(0.1);
    d.score = Some(0.5);
    let mut e = row(5, "a", false);
    e.upstream_ms = Some(2.0);
    store.insert(&[d.clone(), e.clone()]).await.unwrap();
    store.insert(&[b.clone(), c.clone()]).await.unwrap();
    store
        .insert(&[c.clone(), a.clone(), b.clone()])
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 5);
    assert_eq!(store.get(&b.id).await.unwrap().unwrap(), b);
}

#[tokio::test]
async fn postgres_keeps_bodies_with_any_bytes_and_sets_aside_rows_it_refuses() {
    let pg = PostgresServer::start().unwrap();
    let store = LogStore::open(&pg.url()).await.unwrap();
    // a gzip body read as text: NUL bytes and all
    let mut binary = row(1, "bin", false);
    binary.response_body = Some("\u{1f}\u{8b}\u{8}\0\0\0\0\0\0\u{3}ok\0".into());
    binary.error = Some("nul\0in error".into());
    store.insert(std::slice::from_ref(&binary)).await.unwrap();
    let stored = store.get(&binary.id).await.unwrap().unwrap();
    let body = stored.response_body.unwrap();
    assert!(
        body.starts_with('\u{1f}') && body.ends_with("ok\u{fffd}"),
        "{body:?}"
    );

    // one row the database refuses (a constraint stands in for whatever makes a row unwritable)
    // no longer fails the rows around it: they are written, it comes back to be set aside
    let admin = sqlx::PgPool::connect(&pg.url()).await.unwrap();
    sqlx::query("ALTER TABLE request_logs ADD CONSTRAINT no_poison CHECK (model <> 'poison')")
        .execute(&admin)
        .await
        .unwrap();
    let mut rows: Vec<LogRecord> = (10..20).map(|n| row(n, "fine", false)).collect();
    rows[4].model = Some("poison".into());
    let poison = rows[4].clone();
    let refused = store.insert_salvaging(rows).await.unwrap();
    assert_eq!(refused, vec![poison]);
    assert_eq!(store.count().await.unwrap(), 10);

    // alone in its batch too
    let lone = row(21, "poison", false);
    let refused = store.insert_salvaging(vec![lone.clone()]).await.unwrap();
    assert_eq!(refused, vec![lone]);

    // a failure that is not the rows' (here the table gone) sets nothing aside: every row
    // comes back, to be spilled and retried
    sqlx::query("ALTER TABLE request_logs RENAME TO request_logs_away")
        .execute(&admin)
        .await
        .unwrap();
    let rows: Vec<LogRecord> = (30..33).map(|n| row(n, "fine", false)).collect();
    let (_, back) = store.insert_salvaging(rows.clone()).await.unwrap_err();
    assert_eq!(back, rows);
    sqlx::query("ALTER TABLE request_logs_away RENAME TO request_logs")
        .execute(&admin)
        .await
        .unwrap();
    assert_eq!(store.count().await.unwrap(), 10);
}
