//! Text to image end to end: `POST /v1/images/generations` from the official `openai` SDK to a
//! local Stable Diffusion model (a tiny one with the real architecture, written by the test) and
//! to an OpenAI provider; Workers AI's runs (PNG bytes for Stable Diffusion, `{image}` for
//! FLUX-named models; golden envelope in `tests/golden/workers_ai/`); `switchyard run` writing a
//! PNG; logged and metered in steps × 512² tiles.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};

#[tokio::test]
async fn the_openai_sdk_makes_pngs_locally_and_through_a_provider() {
    let models = tempfile::tempdir().unwrap();
    let sd = models.path().join("sd");
    switchyard_runtime::image::tiny::write_tiny_model(&sd).unwrap();
    let config = |root: &str| {
        format!(
            "[server]\nenv_providers = false\n\
             [providers.oa]\nkind = \"openai\"\nbase_url = \"{root}\"\napi_key = \"sk-oa\"\n\
             [providers.cf]\nkind = \"workers-ai-run\"\nbase_url = \"{root}/client/v4/accounts/acct/ai\"\napi_key = \"cf-token\"\n\
             [[models]]\nname = \"sd\"\ntask = \"text-to-image\"\nsource = \"{}\"\n\
             aliases = [\"@cf/stabilityai/stable-diffusion-xl-base-1.0\", \"@cf/black-forest-labs/flux-1-schnell\"]\n",
            sd.display()
        )
    };
    let h = common::start_with(|mock| config(&mock.root_url())).await;
    common::run_client(&h.gateway, "images.py", &[], "images: ok").await;
    let sent = h.mock.last_request().unwrap();
    assert_eq!(sent.path, "/v1/images/generations");
    assert_eq!(sent.json()["model"], "gpt-image-1");

    // upstream Workers AI: the run's PNG (or FLUX's `{image}`) read back as OpenAI's answer
    for model in [
        "cf/@cf/stabilityai/stable-diffusion-xl-base-1.0",
        "cf/@cf/black-forest-labs/flux-1-schnell",
    ] {
        let v = h
            .post_json(
                "/v1/images/generations",
                &json!({"model": model, "prompt": "a lighthouse", "size": "512x256", "seed": 5}),
            )
            .await;
        assert!(
            v["data"][0]["b64_json"]
                .as_str()
                .unwrap()
                .starts_with("iVBORw0KGgo"),
            "{v}"
        );
        let sent = h.mock.last_request().unwrap();
        assert!(
            sent.path
                .starts_with("/client/v4/accounts/acct/ai/run/@cf/"),
            "{}",
            sent.path
        );
        assert_eq!(
            sent.json(),
            json!({"prompt": "a lighthouse", "width": 512, "height": 256, "seed": 5})
        );
    }
    let e = common::expect_error(
        h.post("/v1/images/generations", &json!({"model": "cf/@cf/stabilityai/stable-diffusion-xl-base-1.0", "prompt": "x", "n": 2})).await,
        400,
    )
    .await;
    assert!(e["message"].as_str().unwrap().contains("n > 1"), "{e}");

    // Workers AI: Stable Diffusion answers the PNG itself, on both paths
    for path in [
        "/ai/run/@cf/stabilityai/stable-diffusion-xl-base-1.0",
        "/client/v4/accounts/acct/ai/run/@cf/stabilityai/stable-diffusion-xl-base-1.0",
    ] {
        let r = h
            .post(path, &json!({"prompt": "a lighthouse", "width": 64, "height": 32, "num_steps": 1, "seed": 3}))
            .await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], "image/png");
        let png = r.bytes().await.unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[16..24], &[0, 0, 0, 64, 0, 0, 0, 32]);
    }
    // FLUX's shape: the envelope around `{image}`
    let mut v = h
        .post_json(
            "/ai/run/@cf/black-forest-labs/flux-1-schnell",
            &json!({"prompt": "a lighthouse", "width": 64, "height": 64, "steps": 1}),
        )
        .await;
    assert!(
        v["result"]["image"]
            .as_str()
            .unwrap()
            .starts_with("iVBORw0KGgo"),
        "{v}"
    );
    v["result"]["image"] = json!("<base64 PNG>");
    common::golden("text_to_image_json", &v);
    // refused in the envelope, by name
    let bad = h
        .post_json(
            "/ai/run/@cf/stabilityai/stable-diffusion-xl-base-1.0",
            &json!({"prompt": "x", "width": 30}),
        )
        .await;
    assert_eq!(bad["success"], false, "{bad}");
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("width"),
        "{bad}"
    );
    // listed under Workers AI's task, with its schema
    let schema = common::logging::get_json(&format!(
        "{}/ai/models/schema?model=@cf/stabilityai/stable-diffusion-xl-base-1.0",
        h.gateway.base_url()
    ))
    .await;
    assert_eq!(
        schema["result"]["output"]["contentType"], "image/png",
        "{schema}"
    );

    // every call logged; the local ones metered in steps × 512² tiles, the images not kept
    let rows = common::logging::rows(h.gateway.base_url(), 16).await;
    let local: Vec<&Value> = rows
        .iter()
        .filter(|r| r["provider"] == "local" && r["status"] == 200)
        .collect();
    assert_eq!(local.len(), 8, "{rows:?}");
    let two_steps = local.iter().filter(|r| r["input_tokens"] == 2).count();
    assert!(two_steps >= 3, "{local:?}");
    let provider = rows.iter().find(|r| r["provider"] == "oa").unwrap();
    assert_eq!(provider["output_tokens"], 272, "{provider}");

    // `switchyard run sd "…" -o out.png`
    let file = models.path().join("switchyard.toml");
    std::fs::write(&file, config("http://127.0.0.1:9")).unwrap();
    let png = models.path().join("out.png");
    let run = tokio::process::Command::new(common::bin())
        .args(["run", "-c"])
        .arg(&file)
        .args([
            "sd",
            "a lighthouse at dusk",
            "--seed",
            "42",
            "--steps",
            "2",
            "-o",
        ])
        .arg(&png)
        .output()
        .await
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[16..24], &[0, 0, 0, 64, 0, 0, 0, 64]);
}
