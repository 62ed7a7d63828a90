//! The CPU kernels of the BERT forward pass, on contiguous row-major f32 slices: the matmul
//! (gemm, accumulating into rows that already hold the bias — or bias plus residual — so neither
//! needs its own pass nor the output a zeroing), and single passes, parallel over rows, for the
//! activation, the layer norm, attention and the embedding sum.

use rayon::prelude::*;

use crate::matmul::{matmul, parallelism, View};

/// Rows handed to one rayon task (one row is too little work).
const ROWS_PER_TASK: usize = 8;

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

/// A linear layer: `[in, out]` row-major weights (transposed from the checkpoint's `[out, in]`
/// once, at load) and the bias.
pub struct Linear {
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

impl Linear {
    pub fn outputs(&self) -> usize {
        self.bias.len()
    }

    /// `out = x·W + bias`, a row of `out` for each row of `x`.
    pub fn forward(&self, x: &[f32], out: &mut [f32]) -> Result<(), String> {
        rows_par(out, self.outputs()).for_each(|rows| {
            for row in rows.chunks_mut(self.outputs()) {
                row.copy_from_slice(&self.bias);
            }
        });
        self.accumulate(x, out)
    }

    /// `out = norm(x·W + bias + residual)`.
    pub fn forward_residual_norm(
        &self,
        x: &[f32],
        residual: &[f32],
        norm: &Norm,
        out: &mut [f32],
    ) -> Result<(), String> {
        let width = self.outputs();
        if residual.len() != out.len() {
            return Err("the residual and the output differ in size".into());
        }
        rows_par(out, width)
            .zip(residual.par_chunks(width * ROWS_PER_TASK))
            .for_each(|(rows, res)| {
                for (row, res) in rows.chunks_mut(width).zip(res.chunks(width)) {
                    for ((v, b), r) in row.iter_mut().zip(&self.bias).zip(res) {
                        *v = b + r;
                    }
                }
            });
        self.accumulate(x, out)?;
        rows_par(out, width).for_each(|rows| rows.chunks_mut(width).for_each(|r| norm.apply(r)));
        Ok(())
    }

    /// `out += x·W`.
    fn accumulate(&self, x: &[f32], out: &mut [f32]) -> Result<(), String> {
        let (n, k) = (self.outputs(), self.weight.len() / self.outputs().max(1));
        let m = out.len() / n.max(1);
        if n == 0 || k * n != self.weight.len() || m * n != out.len() || x.len() != m * k {
            return Err(format!(
                "matmul shapes: x {} for {m}×{k}, weight {} for {k}×{n}, out {}",
                x.len(),
                self.weight.len(),
                out.len()
            ));
        }
        let done = matmul(
            (out, View::rows(m, n, n)),
            (x, View::rows(m, k, k)),
            (&self.weight, View::rows(k, n, n)),
            true,
            parallelism(),
        );
        done.then_some(())
            .ok_or_else(|| "matmul: views outside their slices".into())
    }
}

fn rows_par(data: &mut [f32], width: usize) -> rayon::slice::ChunksMut<'_, f32> {
    data.par_chunks_mut(width.max(1) * ROWS_PER_TASK)
}

/// `x = act(x)`, in place.
pub fn activate(x: &mut [f32], width: usize, act: Act) {
    rows_par(x, width).for_each(|rows| match act {
        Act::Gelu => rows.iter_mut().for_each(|v| *v = gelu_erf(*v)),
        Act::GeluTanh => rows.iter_mut().for_each(|v| *v = gelu_tanh(*v)),
        Act::Relu => rows.iter_mut().for_each(|v| *v = v.max(0.0)),
    });
}

/// The embedding layer: `out[n] = norm(word[ids[n]] + position[offset + n % seq] +
/// token_type[types[n]])`.
pub struct Embeddings {
    /// The first position's row (RoBERTa's start after the padding token's).
    pub position_offset: usize,
    pub word: Vec<f32>,
    pub position: Vec<f32>,
    pub token_type: Vec<f32>,
    pub norm: Norm,
}

impl Embeddings {
    pub fn width(&self) -> usize {
        self.norm.gamma.len()
    }

    /// Token ids must be in the vocabulary and types in the type table (checked: an error names
    /// the first that is not); `seq` must fit the position table.
    pub fn forward(
        &self,
        ids: &[u32],
        types: &[u32],
        seq: usize,
        out: &mut [f32],
    ) -> Result<(), String> {
        let w = self.width();
        if (self.position_offset + seq) * w > self.position.len() {
            return Err(format!("{seq} tokens are more than the model's positions"));
        }
        let row_of = |table: &[f32], i: u32| -> Option<std::ops::Range<usize>> {
            let at = i as usize * w;
            (at + w <= table.len()).then_some(at..at + w)
        };
        for (n, row) in out.chunks_mut(w).enumerate() {
            let (id, ty) = (ids[n], types[n]);
            let word =
                row_of(&self.word, id).ok_or(format!("token id {id} is not in the vocabulary"))?;
            let tt =
                row_of(&self.token_type, ty).ok_or(format!("token type {ty} is out of range"))?;
            let pos = &self.position[(self.position_offset + n % seq) * w..][..w];
            for (((v, a), p), t) in row
                .iter_mut()
                .zip(&self.word[word])
                .zip(pos)
                .zip(&self.token_type[tt])
            {
                *v = a + p + t;
            }
            self.norm.apply(row);
        }
        Ok(())
    }
}

/// Self-attention of all heads: rows of `[q | k | v]` (`3·hidden` wide, `seq` rows a text) in,
/// the context rows (`hidden` wide) out. Padding positions (index ≥ the text's length) are
/// neither attended to nor computed (their rows are zero; pooling never reads them).
pub fn attention(qkv: &[f32], heads: usize, seq: usize, lens: &[usize], out: &mut [f32]) {
    let hidden = out.len() / (seq * lens.len()).max(1);
    let dim = hidden / heads.max(1);
    let scale = 1.0 / (dim as f32).sqrt();
    out.par_chunks_mut(seq * hidden)
        .zip(qkv.par_chunks(seq * 3 * hidden))
        .zip(lens.par_iter())
        .for_each(|((out, qkv), &len)| {
            out.fill(0.0);
            let len = len.min(seq);
            let mut scores = vec![0f32; len];
            for h in 0..heads {
                let q_at = h * dim;
                let (k_at, v_at) = (hidden + q_at, 2 * hidden + q_at);
                for i in 0..len {
                    let q = &qkv[i * 3 * hidden + q_at..][..dim];
                    let mut max = f32::NEG_INFINITY;
                    for (j, s) in scores.iter_mut().enumerate() {
                        *s = dot(q, &qkv[j * 3 * hidden + k_at..][..dim]) * scale;
                        max = max.max(*s);
                    }
                    let mut sum = 0.0;
                    for s in scores.iter_mut() {
                        *s = (*s - max).exp();
                        sum += *s;
                    }
                    let ctx = &mut out[i * hidden + q_at..][..dim];
                    for (j, s) in scores.iter().enumerate() {
                        let w = s / sum;
                        for (c, v) in ctx.iter_mut().zip(&qkv[j * 3 * hidden + v_at..][..dim]) {
                            *c += w * v;
                        }
                    }
                }
            }
        });
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
    fn erf_matches_an_f64_series_within_1e6() {
        let mut worst = 0f64;
        for i in -60_000..=60_000 {
            let x = i as f64 / 10_000.0;
            let err = (erf(x as f32) as f64 - reference_erf(x)).abs();
            worst = worst.max(err);
        }
        assert!(worst < 1e-6, "worst error {worst}");
        assert!((erf(10.0) - 1.0).abs() < 1e-6);
        assert!((erf(-10.0) + 1.0).abs() < 1e-6);
    }

    /// erf by its Maclaurin series, or erfc by a continued fraction, in f64.
    fn reference_erf(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let (mut term, mut sum, mut n) = (x, x, 0f64);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -x * x / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
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
        // one head of width 2, two texts of 2 rows, the second with one real token
        let qkv: Vec<f32> = vec![
            1., 0., 1., 0., 1., 2., //
            1., 0., 1., 0., 3., 4., //
            0., 0., 0., 0., 5., 6., //
            9., 9., 9., 9., 9., 9., // padding: ignored
        ];
        let mut out = vec![7f32; 8];
        attention(&qkv, 1, 2, &[2, 1], &mut out);
        // equal scores → the mean of the two values
        assert_eq!(out, [2., 3., 2., 3., 5., 6., 0., 0.]);
    }

    #[test]
    fn linear_adds_bias_and_residual_then_normalises() {
        // x: 2×3, W: 3×2
        let lin = Linear {
            weight: vec![1., 0., 0., 1., 1., 1.],
            bias: vec![0.5, -0.5],
        };
        let x = [1., 2., 3., 4., 5., 6.];
        let mut out = vec![f32::NAN; 4];
        lin.forward(&x, &mut out).unwrap();
        assert_eq!(out, [4.5, 4.5, 10.5, 10.5]);
        let norm = Norm {
            gamma: vec![2., 1.],
            beta: vec![0., 3.],
            eps: 1e-9,
        };
        lin.forward_residual_norm(&x, &[1., 0., 0., 0.], &norm, &mut out)
            .unwrap();
        // before the norm: [5.5, 4.5] → [1, -1] → ×γ+β [2, 2]; [10.5, 10.5] → [0, 0] → [0, 3]
        let want = [2., 2., 0., 3.];
        assert!(
            out.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-4),
            "{out:?}"
        );
        assert!(lin.forward(&x[..4], &mut out).is_err());
    }
}
