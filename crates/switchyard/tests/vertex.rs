//! Vertex AI: a service-account key (generated here with `openssl`) is turned into a signed JWT,
//! exchanged at the account's token_uri for an access token that is cached across requests, and
//! Gemini-format requests go to the project/location path with that token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

/// Writes `key.pem` (PKCS#8) and `pub.der` (PKCS#1 public key) into `dir`.
fn generate_key(dir: &Path) {
    let key = dir.join("key.pem");
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .status()
        .expect("openssl is needed for this test (scripts/test.sh installs it)")
        .success();
    assert!(ok);
    let ok = Command::new("openssl")
        .args(["rsa", "-RSAPublicKey_out", "-outform", "DER", "-in"])
        .arg(&key)
        .arg("-out")
        .arg(dir.join("pub.der"))
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn service_account(dir: &Path, token_uri: &str) -> std::path::PathBuf {
    let pem = std::fs::read_to_string(dir.join("key.pem")).unwrap();
    let sa = json!({
        "type": "service_account", "project_id": "proj-1", "private_key_id": "k1",
        "private_key": pem, "client_email": "gateway@proj-1.iam.gserviceaccount.com",
        "token_uri": token_uri
    });
    let path = dir.join("sa.json");
    std::fs::write(&path, sa.to_string()).unwrap();
    path
}

#[tokio::test]
async fn requests_carry_a_cached_token_minted_from_a_signed_jwt() {
    let dir = tempfile::tempdir().unwrap();
    generate_key(dir.path());
    let h = common::start_with(|mock| {
        let sa = service_account(dir.path(), &format!("{}/token", mock.root_url()));
        format!(
            "[server]\nenv_providers = false\n[providers.vx]\nkind = \"vertex\"\nservice_account = \"{}\"\nlocation = \"us-central1\"\nbase_url = \"{}/v1/projects/proj-1/locations/us-central1/publishers/google\"\n",
            sa.display(),
            mock.root_url()
        )
    })
    .await;
    let (mock, gateway) = (&h.mock, &h.gateway);
    for _ in 0..3 {
        let response = h
            .post("/v1/chat/completions", &common::chat("vx/gemini-2.5-flash"))
            .await;
        assert_eq!(response.status(), 200, "{}", gateway.logs());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "Hello from mock");
    }
    let requests = mock.requests();
    let tokens: Vec<_> = requests.iter().filter(|r| r.path == "/token").collect();
    assert_eq!(tokens.len(), 1, "the token is cached");
    let calls: Vec<_> = requests.iter().filter(|r| r.path != "/token").collect();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].path, "/v1/projects/proj-1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent");
    assert_eq!(
        calls[0].header("authorization"),
        Some("Bearer ya29.mock-token")
    );

    // The assertion is a JWT signed with the service account's key.
    let form = String::from_utf8(tokens[0].body.to_vec()).unwrap();
    let jwt = form
        .split('&')
        .find_map(|kv| kv.strip_prefix("assertion="))
        .unwrap();
    let mut parts = jwt.split('.');
    let (header, claims, signature) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap(),
    );
    let public = std::fs::read(dir.path().join("pub.der")).unwrap();
    ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, &public)
        .verify(
            format!("{header}.{claims}").as_bytes(),
            &URL_SAFE_NO_PAD.decode(signature).unwrap(),
        )
        .expect("the JWT signature verifies with the service account's public key");
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert_eq!(claims["iss"], "gateway@proj-1.iam.gserviceaccount.com");
    assert_eq!(claims["aud"], format!("{}/token", mock.root_url()));
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
}

#[test]
fn the_default_endpoint_comes_from_project_and_location() {
    let dir = tempfile::tempdir().unwrap();
    generate_key(dir.path());
    let sa = service_account(dir.path(), "https://oauth2.googleapis.com/token");
    std::fs::write(
        dir.path().join("v.toml"),
        format!("[providers.vx]\nkind = \"vertex\"\nservice_account = \"{}\"\nlocation = \"europe-west4\"\n", sa.display()),
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["config", "check", "v.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("https://europe-west4-aiplatform.googleapis.com/v1/projects/proj-1/locations/europe-west4/publishers/google"),
        "{stdout}"
    );
    assert!(!stdout.contains("PRIVATE KEY"), "{stdout}");

    std::fs::write(
        dir.path().join("bad.toml"),
        "[providers.vx]\nkind = \"vertex\"\nservice_account = \"missing.json\"\n",
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["config", "check", "bad.toml"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("bad.toml:3:19")
            && stderr.contains("missing.json"),
        "{stderr}"
    );
}

#[tokio::test]
async fn claude_models_on_vertex_use_raw_predict_in_anthropic_format() {
    let dir = tempfile::tempdir().unwrap();
    generate_key(dir.path());
    let h = common::start_with(|mock| {
        let sa = service_account(dir.path(), &format!("{}/token", mock.root_url()));
        format!(
            "[server]\nenv_providers = false\n[providers.vx]\nkind = \"vertex\"\nservice_account = \"{}\"\nbase_url = \"{}/v1/projects/proj-1/locations/us-east5/publishers/google\"\n",
            sa.display(),
            mock.root_url()
        )
    })
    .await;
    let mock = &h.mock;

    let answer: Value = h
        .post_json(
            "/v1/chat/completions",
            &common::chat("vx/claude-sonnet-4-5@20250929"),
        )
        .await;
    assert_eq!(
        answer["choices"][0]["message"]["content"], "Hello from mock",
        "{answer}"
    );
    let seen = mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1/projects/proj-1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:rawPredict");
    assert_eq!(seen.json()["anthropic_version"], "vertex-2023-10-16");
    assert!(seen.json().get("model").is_none());

    let claude = json!({"model": "vx/claude-sonnet-4-5@20250929", "max_tokens": 20, "stream": true, "messages": [{"role": "user", "content": "Hi"}]});
    let text = h.post("/v1/messages", &claude).await.text().await.unwrap();
    assert!(text.contains("event: message_stop"), "{text}");
    assert!(mock
        .last_request()
        .unwrap()
        .path
        .ends_with(":streamRawPredict"));
}
