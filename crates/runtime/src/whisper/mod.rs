//! Whisper speech-to-text on candle, from either checkpoint layout people have: Hugging Face's
//! (`model.safetensors` + `config.json` + `tokenizer.json`) or CTranslate2's, as faster-whisper
//! uses (`model.bin` + `config.json` + `tokenizer.json`), converted on load ([`ct2`]).
//!
//! - [`mel`]: 16 kHz samples → the log-mel spectrogram Whisper reads.
//! - [`WhisperModel::transcribe`]: greedy decoding, 30-second window by window.
//! - [`WhisperEngine`]: a loaded model on its own thread behind the runtime's queue (the
//!   `speech-recognition` task); uploads are decoded there ([`crate::audio`]).
//!
//! Not served over HTTP yet (`/ai/run`, `/v1/audio/transcriptions`): see issue 24.

pub mod ct2;
mod decoder;
mod engine;
pub mod languages;
pub mod mel;
mod timestamps;
pub mod words;

pub use engine::WhisperEngine;

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::whisper::model::{AudioEncoder, Whisper};
use candle_transformers::models::whisper::{self as w, Config};
use tokenizers::Tokenizer;

use self::timestamps::Rules;
use crate::task::Segment;
use crate::RuntimeError;

/// The most tokens decoded per 30-second window (Whisper's own bound is 224).
const MAX_TOKENS: usize = 224;

/// How to transcribe (see [`WhisperModel::transcript_with`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options<'a> {
    /// A code (`es`) or a name (`spanish`); heard from the audio when `None`.
    pub language: Option<&'a str>,
    /// English whatever is spoken.
    pub translate: bool,
    pub prompt: Option<&'a str>,
    /// Each segment's words with their times (one more pass of the decoder a window).
    pub words: bool,
}

/// What was said, its segments with their times, and how many tokens it took.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    pub segments: Vec<Segment>,
    pub tokens: usize,
    /// The language heard (or asked for), as Whisper's code (`en`, `es`, …).
    pub language: String,
}

/// A loaded Whisper model with its tokenizer.
pub struct WhisperModel {
    /// The encoder is candle-transformers'; decoding runs on [`decoder::Decoder`].
    encoder: AudioEncoder,
    decoder: decoder::Decoder,
    config: Config,
    tokenizer: Tokenizer,
    filters: Vec<f32>,
    /// Token ids never sampled (special tokens, the checkpoint's suppress list).
    suppress: Vec<u32>,
    sot: u32,
    /// Multilingual models: the language tokens (`<|en|>` … in the vocabulary's order) and
    /// `<|transcribe|>`; English-only ones have neither.
    languages: Vec<(u32, String)>,
    transcribe_token: Option<u32>,
    translate_token: Option<u32>,
    /// `<|startofprev|>`: what precedes it is text the audio follows on from.
    start_of_prev: Option<u32>,
    rules: Rules,
    /// The (layer, head) pairs whose cross-attention follows the audio (word timestamps).
    alignment_heads: Vec<(usize, usize)>,
}

/// The checkpoint's `alignment_heads` (CTranslate2's config.json, Hugging Face's
/// generation_config.json), else every head of the decoder's second half (OpenAI's default).
fn alignment_heads(
    dir: &Path,
    config: &serde_json::Value,
    layers: usize,
    heads: usize,
) -> Vec<(usize, usize)> {
    let listed = |v: &serde_json::Value| -> Option<Vec<(usize, usize)>> {
        v.get("alignment_heads")?
            .as_array()?
            .iter()
            .map(|p| Some((p.get(0)?.as_u64()? as usize, p.get(1)?.as_u64()? as usize)))
            .collect()
    };
    let generation = std::fs::read(dir.join("generation_config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    listed(config)
        .or_else(|| generation.as_ref().and_then(listed))
        .filter(|h| !h.is_empty() && h.iter().all(|&(l, h)| l < layers && h < heads))
        .unwrap_or_else(|| {
            (layers / 2..layers)
                .flat_map(|l| (0..heads).map(move |h| (l, h)))
                .collect()
        })
}

fn load_error(what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::load(format!("{what}: {e}"))
}

fn engine(e: candle_core::Error) -> RuntimeError {
    RuntimeError::engine(format!("whisper: {e}"))
}

/// The checkpoint's own list of tokens to suppress, when its `config.json` has one
/// (CTranslate2: `suppress_ids`; Hugging Face: `suppress_tokens`).
fn suppress_list(config: &serde_json::Value) -> Vec<u32> {
    ["suppress_ids", "suppress_tokens"]
        .iter()
        .find_map(|k| config.get(*k).and_then(serde_json::Value::as_array))
        .map(|ids| {
            ids.iter()
                .filter_map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether a safetensors file stores the decoder's embedding in 16 bits (its header says).
fn safetensors_is_half(file: &[u8]) -> bool {
    let Some(len) = file
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
    else {
        return false;
    };
    let header = file
        .get(8..8 + len as usize)
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(h).ok());
    header.is_some_and(|h| {
        matches!(
            h["model.decoder.embed_tokens.weight"]["dtype"].as_str(),
            Some("F16" | "BF16")
        )
    })
}

impl WhisperModel {
    /// Loads the model in `dir`, whichever layout it is in.
    pub fn load(dir: &Path) -> Result<Self, RuntimeError> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| load_error(&format!("{}", dir.join(name).display()), e))
        };
        let raw_config: serde_json::Value = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| load_error("config.json", e))?;
        let (vb, config, half) = if dir.join("model.bin").exists() {
            let ct2 = ct2::Ct2Model::parse(read("model.bin")?)?;
            let half = ct2.is_half();
            let (tensors, config) = ct2.whisper()?;
            (
                VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu),
                config,
                half,
            )
        } else {
            let config: Config = serde_json::from_value(raw_config.clone())
                .map_err(|e| load_error("config.json", e))?;
            let weights = read("model.safetensors")?;
            let half = safetensors_is_half(&weights);
            let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
                .map_err(|e| load_error("model.safetensors", e))?;
            (vb, config, half)
        };
        // candle's encoder; its decoder is dropped here (ours decodes), so its weights are not
        // held twice
        let Whisper { encoder, .. } =
            Whisper::load(&vb, config.clone()).map_err(|e| load_error("whisper", e))?;
        let decoder = decoder::Decoder::load(&vb, &config, half)
            .map_err(|e| load_error("whisper decoder", e))?;
        let tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| load_error("tokenizer.json", e))?;
        let id = |token: &str| {
            tokenizer
                .token_to_id(token)
                .ok_or_else(|| RuntimeError::load(format!("the tokenizer has no `{token}`")))
        };
        let (sot, eot, no_timestamps) = (
            id(w::SOT_TOKEN)?,
            id(w::EOT_TOKEN)?,
            id(w::NO_TIMESTAMPS_TOKEN)?,
        );
        // English-only checkpoints have 51864 tokens and no language or task tokens
        let (languages, transcribe_token, translate_token) = match config.vocab_size >= 51865 {
            true => {
                // the language tokens sit between the start token and `<|translate|>`
                let translate = id(w::TRANSLATE_TOKEN)?;
                let languages = ((sot + 1)..translate)
                    .filter_map(|t| {
                        let token = tokenizer.id_to_token(t)?;
                        let code = token.strip_prefix("<|")?.strip_suffix("|>")?.to_owned();
                        Some((t, code))
                    })
                    .collect();
                (languages, Some(id(w::TRANSCRIBE_TOKEN)?), Some(translate))
            }
            false => (Vec::new(), None, None),
        };
        let rules = Rules {
            eot,
            no_timestamps,
            first: no_timestamps + 1,
            max_initial: 50,
        };
        let mut suppress = suppress_list(&raw_config);
        // special tokens (start, languages, tasks) are never text; timestamps follow their rules
        suppress.extend((eot + 1)..rules.first);
        suppress.sort_unstable();
        suppress.dedup();
        let filters = mel::filters(config.num_mel_bins);
        let start_of_prev = tokenizer.token_to_id("<|startofprev|>");
        let alignment_heads = alignment_heads(
            dir,
            &raw_config,
            config.decoder_layers,
            config.decoder_attention_heads,
        );
        Ok(WhisperModel {
            encoder,
            decoder,
            config,
            tokenizer,
            filters,
            suppress,
            sot,
            languages,
            transcribe_token,
            translate_token,
            start_of_prev,
            alignment_heads,
            rules,
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The text spoken in `pcm` (16 kHz mono, -1..1), decoded greedily window by window.
    pub fn transcribe(&mut self, pcm: &[f32]) -> Result<String, RuntimeError> {
        self.transcript(pcm, None).map(|t| t.text)
    }

    /// [`Self::transcribe`], with the segments' times and how many tokens it took. Windows of
    /// 30 s are decoded one after another; a window whose last segment was cut off is resumed
    /// from that segment's start.
    pub fn transcript(
        &mut self,
        pcm: &[f32],
        language: Option<&str>,
    ) -> Result<Transcript, RuntimeError> {
        self.transcript_as(pcm, language, false)
    }

    /// [`Self::transcript`], or with `translate` its English translation (multilingual models;
    /// an English-only model transcribes, which is the same).
    pub fn transcript_as(
        &mut self,
        pcm: &[f32],
        language: Option<&str>,
        translate: bool,
    ) -> Result<Transcript, RuntimeError> {
        self.transcript_with(
            pcm,
            &Options {
                language,
                translate,
                prompt: None,
                words: false,
            },
        )
    }

    /// [`Self::transcript`] as `options` say: the language, the translate task, and a prompt —
    /// text the audio follows on from (names, spellings, style), as OpenAI's `prompt`.
    pub fn transcript_with(
        &mut self,
        pcm: &[f32],
        options: &Options<'_>,
    ) -> Result<Transcript, RuntimeError> {
        let (language, translate) = (options.language, options.translate);
        let context: Vec<u32> = match options.prompt.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => self
                .tokenizer
                .encode(format!(" {p}"), false)
                .map_err(|e| RuntimeError::invalid("prompt", format!("prompt: {e}")))?
                .get_ids()
                .to_vec(),
            None => Vec::new(),
        };
        let language = self.language_token(language)?;
        let task = match translate {
            true => self.translate_token,
            false => self.transcribe_token,
        };
        let mels = self.config.num_mel_bins;
        let mel = mel::log_mel(&self.config, pcm, &self.filters);
        let frames = mel.len() / mels;
        let mel = Tensor::from_vec(mel, (1, mels, frames), &Device::Cpu).map_err(engine)?;
        let content = pcm.len() / w::HOP_LENGTH;
        // frames per second of audio
        let rate = (w::SAMPLE_RATE / w::HOP_LENGTH) as f32;
        let mut segments = Vec::new();
        let mut tokens_out = 0;
        let mut seek = 0;
        let mut detected: Option<u32> = None;
        while seek < content {
            let size = w::N_FRAMES.min(frames - seek);
            let window = mel.narrow(2, seek, size).map_err(engine)?;
            // (not followed on from the windows before, as OpenAI's transcribe does by default:
            // a window that lost its place would take the next ones with it)
            let (tokens, heard_in) = self.decode(&window, language, task, &context)?;
            detected = detected.or(heard_in);
            tokens_out += tokens.len();
            let offset = seek as f32 / rate;
            let heard = (content - seek).min(size) as f32 / rate;
            let (spans, done) = timestamps::spans(&self.rules, &tokens, heard);
            // each text token's start, when words are asked for: `times[k]`, token k of the
            // spans' text one after the other
            let times = match options.words {
                true => {
                    let frames = (content - seek).min(size) / 2;
                    self.token_times(&spans, heard_in.or(language), task, frames)?
                }
                false => Vec::new(),
            };
            let mut first = 0;
            for span in spans {
                let words = match times.is_empty() {
                    true => Vec::new(),
                    false => {
                        let text_of =
                            |ids: &[u32]| self.tokenizer.decode(ids, true).unwrap_or_default();
                        let split = words::split_words(&span.tokens, &text_of);
                        let jump = &times[first..=first + span.tokens.len()];
                        words::timed_words(split, jump)
                            .into_iter()
                            .filter(|w| w.start < heard)
                            .map(|w| words::TimedWord {
                                start: offset + w.start.max(span.start),
                                end: offset + w.end.min(span.end.max(w.start)).min(heard),
                                word: w.word,
                            })
                            .collect()
                    }
                };
                first += span.tokens.len();
                let text = self
                    .tokenizer
                    .decode(&span.tokens, true)
                    .map_err(|e| RuntimeError::engine(format!("whisper tokenizer: {e}")))?;
                // nothing said, or said past the end of the audio (the padding Whisper
                // hallucinates into)
                if text.trim().is_empty() || span.start >= heard - 0.1 {
                    continue;
                }
                segments.push(Segment {
                    start: offset + span.start,
                    end: offset + span.end.min(heard),
                    text,
                    words,
                });
            }
            // always forward, at least a timestamp's worth
            seek += ((done * rate) as usize).max(2);
        }
        let text: String = segments.iter().map(|s| s.text.as_str()).collect();
        let language = match detected {
            Some(t) => self
                .languages
                .iter()
                .find(|(id, _)| *id == t)
                .map(|(_, c)| c.clone()),
            None if self.languages.is_empty() => Some("en".to_owned()),
            None => None,
        };
        Ok(Transcript {
            text: text.trim().to_owned(),
            segments,
            tokens: tokens_out,
            language: language.unwrap_or_else(|| "en".to_owned()),
        })
    }

    /// When each text token of `spans` begins (seconds into the window), and when the text
    /// ends (the last entry): the alignment heads' attention over the window's first `frames`
    /// encoder frames, aligned by dynamic time warping (see [`words`]).
    fn token_times(
        &mut self,
        spans: &[timestamps::Span],
        language: Option<u32>,
        task: Option<u32>,
        frames: usize,
    ) -> Result<Vec<f32>, RuntimeError> {
        let text: Vec<u32> = spans
            .iter()
            .flat_map(|s| s.tokens.iter().copied())
            .collect();
        if text.is_empty() || frames == 0 {
            return Ok(Vec::new());
        }
        let mut prefix = vec![self.sot];
        if let (Some(l), Some(t)) = (language, task) {
            prefix.extend([l, t]);
        }
        prefix.push(self.rules.no_timestamps);
        let heads = self.alignment_heads.clone();
        let scores = self
            .decoder
            .cross_scores(&prefix, &text, &heads)
            .map_err(engine)?;
        Ok(words::jump_times(&words::matrix(&scores, frames)))
    }

    /// The token of `language` (a code, `en`; or a name, `english`), when the model is
    /// multilingual; English-only models take English only.
    fn language_token(&self, language: Option<&str>) -> Result<Option<u32>, RuntimeError> {
        let Some(asked) = language
            .map(str::to_ascii_lowercase)
            .filter(|l| !l.is_empty())
        else {
            return Ok(None);
        };
        if self.languages.is_empty() {
            return match asked.as_str() {
                "en" | "english" => Ok(None),
                _ => Err(RuntimeError::invalid(
                    "language",
                    format!("this model hears English only (asked for `{asked}`)"),
                )),
            };
        }
        let code = languages::code_of(&asked).unwrap_or(&asked);
        self.languages
            .iter()
            .find(|(_, c)| c == code)
            .map(|(t, _)| Some(*t))
            .ok_or_else(|| RuntimeError::invalid("language", format!("unknown language `{asked}`")))
    }

    /// One window's tokens (text and timestamps), greedily, and the language it was decoded in
    /// (detected from the window when none was asked for).
    fn decode(
        &mut self,
        window: &Tensor,
        language: Option<u32>,
        task: Option<u32>,
        context: &[u32],
    ) -> Result<(Vec<u32>, Option<u32>), RuntimeError> {
        let features = self.encoder.forward(window, true).map_err(engine)?;
        self.decoder.start(&features).map_err(engine)?;
        let language = match (language, self.transcribe_token) {
            (_, None) => None,
            (Some(l), Some(_)) => Some(l),
            (None, Some(_)) => {
                // the likeliest language token after the start token
                let logits = self.decoder.step(&[self.sot]).map_err(engine)?;
                self.decoder.restart();
                self.languages
                    .iter()
                    .max_by(|a, b| logits[a.0 as usize].total_cmp(&logits[b.0 as usize]))
                    .map(|(t, _)| *t)
            }
        };
        // the text this window follows on from, at most half the decoder's context
        let mut tokens = Vec::new();
        if let (Some(prev), false) = (self.start_of_prev, context.is_empty()) {
            let keep = context.len().min(self.config.max_target_positions / 2 - 1);
            tokens.push(prev);
            tokens.extend(&context[context.len() - keep..]);
        }
        tokens.push(self.sot);
        if let (Some(l), Some(task)) = (language, task) {
            tokens.extend([l, task]);
        }
        let start = tokens.len();
        let mut mask = vec![0f32; self.config.vocab_size];
        for &id in &self.suppress {
            if let Some(m) = mask.get_mut(id as usize) {
                *m = f32::NEG_INFINITY;
            }
        }
        // the prompt in one pass, then one token a step against the cache
        let mut logits = self.decoder.step(&tokens).map_err(engine)?;
        let room = self.decoder.max_tokens();
        for _ in 0..MAX_TOKENS {
            for (l, m) in logits.iter_mut().zip(&mask) {
                *l += m;
            }
            self.rules.apply(&tokens[start..], &mut logits);
            let next = logits
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(self.rules.eot, |(id, _)| id as u32);
            if next == self.rules.eot || tokens.len() + 1 >= room {
                break;
            }
            tokens.push(next);
            logits = self.decoder.step(&[next]).map_err(engine)?;
        }
        Ok((tokens.split_off(start), language))
    }
}
