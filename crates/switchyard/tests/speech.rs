//! Speech to text end to end: `POST /v1/audio/transcriptions` from the official `openai` SDK to a
//! local Whisper model (`task = "speech-recognition"`) and to an OpenAI provider, logged and
//! metered like every call; uploads that are not what the route takes are refused by name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use serde_json::Value;

#[tokio::test]
async fn the_openai_sdk_transcribes_on_a_local_model_and_through_a_provider() {
    let h = common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n\
             [providers.oa]\nkind = \"openai\"\nbase_url = \"{root}\"\napi_key = \"sk-oa\"\n\
             [[models]]\nname = \"whisper\"\ntask = \"speech-recognition\"\nsource = \"{whisper}/\"\n\
             aliases = [\"@cf/openai/whisper-tiny-en\"]\n\
             [[models]]\nname = \"whisper-base\"\ntask = \"speech-recognition\"\nsource = \"{base}/\"\n",
            root = mock.root_url(),
            whisper = switchyard_testkit::models::whisper_tiny_en().display(),
            base = switchyard_testkit::models::whisper_base().display(),
        )
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("fox.wav");
    let flac = dir.path().join("fox.flac");
    let ok = Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&wav)
        .arg("The quick brown fox jumps over the lazy dog.")
        .status()
        .expect("espeak-ng (scripts/install-deps.sh)");
    assert!(ok.success());
    let ok = Command::new("sox")
        .arg(&wav)
        .arg(&flac)
        .status()
        .expect("sox");
    assert!(ok.success());
    let stella = dir.path().join("stella.wav");
    let ok = Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&stella)
        .arg("Please call Stella and ask her to bring these things.")
        .status()
        .expect("espeak-ng");
    assert!(ok.success());
    let spanish = dir.path().join("es.wav");
    let ok = Command::new("espeak-ng")
        .args(["-v", "es", "-s", "140", "-w"])
        .arg(&spanish)
        .arg("Hola, me llamo Carlos y me gusta mucho el café con leche.")
        .status()
        .expect("espeak-ng");
    assert!(ok.success());
    let args = [&wav, &flac, &spanish, &stella].map(|p| p.as_os_str());
    common::run_client(&h.gateway, "speech.py", &args, "speech: ok").await;
    // the provider got the upload with its boundary, the model rewritten
    let sent = h.mock.last_request().unwrap();
    assert_eq!(sent.path, "/v1/audio/transcriptions");
    assert!(sent
        .header("content-type")
        .unwrap()
        .starts_with("multipart/form-data; boundary="));
    let body = String::from_utf8_lossy(&sent.body);
    assert!(body.contains("\r\n\r\nwhisper-1\r\n"), "{body}");

    // Workers AI's run with the audio as the body, on both of its paths
    for path in [
        "/ai/run/@cf/openai/whisper-tiny-en",
        "/client/v4/accounts/acct/ai/run/@cf/openai/whisper-tiny-en",
    ] {
        let run = h
            .http
            .post(h.gateway.url(path))
            .header("content-type", "audio/wav")
            .body(std::fs::read(&wav).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(run.status(), 200, "{path}");
        let v: Value = run.json().await.unwrap();
        assert_eq!(v["success"], true, "{v}");
        assert!(
            v["result"]["text"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("lazy dog"),
            "{v}"
        );
    }
    // large-v3-turbo's input (base64 audio) gets its answer's shape
    let b64 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(std::fs::read(&wav).unwrap())
    };
    let turbo: Value = h
        .http
        .post(h.gateway.url("/ai/run/@cf/openai/whisper-tiny-en"))
        .json(&serde_json::json!({"audio": b64, "task": "transcribe", "vad_filter": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let result = &turbo["result"];
    assert_eq!(result["transcription_info"]["language"], "en", "{turbo}");
    assert!(
        result["transcription_info"]["duration"].as_f64().unwrap() > 1.0,
        "{turbo}"
    );
    assert!(
        result["segments"][0]["end"].as_f64().unwrap() > 1.0,
        "{turbo}"
    );
    assert!(
        result["text"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("lazy dog"),
        "{turbo}"
    );
    assert!(
        result["vtt"].as_str().unwrap().starts_with("WEBVTT"),
        "{turbo}"
    );
    let bad = h
        .http
        .post(h.gateway.url("/ai/run/@cf/openai/whisper-tiny-en"))
        .json(&serde_json::json!({"audio": [1, 2, 300]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let v: Value = bad.json().await.unwrap();
    assert_eq!(v["success"], false, "{v}");

    // every call logged; the local ones metered by seconds of audio, without the audio's bytes
    let rows = common::logging::rows(h.gateway.base_url(), 20).await;
    let local: Vec<&Value> = rows
        .iter()
        .filter(|r| r["provider"] == "local" && r["status"] == 200)
        .collect();
    assert_eq!(local.len(), 15, "{rows:?}");
    for row in &local {
        let seconds = row["input_tokens"].as_i64().unwrap();
        assert!((2..=5).contains(&seconds), "{row}");
        let full =
            common::logging::log_row(h.gateway.base_url(), row["id"].as_str().unwrap()).await;
        assert_eq!(full["request_body"], Value::Null, "{full}");
    }
    assert!(rows.iter().any(|r| r["status"] == 400));

    // `switchyard run whisper ./talk.wav` prints the transcript
    let file = dir.path().join("switchyard.toml");
    std::fs::write(
        &file,
        format!(
            "[[models]]\nname = \"whisper\"\ntask = \"speech-recognition\"\nsource = \"{}/\"\n",
            switchyard_testkit::models::whisper_tiny_en().display()
        ),
    )
    .unwrap();
    let run = tokio::process::Command::new(common::bin())
        .args(["run", "-c"])
        .arg(&file)
        .arg("whisper")
        .arg(&wav)
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&run.stdout).to_lowercase();
    assert!(
        run.status.success() && said.contains("lazy dog"),
        "{said}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[tokio::test]
async fn an_upload_route_takes_uploads_only() {
    let h = common::start("").await;
    let json = h
        .http
        .post(h.gateway.url("/v1/audio/transcriptions"))
        .json(&serde_json::json!({"model": "whisper-1", "file": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 415);
    let v: Value = json.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("multipart/form-data"),
        "{v}"
    );
    let form = "--b0undary\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nmock-openai/whisper-1\r\n--b0undary--\r\n";
    let missing = h
        .http
        .post(h.gateway.url("/v1/audio/transcriptions"))
        .header("content-type", "multipart/form-data; boundary=b0undary")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 400);
    let v: Value = missing.json().await.unwrap();
    assert_eq!(v["error"]["param"], "file", "{v}");
}
