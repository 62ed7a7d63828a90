//! A BERT-family sentence encoder on candle: tokenize, encode, pool, normalise.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer};

use crate::RuntimeError;

/// How token vectors become one sentence vector (sentence-transformers' `1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

pub struct Encoder {
    model: BertModel,
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
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name)).map_err(|e| load_err(dir, name, e))
        };
        let config: Config = serde_json::from_str(&read("config.json")?)
            .map_err(|e| load_err(dir, "config.json", e))?;
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
        let model = BertModel::load(vb, &config).map_err(|e| load_err(dir, "weights", e))?;
        Ok(Encoder {
            model,
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
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| RuntimeError::invalid("input", format!("cannot tokenize: {e}")))?;
        let rows = |f: &dyn Fn(&tokenizers::Encoding) -> Vec<u32>| -> Result<Tensor, RuntimeError> {
            let data: Vec<Tensor> = encodings
                .iter()
                .map(|e| Tensor::new(f(e).as_slice(), &self.device))
                .collect::<Result<_, _>>()
                .map_err(engine)?;
            Tensor::stack(&data, 0).map_err(engine)
        };
        let ids = rows(&|e| e.get_ids().to_vec())?;
        let types = rows(&|e| e.get_type_ids().to_vec())?;
        let mask = rows(&|e| e.get_attention_mask().to_vec())?;
        let lens: Vec<u64> = encodings
            .iter()
            .map(|e| e.get_attention_mask().iter().filter(|&&m| m == 1).count() as u64)
            .collect();
        let hidden = self
            .model
            .forward(&ids, &types, Some(&mask))
            .map_err(engine)?;
        let pooled = match self.pooling {
            Pooling::Cls => hidden
                .narrow(1, 0, 1)
                .and_then(|t| t.squeeze(1))
                .map_err(engine)?,
            Pooling::Mean => {
                let m = mask
                    .to_dtype(DType::F32)
                    .and_then(|m| m.unsqueeze(2))
                    .map_err(engine)?;
                let summed = hidden
                    .broadcast_mul(&m)
                    .and_then(|t| t.sum(1))
                    .map_err(engine)?;
                let n = m.sum(1).map_err(engine)?;
                summed.broadcast_div(&n).map_err(engine)?
            }
        };
        let norm = pooled
            .sqr()
            .and_then(|t| t.sum_keepdim(1))
            .and_then(|t| t.sqrt())
            .and_then(|t| t.clamp(1e-12f32, f32::MAX))
            .map_err(engine)?;
        let unit = pooled.broadcast_div(&norm).map_err(engine)?;
        let vectors = unit.to_vec2::<f32>().map_err(engine)?;
        Ok((vectors, lens))
    }
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
