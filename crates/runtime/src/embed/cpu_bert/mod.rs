//! The BERT encoder's forward pass for the CPU: weights read with candle (safetensors, any BERT
//! checkpoint layout candle-transformers reads), then kept as plain row-major f32 — linear
//! layers transposed once to `[in, out]`, Q/K/V fused into one projection — and run by
//! [`kernels`]: gemm (candle's matmul engine, with its AVX-512 kernels) accumulating into rows
//! pre-filled with the bias (and residual), and one pass each for activation, layer norm and
//! attention, over buffers allocated once per batch. candle-transformers' model spends over half
//! its CPU time outside the matmuls (scalar erf, a zeroed allocation, a pass and a thread barrier
//! per elementwise op, attention as hundreds of tiny batched matmuls). Models this does not cover
//! (relative position embeddings, other activations) and GPU devices use candle-transformers.

pub(crate) mod kernels;

use candle_core::{bail, DType, Result, Tensor};
use candle_nn::VarBuilder;

use kernels::{Act, Embeddings, Linear, Norm};

/// The part of `config.json` this forward pass reads.
#[derive(serde::Deserialize)]
struct Config {
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "two")]
    type_vocab_size: usize,
    vocab_size: usize,
    hidden_act: String,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    position_embedding_type: Option<String>,
    #[serde(default)]
    model_type: Option<String>,
    /// RoBERTa's padding token: its positions start after it (`pad_token_id + 1`).
    #[serde(default)]
    pad_token_id: Option<usize>,
}

fn two() -> usize {
    2
}

fn default_eps() -> f64 {
    1e-12
}

struct Layer {
    /// `[hidden, 3·hidden]`: query, key and value projections side by side
    qkv: Linear,
    out: Linear,
    attn_norm: Norm,
    up: Linear,
    down: Linear,
    out_norm: Norm,
}

pub struct CpuBert {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    heads: usize,
    act: Act,
}

impl CpuBert {
    /// `config`: the text of `config.json`. An error means "use candle-transformers' model".
    pub fn load(vb: &VarBuilder, config: &str) -> Result<Self> {
        let c: Config = serde_json::from_str(config).map_err(candle_core::Error::wrap)?;
        let Some(act) = Act::parse(&c.hidden_act) else {
            bail!("activation {} is not fused", c.hidden_act)
        };
        if c.position_embedding_type.as_deref().unwrap_or("absolute") != "absolute" {
            bail!("only absolute position embeddings are fused")
        }
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            bail!("hidden size not divisible by the heads")
        }
        let h = c.hidden_size;
        let word_name = "embeddings.word_embeddings.weight";
        let prefixes = ["".to_owned(), "bert.".to_owned(), "roberta.".to_owned()]
            .into_iter()
            .chain(c.model_type.iter().map(|m| format!("{m}.")));
        let Some(prefix) = prefixes
            .into_iter()
            .find(|p| vb.contains_tensor(&format!("{p}{word_name}")))
        else {
            bail!("no {word_name} in the weights")
        };
        let vb = if prefix.is_empty() {
            vb.clone()
        } else {
            vb.pp(prefix.trim_end_matches('.'))
        };
        let eps = c.layer_norm_eps as f32;
        let emb = vb.pp("embeddings");
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let att = l.pp("attention");
            let (q, k, v) = (
                weights(&att.pp("self.query"), h, h)?,
                weights(&att.pp("self.key"), h, h)?,
                weights(&att.pp("self.value"), h, h)?,
            );
            layers.push(Layer {
                qkv: linear(
                    Tensor::cat(&[q.0, k.0, v.0], 0)?,
                    Tensor::cat(&[q.1, k.1, v.1], 0)?,
                )?,
                out: linear_at(&att.pp("output.dense"), h, h)?,
                attn_norm: norm(&att.pp("output.LayerNorm"), h, eps)?,
                up: linear_at(&l.pp("intermediate.dense"), c.intermediate_size, h)?,
                down: linear_at(&l.pp("output.dense"), h, c.intermediate_size)?,
                out_norm: norm(&l.pp("output.LayerNorm"), h, eps)?,
            });
        }
        let table = |name: &str, rows: usize| emb.get((rows, h), name).and_then(flat);
        // RoBERTa-family models (XLM-R: bge-reranker, multilingual E5) number positions from
        // after the padding token
        let roberta = c
            .model_type
            .as_deref()
            .is_some_and(|m| m.contains("roberta"));
        let position_offset = match c.pad_token_id {
            Some(pad) if roberta => pad + 1,
            _ => 0,
        };
        Ok(CpuBert {
            embeddings: Embeddings {
                position_offset,
                word: table("word_embeddings.weight", c.vocab_size)?,
                position: table("position_embeddings.weight", c.max_position_embeddings)?,
                token_type: table("token_type_embeddings.weight", c.type_vocab_size)?,
                norm: norm(&emb.pp("LayerNorm"), h, eps)?,
            },
            layers,
            heads: c.num_attention_heads,
            act,
        })
    }

    pub fn hidden_size(&self) -> usize {
        self.embeddings.width()
    }

    /// Rows of its token-type table (1 for RoBERTa-family models, whose tokenizers may still
    /// number a pair's second text 1).
    pub fn token_types(&self) -> usize {
        self.embeddings.token_type.len() / self.hidden_size().max(1)
    }

    /// The longest token sequence it takes.
    pub fn max_positions(&self) -> usize {
        (self.embeddings.position.len() / self.hidden_size().max(1))
            .saturating_sub(self.embeddings.position_offset)
    }

    /// The last hidden states, `[texts·seq, hidden]` row-major, of `texts` token sequences padded
    /// to `seq` (`lens`: each text's real length; padding rows are not meaningful).
    pub fn forward(
        &self,
        ids: &[u32],
        types: &[u32],
        lens: &[usize],
        seq: usize,
    ) -> std::result::Result<Vec<f32>, String> {
        if ids.len() != types.len() || ids.len() != lens.len() * seq {
            return Err("token ids, types and lengths disagree".into());
        }
        let (rows, h) = (ids.len(), self.hidden_size());
        let wide = self
            .layers
            .iter()
            .map(|l| l.up.outputs())
            .max()
            .unwrap_or(h);
        let mut x = vec![0f32; rows * h];
        let mut qkv = vec![0f32; rows * 3 * h];
        let mut ctx = vec![0f32; rows * h];
        let mut mid = vec![0f32; rows * h];
        let mut up = vec![0f32; rows * wide];
        self.embeddings.forward(ids, types, seq, &mut x)?;
        for l in &self.layers {
            l.qkv.forward(&x, &mut qkv)?;
            kernels::attention(&qkv, self.heads, seq, lens, &mut ctx);
            l.out
                .forward_residual_norm(&ctx, &x, &l.attn_norm, &mut mid)?;
            let up = &mut up[..rows * l.up.outputs()];
            l.up.forward(&mid, up)?;
            kernels::activate(up, l.up.outputs(), self.act);
            l.down
                .forward_residual_norm(up, &mid, &l.out_norm, &mut x)?;
        }
        Ok(x)
    }
}

/// A linear layer's `[out, in]` weight and `[out]` bias, as stored.
fn weights(vb: &VarBuilder, out: usize, inp: usize) -> Result<(Tensor, Tensor)> {
    Ok((vb.get((out, inp), "weight")?, vb.get(out, "bias")?))
}

fn linear_at(vb: &VarBuilder, out: usize, inp: usize) -> Result<Linear> {
    let (w, b) = weights(vb, out, inp)?;
    linear(w, b)
}

/// `[out, in]` → `[in, out]` row-major, so the matmul reads the weights in storage order.
fn linear(weight: Tensor, bias: Tensor) -> Result<Linear> {
    Ok(Linear {
        weight: flat(weight.t()?.contiguous()?)?,
        bias: flat(bias)?,
    })
}

fn flat(t: Tensor) -> Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
}

/// A layer norm, saved as `weight`/`bias` or (older checkpoints) `gamma`/`beta`.
fn norm(vb: &VarBuilder, h: usize, eps: f32) -> Result<Norm> {
    let get = |a: &str, b: &str| vb.get(h, a).or_else(|_| vb.get(h, b)).and_then(flat);
    Ok(Norm {
        gamma: get("weight", "gamma")?,
        beta: get("bias", "beta")?,
        eps,
    })
}
