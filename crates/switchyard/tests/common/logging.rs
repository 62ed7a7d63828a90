//! Helpers for the request-log tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchyard_testkit::Switchyard;

/// The load tests take turns: on a 2-core machine, running them side by side measures CPU
/// starvation, not the log pipeline.
pub static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub const PRICES: &str =
    "[[pricing]]\nprovider = \"mock-openai\"\nmodel = \"gpt-4o-mini\"\ninput = 1.0\noutput = 2.0\n";

/// `GET url` as JSON.
pub async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

pub async fn logs(url: &str, query: &str) -> Value {
    get_json(&format!("{url}/api/logs{query}")).await
}

/// One log row, bodies included (`GET /api/logs/{id}`).
pub async fn log_row(url: &str, id: &str) -> Value {
    get_json(&format!("{url}/api/logs/{id}")).await
}

/// Waits until the log holds `n` rows (records are written just after each response).
pub async fn rows(url: &str, n: usize) -> Vec<Value> {
    rows_or_logs(url, n, None).await
}

pub async fn rows_or_logs(url: &str, n: usize, gw: Option<&Switchyard>) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let page = logs(url, "?limit=1000").await;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        if data.len() >= n {
            assert_eq!(data.len(), n, "{page}");
            return data;
        }
        if Instant::now() > deadline {
            eprintln!(
                "ROWS: {}",
                serde_json::to_string(
                    &data
                        .iter()
                        .map(|r| (r["id"].clone(), r["status"].clone(), r["path"].clone()))
                        .collect::<Vec<_>>()
                )
                .unwrap()
            );
            if let Some(gw) = gw {
                eprintln!("GATEWAY LOGS:\n{}", gw.logs());
            }
            panic!("only {} of {n} rows", data.len());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn post(
    url: &str,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, String, reqwest::header::HeaderMap) {
    let mut r = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .json(body);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let response = r.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.text().await.unwrap(), headers)
}

pub fn chat(content: &str, stream: bool) -> Value {
    json!({"model": "mock-openai/gpt-4o-mini", "stream": stream,
        "messages": [{"role": "user", "content": content}]})
}

pub fn by_id<'a>(rows: &'a [Value], id: &str) -> &'a Value {
    rows.iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no row {id}"))
}

pub fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h[name].to_str().unwrap().to_owned()
}

/// Every id in the log, following the `next` cursor.
pub async fn all_ids(url: &str) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    let mut before = String::new();
    loop {
        let page = logs(url, &format!("?limit=1000{before}")).await;
        for r in page["data"].as_array().unwrap() {
            assert!(
                ids.insert(r["id"].as_str().unwrap().to_owned()),
                "duplicate row"
            );
        }
        match page["next"].as_str() {
            Some(n) => before = format!("&before={n}"),
            None => return ids,
        }
    }
}

/// `GET /metrics` as text.
pub async fn metrics_text(url: &str) -> String {
    reqwest::get(format!("{url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of an unlabelled metric.
pub async fn metric(url: &str, name: &str) -> f64 {
    let text = metrics_text(url).await;
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no metric {name}: {text}"))
        .parse()
        .unwrap()
}

/// `[logs]` with the database and spill file in `dir` (so a restarted gateway finds them).
pub fn file_log(dir: &std::path::Path) -> String {
    format!(
        "[logs]\nurl = \"sqlite://{}\"\nspill_path = \"{}\"\n",
        dir.join("logs.db").display(),
        dir.join("logs.spill").display()
    )
}
