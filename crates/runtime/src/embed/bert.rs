//! A BERT-family sentence encoder on candle: tokenize, encode, pool, normalise.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer};

use super::cpu_bert::CpuBert;
use crate::RuntimeError;

/// How token vectors become one sentence vector (sentence-transformers' `1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

/// The forward pass: our fused one on the CPU, candle-transformers' elsewhere (GPU) or for
/// models the fused one does not cover.
enum Net {
    Cpu(CpuBert),
    Candle(BertModel),
}

pub struct Encoder {
    net: Net,
    tokenizer: Tokenizer,
    pooling: Pooling,
    max_tokens: u32,
    device: Device,
}

fn load_err(dir: &Path, what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::load(format!("embedding model at {}: {what}: {e}", dir.display()))
}

impl Encoder {
    /// `dir`: the model folder.
    pub fn load(dir: &Path) -> Result<Self, RuntimeError> {
        Self::load_with(dir, true)
    }

    /// Always candle-transformers' forward pass: the reference the fused one is tested against.
    pub fn load_reference(dir: &Path) -> Result<Self, RuntimeError> {
        Self::load_with(dir, false)
    }

    fn load_with(dir: &Path, fuse: bool) -> Result<Self, RuntimeError> {
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| load_err(dir, name, e))
        };
        let config_text = read("config.json")?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|e| load_err(dir, "config.json", e))?;
        let pooling = pooling(dir)?;
        let mut max_tokens = config.max_position_embeddings as u32;
        if let Ok(st) = read("sentence_bert_config.json") {
            let v: serde_json::Value = serde_json::from_str(&st).unwrap_or_default();
            if let Some(n) = v.get("max_seq_length").and_then(serde_json::Value::as_u64) {
                max_tokens = max_tokens.min(n as u32);
            }
        }
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| load_err(dir, "tokenizer.json", e))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        // inputs longer than the model takes are refused (400) before they get here
        let _ = tokenizer.with_truncation(None);
        #[cfg(feature = "cuda")]
        let device = Device::new_cuda(0).unwrap_or(Device::Cpu);
        #[cfg(not(feature = "cuda"))]
        let device = Device::Cpu;
        let weights = dir.join("model.safetensors");
        #[expect(
            unsafe_code,
            reason = "memory-maps the weights file; the file is not modified while the model is loaded (models are replaced by new files, never rewritten in place)"
        )]
        // SAFETY: see the reason above; the mapping lives as long as the VarBuilder's tensors.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[weights], DType::F32, &device) }
            .map_err(|e| load_err(dir, "model.safetensors", e))?;
        let fused = match device {
            Device::Cpu if fuse => CpuBert::load(&vb, &config_text)
                .inspect_err(|e| {
                    tracing::info!(model = %dir.display(), "candle-transformers' BERT runs this model: {e}")
                })
                .ok(),
            _ => None,
        };
        let net = match fused {
            Some(m) => Net::Cpu(m),
            None => {
                Net::Candle(BertModel::load(vb, &config).map_err(|e| load_err(dir, "weights", e))?)
            }
        };
        Ok(Encoder {
            net,
            tokenizer,
            pooling,
            max_tokens,
            device,
        })
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    pub fn max_tokens(&self) -> u32 {
        self.max_tokens
    }

    /// Unit vectors for `texts`, in order, `batch` at a time; and each text's token count.
    pub fn embed(
        &self,
        texts: &[&str],
        batch: usize,
    ) -> Result<(Vec<Vec<f32>>, Vec<u64>), RuntimeError> {
        // similar lengths together: less padding
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].len());
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        let mut counts = vec![0u64; texts.len()];
        for chunk in order.chunks(batch.max(1)) {
            let group: Vec<&str> = chunk.iter().map(|&i| texts[i]).collect();
            let (vectors, lens) = self.embed_batch(&group)?;
            for ((&i, v), n) in chunk.iter().zip(vectors).zip(lens) {
                out[i] = v;
                counts[i] = n;
            }
        }
        Ok((out, counts))
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<(Vec<Vec<f32>>, Vec<u64>), RuntimeError> {
        let engine = |e: candle_core::Error| RuntimeError::engine(format!("embedding failed: {e}"));
        let (encodings, lens, seq) = encode_padded(&self.tokenizer, texts.to_vec())?;
        let flat = |f: &dyn Fn(&tokenizers::Encoding) -> &[u32]| -> Vec<u32> {
            encodings
                .iter()
                .flat_map(|e| f(e).iter().copied())
                .collect()
        };
        let (ids, types) = (flat(&|e| e.get_ids()), flat(&|e| e.get_type_ids()));
        let (hidden, width) = match &self.net {
            Net::Cpu(m) => (
                m.forward(&ids, &types, &lens, seq)
                    .map_err(|e| RuntimeError::engine(format!("embedding failed: {e}")))?,
                m.hidden_size(),
            ),
            Net::Candle(m) => {
                let shape = (encodings.len(), seq);
                let tensor = |v: Vec<u32>| Tensor::from_vec(v, shape, &self.device);
                let mask = tensor(flat(&|e| e.get_attention_mask()));
                let out = tensor(ids)
                    .and_then(|ids| Ok((ids, tensor(types)?, mask?)))
                    .and_then(|(ids, types, mask)| m.forward(&ids, &types, Some(&mask)))
                    .map_err(engine)?;
                let width = out.dim(2).map_err(engine)?;
                let data = out
                    .to_dtype(DType::F32)
                    .and_then(|t| t.flatten_all())
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(engine)?;
                (data, width)
            }
        };
        let vectors = lens
            .iter()
            .enumerate()
            .map(|(b, &len)| {
                pool(
                    &hidden[b * seq * width..(b + 1) * seq * width],
                    width,
                    len,
                    self.pooling,
                )
            })
            .collect();
        Ok((vectors, lens.iter().map(|&n| n as u64).collect()))
    }
}

/// `inputs` tokenized as one batch padded to its longest: the encodings, each one's real length,
/// and the padded length.
pub(crate) fn encode_padded<'s, E: Into<tokenizers::EncodeInput<'s>> + Send>(
    tokenizer: &Tokenizer,
    inputs: Vec<E>,
) -> Result<(Vec<tokenizers::Encoding>, Vec<usize>, usize), RuntimeError> {
    let encodings = tokenizer
        .encode_batch(inputs, true)
        .map_err(|e| RuntimeError::invalid("input", format!("cannot tokenize: {e}")))?;
    let lens: Vec<usize> = encodings
        .iter()
        .map(|e| e.get_attention_mask().iter().filter(|&&m| m == 1).count())
        .collect();
    let seq = encodings.first().map_or(0, |e| e.get_ids().len());
    Ok((encodings, lens, seq))
}

/// One text's vector from its `width`-wide token rows (the first `len` are real): mean or CLS,
/// then L2-normalised.
fn pool(rows: &[f32], width: usize, len: usize, pooling: Pooling) -> Vec<f32> {
    let mut v = vec![0f32; width];
    let take = match pooling {
        Pooling::Cls => 1,
        Pooling::Mean => len.max(1),
    };
    for row in rows.chunks(width).take(take) {
        for (a, x) in v.iter_mut().zip(row) {
            *a += x;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    // the mean's 1/len cancels in the normalisation
    v.iter_mut().for_each(|x| *x /= norm);
    v
}

/// Mean pooling unless the folder's `1_Pooling/config.json` says CLS.
fn pooling(dir: &Path) -> Result<Pooling, RuntimeError> {
    let path = dir.join("1_Pooling").join("config.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(Pooling::Mean);
    };
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| load_err(dir, "1_Pooling/config.json", e))?;
    let on = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    if on("pooling_mode_cls_token") {
        Ok(Pooling::Cls)
    } else if on("pooling_mode_mean_tokens") || !on("pooling_mode_max_tokens") {
        Ok(Pooling::Mean)
    } else {
        Err(load_err(
            dir,
            "1_Pooling/config.json",
            "only mean and CLS pooling are supported",
        ))
    }
}
