//! The feature-map layers Stable Diffusion's UNet and autoencoder are built from, with fast
//! CPU paths: convolution as im2col over bands of output rows (each row of the patch matrix a
//! shifted copy of an input row) and one AVX-512 gemm per band written straight into the NCHW
//! output; group normalisation in one pass per group with the SiLU that always follows fused
//! in; and the plumbing the token layers (`tokens`) share: a bounds-checked strided gemm and a
//! vectorising exp. On other devices they fall back to candle's operations. Candle's own CPU
//! convolution gathers its patches one output pixel at a time, which took most of a 512×512
//! image's time.

use candle_core::{CpuStorage, Module, Result, Storage, Tensor, D};
use candle_nn::VarBuilder;
use rayon::prelude::*;

pub(super) use crate::matmul::{matmul, parallelism, View};

/// The patch matrix of one band is kept under this many floats (16 MB; smaller bands made
/// the products slower, larger ones no faster).
const BAND_FLOATS: usize = 4 << 20;

thread_local! {
    /// The patch matrix, kept between convolutions on the model's thread: a fresh 16 MB each
    /// time cost more in page faults than the copy into it.
    static PATCHES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` over a contiguous f32 CPU tensor's values; `None` on other devices and types.
pub(super) fn with_cpu_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let (storage, layout) = t.storage_and_layout();
    match (&*storage, layout.contiguous_offsets()) {
        (Storage::Cpu(CpuStorage::F32(v)), Some((start, end))) => Some(f(&v[start..end])),
        _ => None,
    }
}

/// A square-kernel 2-D convolution (`weight` `[out, in, k, k]`, `bias` `[out]`).
pub struct Conv2d {
    weight: Tensor,
    bias: Tensor,
    k: usize,
    stride: usize,
    padding: usize,
}

impl Conv2d {
    pub fn load(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        k: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self> {
        Ok(Conv2d {
            weight: vb.get((c_out, c_in, k, k), "weight")?.contiguous()?,
            bias: vb.get(c_out, "bias")?,
            k,
            stride,
            padding,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let x = x.contiguous()?;
        let (b, c_in, h, w) = x.dims4()?;
        let c_out = self.weight.dim(0)?;
        let (k, s, p) = (self.k, self.stride, self.padding);
        if h + 2 * p < k || w + 2 * p < k {
            candle_core::bail!("conv2d: a {h}×{w} input is smaller than the {k}×{k} kernel");
        }
        let (ho, wo) = ((h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1);
        let out = with_cpu_f32(&x, |xs| {
            with_cpu_f32(&self.weight, |weight| {
                with_cpu_f32(&self.bias, |bias| {
                    let geometry = Geometry {
                        c_in,
                        h,
                        w,
                        c_out,
                        ho,
                        wo,
                        k,
                        s,
                        p,
                    };
                    let (size_in, size_out) = (c_in * h * w, c_out * ho * wo);
                    let mut out = Vec::with_capacity(b * size_out);
                    for i in 0..b {
                        geometry.image(&xs[i * size_in..][..size_in], weight, bias, &mut out);
                    }
                    out
                })
            })
        })
        .flatten()
        .flatten();
        match out {
            Some(out) => Tensor::from_vec(out, (b, c_out, ho, wo), x.device()),
            None => {
                let y = x.conv2d(&self.weight, p, s, 1, 1)?;
                y.broadcast_add(&self.bias.reshape((1, c_out, 1, 1))?)
            }
        }
    }
}

/// One convolution's sizes.
struct Geometry {
    c_in: usize,
    h: usize,
    w: usize,
    c_out: usize,
    ho: usize,
    wo: usize,
    k: usize,
    s: usize,
    p: usize,
}

impl Geometry {
    /// One image `[c_in, h, w]` → `[c_out, ho, wo]`, appended to `out`.
    fn image(&self, x: &[f32], weight: &[f32], bias: &[f32], out: &mut Vec<f32>) {
        let Geometry {
            c_in,
            c_out,
            ho,
            wo,
            k,
            s,
            p,
            ..
        } = *self;
        let plane = ho * wo;
        for &b in bias {
            out.extend(std::iter::repeat_n(b, plane));
        }
        let start = out.len() - c_out * plane;
        let out = &mut out[start..];
        let depth = c_in * k * k;
        if k == 1 && s == 1 && p == 0 {
            // a 1×1 convolution is one product with the input as it is
            self.gemm(weight, x, plane, depth, out);
            return;
        }
        let rows = (BAND_FLOATS / (depth * wo).max(1)).clamp(1, ho);
        PATCHES.with_borrow_mut(|col| self.bands(x, weight, out, rows, col));
    }

    /// The im2col bands of one image, in `col` (resized as needed).
    fn bands(&self, x: &[f32], weight: &[f32], out: &mut [f32], rows: usize, col: &mut Vec<f32>) {
        let Geometry {
            h,
            w,
            ho,
            wo,
            k,
            s,
            p,
            ..
        } = *self;
        let depth = self.c_in * k * k;
        if col.len() < depth * rows * wo {
            col.resize(depth * rows * wo, 0.0);
        }
        for y0 in (0..ho).step_by(rows) {
            let band = rows.min(ho - y0);
            let n = band * wo;
            let col = &mut col[..depth * n];
            col.par_chunks_mut(n).enumerate().for_each(|(r, dst)| {
                let (ci, ky, kx) = (r / (k * k), r / k % k, r % k);
                let channel = &x[ci * h * w..][..h * w];
                for (dy, dst) in dst.chunks_mut(wo).enumerate() {
                    let iy = (y0 + dy) * s + ky;
                    if iy < p || iy - p >= h {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &channel[(iy - p) * w..][..w];
                    if s == 1 {
                        // output x reads input x + kx − p: a shifted copy, zeros at the edges
                        let first = p.saturating_sub(kx).min(wo);
                        let last = (w + p).saturating_sub(kx).clamp(first, wo);
                        dst[..first].fill(0.0);
                        dst[first..last].copy_from_slice(&src[first + kx - p..last + kx - p]);
                        dst[last..].fill(0.0);
                    } else {
                        for (ox, v) in dst.iter_mut().enumerate() {
                            let ix = ox * s + kx;
                            *v = if ix < p || ix - p >= w {
                                0.0
                            } else {
                                src[ix - p]
                            };
                        }
                    }
                }
            });
            self.gemm(weight, col, n, depth, &mut out[y0 * wo..]);
        }
    }

    /// `out[c, j] += Σ_d weight[c, d] · col[d, j]` for `j < n`, `out`'s rows `ho·wo` apart.
    fn gemm(&self, weight: &[f32], col: &[f32], n: usize, depth: usize, out: &mut [f32]) {
        let plane = self.ho * self.wo;
        matmul(
            (out, View::rows(self.c_out, n, plane)),
            (weight, View::rows(self.c_out, depth, depth)),
            (col, View::rows(depth, n, n)),
            true,
            parallelism(),
        );
    }
}

/// Group normalisation over `[b, c, …]`, optionally followed by SiLU.
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

impl GroupNorm {
    pub fn load(vb: VarBuilder, groups: usize, channels: usize, eps: f64) -> Result<Self> {
        if groups == 0 || !channels.is_multiple_of(groups) {
            candle_core::bail!("group norm: {groups} groups do not divide {channels} channels");
        }
        Ok(GroupNorm {
            weight: vb.get(channels, "weight")?,
            bias: vb.get(channels, "bias")?,
            groups,
            eps,
        })
    }

    pub fn forward(&self, x: &Tensor, silu: bool) -> Result<Tensor> {
        let x = x.contiguous()?;
        let dims = x.dims().to_vec();
        let (b, c) = (dims[0], dims[1]);
        let spatial: usize = dims[2..].iter().product();
        let per_group = c / self.groups * spatial;
        let out = with_cpu_f32(&x, |xs| {
            with_cpu_f32(&self.weight, |gamma| {
                with_cpu_f32(&self.bias, |beta| {
                    let mut out = vec![0f32; xs.len()];
                    out.par_chunks_mut(per_group)
                        .zip(xs.par_chunks(per_group))
                        .enumerate()
                        .for_each(|(i, (dst, src))| {
                            let first = (i % self.groups) * (c / self.groups);
                            self.normalise(
                                src,
                                dst,
                                spatial,
                                &gamma[first..],
                                &beta[first..],
                                silu,
                            );
                        });
                    out
                })
            })
        })
        .flatten()
        .flatten();
        match out {
            Some(out) => Tensor::from_vec(out, dims, x.device()),
            None => {
                let norm = candle_nn::GroupNorm::new(
                    self.weight.clone(),
                    self.bias.clone(),
                    c,
                    self.groups,
                    self.eps,
                )?;
                let y = norm.forward(&x.reshape((b, c, spatial))?)?.reshape(dims)?;
                if silu {
                    candle_nn::ops::silu(&y)
                } else {
                    Ok(y)
                }
            }
        }
    }

    /// One group: its channels' values, `spatial` each, in `src`.
    fn normalise(
        &self,
        src: &[f32],
        dst: &mut [f32],
        spatial: usize,
        gamma: &[f32],
        beta: &[f32],
        silu_after: bool,
    ) {
        let (mean, var) = moments(src);
        let inv = 1.0 / (var + self.eps).sqrt();
        for ((dst, src), (&g, &b)) in dst
            .chunks_mut(spatial)
            .zip(src.chunks(spatial))
            .zip(gamma.iter().zip(beta))
        {
            let scale = (f64::from(g) * inv) as f32;
            let shift = (f64::from(b) - mean * f64::from(g) * inv) as f32;
            if silu_after {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = silu(s * scale + shift);
                }
            } else {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = s * scale + shift;
                }
            }
        }
    }
}

/// The mean and variance of `values` in one pass: f64 sums of the values less the first one
/// (a shift that keeps the difference of squares exact enough), in eight lanes so the loop
/// vectorises.
fn moments(values: &[f32]) -> (f64, f64) {
    let Some(&first) = values.first() else {
        return (0.0, 0.0);
    };
    let shift = f64::from(first);
    let (mut sums, mut squares) = ([0f64; 8], [0f64; 8]);
    let chunks = values.chunks_exact(8);
    let (mut tail_sum, mut tail_squares) = (0f64, 0f64);
    for &v in chunks.remainder() {
        let d = f64::from(v) - shift;
        tail_sum += d;
        tail_squares += d * d;
    }
    for c in chunks {
        for ((s, q), &v) in sums.iter_mut().zip(&mut squares).zip(c) {
            let d = f64::from(v) - shift;
            *s += d;
            *q += d * d;
        }
    }
    let n = values.len() as f64;
    let mean = (sums.iter().sum::<f64>() + tail_sum) / n;
    let var = (squares.iter().sum::<f64>() + tail_squares) / n - mean * mean;
    (shift + mean, var.max(0.0))
}

/// diffusers' `ResnetBlock2D`: norm, SiLU, 3×3 conv, (+ the time embedding's projection),
/// norm, SiLU, 3×3 conv, plus the input (through a 1×1 conv where the widths differ).
pub struct ResnetBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    time: Option<candle_nn::Linear>,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
    scale: f64,
}

impl ResnetBlock {
    /// `time`: the time embedding's width (the UNet's blocks; none in the autoencoder).
    pub fn load(
        vb: VarBuilder,
        c_in: usize,
        c_out: usize,
        time: Option<usize>,
        groups: usize,
        eps: f64,
        scale: f64,
    ) -> Result<Self> {
        Ok(ResnetBlock {
            norm1: GroupNorm::load(vb.pp("norm1"), groups, c_in, eps)?,
            conv1: Conv2d::load(vb.pp("conv1"), c_in, c_out, 3, 1, 1)?,
            time: time
                .map(|t| candle_nn::linear(t, c_out, vb.pp("time_emb_proj")))
                .transpose()?,
            norm2: GroupNorm::load(vb.pp("norm2"), groups, c_out, eps)?,
            conv2: Conv2d::load(vb.pp("conv2"), c_out, c_out, 3, 1, 1)?,
            shortcut: (c_in != c_out)
                .then(|| Conv2d::load(vb.pp("conv_shortcut"), c_in, c_out, 1, 1, 0))
                .transpose()?,
            scale,
        })
    }

    /// `temb`: the SiLU of the time embedding, `[b, t]`.
    pub fn forward(&self, x: &Tensor, temb: Option<&Tensor>) -> Result<Tensor> {
        let mut h = self.conv1.forward(&self.norm1.forward(x, true)?)?;
        if let (Some(proj), Some(temb)) = (&self.time, temb) {
            h = h.broadcast_add(
                &proj
                    .forward(temb)?
                    .unsqueeze(D::Minus1)?
                    .unsqueeze(D::Minus1)?,
            )?;
        }
        let h = self.conv2.forward(&self.norm2.forward(&h, true)?)?;
        let skip = match &self.shortcut {
            Some(conv) => conv.forward(x)?,
            None => x.clone(),
        };
        let y = (skip + h)?;
        if self.scale == 1.0 {
            Ok(y)
        } else {
            y / self.scale
        }
    }
}

/// Nearest-neighbour 2× upsampling then a 3×3 convolution.
pub struct Upsample(Conv2d);

impl Upsample {
    pub fn load(vb: VarBuilder, channels: usize) -> Result<Self> {
        Ok(Upsample(Conv2d::load(
            vb.pp("conv"),
            channels,
            channels,
            3,
            1,
            1,
        )?))
    }

    /// `size`: the output's size where it is not twice the input's (odd sizes).
    pub fn forward(&self, x: &Tensor, size: Option<(usize, usize)>) -> Result<Tensor> {
        let (_, _, h, w) = x.dims4()?;
        let (ho, wo) = size.unwrap_or((2 * h, 2 * w));
        self.0.forward(&x.upsample_nearest2d(ho, wo)?)
    }
}

/// Σ values, in eight lanes so the loop vectorises.
pub(super) fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (l, v) in lanes.iter_mut().zip(c) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// eˣ as 2ⁿ·p(r) (r = x − n·ln 2, |r| ≤ ln 2 / 2, p of degree 6: relative error about 2e-7),
/// without branches or a library call so loops over it vectorise; x is clamped to
/// −87‥88, where f32 keeps normal numbers.
#[inline]
pub fn exp(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let mut p: f32 = 1.0 / 720.0;
    p = p.mul_add(r, 1.0 / 120.0);
    p = p.mul_add(r, 1.0 / 24.0);
    p = p.mul_add(r, 1.0 / 6.0);
    p = p.mul_add(r, 0.5);
    p = p.mul_add(r, 1.0);
    p = p.mul_add(r, 1.0);
    // 2ⁿ: n + 127 (1‥254 after the clamp) as the low bits of 2²³ + n + 127, shifted into the
    // exponent field (a float add and an integer shift: no float-to-int conversion, which
    // kept the loop from vectorising)
    p * f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23)
}

/// SiLU, x·σ(x).
#[inline]
fn silu(x: f32) -> f32 {
    x / (1.0 + exp(-x))
}
