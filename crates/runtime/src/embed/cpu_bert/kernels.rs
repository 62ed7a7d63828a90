//! Fused CPU kernels of the BERT forward pass, as candle custom ops over contiguous row-major f32
//! data: one pass (parallel over rows) where candle-transformers makes three to six, each with
//! its own allocation and thread barrier, and an erf that vectorises instead of libm's scalar one.

use candle_core::{bail, CpuStorage, InplaceOp1, InplaceOp2, Layout, Result};
use rayon::prelude::*;

/// The activation between the two feed-forward matmuls (`hidden_act` in config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    /// `gelu`: x·Φ(x) with the exact erf
    Gelu,
    /// `gelu_new` / `gelu_pytorch_tanh`: the tanh approximation
    GeluTanh,
    Relu,
}

impl Act {
    pub fn parse(name: &str) -> Option<Act> {
        match name {
            "gelu" => Some(Act::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Act::GeluTanh),
            "relu" => Some(Act::Relu),
            _ => None,
        }
    }
}

/// A layer norm's scale and shift.
pub struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub eps: f32,
}

impl Norm {
    /// Normalises `row` in place.
    fn apply(&self, row: &mut [f32]) {
        let n = row.len() as f32;
        let mean = row.iter().sum::<f32>() / n;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + self.eps).sqrt();
        for ((v, g), b) in row.iter_mut().zip(&self.gamma).zip(&self.beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout) -> Result<&'a [f32]> {
    let (CpuStorage::F32(data), Some((from, to))) = (storage, layout.contiguous_offsets()) else {
        bail!("fused BERT kernels take contiguous f32 tensors")
    };
    Ok(&data[from..to])
}

fn contiguous_mut<'a>(storage: &'a mut CpuStorage, layout: &Layout) -> Result<&'a mut [f32]> {
    let (CpuStorage::F32(data), Some((from, to))) = (storage, layout.contiguous_offsets()) else {
        bail!("fused BERT kernels take contiguous f32 tensors")
    };
    Ok(&mut data[from..to])
}

/// Rows of `width` in parallel, a few at a time (one row is too little work per task).
fn rows_mut(data: &mut [f32], width: usize) -> rayon::slice::ChunksMut<'_, f32> {
    data.par_chunks_mut(width * 8)
}

/// `x = act(x + bias)` (or just `x + bias` without an activation), in place.
pub struct BiasAct<'a> {
    pub bias: &'a [f32],
    pub act: Option<Act>,
}

impl InplaceOp1 for BiasAct<'_> {
    fn name(&self) -> &'static str {
        "bert-bias-act"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let width = self.bias.len();
        let data = contiguous_mut(storage, layout)?;
        if width == 0 || data.len() % width != 0 {
            bail!("bias of {width} does not fit rows of {}", data.len())
        }
        rows_mut(data, width).for_each(|rows| {
            for row in rows.chunks_mut(width) {
                for (v, b) in row.iter_mut().zip(self.bias) {
                    *v += b;
                }
                match self.act {
                    None => {}
                    Some(Act::Gelu) => row.iter_mut().for_each(|v| *v = gelu_erf(*v)),
                    Some(Act::GeluTanh) => row.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
                    Some(Act::Relu) => row.iter_mut().for_each(|v| *v = v.max(0.0)),
                }
            }
        });
        Ok(())
    }
}

/// `x = norm(x + bias + residual)`, in place (the residual is the op's one source).
pub struct BiasResidualNorm<'a> {
    pub bias: &'a [f32],
    pub norm: &'a Norm,
}

impl InplaceOp2 for BiasResidualNorm<'_> {
    fn name(&self) -> &'static str {
        "bert-bias-residual-norm"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        src: &CpuStorage,
        src_l: &Layout,
    ) -> Result<()> {
        let width = self.bias.len();
        let residual = contiguous(src, src_l)?;
        let data = contiguous_mut(dst, dst_l)?;
        if width == 0 || data.len() != residual.len() || data.len() % width != 0 {
            bail!("residual and output shapes differ")
        }
        rows_mut(data, width)
            .zip(residual.par_chunks(width * 8))
            .for_each(|(rows, res)| {
                for (row, res) in rows.chunks_mut(width).zip(res.chunks(width)) {
                    for ((v, b), r) in row.iter_mut().zip(self.bias).zip(res) {
                        *v += b + r;
                    }
                    self.norm.apply(row);
                }
            });
        Ok(())
    }
}

/// Gathered word vectors `x` (one row per token, `seq` tokens a text) become
/// `norm(x + position[t] + token_type[type])`, in place.
pub struct EmbedNorm<'a> {
    pub seq: usize,
    pub types: &'a [u32],
    pub position: &'a [f32],
    pub token_type: &'a [f32],
    pub norm: &'a Norm,
}

impl InplaceOp1 for EmbedNorm<'_> {
    fn name(&self) -> &'static str {
        "bert-embed-norm"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let width = self.norm.gamma.len();
        let data = contiguous_mut(storage, layout)?;
        let rows = data.len() / width.max(1);
        if width == 0 || rows != self.types.len() || self.seq == 0 {
            bail!("embedding rows do not match the token types")
        }
        if self.seq * width > self.position.len() {
            bail!("sequence longer than the model's position table")
        }
        for (n, row) in data.chunks_mut(width).enumerate() {
            let t = n % self.seq;
            let ty = self.types[n] as usize;
            let Some(tt) = self.token_type.get(ty * width..(ty + 1) * width) else {
                bail!("token type {ty} out of range")
            };
            let pos = &self.position[t * width..(t + 1) * width];
            for ((v, p), y) in row.iter_mut().zip(pos).zip(tt) {
                *v += p + y;
            }
            self.norm.apply(row);
        }
        Ok(())
    }
}

/// Self-attention of all heads: rows of `[q | k | v]` (`3·hidden` wide, `seq` rows a text) in,
/// the context rows (`hidden` wide) out. Padding positions (index ≥ the text's length) are
/// neither attended to nor computed (their rows stay zero; pooling never reads them).
pub struct Attention<'a> {
    pub heads: usize,
    pub seq: usize,
    pub lens: &'a [usize],
}

impl candle_core::CustomOp1 for Attention<'_> {
    fn name(&self) -> &'static str {
        "bert-attention"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> Result<(CpuStorage, candle_core::Shape)> {
        let qkv = contiguous(storage, layout)?;
        let (seq, heads) = (self.seq, self.heads);
        let texts = self.lens.len();
        let hidden = qkv.len() / (3 * seq * texts).max(1);
        if seq == 0
            || hidden == 0
            || !hidden.is_multiple_of(heads)
            || qkv.len() != texts * seq * 3 * hidden
        {
            bail!("attention input does not have the expected shape")
        }
        let dim = hidden / heads;
        let scale = 1.0 / (dim as f32).sqrt();
        let mut out = vec![0f32; texts * seq * hidden];
        out.par_chunks_mut(seq * hidden)
            .zip(qkv.par_chunks(seq * 3 * hidden))
            .zip(self.lens.par_iter())
            .for_each(|((out, qkv), &len)| {
                let len = len.min(seq);
                let mut scores = vec![0f32; len];
                for h in 0..heads {
                    let q_at = h * dim;
                    let (k_at, v_at) = (hidden + q_at, 2 * hidden + q_at);
                    for i in 0..len {
                        let q = &qkv[i * 3 * hidden + q_at..][..dim];
                        let mut max = f32::NEG_INFINITY;
                        for (j, s) in scores.iter_mut().enumerate() {
                            let k = &qkv[j * 3 * hidden + k_at..][..dim];
                            *s = dot(q, k) * scale;
                            max = max.max(*s);
                        }
                        let mut sum = 0.0;
                        for s in scores.iter_mut() {
                            *s = (*s - max).exp();
                            sum += *s;
                        }
                        let ctx = &mut out[i * hidden + q_at..][..dim];
                        for (j, s) in scores.iter().enumerate() {
                            let v = &qkv[j * 3 * hidden + v_at..][..dim];
                            let w = s / sum;
                            for (c, v) in ctx.iter_mut().zip(v) {
                                *c += w * v;
                            }
                        }
                    }
                }
            });
        Ok((
            CpuStorage::F32(out),
            candle_core::Shape::from((texts * seq, hidden)),
        ))
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // eight partial sums: the compiler keeps them in one vector register
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// x·Φ(x) = x/2·(1 + erf(x/√2)).
#[inline]
pub fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[inline]
fn gelu_tanh(x: f32) -> f32 {
    const C: f32 = 0.797_884_6; // √(2/π)
    0.5 * x * (1.0 + (C * (x + 0.044_715 * x * x * x)).tanh())
}

/// erf as a rational function of x (odd degree-13 numerator, even degree-8 denominator, the
/// form Eigen and XLA use for f32): no branches, no table, so loops over it vectorise; absolute
/// error below 1e-6 (tested against an f64 series). |x| ≥ 4 gives ±1 within that.
#[inline]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p.mul_add(x2, 2.770_681_4e-8);
    p = p.mul_add(x2, -2.101_024e-6);
    p = p.mul_add(x2, -5.692_506_4e-5);
    p = p.mul_add(x2, -7.349_906_3e-4);
    p = p.mul_add(x2, -2.954_6e-3);
    p = p.mul_add(x2, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5_f32;
    q = q.mul_add(x2, -2.133_740_6e-4);
    q = q.mul_add(x2, -1.682_827e-3);
    q = q.mul_add(x2, -7.373_329e-3);
    q = q.mul_add(x2, -1.426_474e-2);
    x * p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_libm_within_1e6() {
        let mut worst = 0f64;
        for i in -60_000..=60_000 {
            let x = i as f64 / 10_000.0;
            let err = (erf(x as f32) as f64 - libm_erf(x)).abs();
            worst = worst.max(err);
        }
        assert!(worst < 1e-6, "worst error {worst}");
        assert!((erf(10.0) - 1.0).abs() < 1e-6);
        assert!((erf(-10.0) + 1.0).abs() < 1e-6);
    }

    /// erf by its Maclaurin series / continued fraction, in f64 (the reference).
    fn libm_erf(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let (mut term, mut sum, mut n) = (x, x, 0f64);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc by Lentz's continued fraction
            let a = x.abs();
            let mut f = 0f64;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (a + f);
            }
            let erfc = (-a * a).exp() / (std::f64::consts::PI.sqrt() * (a + f));
            (1.0 - erfc).copysign(x)
        }
    }

    #[test]
    fn attention_skips_padding_and_averages_values() {
        use candle_core::{Device, Tensor};
        // one head of width 2, two texts of 2 rows, the second with one real token
        let qkv: Vec<f32> = vec![
            1., 0., 1., 0., 1., 2., //
            1., 0., 1., 0., 3., 4., //
            0., 0., 0., 0., 5., 6., //
            9., 9., 9., 9., 9., 9., // padding: ignored
        ];
        let t = Tensor::from_vec(qkv, (4, 6), &Device::Cpu).unwrap();
        let out = t
            .apply_op1_no_bwd(&Attention {
                heads: 1,
                seq: 2,
                lens: &[2, 1],
            })
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        // equal scores → the mean of the two values
        assert_eq!(out[0], vec![2.0, 3.0]);
        assert_eq!(out[1], vec![2.0, 3.0]);
        assert_eq!(out[2], vec![5.0, 6.0]);
        assert_eq!(out[3], vec![0.0, 0.0]);
    }
}
