//! The BERT encoder's forward pass for the CPU, on candle: the matmuls are candle's (gemm, with
//! its AVX-512 kernels) against weights transposed once at load time, Q/K/V fused into one
//! projection; everything between them runs as fused custom ops ([`kernels`]). candle-
//! transformers' model spends over half its CPU time outside the matmuls (scalar erf, a pass and
//! a thread barrier per elementwise op, attention as hundreds of tiny batched matmuls); this one
//! spends almost all of it in them. Models it cannot run (relative position embeddings, other
//! activations) and GPU devices use candle-transformers' `BertModel`.

mod kernels;

use candle_core::{bail, DType, Device, Result, Tensor};
use candle_nn::VarBuilder;

use kernels::{Act, Attention, BiasAct, BiasResidualNorm, EmbedNorm, Norm};

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
}

fn two() -> usize {
    2
}

fn default_eps() -> f64 {
    1e-12
}

struct Layer {
    /// `[hidden, 3·hidden]`: query, key and value projections side by side
    qkv: Tensor,
    qkv_bias: Vec<f32>,
    out: Tensor,
    out_bias: Vec<f32>,
    attn_norm: Norm,
    up: Tensor,
    up_bias: Vec<f32>,
    down: Tensor,
    down_bias: Vec<f32>,
    out_norm: Norm,
}

pub struct CpuBert {
    word: Tensor,
    position: Vec<f32>,
    token_type: Vec<f32>,
    emb_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    act: Act,
    hidden: usize,
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
        let prefixes = ["".to_owned(), "bert.".to_owned()]
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
        let vec = |t: Tensor| t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>();
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for i in 0..c.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let att = l.pp("attention");
            let (q, qb) = linear(&att.pp("self.query"), h, h)?;
            let (k, kb) = linear(&att.pp("self.key"), h, h)?;
            let (v, vb_) = linear(&att.pp("self.value"), h, h)?;
            let (out, out_bias) = linear(&att.pp("output.dense"), h, h)?;
            let (up, up_bias) = linear(&l.pp("intermediate.dense"), c.intermediate_size, h)?;
            let (down, down_bias) = linear(&l.pp("output.dense"), h, c.intermediate_size)?;
            layers.push(Layer {
                qkv: transposed(&Tensor::cat(&[q, k, v], 0)?)?,
                qkv_bias: vec(Tensor::cat(&[qb, kb, vb_], 0)?)?,
                out: transposed(&out)?,
                out_bias: vec(out_bias)?,
                attn_norm: norm(&att.pp("output.LayerNorm"), h, eps)?,
                up: transposed(&up)?,
                up_bias: vec(up_bias)?,
                down: transposed(&down)?,
                down_bias: vec(down_bias)?,
                out_norm: norm(&l.pp("output.LayerNorm"), h, eps)?,
            });
        }
        Ok(CpuBert {
            word: emb.get((c.vocab_size, h), "word_embeddings.weight")?,
            position: vec(emb.get((c.max_position_embeddings, h), "position_embeddings.weight")?)?,
            token_type: vec(emb.get((c.type_vocab_size, h), "token_type_embeddings.weight")?)?,
            emb_norm: norm(&emb.pp("LayerNorm"), h, eps)?,
            layers,
            heads: c.num_attention_heads,
            act,
            hidden: h,
        })
    }

    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// The last hidden states, `[texts·seq, hidden]` row-major, of `texts` token sequences padded
    /// to `seq` (`lens`: each text's real length; padding rows are not meaningful).
    pub fn forward(
        &self,
        ids: &[u32],
        types: &[u32],
        lens: &[usize],
        seq: usize,
    ) -> Result<Vec<f32>> {
        if ids.len() != types.len() || ids.len() != lens.len() * seq {
            bail!("token ids, types and lengths disagree")
        }
        let ids = Tensor::from_slice(ids, ids.len(), &Device::Cpu)?;
        let x = self.word.index_select(&ids, 0)?;
        x.inplace_op1(&EmbedNorm {
            seq,
            types,
            position: &self.position,
            token_type: &self.token_type,
            norm: &self.emb_norm,
        })?;
        let mut x = x;
        for l in &self.layers {
            let qkv = x.matmul(&l.qkv)?;
            qkv.inplace_op1(&BiasAct {
                bias: &l.qkv_bias,
                act: None,
            })?;
            let ctx = qkv.apply_op1_no_bwd(&Attention {
                heads: self.heads,
                seq,
                lens,
            })?;
            let attn = ctx.matmul(&l.out)?;
            attn.inplace_op2(
                &x,
                &BiasResidualNorm {
                    bias: &l.out_bias,
                    norm: &l.attn_norm,
                },
            )?;
            let up = attn.matmul(&l.up)?;
            up.inplace_op1(&BiasAct {
                bias: &l.up_bias,
                act: Some(self.act),
            })?;
            let down = up.matmul(&l.down)?;
            down.inplace_op2(
                &attn,
                &BiasResidualNorm {
                    bias: &l.down_bias,
                    norm: &l.out_norm,
                },
            )?;
            x = down;
        }
        x.flatten_all()?.to_vec1::<f32>()
    }
}

/// A linear layer's `[out, in]` weight and its bias.
fn linear(vb: &VarBuilder, out: usize, inp: usize) -> Result<(Tensor, Tensor)> {
    Ok((vb.get((out, inp), "weight")?, vb.get(out, "bias")?))
}

/// `[out, in]` → a contiguous `[in, out]`, so every matmul reads its weights in storage order.
fn transposed(w: &Tensor) -> Result<Tensor> {
    w.t()?.contiguous()
}

/// A layer norm, saved as `weight`/`bias` or (older checkpoints) `gamma`/`beta`.
fn norm(vb: &VarBuilder, h: usize, eps: f32) -> Result<Norm> {
    let get = |a: &str, b: &str| vb.get(h, a).or_else(|_| vb.get(h, b));
    Ok(Norm {
        gamma: get("weight", "gamma")?.to_vec1::<f32>()?,
        beta: get("bias", "beta")?.to_vec1::<f32>()?,
        eps,
    })
}
