//! The token-wise layers of the UNet's transformers and the autoencoder's attention, with
//! fast CPU paths: a linear layer over a pre-transposed weight in one gemm with its bias
//! fused in, multi-head attention in blocks of queries (scores never all in memory, heads read
//! and written in place), and diffusers' GEGLU in one pass. Other devices fall back to
//! candle's operations.

use candle_core::{Result, Tensor, D};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use super::ops::{exp, matmul, parallelism, sum, with_cpu_f32, View};

/// A linear layer over the last dimension, its weight kept transposed (`[in, out]`, read row
/// by row by the product).
pub struct Linear {
    weight_t: Tensor,
    bias: Option<Tensor>,
}

impl Linear {
    pub fn load(vb: VarBuilder, inputs: usize, outputs: usize, bias: bool) -> Result<Self> {
        let weight = vb.get((outputs, inputs), "weight")?;
        Ok(Linear {
            weight_t: weight.t()?.contiguous()?,
            bias: bias.then(|| vb.get(outputs, "bias")).transpose()?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.contiguous()?;
        let (inputs, outputs) = self.weight_t.dims2()?;
        let mut dims = x.dims().to_vec();
        match dims.last_mut() {
            Some(last) if *last == inputs => *last = outputs,
            _ => candle_core::bail!("linear: {:?} into a {inputs}-wide layer", x.dims()),
        }
        let rows = x.elem_count() / inputs.max(1);
        let bias = self.bias.as_ref();
        let out = with_cpu_f32(&x, |xs| {
            with_cpu_f32(&self.weight_t, |w| {
                // each row starts as the bias, which the product adds to
                let mut out = bias
                    .and_then(|b| with_cpu_f32(b, |b| b.repeat(rows)))
                    .unwrap_or_else(|| vec![0f32; rows * outputs]);
                matmul(
                    (&mut out, View::rows(rows, outputs, outputs)),
                    (xs, View::rows(rows, inputs, inputs)),
                    (w, View::rows(inputs, outputs, outputs)),
                    bias.is_some(),
                    parallelism(),
                )
                .then_some(out)
            })
        })
        .flatten()
        .flatten();
        match out {
            Some(out) => Tensor::from_vec(out, dims, x.device()),
            None => {
                let y = x.broadcast_matmul(&self.weight_t)?;
                match bias {
                    Some(b) => y.broadcast_add(b),
                    None => Ok(y),
                }
            }
        }
    }
}

/// Queries per attention task: a task's scores (this many rows of keys) stay in cache.
const QUERY_BLOCK: usize = 64;

/// Multi-head scaled dot-product attention: `q` `[b, n, heads·d]` over keys and values
/// `[b, m, heads·d]` → `[b, n, heads·d]`. On the CPU in blocks of queries, each head's
/// scores for a block computed, softmaxed and applied at once (never all `n × m` of them), the
/// heads read and written in place (no transposes).
pub fn attention_heads(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize) -> Result<Tensor> {
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    let (b, n, width) = q.dims3()?;
    let m = k.dim(1)?;
    if heads == 0
        || !width.is_multiple_of(heads)
        || k.dims3()? != (b, m, width)
        || v.dims3()? != (b, m, width)
    {
        candle_core::bail!(
            "attention: q {:?}, k {:?}, v {:?} for {heads} heads",
            q.dims(),
            k.dims(),
            v.dims()
        );
    }
    let d = width / heads;
    let scale = (d as f32).powf(-0.5);
    let out = with_cpu_f32(&q, |qs| {
        with_cpu_f32(&k, |ks| {
            with_cpu_f32(&v, |vs| {
                let mut out = vec![0f32; b * n * width];
                let fine = out.par_chunks_mut(n * width).enumerate().all(|(bi, out)| {
                    let (qs, ks, vs) = (
                        &qs[bi * n * width..],
                        &ks[bi * m * width..],
                        &vs[bi * m * width..],
                    );
                    out.par_chunks_mut(QUERY_BLOCK * width)
                        .enumerate()
                        .all(|(block, out)| {
                            let rows = out.len() / width;
                            let qs = &qs[block * QUERY_BLOCK * width..];
                            let mut scores = vec![0f32; rows * m];
                            let mut sums = vec![0f32; rows];
                            (0..heads).all(|h| {
                                let at = h * d;
                                let done = matmul(
                                    (&mut scores, View::rows(rows, m, m)),
                                    (&qs[at..], View::rows(rows, d, width)),
                                    (&ks[at..], View::transposed(d, m, width)),
                                    false,
                                    gemm::Parallelism::None,
                                );
                                for (row, total) in scores.chunks_mut(m).zip(&mut sums) {
                                    *total = exp_shifted(row, scale);
                                }
                                let done = done
                                    && matmul(
                                        (&mut out[at..], View::rows(rows, d, width)),
                                        (&scores, View::rows(rows, m, m)),
                                        (&vs[at..], View::rows(m, d, width)),
                                        false,
                                        gemm::Parallelism::None,
                                    );
                                // the softmax's division, on the d outputs instead of m scores
                                for (row, total) in out.chunks_mut(width).zip(&sums) {
                                    let inv = 1.0 / total;
                                    row[at..at + d].iter_mut().for_each(|v| *v *= inv);
                                }
                                done
                            })
                        })
                });
                fine.then_some(out)
            })
        })
    })
    .flatten()
    .flatten();
    match out {
        Some(Some(out)) => Tensor::from_vec(out, (b, n, width), q.device()),
        Some(None) => candle_core::bail!("attention: the shapes did not fit the kernel"),
        None => {
            // other devices: heads as a batch dimension
            let split = |t: &Tensor, len: usize| {
                t.reshape((b, len, heads, d))?.transpose(1, 2)?.contiguous()
            };
            let (qh, kh, vh) = (split(&q, n)?, split(&k, m)?, split(&v, m)?);
            let scores = (qh.matmul(&kh.t()?)? * f64::from(scale))?;
            let mixed = candle_nn::ops::softmax_last_dim(&scores)?.matmul(&vh)?;
            mixed.transpose(1, 2)?.reshape((b, n, width))
        }
    }
}

/// `row = exp((row − max row) · scale)`, in place; returns the row's sum (the softmax's
/// denominator, applied to the product's outputs).
fn exp_shifted(row: &mut [f32], scale: f32) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let tail = chunks
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    for c in chunks {
        for (l, &v) in lanes.iter_mut().zip(c) {
            *l = if v > *l { v } else { *l };
        }
    }
    let max = lanes.iter().fold(tail, |a, &b| a.max(b));
    let shift = -max * scale;
    row.iter_mut()
        .for_each(|v| *v = exp(v.mul_add(scale, shift)));
    sum(row)
}

/// diffusers' GEGLU after its projection: the last dimension's first half times the GELU
/// (exact, erf) of its second half.
pub fn geglu(projected: &Tensor) -> Result<Tensor> {
    let projected = projected.contiguous()?;
    let mut dims = projected.dims().to_vec();
    let Some(last) = dims.last_mut() else {
        candle_core::bail!("geglu: a scalar");
    };
    let half = *last / 2;
    *last = half;
    let out = with_cpu_f32(&projected, |xs| {
        let mut out = vec![0f32; xs.len() / 2];
        out.par_chunks_mut(half.max(1) * 64)
            .zip(xs.par_chunks(2 * half.max(1) * 64))
            .for_each(|(out, xs)| {
                for (out, row) in out.chunks_mut(half).zip(xs.chunks(2 * half)) {
                    let (hidden, gate) = row.split_at(half);
                    for ((o, &h), &g) in out.iter_mut().zip(hidden).zip(gate) {
                        *o = h * crate::embed::cpu_bert::kernels::gelu_erf(g);
                    }
                }
            });
        out
    });
    match out {
        Some(out) => Tensor::from_vec(out, dims, projected.device()),
        None => {
            let hidden = projected.narrow(D::Minus1, 0, half)?;
            hidden * projected.narrow(D::Minus1, half, half)?.gelu_erf()?
        }
    }
}
