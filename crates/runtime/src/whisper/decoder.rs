//! Whisper's text decoder, one token a step against a key/value cache, in plain f32 arithmetic.
//!
//! candle-transformers' decoder re-runs the whole token prefix at every step (O(n²) token
//! passes a window), and a one-row matmul through candle goes down gemm's generic
//! matrix-vector path with the weights read transposed. Here each step is a handful of
//! matrix-vector products over weights kept as stored (`[out, in]` rows: each output one
//! contiguous dot product, 32 lanes wide, rows split over the cores when the matrix is large),
//! attention over the cached keys and values per head, and the logits as the embedding's rows
//! dotted with the last hidden state. The audio's cross-attention keys and values are computed
//! once per window (one batched candle matmul). Weights are the checkpoint's `model.decoder.*`
//! (either layout once converted).

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::whisper::Config;
use rayon::prelude::*;

use crate::embed::cpu_bert::kernels::gelu_erf;

/// `Σ a·b`, in 32 independent lanes (vectorised; a reordered sum, as every BLAS does).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 32];
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..32 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Weight rows in the checkpoint's precision: a 16-bit checkpoint's stay 16-bit (each step
/// reads every weight once: decoding is bound by memory bandwidth, and half the bytes is
/// nearly half the time), widened to f32 a row at a time.
enum Weights {
    F32(Vec<f32>),
    F16(Vec<half::f16>),
}

/// A linear layer as stored: `[out, in]` rows and the bias.
struct Dense {
    w: Weights,
    b: Vec<f32>,
    inp: usize,
}

/// Above this many weights a product is split over the cores.
const PARALLEL: usize = 1 << 17;

impl Dense {
    fn load(vb: &VarBuilder, out: usize, inp: usize, bias: bool, half: bool) -> Result<Self> {
        let flat = |t: Tensor| t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>();
        let w = vb.get((out, inp), "weight")?;
        Ok(Dense {
            w: if half {
                Weights::F16(
                    w.to_dtype(DType::F16)?
                        .flatten_all()?
                        .to_vec1::<half::f16>()?,
                )
            } else {
                Weights::F32(flat(w)?)
            },
            b: if bias {
                flat(vb.get(out, "bias")?)?
            } else {
                vec![0.0; out]
            },
            inp,
        })
    }

    fn apply(&self, x: &[f32], y: &mut [f32]) {
        let parallel = y.len() * self.inp >= PARALLEL;
        match &self.w {
            Weights::F32(w) => {
                let row = |(o, (y, w)): (usize, (&mut f32, &[f32]))| *y = self.b[o] + dot(w, x);
                if parallel {
                    y.par_iter_mut()
                        .zip(w.par_chunks(self.inp))
                        .enumerate()
                        .for_each(row);
                } else {
                    y.iter_mut()
                        .zip(w.chunks(self.inp))
                        .enumerate()
                        .for_each(row);
                }
            }
            Weights::F16(w) => {
                use half::slice::HalfFloatSliceExt as _;
                let rows = |(o, (y, w)): (usize, (&mut [f32], &[half::f16]))| {
                    let mut wide = vec![0f32; self.inp];
                    for (i, (y, w)) in y.iter_mut().zip(w.chunks(self.inp)).enumerate() {
                        w.convert_to_f32_slice(&mut wide);
                        *y = self.b[o * 64 + i] + dot(&wide, x);
                    }
                };
                // 64 rows a task: one widening buffer each
                let block = 64 * self.inp;
                if parallel {
                    y.par_chunks_mut(64)
                        .zip(w.par_chunks(block))
                        .enumerate()
                        .for_each(rows);
                } else {
                    y.chunks_mut(64)
                        .zip(w.chunks(block))
                        .enumerate()
                        .for_each(rows);
                }
            }
        }
    }

    /// One row, widened (the token embedding's).
    fn row(&self, i: usize) -> Option<Vec<f32>> {
        let range = i * self.inp..(i + 1) * self.inp;
        match &self.w {
            Weights::F32(w) => w.get(range).map(<[f32]>::to_vec),
            Weights::F16(w) => w.get(range).map(|r| r.iter().map(|h| h.to_f32()).collect()),
        }
    }

    fn outputs(&self) -> usize {
        self.b.len()
    }
}

struct Norm {
    g: Vec<f32>,
    b: Vec<f32>,
}

impl Norm {
    fn load(vb: &VarBuilder, d: usize) -> Result<Self> {
        let flat = |t: Tensor| t.to_dtype(DType::F32)?.to_vec1::<f32>();
        Ok(Norm {
            g: flat(vb.get(d, "weight")?)?,
            b: flat(vb.get(d, "bias")?)?,
        })
    }

    fn apply(&self, x: &[f32], out: &mut [f32]) {
        let n = x.len() as f32;
        let mean = x.iter().sum::<f32>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
        let inv = 1.0 / (var + 1e-5).sqrt();
        for (((o, v), g), b) in out.iter_mut().zip(x).zip(&self.g).zip(&self.b) {
            *o = (v - mean) * inv * g + b;
        }
    }
}

/// Keys or values per head: `[heads][t][head_dim]`, each head's rows contiguous.
struct Rows {
    heads: Vec<Vec<f32>>,
}

impl Rows {
    fn new(heads: usize) -> Self {
        Rows {
            heads: vec![Vec::new(); heads],
        }
    }

    /// Appends one position (`heads·head_dim` values, head after head).
    fn push(&mut self, x: &[f32]) {
        let hd = x.len() / self.heads.len();
        for (h, rows) in self.heads.iter_mut().enumerate() {
            rows.extend_from_slice(&x[h * hd..(h + 1) * hd]);
        }
    }

    fn clear(&mut self) {
        self.heads.iter_mut().for_each(Vec::clear);
    }
}

/// `out` (head after head) = softmax(q·kᵀ/√d)·v for each head.
fn attend(q: &[f32], k: &Rows, v: &Rows, out: &mut [f32]) {
    let heads = k.heads.len();
    let hd = q.len() / heads;
    let scale = (hd as f32).powf(-0.5);
    let one = |(h, out): (usize, &mut [f32])| {
        let (q, keys, values) = (&q[h * hd..(h + 1) * hd], &k.heads[h], &v.heads[h]);
        let mut w: Vec<f32> = keys.chunks(hd).map(|k| dot(q, k) * scale).collect();
        let max = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0;
        for x in &mut w {
            *x = (*x - max).exp();
            sum += *x;
        }
        out.iter_mut().for_each(|o| *o = 0.0);
        for (p, v) in w.iter().zip(values.chunks(hd)) {
            let p = p / sum;
            for (o, v) in out.iter_mut().zip(v) {
                *o += p * v;
            }
        }
    };
    if k.heads[0].len() >= 256 * hd {
        out.par_chunks_mut(hd).enumerate().for_each(one);
    } else {
        out.chunks_mut(hd).enumerate().for_each(one);
    }
}

struct Layer {
    ln1: Norm,
    q: Dense,
    k: Dense,
    v: Dense,
    o: Dense,
    ln2: Norm,
    cq: Dense,
    ck: Dense,
    cv: Dense,
    co: Dense,
    ln3: Norm,
    fc1: Dense,
    fc2: Dense,
    keys: Rows,
    values: Rows,
    audio_keys: Rows,
    audio_values: Rows,
}

/// Cross-attention scores kept for alignment: `[head][query][frame]`.
pub type Scores = Vec<Vec<Vec<f32>>>;

pub struct Decoder {
    embedding: Dense,
    positions: Vec<f32>,
    layers: Vec<Layer>,
    ln: Norm,
    d: usize,
    /// Tokens already in the cache.
    len: usize,
    /// The last token's hidden state (before the final norm).
    last: Vec<f32>,
}

impl Decoder {
    /// `vb`: the weights' root (`model.decoder` is found under it).
    /// `half`: the checkpoint's weights are 16-bit (kept so; see [`Weights`]).
    pub fn load(vb: &VarBuilder, c: &Config, half: bool) -> Result<Self> {
        let vb = vb.pp("model.decoder");
        let (d, heads) = (c.d_model, c.decoder_attention_heads);
        let layers = (0..c.decoder_layers)
            .map(|i| {
                let l = vb.pp(format!("layers.{i}"));
                let (a, x) = (l.pp("self_attn"), l.pp("encoder_attn"));
                Ok(Layer {
                    ln1: Norm::load(&l.pp("self_attn_layer_norm"), d)?,
                    q: Dense::load(&a.pp("q_proj"), d, d, true, half)?,
                    k: Dense::load(&a.pp("k_proj"), d, d, false, half)?,
                    v: Dense::load(&a.pp("v_proj"), d, d, true, half)?,
                    o: Dense::load(&a.pp("out_proj"), d, d, true, half)?,
                    ln2: Norm::load(&l.pp("encoder_attn_layer_norm"), d)?,
                    cq: Dense::load(&x.pp("q_proj"), d, d, true, half)?,
                    ck: Dense::load(&x.pp("k_proj"), d, d, false, half)?,
                    cv: Dense::load(&x.pp("v_proj"), d, d, true, half)?,
                    co: Dense::load(&x.pp("out_proj"), d, d, true, half)?,
                    ln3: Norm::load(&l.pp("final_layer_norm"), d)?,
                    fc1: Dense::load(&l.pp("fc1"), 4 * d, d, true, half)?,
                    fc2: Dense::load(&l.pp("fc2"), d, 4 * d, true, half)?,
                    keys: Rows::new(heads),
                    values: Rows::new(heads),
                    audio_keys: Rows::new(heads),
                    audio_values: Rows::new(heads),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut embedding = Dense::load(&vb.pp("embed_tokens"), c.vocab_size, d, false, half)?;
        embedding.b = vec![0.0; c.vocab_size];
        Ok(Decoder {
            embedding,
            positions: vb
                .get((c.max_target_positions, d), "embed_positions.weight")?
                .flatten_all()?
                .to_vec1::<f32>()?,
            layers,
            ln: Norm::load(&vb.pp("layer_norm"), d)?,
            d,
            len: 0,
            last: vec![0.0; d],
        })
    }

    /// A new window: the audio's keys and values (`features`: `[1, frames, d]`) computed once,
    /// the token cache emptied.
    pub fn start(&mut self, features: &Tensor) -> Result<()> {
        let frames = features.squeeze(0)?;
        for l in &mut self.layers {
            for (dense, rows) in [(&l.ck, &mut l.audio_keys), (&l.cv, &mut l.audio_values)] {
                let w = match &dense.w {
                    Weights::F32(w) => {
                        Tensor::from_slice(w, (dense.outputs(), dense.inp), frames.device())?
                    }
                    Weights::F16(w) => {
                        Tensor::from_slice(w, (dense.outputs(), dense.inp), frames.device())?
                            .to_dtype(DType::F32)?
                    }
                };
                let b = Tensor::from_slice(&dense.b, dense.outputs(), frames.device())?;
                let projected = frames.matmul(&w.t()?)?.broadcast_add(&b)?;
                let flat = projected.flatten_all()?.to_vec1::<f32>()?;
                rows.clear();
                for position in flat.chunks(dense.outputs()) {
                    rows.push(position);
                }
            }
        }
        self.restart();
        Ok(())
    }

    /// The same audio, a new token sequence.
    pub fn restart(&mut self) {
        for l in &mut self.layers {
            l.keys.clear();
            l.values.clear();
        }
        self.len = 0;
    }

    /// Tokens the decoder takes in one window.
    pub fn max_tokens(&self) -> usize {
        self.positions.len() / self.d
    }

    /// Runs `tokens` after those already cached; the logits after the last one.
    pub fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        self.run(tokens, None)?;
        let mut y = vec![0f32; self.d];
        self.ln.apply(&self.last, &mut y);
        let mut logits = vec![0f32; self.embedding.outputs()];
        self.embedding.apply(&y, &mut logits);
        Ok(logits)
    }

    /// Runs `prefix`, then `tokens`, keeping for each query from the prefix's last token on the
    /// cross-attention scores (scaled, before the softmax) of `heads` (layer, head):
    /// `[head][query][frame]`. The cache is left holding the whole sequence.
    pub fn cross_scores(
        &mut self,
        prefix: &[u32],
        tokens: &[u32],
        heads: &[(usize, usize)],
    ) -> Result<Scores> {
        self.restart();
        let Some((&last, before)) = prefix.split_last() else {
            candle_core::bail!("no prefix to align after")
        };
        self.run(before, None)?;
        let mut kept = vec![Vec::with_capacity(tokens.len() + 1); heads.len()];
        for &t in std::iter::once(&last).chain(tokens) {
            self.run(&[t], Some((heads, &mut kept)))?;
        }
        Ok(kept)
    }

    /// The layers over `tokens`; `keep`: heads whose cross-attention scores to keep.
    fn run(
        &mut self,
        tokens: &[u32],
        mut keep: Option<(&[(usize, usize)], &mut Scores)>,
    ) -> Result<()> {
        let d = self.d;
        if self.len + tokens.len() > self.max_tokens() {
            candle_core::bail!(
                "more tokens than the decoder's {} positions",
                self.max_tokens()
            );
        }
        let mut x = vec![0f32; d];
        let (mut y, mut a, mut b) = (vec![0f32; d], vec![0f32; d], vec![0f32; d]);
        let mut wide = vec![0f32; 4 * d];
        let heads = self.layers.first().map_or(1, |l| l.keys.heads.len());
        for &token in tokens {
            let row = self.embedding.row(token as usize).ok_or_else(|| {
                candle_core::Error::Msg(format!("token {token} is not in the vocabulary"))
            })?;
            let pos = &self.positions[self.len * d..(self.len + 1) * d];
            for ((x, e), p) in x.iter_mut().zip(&row).zip(pos) {
                *x = e + p;
            }
            for (li, l) in self.layers.iter_mut().enumerate() {
                // self-attention over the cache and this token
                l.ln1.apply(&x, &mut y);
                l.q.apply(&y, &mut a);
                l.k.apply(&y, &mut b);
                l.keys.push(&b);
                l.v.apply(&y, &mut b);
                l.values.push(&b);
                attend(&a, &l.keys, &l.values, &mut b);
                l.o.apply(&b, &mut y);
                x.iter_mut().zip(&y).for_each(|(x, y)| *x += y);
                // cross-attention over the audio
                l.ln2.apply(&x, &mut y);
                l.cq.apply(&y, &mut a);
                if let Some((wanted, kept)) = keep.as_mut() {
                    let hd = d / heads;
                    let scale = (hd as f32).powf(-0.5);
                    for (slot, _) in wanted.iter().enumerate().filter(|(_, w)| w.0 == li) {
                        let h = wanted[slot].1;
                        let q = &a[h * hd..(h + 1) * hd];
                        let scores = l.audio_keys.heads[h]
                            .chunks(hd)
                            .map(|k| dot(q, k) * scale)
                            .collect();
                        kept[slot].push(scores);
                    }
                }
                attend(&a, &l.audio_keys, &l.audio_values, &mut b);
                l.co.apply(&b, &mut y);
                x.iter_mut().zip(&y).for_each(|(x, y)| *x += y);
                // the MLP
                l.ln3.apply(&x, &mut y);
                l.fc1.apply(&y, &mut wide);
                wide.iter_mut().for_each(|v| *v = gelu_erf(*v));
                l.fc2.apply(&wide, &mut y);
                x.iter_mut().zip(&y).for_each(|(x, y)| *x += y);
            }
            self.len += 1;
        }
        self.last = x;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_the_plain_sum_for_every_length() {
        for n in [0, 1, 31, 32, 33, 100] {
            let a: Vec<f32> = (0..n).map(|i| i as f32 * 0.5).collect();
            let b: Vec<f32> = (0..n).map(|i| 1.0 - i as f32 * 0.25).collect();
            let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!(
                (dot(&a, &b) - plain).abs() <= 1e-3 * plain.abs().max(1.0),
                "{n}"
            );
        }
    }
}
