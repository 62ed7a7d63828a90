//! The request log under load and failure: 10,000 requests → 10,000 rows; kill -9 loses nothing
//! acknowledged before the bound; a full queue spills and is replayed; a clean shutdown drains.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::logging::*;
use common::{bin, config, start_with};
use switchyard_testkit::Switchyard;

#[tokio::test]
async fn ten_thousand_requests_ten_thousand_rows() {
    let _turn = HEAVY.lock().await;
    let h = start_with(|mock| config(mock, "")).await;
    let url = h.gateway.base_url().to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let sem = std::sync::Arc::new(tokio::sync::Semaphore::new(256));
    let tasks: Vec<_> = (0..10_000)
        .map(|i| {
            let (client, url, sem) = (client.clone(), url.clone(), sem.clone());
            tokio::spawn(async move {
                let _permit = sem.acquire().await.unwrap();
                let r = client
                    .post(format!("{url}/v1/chat/completions"))
                    .json(&chat(&format!("n{i}"), i % 2 == 0))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200);
                let id = r.headers()["cf-aig-log-id"].to_str().unwrap().to_owned();
                r.bytes().await.unwrap();
                id
            })
        })
        .collect();
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(&url, "switchyard_log_rows_written_total").await < 10_000.0 {
        assert!(Instant::now() < deadline, "not all rows written");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // exactly the 10,000, each under the id its response carried
    let seen = all_ids(&url).await;
    assert_eq!(seen.len(), 10_000);
    assert!(ids.iter().all(|id| seen.contains(id)));
}

#[tokio::test]
async fn kill_9_loses_nothing_acknowledged_before_the_bound() {
    let _turn = HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = file_log(dir.path());
    let mut h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let client = reqwest::Client::new();
    let acked = std::sync::Arc::new(std::sync::Mutex::new(Vec::<(String, Instant)>::new()));
    let load: Vec<_> = (0..16)
        .map(|w| {
            let (client, url, acked) = (client.clone(), url.clone(), acked.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let Ok(r) = client
                        .post(format!("{url}/v1/chat/completions"))
                        .json(&chat(&format!("{w}-{i}"), false))
                        .send()
                        .await
                    else {
                        return;
                    };
                    let id = r
                        .headers()
                        .get("cf-aig-log-id")
                        .map(|v| v.to_str().unwrap().to_owned());
                    if r.bytes().await.is_err() {
                        return;
                    }
                    if let Some(id) = id {
                        acked.lock().unwrap().push((id, Instant::now()));
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed_at = Instant::now();
    std::process::Command::new("kill")
        .args(["-9", &h.gateway.pid().unwrap().to_string()])
        .status()
        .unwrap();
    for t in load {
        let _ = t.await;
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "load ran: {}", acked.len());

    h.gateway = Switchyard::start(bin(), &config(&h.mock, &extra))
        .await
        .unwrap();
    let url = h.gateway.base_url().to_owned();
    let stored = all_ids(&url).await;
    // the documented bound: a response acknowledged FLUSH_BOUND (500 ms) before the crash is stored
    let bound = Duration::from_millis(500);
    let missing: Vec<&String> = acked
        .iter()
        .filter(|(_, at)| *at + bound <= killed_at)
        .map(|(id, _)| id)
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged rows missing",
        missing.len(),
        acked.len()
    );
}

#[tokio::test]
async fn a_full_queue_spills_and_is_replayed() {
    let _turn = HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "[logs]\nqueue_capacity = 1\nbatch_size = 1\nspill_path = \"{}\"\n",
        dir.path().join("spill.jsonl").display()
    );
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let n = 300;
    futures_util::future::join_all((0..n).map(|i| {
        let url = url.clone();
        async move {
            post(
                &url,
                "/v1/chat/completions",
                &chat(&format!("s{i}"), false),
                &[],
            )
            .await
        }
    }))
    .await;
    let spilled = metric(&url, "switchyard_log_spilled_total").await;
    assert!(spilled > 0.0, "the queue of 1 overflowed");
    // the housekeeping tick replays the spill file: all rows arrive, bodies included (rows
    // spilled at submit, packed ones written by the writer)
    let listed = rows(&url, n).await;
    for row in &listed {
        let id = row["id"].as_str().unwrap();
        let full = log_row(&url, id).await;
        let request = full["request_body"].as_str().unwrap_or_default();
        assert!(request.contains("\"s"), "request body of {id}: {full}");
        let response = full["response_body"].as_str().unwrap_or_default();
        assert!(
            response.contains("choices"),
            "response body of {id}: {full}"
        );
    }
}

#[tokio::test]
async fn a_clean_shutdown_writes_every_queued_record() {
    let _turn = HEAVY.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let extra = file_log(dir.path());
    let mut h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let n = 500;
    let ids: Vec<String> = futures_util::future::join_all((0..n).map(|i| {
        let url = url.clone();
        async move {
            let (_, _, headers) = post(
                &url,
                "/v1/chat/completions",
                &chat(&format!("bye{i}"), false),
                &[],
            )
            .await;
            header(&headers, "cf-aig-log-id")
        }
    }))
    .await;
    // SIGTERM right away: whatever is still queued must be written before the process exits
    h.gateway.terminate().unwrap();
    assert!(h
        .gateway
        .wait(Duration::from_secs(30))
        .await
        .unwrap()
        .success());
    h.gateway = Switchyard::start(bin(), &config(&h.mock, &extra))
        .await
        .unwrap();
    let url = h.gateway.base_url().to_owned();
    let stored: Vec<String> = logs(&url, "?limit=1000").await["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored.len(), n);
    assert!(ids.iter().all(|id| stored.contains(id)));
}

#[tokio::test]
async fn retention_bounds_the_log_either_way() {
    let _turn = HEAVY.lock().await;
    for (mode, expect_newest) in [("stop-inserting", false), ("delete-oldest", true)] {
        let extra = format!("[logs]\nmax_rows = 3\nretention = \"{mode}\"\n");
        let h = start_with(|mock| config(mock, &extra)).await;
        let url = h.gateway.base_url().to_owned();
        let mut ids = Vec::new();
        for i in 0..5 {
            let (_, _, headers) = post(
                &url,
                "/v1/chat/completions",
                &chat(&format!("r{i}"), false),
                &[],
            )
            .await;
            ids.push(header(&headers, "cf-aig-log-id"));
            // one batch per request, so the bound applies row by row
            tokio::time::sleep(Duration::from_millis(60)).await;
        }
        // delete-oldest trims on the writer's housekeeping tick (every 2 s)
        let deadline = Instant::now() + Duration::from_secs(6);
        loop {
            let kept = all_ids(&url).await;
            if kept.len() == 3 {
                let newest: std::collections::HashSet<String> = ids[2..].iter().cloned().collect();
                let oldest: std::collections::HashSet<String> = ids[..3].iter().cloned().collect();
                assert_eq!(kept, if expect_newest { newest } else { oldest }, "{mode}");
                break;
            }
            assert!(Instant::now() < deadline, "{mode}: {} rows", kept.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !expect_newest {
            let metrics = metrics_text(&url).await;
            assert!(
                metrics.contains("switchyard_log_not_stored_total 2"),
                "{metrics}"
            );
        }
    }
}
