//! Cancellation, graceful shutdown, health, and the command line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{bin, chat, start};
use futures_util::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_client_that_disconnects_cancels_a_pending_upstream_request() {
    let h = start("").await;
    let body = serde_json::to_vec(&chat("mock-openai/hang")).unwrap();
    let mut socket = tokio::net::TcpStream::connect(h.gateway.addr())
        .await
        .unwrap();
    let head = format!("POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len());
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&body).await.unwrap();
    eventually("the mock sees the request", || h.mock.requests().len() == 1).await;
    assert_eq!(h.mock.cancelled(), 0);
    drop(socket);
    eventually("the upstream request is cancelled", || {
        h.mock.cancelled() == 1
    })
    .await;
}

#[tokio::test]
async fn a_client_that_disconnects_mid_stream_cancels_the_upstream_stream() {
    let h = start("").await;
    let mut body = chat("mock-openai/slow-stream-200");
    body["stream"] = json!(true);
    let response = h.post("/v1/chat/completions", &body).await;
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    drop(stream);
    eventually("the upstream stream is cancelled", || {
        h.mock.cancelled() == 1
    })
    .await;
    assert_eq!(h.mock.completed_streams(), 0);
    eventually("the gateway logs it", || {
        h.gateway.logs().contains("client went away mid-stream")
    })
    .await;
}

#[tokio::test]
async fn sigterm_lets_in_flight_streams_finish_then_exits_zero() {
    let mut h = start("").await;
    let mut body = chat("mock-openai/slow-stream-10");
    body["stream"] = json!(true);
    let response = h.post("/v1/chat/completions", &body).await;
    let mut stream = response.bytes_stream();
    let mut text = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    h.gateway.terminate().unwrap();
    // New connections are refused once the listener is closed.
    let addr = h.gateway.addr();
    eventually("the listener closes", || {
        std::net::TcpStream::connect(&addr).is_err()
    })
    .await;
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "the in-flight stream was cut: {text}"
    );
    let status = h.gateway.wait(Duration::from_secs(5)).await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(h.mock.completed_streams(), 1);
}

#[tokio::test]
async fn the_grace_period_bounds_shutdown() {
    let mock = switchyard_testkit::MockUpstream::start().await.unwrap();
    let config = common::config(&mock, "").replace(
        "env_providers = false",
        "env_providers = false\nshutdown_grace_ms = 300",
    );
    let mut gateway = switchyard_testkit::Switchyard::start(bin(), &config)
        .await
        .unwrap();
    let mut body = chat("mock-openai/slow-stream-1000");
    body["stream"] = json!(true);
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut stream = response.bytes_stream();
    stream.next().await.unwrap().unwrap();
    let started = Instant::now();
    gateway.terminate().unwrap();
    let status = gateway.wait(Duration::from_secs(5)).await.unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let h = start("").await;
    let r = h.http.get(h.gateway.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("cf-aig-request-id"));
    let r = h.http.get(h.gateway.url("/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["status"],
        "ready"
    );
}

#[tokio::test]
async fn requests_are_logged_without_secrets() {
    let h = start("").await;
    h.post("/v1/chat/completions", &chat("mock-openai/gpt-4o-mini"))
        .await;
    h.post("/v1/chat/completions", &chat("nobody/nope")).await;
    eventually("both requests are logged", || {
        let logs = h.gateway.logs();
        logs.contains("status=200") && logs.contains("status=404")
    })
    .await;
    let logs = h.gateway.logs();
    assert!(logs.contains("provider=\"mock-openai\""), "{logs}");
    assert!(
        !logs.contains("sk-test") && !logs.contains("sk-client-secret"),
        "{logs}"
    );
}

fn run(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    std::process::Command::new(bin())
        .args(args)
        .current_dir(dir)
        .env_remove("OPENAI_API_KEY")
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn version_init_and_config_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["--version"], dir.path());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("switchyard "));

    let out = run(&["init"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let written = std::fs::read_to_string(dir.path().join("switchyard.toml")).unwrap();
    assert!(written.contains("[providers.openai]"));
    assert!(
        !run(&["init"], dir.path()).status.success(),
        "init must not overwrite"
    );

    // With no file at all: the embedded defaults, on 127.0.0.1:8787.
    let empty = tempfile::tempdir().unwrap();
    let out = run(&["config", "check"], empty.path());
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("listen = \"127.0.0.1:8787\""));

    std::fs::write(
        dir.path().join("good.toml"),
        "[providers.p]\nkind = \"openai\"\napi_key = \"sk-live-abcdef\"\n",
    )
    .unwrap();
    let out = run(&["config", "check", "good.toml"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("[redacted]") && !stdout.contains("sk-live-abcdef"),
        "{stdout}"
    );

    std::fs::write(
        dir.path().join("bad.toml"),
        "[server]\nlisten = \"127.0.0.1:1\"\nport = 3\n",
    )
    .unwrap();
    let out = run(&["config", "check", "bad.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.toml:3:1") && stderr.contains("unknown field `port`"),
        "{stderr}"
    );
}

#[test]
fn serve_fails_at_start_up_on_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[providers.p]\nkind = \"openai\"\napi_key = \"env:SWITCHYARD_TEST_UNSET_VAR\"\n",
    )
    .unwrap();
    let out = run(&["serve", "--config", "bad.toml"], dir.path());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("bad.toml:3:11") && stderr.contains("SWITCHYARD_TEST_UNSET_VAR"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_database_password_is_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchyard.toml");
    std::fs::write(
        &config,
        "[server]\nenv_providers = false\n[logs]\nurl = \"postgres://app:s3cret-pw@127.0.0.1:1/logs\"\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(common::bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "no PostgreSQL there: {printed}");
    assert!(
        printed.contains("postgres://app:[redacted]@127.0.0.1:1/logs"),
        "{printed}"
    );
    assert!(!printed.contains("s3cret-pw"), "{printed}");
}

#[tokio::test]
async fn files_holding_logs_keys_and_cache_are_the_owners_only() {
    use std::os::unix::fs::PermissionsExt;
    let h = start("[cache]\nbackend = \"sqlite\"\nttl_seconds = 60\n").await;
    let response = h
        .post("/v1/chat/completions", &chat("mock-openai/gpt-4o-mini"))
        .await;
    assert_eq!(response.status(), 200);
    let dir = h.gateway.dir().join(".switchyard");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dir.join("logs.db-wal").exists() {
        assert!(
            Instant::now() < deadline,
            "no WAL file in {}",
            dir.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", path.display());
            checked += 1;
        }
    }
    assert!(
        checked >= 4,
        "logs.db, keys.db, cache.db and their WAL files: {checked}"
    );
}
