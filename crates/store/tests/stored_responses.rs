//! Stored responses (the Responses API's `store`) on both databases: kept, read back, replaced,
//! deleted, and bounded by the log's retention.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use switchyard_store::logs::{LogStore, Retention, StoredResponse};
use switchyard_testkit::PostgresServer;

fn stored(n: i64, created_at: i64) -> StoredResponse {
    StoredResponse {
        id: format!("resp_{n:032x}"),
        created_at,
        api_key_id: (n % 2 == 0).then(|| format!("key{n}")),
        previous: None,
        input: format!(r#"[{{"type":"message","role":"user","content":"turn {n} ünïcode"}}]"#),
        response: format!(r#"{{"id":"resp_{n:032x}","object":"response","output":[]}}"#),
    }
}

/// A conversation is a chain: each response keeps its own input and the one it continued.
async fn chains(store: &LogStore) {
    let turn = |n: i64, previous: Option<i64>| StoredResponse {
        previous: previous.map(|p| stored(p, 0).id),
        ..stored(100 + n, n)
    };
    for n in 0..5 {
        store
            .put_response(turn(n, (n > 0).then(|| 99 + n)))
            .await
            .unwrap();
    }
    let last = turn(4, Some(103)).id;
    let chain = store.response_chain(&last, 100).await.unwrap();
    let ids: Vec<&str> = chain.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<String> = (0..5).rev().map(|n| stored(100 + n, 0).id).collect();
    assert_eq!(ids, want, "newest first");
    assert_eq!(chain[4].previous, None);
    assert_eq!(
        store.response_chain(&last, 2).await.unwrap().len(),
        2,
        "bounded"
    );
    // an earlier turn gone: the chain ends where it is missing, and says what it missed
    assert!(store.delete_response(&turn(2, None).id).await.unwrap());
    let chain = store.response_chain(&last, 100).await.unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(
        chain[1].previous.as_deref(),
        Some(turn(2, None).id.as_str())
    );
    assert!(store
        .response_chain("resp_none", 100)
        .await
        .unwrap()
        .is_empty());
}

async fn exercise(store: &LogStore) {
    chains(store).await;
    let now = 1_800_000_000_000;
    assert_eq!(store.get_response("resp_missing").await.unwrap(), None);
    for n in 0..10 {
        store
            .put_response(stored(n, now - n * 60_000))
            .await
            .unwrap();
    }
    let three = store.get_response(&stored(3, 0).id).await.unwrap().unwrap();
    assert_eq!(three, stored(3, now - 3 * 60_000));
    assert_eq!(three.api_key_id, None);
    assert_eq!(
        store
            .get_response(&stored(4, 0).id)
            .await
            .unwrap()
            .unwrap()
            .api_key_id
            .as_deref(),
        Some("key4")
    );

    // the same id again replaces what was kept
    let mut again = stored(3, now);
    again.response = r#"{"id":"x","status":"completed"}"#.into();
    store.put_response(again.clone()).await.unwrap();
    assert_eq!(store.get_response(&again.id).await.unwrap(), Some(again));

    assert!(store.delete_response(&stored(5, 0).id).await.unwrap());
    assert!(
        !store.delete_response(&stored(5, 0).id).await.unwrap(),
        "already gone"
    );
    assert_eq!(store.get_response(&stored(5, 0).id).await.unwrap(), None);

    // retention: older than 6 minutes go (7, 8, 9), then the oldest beyond 4 rows (6, 4, 2, …)
    let retention = Retention {
        max_age: Some(Duration::from_secs(6 * 60 + 30)),
        max_rows: Some(4),
        ..Retention::default()
    };
    store.enforce(&retention, now).await.unwrap();
    let mut left = Vec::new();
    for n in 0..10 {
        if store
            .get_response(&stored(n, 0).id)
            .await
            .unwrap()
            .is_some()
        {
            left.push(n);
        }
    }
    // 3 was re-stored at `now`: the newest four are 0, 1, 2 and 3
    assert_eq!(left, vec![0, 1, 2, 3]);
}

#[tokio::test]
async fn sqlite_keeps_responses() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    exercise(&LogStore::open(&url).await.unwrap()).await;
    // they survive a restart
    let reopened = LogStore::open(&url).await.unwrap();
    assert!(reopened
        .get_response(&stored(0, 0).id)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn postgres_keeps_responses() {
    let pg = PostgresServer::start().unwrap();
    exercise(&LogStore::open(&pg.url()).await.unwrap()).await;
    let mut nul = stored(42, 1);
    nul.input = "[\"a\u{0}b\"]".into();
    let store = LogStore::open(&pg.url()).await.unwrap();
    store.put_response(nul.clone()).await.unwrap();
    let back = store.get_response(&nul.id).await.unwrap().unwrap();
    assert_eq!(back.input, "[\"a\u{fffd}b\"]");
}
