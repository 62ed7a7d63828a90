//! Static sentence vectors: the weighted mean of a BERT model's *input* token embeddings, L2-
//! normalised — no transformer pass, so a prompt costs microseconds instead of tens of
//! milliseconds on one core. Not a substitute for the encoder where meaning matters (the semantic
//! cache), but for scoring a prompt's difficulty by its nearest labelled prompts it does as well
//! (measured on the routing dev set; see BENCHMARKS.md "Hybrid routing").

use std::path::Path;

use tokenizers::Tokenizer;

use crate::RuntimeError;

pub struct StaticEmbedder {
    tokenizer: Tokenizer,
    /// `vocab × dim`, row-major.
    table: Vec<f32>,
    dim: usize,
}

fn load_err(dir: &Path, what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::load(format!(
        "static vectors from {}: {what}: {e}",
        dir.display()
    ))
}

impl StaticEmbedder {
    /// `dir`: an embedding model folder (`tokenizer.json`, `model.safetensors`).
    pub fn load(dir: &Path) -> Result<Self, RuntimeError> {
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| load_err(dir, "tokenizer.json", e))?;
        let _ = tokenizer.with_truncation(None);
        tokenizer.with_padding(None);
        let tensors = candle_core::safetensors::load(
            dir.join("model.safetensors"),
            &candle_core::Device::Cpu,
        )
        .map_err(|e| load_err(dir, "model.safetensors", e))?;
        let table = tensors
            .iter()
            .find(|(name, _)| name.ends_with("embeddings.word_embeddings.weight"))
            .map(|(_, t)| t)
            .ok_or_else(|| load_err(dir, "model.safetensors", "no word_embeddings tensor"))?;
        let (vocab, dim) = table
            .dims2()
            .map_err(|e| load_err(dir, "word_embeddings", e))?;
        let table = table
            .to_dtype(candle_core::DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(|e| load_err(dir, "word_embeddings", e))?;
        debug_assert_eq!(table.len(), vocab * dim);
        Ok(StaticEmbedder {
            tokenizer,
            table,
            dim,
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The text's token ids, without special tokens, never truncated.
    pub fn token_ids(&self, text: &str) -> Vec<u32> {
        self.tokenizer
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// The `weight`-weighted mean of the tokens' vectors, as a unit vector (zeros for no tokens).
    pub fn embed(&self, ids: &[u32], weight: impl Fn(u32) -> f32) -> Vec<f32> {
        let mut v = vec![0f32; self.dim];
        for &id in ids {
            let start = id as usize * self.dim;
            let Some(row) = self.table.get(start..start + self.dim) else {
                continue;
            };
            let w = weight(id);
            for (a, b) in v.iter_mut().zip(row) {
                *a += w * b;
            }
        }
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|a| *a /= norm);
        }
        v
    }
}
