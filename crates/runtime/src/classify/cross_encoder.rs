//! A BERT-family sequence classifier — a reranking cross-encoder (ms-marco MiniLM, bge-reranker)
//! or a text classifier (sentiment, intent) — from a Hugging Face folder: `config.json`,
//! `model.safetensors`, `tokenizer.json`. The encoder is the fused CPU forward pass the
//! embeddings use; the head is the checkpoint's own: BERT's pooler (`tanh(dense(CLS))`) then
//! `classifier`, or RoBERTa's `classifier.dense` → tanh → `classifier.out_proj` on the CLS row.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams, TruncationStrategy};

use crate::embed::cpu_bert::CpuBert;
use crate::RuntimeError;

/// A dense layer kept as stored: `[out, in]` row-major weight and `[out]` bias.
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Dense {
    fn load(vb: &VarBuilder, out: usize, inp: usize) -> candle_core::Result<Self> {
        let flat = |t: candle_core::Tensor| t.to_dtype(DType::F32)?.flatten_all()?.to_vec1();
        Ok(Dense {
            weight: flat(vb.get((out, inp), "weight")?)?,
            bias: flat(vb.get(out, "bias")?)?,
        })
    }

    fn apply(&self, x: &[f32]) -> Vec<f32> {
        self.weight
            .chunks(x.len())
            .zip(&self.bias)
            .map(|(row, b)| row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>() + b)
            .collect()
    }
}

/// The classification head on the CLS row.
struct Head {
    /// BERT's pooler or RoBERTa's `classifier.dense` (both followed by tanh).
    pre: Dense,
    out: Dense,
}

pub struct CrossEncoder {
    encoder: CpuBert,
    head: Head,
    tokenizer: Tokenizer,
    labels: Vec<String>,
}

fn load_err(dir: &Path, what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::load(format!(
        "classification model at {}: {what}: {e}",
        dir.display()
    ))
}

/// The part of `config.json` the head needs.
#[derive(serde::Deserialize)]
struct Config {
    hidden_size: usize,
    #[serde(default)]
    id2label: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    num_labels: Option<usize>,
}

impl CrossEncoder {
    pub fn load(dir: &Path) -> Result<Self, RuntimeError> {
        let config_text = std::fs::read_to_string(dir.join("config.json"))
            .map_err(|e| load_err(dir, "config.json", e))?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|e| load_err(dir, "config.json", e))?;
        let weights = dir.join("model.safetensors");
        #[expect(
            unsafe_code,
            reason = "memory-maps the weights file; the file is not modified while the model is loaded (models are replaced by new files, never rewritten in place)"
        )]
        // SAFETY: see the reason above; the tensors are copied out before the mapping is dropped.
        let vb =
            unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], DType::F32, &Device::Cpu) }
                .map_err(|e| load_err(dir, "model.safetensors", e))?;
        let encoder = CpuBert::load(&vb, &config_text).map_err(|e| load_err(dir, "encoder", e))?;
        let labels = labels(&config);
        let h = config.hidden_size;
        let (pre, out) = if vb.contains_tensor("classifier.out_proj.weight") {
            (
                Dense::load(&vb.pp("classifier.dense"), h, h),
                Dense::load(&vb.pp("classifier.out_proj"), labels.len(), h),
            )
        } else {
            let pooler = ["bert.pooler.dense", "pooler.dense"]
                .into_iter()
                .find(|p| vb.contains_tensor(&format!("{p}.weight")))
                .unwrap_or("bert.pooler.dense");
            (
                Dense::load(&vb.pp(pooler), h, h),
                Dense::load(&vb.pp("classifier"), labels.len(), h),
            )
        };
        let bad = |e| load_err(dir, "classification head", e);
        let head = Head {
            pre: pre.map_err(bad)?,
            out: out.map_err(bad)?,
        };
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| load_err(dir, "tokenizer.json", e))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..PaddingParams::default()
        }));
        // a pair longer than the model takes loses tokens from its longer side (the document),
        // as sentence-transformers' CrossEncoder does
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: encoder.max_positions().min(512),
                strategy: TruncationStrategy::LongestFirst,
                ..TruncationParams::default()
            }))
            .map_err(|e| load_err(dir, "tokenizer.json", e))?;
        Ok(CrossEncoder {
            encoder,
            head,
            tokenizer,
            labels,
        })
    }

    /// The classes, in the head's order (`["LABEL_0"]` for a one-logit reranker).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The head's logits for each text (or `(query, document)` pair), `batch` at a time; and
    /// each one's token count.
    pub fn logits(
        &self,
        inputs: &[(&str, Option<&str>)],
        batch: usize,
    ) -> Result<(Vec<Vec<f32>>, Vec<u64>), RuntimeError> {
        let mut order: Vec<usize> = (0..inputs.len()).collect();
        order.sort_by_key(|&i| inputs[i].0.len() + inputs[i].1.map_or(0, str::len));
        let mut out = vec![Vec::new(); inputs.len()];
        let mut counts = vec![0u64; inputs.len()];
        for chunk in order.chunks(batch.max(1)) {
            let group: Vec<(&str, Option<&str>)> = chunk.iter().map(|&i| inputs[i]).collect();
            let (logits, lens) = self.logits_batch(&group)?;
            for ((&i, l), n) in chunk.iter().zip(logits).zip(lens) {
                out[i] = l;
                counts[i] = n;
            }
        }
        Ok((out, counts))
    }

    fn logits_batch(
        &self,
        inputs: &[(&str, Option<&str>)],
    ) -> Result<(Vec<Vec<f32>>, Vec<u64>), RuntimeError> {
        let encoded: Vec<tokenizers::EncodeInput> = inputs
            .iter()
            .map(|&(a, b)| match b {
                Some(b) => (a, b).into(),
                None => a.into(),
            })
            .collect();
        let (encodings, lens, seq) = crate::embed::encode_padded(&self.tokenizer, encoded)?;
        let ids: Vec<u32> = encodings
            .iter()
            .flat_map(|e| e.get_ids().to_vec())
            .collect();
        let types: Vec<u32> = if self.encoder.token_types() > 1 {
            encodings
                .iter()
                .flat_map(|e| e.get_type_ids().to_vec())
                .collect()
        } else {
            vec![0; ids.len()]
        };
        let hidden = self
            .encoder
            .forward(&ids, &types, &lens, seq)
            .map_err(|e| RuntimeError::engine(format!("classification failed: {e}")))?;
        let h = self.encoder.hidden_size();
        let logits = (0..inputs.len())
            .map(|b| {
                let cls = &hidden[b * seq * h..][..h];
                let mut pooled = self.head.pre.apply(cls);
                pooled.iter_mut().for_each(|x| *x = x.tanh());
                self.head.out.apply(&pooled)
            })
            .collect();
        Ok((logits, lens.iter().map(|&n| n as u64).collect()))
    }
}

/// `id2label` in id order; `LABEL_i` for ids it does not name.
fn labels(c: &Config) -> Vec<String> {
    let n = c.num_labels.unwrap_or(c.id2label.len()).max(1);
    (0..n)
        .map(|i| {
            c.id2label
                .get(&i.to_string())
                .cloned()
                .unwrap_or_else(|| format!("LABEL_{i}"))
        })
        .collect()
}

/// A relevance score in 0‥1 from a reranker's logits: the sigmoid of a single logit
/// (sentence-transformers' default), else the softmax probability of the last class
/// ("relevant").
pub fn relevance(logits: &[f32]) -> f32 {
    match logits {
        [one] => 1.0 / (1.0 + (-one).exp()),
        _ => softmax(logits).last().copied().unwrap_or(0.0),
    }
}

/// Class probabilities: the softmax of the logits (a single logit: its sigmoid).
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    if let [one] = logits {
        return vec![1.0 / (1.0 + (-one).exp())];
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities_sum_to_one_and_a_single_logit_is_a_sigmoid() {
        let p = softmax(&[1.0, 2.0, 3.0]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
        assert!((relevance(&[0.0]) - 0.5).abs() < 1e-6);
        assert!(relevance(&[4.0]) > 0.98);
        assert!((relevance(&[0.0, 0.0]) - 0.5).abs() < 1e-6);
    }

    #[test]
    fn labels_come_from_id2label_in_id_order() {
        let c: Config = serde_json::from_str(
            r#"{"hidden_size": 4, "id2label": {"1": "POSITIVE", "0": "NEGATIVE"}}"#,
        )
        .unwrap();
        assert_eq!(labels(&c), ["NEGATIVE", "POSITIVE"]);
        let c: Config = serde_json::from_str(r#"{"hidden_size": 4, "num_labels": 1}"#).unwrap();
        assert_eq!(labels(&c), ["LABEL_0"]);
    }
}
