//! Whisper tiny.en from its CTranslate2 checkpoint (faster-whisper's layout, converted on load)
//! transcribes speech that espeak-ng says, read the way uploads are (`audio::decode`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;

use switchyard_runtime::task::Transcribe;
use switchyard_runtime::whisper::ct2::Ct2Model;
use switchyard_runtime::whisper::WhisperModel;
use switchyard_runtime::{audio, Event, ModelSettings, Runtime, Task, TaskKind};

/// `text` spoken (espeak-ng writes 22.05 kHz WAV), decoded and resampled to 16 kHz mono the way
/// the server reads uploads.
fn speak(dir: &Path, text: &str) -> Vec<f32> {
    audio::decode(spoken_wav(dir, text), Some("wav"), 60).unwrap()
}

/// `text` spoken, as the WAV file's bytes.
fn spoken_wav(dir: &Path, text: &str) -> Vec<u8> {
    let wav = dir.join("speech.wav");
    let ok = Command::new("espeak-ng")
        .args(["-s", "150", "-w"])
        .arg(&wav)
        .arg(text)
        .status()
        .expect("espeak-ng runs (scripts/install-deps.sh installs it)");
    assert!(ok.success());
    std::fs::read(&wav).unwrap()
}

#[test]
fn a_ctranslate2_checkpoint_transcribes_spoken_words() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = WhisperModel::load(&switchyard_testkit::models::whisper_tiny_en()).unwrap();
    let c = model.config();
    assert_eq!(
        (
            c.d_model,
            c.encoder_layers,
            c.decoder_layers,
            c.encoder_attention_heads
        ),
        (384, 4, 4, 6)
    );
    assert_eq!((c.vocab_size, c.num_mel_bins), (51864, 80));
    let pcm = speak(dir.path(), "The quick brown fox jumps over the lazy dog.");
    assert!(pcm.len() > 16_000, "about two seconds of speech");
    let text = model.transcribe(&pcm).unwrap().to_lowercase();
    for word in ["quick", "brown", "fox", "jump", "lazy", "dog"] {
        assert!(text.contains(word), "`{word}` not in {text:?}");
    }
    // silence says nothing
    let quiet = model.transcribe(&vec![0.0; 16_000]).unwrap();
    assert!(quiet.split_whitespace().count() <= 3, "{quiet:?}");
}

/// The same weights in the Hugging Face layout (written here from the converted checkpoint:
/// `model.safetensors` + `config.json` + `tokenizer.json`) load through that path and say the
/// same.
#[test]
fn a_hugging_face_checkpoint_loads_and_says_the_same() {
    let ct2_dir = switchyard_testkit::models::whisper_tiny_en();
    let dir = tempfile::tempdir().unwrap();
    let hf = dir.path().join("hf");
    std::fs::create_dir(&hf).unwrap();
    let ct2 = Ct2Model::parse(std::fs::read(ct2_dir.join("model.bin")).unwrap()).unwrap();
    let (tensors, c) = ct2.whisper().unwrap();
    candle_core::safetensors::save(&tensors, hf.join("model.safetensors")).unwrap();
    let config = serde_json::json!({
        "num_mel_bins": c.num_mel_bins, "max_source_positions": c.max_source_positions,
        "d_model": c.d_model, "encoder_attention_heads": c.encoder_attention_heads,
        "encoder_layers": c.encoder_layers, "vocab_size": c.vocab_size,
        "max_target_positions": c.max_target_positions,
        "decoder_attention_heads": c.decoder_attention_heads, "decoder_layers": c.decoder_layers,
        "suppress_tokens": [1, 2, 7, 8, 9, 10, 14, 25, 26, 27, 28, 29, 31, 58, 59, 60, 61, 62, 63],
        "model_type": "whisper"
    });
    std::fs::write(hf.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(ct2_dir.join("tokenizer.json"), hf.join("tokenizer.json")).unwrap();
    let pcm = speak(dir.path(), "The quick brown fox jumps over the lazy dog.");
    let from_hf = WhisperModel::load(&hf).unwrap().transcribe(&pcm).unwrap();
    let from_ct2 = WhisperModel::load(&ct2_dir)
        .unwrap()
        .transcribe(&pcm)
        .unwrap();
    assert_eq!(from_hf, from_ct2);
    assert!(from_hf.to_lowercase().contains("lazy dog"), "{from_hf:?}");
}

async fn outcome(
    mut events: switchyard_runtime::EventStream,
) -> Result<(String, u64, u64), String> {
    let mut text = String::new();
    let mut segments = Vec::new();
    while let Some(e) = events.recv().await {
        match e {
            Event::Segments(s) => segments = s,
            Event::Language(l) => assert_eq!(l, "en"),
            Event::Text(t) => {
                // the segments say the same, in order, with times inside the audio
                let joined: String = segments.iter().map(|s| s.text.as_str()).collect();
                assert_eq!(joined.trim(), t.trim());
                let mut at = 0.0;
                for s in &segments {
                    assert!(s.start >= at && s.end > s.start, "{segments:?}");
                    at = s.end;
                }
                assert!(!segments.is_empty() && at < 10.0, "{segments:?}");
                text.push_str(&t)
            }
            Event::Done { counts, .. } => return Ok((text, counts.input, counts.output)),
            Event::Failed(e) => return Err(format!("{} {e}", e.status())),
            other => panic!("{other:?}"),
        }
    }
    Err("no end".into())
}

/// Through the runtime like any local model: loaded on first use, the upload decoded on the
/// model's thread, the transcript and its counts (seconds of audio in, tokens out) as events; a
/// file that is not audio fails that request with a 400 and the model goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_serves_speech_recognition_like_any_local_model() {
    let dir = tempfile::tempdir().unwrap();
    let settings = ModelSettings::new(
        "whisper",
        TaskKind::SpeechRecognition,
        switchyard_testkit::models::whisper_tiny_en(),
    );
    let rt = Runtime::new(vec![settings]);
    let task = |audio: Vec<u8>, format: Option<&str>| {
        Task::Transcribe(Transcribe {
            audio,
            format: format.map(str::to_owned),
            language: None,
            translate: false,
            prompt: None,
            words: false,
        })
    };
    let wav = spoken_wav(
        dir.path(),
        "Please call Stella and ask her to bring these things.",
    );
    let events = rt
        .schedule("whisper", task(wav.clone(), Some("wav")))
        .await
        .unwrap();
    let (text, seconds, tokens) = outcome(events).await.unwrap();
    let text = text.to_lowercase();
    for word in ["please", "call", "ask her", "bring these things"] {
        assert!(text.contains(word), "`{word}` not in {text:?}");
    }
    assert!((2..=6).contains(&seconds), "{seconds} s");
    assert!(tokens >= 8, "{tokens} tokens");

    let events = rt
        .schedule("whisper", task(b"not audio at all".to_vec(), None))
        .await
        .unwrap();
    let failed = outcome(events).await.unwrap_err();
    assert!(failed.starts_with("400"), "{failed}");
    // the model goes on
    let events = rt.schedule("whisper", task(wav, None)).await.unwrap();
    assert!(outcome(events).await.is_ok());
    // a text task is not for this model, and an empty upload is refused at once
    assert!(rt
        .schedule("whisper", task(Vec::new(), None))
        .await
        .is_err());
}

/// More than one 30-second window: the second resumes where the first's last whole segment
/// ended, so the words at both ends are heard once and the times run on past 30 s.
#[test]
fn long_audio_runs_on_across_windows() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = WhisperModel::load(&switchyard_testkit::models::whisper_tiny_en()).unwrap();
    let middle = "The weather was fine and the roads were quiet. \
        We walked along the river and talked about the garden. \
        In the afternoon we read books and drank some tea. ";
    let text = format!(
        "Chapter one. {} The last word of this recording is zebra.",
        middle.repeat(4)
    );
    let pcm = speak(dir.path(), &text);
    assert!(pcm.len() > 35 * 16_000, "{} s", pcm.len() / 16_000);
    let t = model.transcript(&pcm, None).unwrap();
    let heard = t.text.to_lowercase();
    assert!(heard.starts_with("chapter"), "{heard}");
    assert!(heard.contains("the last word of this recording"), "{heard}");
    // each repetition heard once: nothing lost or doubled where the windows meet
    assert_eq!(heard.matches("chapter").count(), 1, "{heard}");
    assert_eq!(heard.matches("afternoon").count(), 4, "{heard}");
    let last = t.segments.last().unwrap();
    assert!(
        last.end > 30.0 && last.end <= pcm.len() as f32 / 16_000.0 + 0.5,
        "{:?}",
        t.segments
    );
    for pair in t.segments.windows(2) {
        assert!(pair[1].start >= pair[0].start, "{:?}", t.segments);
    }
}

/// A multilingual model (Whisper base, its CTranslate2 file shipped in two PyPI packages) hears
/// which language is spoken, or takes the one asked for; an English-only model refuses others.
#[test]
fn a_multilingual_model_hears_the_language() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("es.wav");
    let ok = Command::new("espeak-ng")
        .args(["-v", "es", "-s", "140", "-w"])
        .arg(&wav)
        .arg("Hola, me llamo Carlos y me gusta mucho el café con leche.")
        .status()
        .expect("espeak-ng runs");
    assert!(ok.success());
    let pcm = audio::decode(std::fs::read(&wav).unwrap(), Some("wav"), 60).unwrap();
    let mut base = WhisperModel::load(&switchyard_testkit::models::whisper_base()).unwrap();
    assert_eq!(base.config().vocab_size, 51865);
    let heard = base.transcript(&pcm, None).unwrap();
    assert_eq!(heard.language, "es", "{heard:?}");
    let text = heard.text.to_lowercase();
    assert!(text.contains("carlos") && text.contains("leche"), "{text}");
    // nothing made up in the silence after the last word
    assert!(text.trim_end().ends_with("leche."), "{text}");
    let asked = base.transcript(&pcm, Some("Spanish")).unwrap();
    assert_eq!(asked.language, "es");
    assert!(
        asked.text.to_lowercase().contains("café con leche"),
        "{asked:?}"
    );
    assert!(base.transcript(&pcm, Some("klingon")).is_err());
    // the translate task: English whatever was said
    let english_text = base
        .transcript_as(&pcm, None, true)
        .unwrap()
        .text
        .to_lowercase();
    assert!(
        english_text.contains("carlos") && english_text.contains("coffee"),
        "{english_text}"
    );
    let mut english = WhisperModel::load(&switchyard_testkit::models::whisper_tiny_en()).unwrap();
    let refused = english.transcript(&pcm, Some("es")).unwrap_err();
    assert!(refused.to_string().contains("English only"), "{refused}");
    assert_eq!(english.transcript(&pcm, Some("en")).unwrap().language, "en");
}

/// A prompt steers the spelling of what is heard, as OpenAI's `prompt` does: espeak-ng's
/// "Stella" is heard as "us, teller" without one.
#[test]
fn a_prompt_steers_what_is_heard() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = WhisperModel::load(&switchyard_testkit::models::whisper_tiny_en()).unwrap();
    let pcm = speak(
        dir.path(),
        "Please call Stella and ask her to bring these things.",
    );
    let plain = model.transcribe(&pcm).unwrap().to_lowercase();
    let prompted = model
        .transcript_with(
            &pcm,
            &switchyard_runtime::whisper::Options {
                prompt: Some("A note to Stella."),
                ..Default::default()
            },
        )
        .unwrap()
        .text
        .to_lowercase();
    assert!(!plain.contains("stella"), "{plain}");
    assert!(prompted.contains("stella"), "{prompted}");
}

/// Word timestamps: each word of the transcript with its times, in order, inside its segment;
/// a word said after a second of silence starts after the silence.
#[test]
fn words_are_timed_from_the_alignment_heads() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.wav");
    let second = dir.path().join("second.wav");
    let joined = dir.path().join("joined.wav");
    for (file, text) in [
        (&first, "Good morning everyone."),
        (&second, "Thank you very much."),
    ] {
        assert!(Command::new("espeak-ng")
            .args(["-s", "150", "-w"])
            .arg(file)
            .arg(text)
            .status()
            .unwrap()
            .success());
    }
    // the two sentences with 1.5 s of silence between them
    let padded = dir.path().join("padded.wav");
    assert!(Command::new("sox")
        .arg(&first)
        .arg(&padded)
        .args(["pad", "0", "1.5"])
        .status()
        .unwrap()
        .success());
    assert!(Command::new("sox")
        .arg(&padded)
        .arg(&second)
        .arg(&joined)
        .status()
        .unwrap()
        .success());
    let pcm = audio::decode(std::fs::read(&joined).unwrap(), Some("wav"), 60).unwrap();
    let first_len = audio::decode(std::fs::read(&first).unwrap(), Some("wav"), 60)
        .unwrap()
        .len() as f32
        / 16_000.0;
    let mut model = WhisperModel::load(&switchyard_testkit::models::whisper_tiny_en()).unwrap();
    let t = model
        .transcript_with(
            &pcm,
            &switchyard_runtime::whisper::Options {
                language: None,
                translate: false,
                prompt: None,
                words: true,
            },
        )
        .unwrap();
    let words: Vec<&switchyard_runtime::task::Word> =
        t.segments.iter().flat_map(|s| &s.words).collect();
    let said: Vec<String> = words
        .iter()
        .map(|w| {
            w.word
                .trim()
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .collect();
    assert!(
        said.contains(&"morning".to_owned()) && said.contains(&"thank".to_owned()),
        "{said:?} in {t:?}"
    );
    for pair in words.windows(2) {
        assert!(pair[0].start <= pair[1].start, "{words:?}");
    }
    for s in &t.segments {
        for w in &s.words {
            assert!(
                w.start >= s.start - 0.01 && w.end <= s.end + 0.01 && w.start <= w.end,
                "{w:?} in {s:?}"
            );
        }
    }
    let thank = words[said.iter().position(|w| w == "thank").unwrap()];
    let morning = words[said.iter().position(|w| w == "morning").unwrap()];
    assert!(
        morning.start < first_len,
        "{morning:?} (the first sentence lasts {first_len} s)"
    );
    assert!(
        thank.start > first_len + 1.0,
        "{thank:?} comes after the silence ({first_len} s + 1.5 s)"
    );
    // without asking, no words (no second pass)
    let plain = model.transcript(&pcm, None).unwrap();
    assert!(plain.segments.iter().all(|s| s.words.is_empty()));
}
