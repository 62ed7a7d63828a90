//! Real clients are the judge: the official `openai` and `anthropic` Python SDKs (installed from
//! PyPI by scripts/test.sh, found through its `PYTHONPATH`) against the real binary, changing only
//! the base URL and keeping their own model names (`gpt-4o-mini`, `claude-sonnet-4-5`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

/// The Python that runs the SDKs (`SWITCHYARD_PYTHON`, else python3).
fn python() -> String {
    std::env::var("SWITCHYARD_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

#[tokio::test]
async fn openai_and_anthropic_sdks_work_by_changing_only_the_base_url() {
    let h = common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n\
             [providers.oa]\nkind = \"openai\"\nbase_url = \"{root}\"\napi_key = \"sk-oa\"\n\
             [providers.an]\nkind = \"anthropic\"\nbase_url = \"{root}\"\napi_key = \"sk-ant\"\n",
            root = mock.root_url()
        )
    })
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/drop_in.py");
    let out = tokio::process::Command::new(python())
        .arg(script)
        .arg(h.gateway.base_url())
        .output()
        .await
        .expect("python3 runs (scripts/test.sh installs the SDKs)");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "{stdout}\n{stderr}\n(the SDKs come from scripts/test.sh)\n{}",
        h.gateway.logs()
    );
    assert!(stdout.contains("drop-in clients: ok"), "{stdout}");
    // the SDKs' keys never reached the providers
    for r in h.mock.requests() {
        let auth = [r.header("authorization"), r.header("x-api-key")];
        assert!(
            !auth
                .iter()
                .flatten()
                .any(|v| v.contains("whatever-the-app-had")),
            "{r:?}"
        );
    }
}
