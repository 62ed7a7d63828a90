//! The soak: mixed traffic for a long while against the built binary — chat, streams,
//! embeddings, cache hits, errors, and an alias over chaos upstreams — with the process's RSS,
//! open files, metric series and log queue sampled throughout, and shown flat at the end. Run by
//! `scripts/soak.sh` (`SOAK_MINUTES`, default 30); ignored by the normal test run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{chat, start_with};
use serde_json::{json, Value};

fn config(mock: &switchyard_testkit::MockUpstream, dir: &std::path::Path) -> String {
    format!(
        "{}[logs]\nurl = \"sqlite://{}\"\n[[models]]\nname = \"chaos\"\ntarget = \"a/chaos-20-a\"\nfallbacks = [\"b/chaos-20-b\"]\n",
        common::two_providers(mock),
        dir.join("logs.db").display()
    )
}

/// One sample of the process.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    secs: u64,
    rss_kb: u64,
    fds: u64,
    series: u64,
    queue: f64,
    done: u64,
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

async fn metrics(url: &str) -> (u64, f64) {
    let text = reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = text.lines().filter(|l| !l.starts_with('#')).count() as u64;
    let queue = text
        .lines()
        .find_map(|l| l.strip_prefix("switchyard_log_queue_depth "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0);
    (series, queue)
}

/// The request for turn `i`: a chat, a stream, embeddings, a cached question, an error, or the
/// chaos alias (streamed or not).
fn request(i: u64) -> (&'static str, Value, Vec<(&'static str, &'static str)>) {
    match i % 8 {
        0 => (
            "/v1/chat/completions",
            chat(&format!("a/gpt-4o-mini-{}", i % 50)),
            vec![],
        ),
        1 => {
            let mut b = chat("a/gpt-4o-mini");
            b["stream"] = true.into();
            ("/v1/chat/completions", b, vec![])
        }
        2 => (
            "/v1/embeddings",
            json!({"model": "a/text-embedding-3-small", "input": ["one", "two"]}),
            vec![],
        ),
        3 => (
            "/v1/chat/completions",
            chat(&format!("a/gpt-4o-mini-cached-{}", i % 20)),
            vec![("cf-aig-cache-ttl", "60")],
        ),
        4 => ("/v1/chat/completions", chat("a/status-500"), vec![]),
        5 => {
            let mut b = chat("chaos");
            b["stream"] = true.into();
            ("/v1/chat/completions", b, vec![])
        }
        _ => ("/v1/chat/completions", chat("chaos"), vec![]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/soak.sh"]
async fn soak() {
    let minutes: f64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(30.0);
    let run = Duration::from_secs_f64(minutes * 60.0);
    let dir = tempfile::tempdir().unwrap();
    let h = start_with(|mock| config(mock, dir.path())).await;
    let url = h.gateway.base_url().to_owned();
    let pid = h.gateway.pid().unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let hung = Arc::new(AtomicU64::new(0));
    let turn = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let client = reqwest::Client::new();
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (client, url, done, hung, turn) = (
                client.clone(),
                url.clone(),
                done.clone(),
                hung.clone(),
                turn.clone(),
            );
            tokio::spawn(async move {
                while started.elapsed() < run {
                    let i = turn.fetch_add(1, Ordering::Relaxed);
                    let (path, body, headers) = request(i);
                    let mut req = client.post(format!("{url}{path}")).json(&body);
                    for (k, v) in headers {
                        req = req.header(k, v);
                    }
                    let call = async { req.send().await.ok()?.bytes().await.ok() };
                    if tokio::time::timeout(Duration::from_secs(30), call)
                        .await
                        .is_err()
                    {
                        hung.fetch_add(1, Ordering::Relaxed);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut samples: Vec<Sample> = Vec::new();
    let every = Duration::from_secs_f64((run.as_secs_f64() / 30.0).clamp(2.0, 60.0));
    println!("secs   rss_kb  fds  series  log_queue  requests");
    while started.elapsed() < run {
        tokio::time::sleep(every).await;
        // the mock keeps what it received: not for hours
        h.mock.clear_requests();
        let (series, queue) = metrics(&url).await;
        let s = Sample {
            secs: started.elapsed().as_secs(),
            rss_kb: rss_kb(pid),
            fds: fds(pid),
            series,
            queue,
            done: done.load(Ordering::Relaxed),
        };
        println!(
            "{:>4} {:>8} {:>4} {:>7} {:>10} {:>9}",
            s.secs, s.rss_kb, s.fds, s.series, s.queue, s.done
        );
        samples.push(s);
    }
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(hung.load(Ordering::Relaxed), 0, "requests hung");
    // flat: the last third holds no more than the first third did, within noise
    let third = (samples.len() / 3).max(1);
    let early = &samples[..third];
    let late = &samples[samples.len() - third..];
    let most = |s: &[Sample], f: fn(&Sample) -> u64| s.iter().map(f).max().unwrap_or(0);
    let rss = (most(early, |s| s.rss_kb), most(late, |s| s.rss_kb));
    let fd = (most(early, |s| s.fds), most(late, |s| s.fds));
    let series = (most(early, |s| s.series), most(late, |s| s.series));
    println!(
        "soak: {} requests in {:.0} s; rss {} → {} kB, fds {} → {}, series {} → {}",
        done.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
        rss.0,
        rss.1,
        fd.0,
        fd.1,
        series.0,
        series.1
    );
    assert!(rss.1 <= rss.0 + rss.0 / 4 + 16 * 1024, "RSS grew: {rss:?}");
    assert!(fd.1 <= fd.0 + 16, "open files grew: {fd:?}");
    // new label combinations (a rare status on a rare path) still appear late; the caps bound
    // them, so the count levels off: within 5 % of the first third's
    assert!(
        series.1 <= series.0 + series.0 / 20,
        "metric series grew: {series:?}"
    );
    assert!(
        late.iter().all(|s| s.queue < 10_000.0),
        "the log queue backed up"
    );
}
