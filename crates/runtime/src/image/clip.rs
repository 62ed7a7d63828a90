//! The CLIP text encoder Stable Diffusion conditions on (`text_encoder/` in the diffusers
//! layout: `CLIPTextModel`'s `config.json` and `model.safetensors`), and its tokenizer
//! (`tokenizer/`: `tokenizer.json`, or CLIP's BPE from `vocab.json` + `merges.txt`).
//! Token and position embeddings, pre-norm layers with causal self-attention, the final layer
//! norm; `quick_gelu` (SD 1.x) or `gelu` (SD 2.x, SD-Turbo).

use std::path::Path;

use candle_core::{DType, Device, Module, Result, Tensor, D};
use candle_nn::{LayerNorm, Linear, VarBuilder};

/// `text_encoder/config.json`, the part read here.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ClipConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "seventy_seven")]
    pub max_position_embeddings: usize,
    #[serde(default = "quick_gelu")]
    pub hidden_act: String,
    #[serde(default = "eps")]
    pub layer_norm_eps: f64,
}

fn seventy_seven() -> usize {
    77
}

fn quick_gelu() -> String {
    "quick_gelu".into()
}

fn eps() -> f64 {
    1e-5
}

struct Layer {
    norm1: LayerNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

pub struct ClipText {
    token: candle_nn::Embedding,
    position: candle_nn::Embedding,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    heads: usize,
    gelu: bool,
    pub max_tokens: usize,
}

impl ClipText {
    /// `vb`: the weights' root (the `text_model.` prefix is found here).
    pub fn load(vb: VarBuilder, c: &ClipConfig) -> Result<Self> {
        let vb = if vb.contains_tensor("text_model.embeddings.token_embedding.weight") {
            vb.pp("text_model")
        } else {
            vb
        };
        let (h, eps) = (c.hidden_size, c.layer_norm_eps);
        let norm = |vb: VarBuilder| candle_nn::layer_norm(h, eps, vb);
        let emb = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layers.{i}"));
            let a = l.pp("self_attn");
            layers.push(Layer {
                norm1: norm(l.pp("layer_norm1"))?,
                q: candle_nn::linear(h, h, a.pp("q_proj"))?,
                k: candle_nn::linear(h, h, a.pp("k_proj"))?,
                v: candle_nn::linear(h, h, a.pp("v_proj"))?,
                out: candle_nn::linear(h, h, a.pp("out_proj"))?,
                norm2: norm(l.pp("layer_norm2"))?,
                fc1: candle_nn::linear(h, c.intermediate_size, l.pp("mlp.fc1"))?,
                fc2: candle_nn::linear(c.intermediate_size, h, l.pp("mlp.fc2"))?,
            });
        }
        let gelu = match c.hidden_act.as_str() {
            "quick_gelu" => false,
            "gelu" => true,
            other => candle_core::bail!("text encoder activation {other} is not supported"),
        };
        Ok(ClipText {
            token: candle_nn::embedding(c.vocab_size, h, emb.pp("token_embedding"))?,
            position: candle_nn::embedding(
                c.max_position_embeddings,
                h,
                emb.pp("position_embedding"),
            )?,
            layers,
            final_norm: norm(vb.pp("final_layer_norm"))?,
            heads: c.num_attention_heads,
            gelu,
            max_tokens: c.max_position_embeddings,
        })
    }

    /// The last hidden states (after the final layer norm) of `ids`, `[batch, seq]`.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, seq) = ids.dims2()?;
        let positions = Tensor::arange(0u32, seq as u32, ids.device())?;
        let mut x = self
            .token
            .forward(ids)?
            .broadcast_add(&self.position.forward(&positions)?)?;
        let mask: Vec<f32> = (0..seq)
            .flat_map(|i| (0..seq).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (seq, seq), ids.device())?.to_dtype(x.dtype())?;
        let h = x.dim(D::Minus1)?;
        let hd = h / self.heads;
        let scale = (hd as f64).powf(-0.5);
        for l in &self.layers {
            let r = x.clone();
            let y = l.norm1.forward(&x)?;
            let split = |t: Tensor| -> Result<Tensor> {
                t.reshape((b, seq, self.heads, hd))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = split((l.q.forward(&y)? * scale)?)?;
            let k = split(l.k.forward(&y)?)?;
            let v = split(l.v.forward(&y)?)?;
            let att = q.matmul(&k.t()?)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, seq, h))?;
            x = (l.out.forward(&y)? + r)?;
            let r = x.clone();
            let y = l.fc1.forward(&l.norm2.forward(&x)?)?;
            let y = if self.gelu {
                y.gelu_erf()?
            } else {
                (&y * candle_nn::ops::sigmoid(&(&y * 1.702)?)?)?
            };
            x = (l.fc2.forward(&y)? + r)?;
        }
        self.final_norm.forward(&x)
    }
}

/// CLIP's tokenizer: `tokenizer.json` when the folder has one, else built from `vocab.json` and
/// `merges.txt` the way `CLIPTokenizer` reads them (lower-cased, split into words, byte-level
/// BPE with `</w>` ending each word); prompts are framed by `<|startoftext|>` and
/// `<|endoftext|>` and padded to the encoder's length with the folder's pad token.
pub struct ClipTokenizer {
    inner: tokenizers::Tokenizer,
    bos: u32,
    eos: u32,
    pad: u32,
}

fn tok_err(dir: &Path, e: impl std::fmt::Display) -> candle_core::Error {
    candle_core::Error::Msg(format!("tokenizer at {}: {e}", dir.display()))
}

impl ClipTokenizer {
    pub fn load(dir: &Path) -> Result<Self> {
        use tokenizers::normalizers::{Lowercase, Replace, Sequence as Norms, NFC};
        use tokenizers::pre_tokenizers::byte_level::ByteLevel;
        use tokenizers::pre_tokenizers::sequence::Sequence;
        use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
        use tokenizers::SplitDelimiterBehavior;
        let inner = if dir.join("tokenizer.json").is_file() {
            tokenizers::Tokenizer::from_file(dir.join("tokenizer.json"))
                .map_err(|e| tok_err(dir, e))?
        } else {
            let vocab = dir.join("vocab.json");
            let merges = dir.join("merges.txt");
            let bpe = tokenizers::models::bpe::BPE::from_file(
                &vocab.to_string_lossy(),
                &merges.to_string_lossy(),
            )
            .end_of_word_suffix("</w>".into())
            .unk_token("<|endoftext|>".into())
            .build()
            .map_err(|e| tok_err(dir, e))?;
            let mut t = tokenizers::Tokenizer::new(bpe);
            let spaces = Replace::new(
                tokenizers::normalizers::replace::ReplacePattern::Regex(r"\s+".into()),
                " ",
            )
            .map_err(|e| tok_err(dir, e))?;
            t.with_normalizer(Some(Norms::new(vec![
                NFC.into(),
                spaces.into(),
                Lowercase.into(),
            ])))
            .map_err(|e| tok_err(dir, e))?;
            let words = Split::new(
                SplitPattern::Regex(
                    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+".into(),
                ),
                SplitDelimiterBehavior::Removed,
                true,
            )
            .map_err(|e| tok_err(dir, e))?;
            t.with_pre_tokenizer(Some(Sequence::new(vec![
                words.into(),
                ByteLevel::new(false, true, false).into(),
            ])));
            t
        };
        let id = |token: &str| inner.token_to_id(token);
        let bos = id("<|startoftext|>").ok_or_else(|| tok_err(dir, "no <|startoftext|>"))?;
        let eos = id("<|endoftext|>").ok_or_else(|| tok_err(dir, "no <|endoftext|>"))?;
        let pad = std::fs::read_to_string(dir.join("special_tokens_map.json"))
            .ok()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| {
                let p = &v["pad_token"];
                p.as_str()
                    .or_else(|| p["content"].as_str())
                    .map(str::to_owned)
            })
            .and_then(|p| id(&p))
            .unwrap_or(eos);
        Ok(ClipTokenizer {
            inner,
            bos,
            eos,
            pad,
        })
    }

    /// The prompt's ids, framed and padded to `len` (cut to fit when longer, as diffusers
    /// does); and how many were cut.
    pub fn encode(&self, text: &str, len: usize) -> Result<(Vec<u32>, usize)> {
        let enc = self
            .inner
            .encode(text, false)
            .map_err(|e| candle_core::Error::Msg(format!("cannot tokenize the prompt: {e}")))?;
        let words = enc.get_ids();
        let room = len.saturating_sub(2);
        let cut = words.len().saturating_sub(room);
        let mut ids = Vec::with_capacity(len);
        ids.push(self.bos);
        ids.extend(words.iter().take(room));
        ids.push(self.eos);
        ids.resize(len, self.pad);
        Ok((ids, cut))
    }
}

/// `ids` as a `[1, len]` tensor.
pub fn ids_tensor(ids: &[u32], device: &Device) -> Result<Tensor> {
    Tensor::new(ids, device)?.unsqueeze(0)?.to_dtype(DType::U32)
}
