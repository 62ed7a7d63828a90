//! Stable Diffusion's conditional UNet (`unet/` in the diffusers layout,
//! `UNet2DConditionModel`): down blocks of ResNet blocks and spatial transformers (self- then
//! cross-attention to the prompt), a middle block, up blocks that take the down path's
//! outputs back in, and the timestep's embedding added to every ResNet block. Built on
//! `ops`' fast convolution, group norm and attention.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{LayerNorm, VarBuilder};

use super::ops::{Conv2d, GroupNorm, ResnetBlock, Upsample};
use super::tokens::{attention_heads, geglu, Linear};

/// One level of the UNet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Level {
    pub channels: usize,
    /// Transformer layers after each ResNet block; `None` for a level without attention.
    pub transformer_layers: Option<usize>,
    pub heads: usize,
}

/// `unet/config.json`, the part read here.
#[derive(Debug, Clone, PartialEq)]
pub struct UnetConfig {
    pub in_channels: usize,
    pub out_channels: usize,
    pub levels: Vec<Level>,
    pub layers_per_block: usize,
    pub groups: usize,
    pub eps: f64,
    pub cross_attention_dim: usize,
    pub flip_sin_to_cos: bool,
    pub freq_shift: f64,
    pub downsample_padding: usize,
    pub mid_block_scale_factor: f64,
    pub use_linear_projection: bool,
    pub center_input_sample: bool,
}

/// Multi-head attention (`to_q`, `to_k`, `to_v` without bias, `to_out.0` with).
struct Attention {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    heads: usize,
}

impl Attention {
    fn load(vb: VarBuilder, dim: usize, context: usize, heads: usize) -> Result<Self> {
        Ok(Attention {
            q: Linear::load(vb.pp("to_q"), dim, dim, false)?,
            k: Linear::load(vb.pp("to_k"), context, dim, false)?,
            v: Linear::load(vb.pp("to_v"), context, dim, false)?,
            out: Linear::load(vb.pp("to_out.0"), dim, dim, true)?,
            heads,
        })
    }

    /// `x` `[b, n, dim]` attends to `context` `[b, m, context]` (itself when `None`).
    fn forward(&self, x: &Tensor, context: Option<&Tensor>) -> Result<Tensor> {
        let context = context.unwrap_or(x);
        let mixed = attention_heads(
            &self.q.forward(x)?,
            &self.k.forward(context)?,
            &self.v.forward(context)?,
            self.heads,
        )?;
        self.out.forward(&mixed)
    }
}

/// diffusers' `BasicTransformerBlock`: self-attention, cross-attention, GEGLU feed-forward,
/// each pre-normed and added back.
struct TransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    geglu: Linear,
    ff_out: Linear,
}

impl TransformerBlock {
    fn load(vb: VarBuilder, dim: usize, context: usize, heads: usize) -> Result<Self> {
        let norm = |name: &str| candle_nn::layer_norm(dim, 1e-5, vb.pp(name));
        Ok(TransformerBlock {
            norm1: norm("norm1")?,
            attn1: Attention::load(vb.pp("attn1"), dim, dim, heads)?,
            norm2: norm("norm2")?,
            attn2: Attention::load(vb.pp("attn2"), dim, context, heads)?,
            norm3: norm("norm3")?,
            geglu: Linear::load(vb.pp("ff.net.0.proj"), dim, 8 * dim, true)?,
            ff_out: Linear::load(vb.pp("ff.net.2"), 4 * dim, dim, true)?,
        })
    }

    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let x = (self.attn1.forward(&self.norm1.forward(x)?, None)? + x)?;
        let x = (self
            .attn2
            .forward(&self.norm2.forward(&x)?, Some(context))?
            + &x)?;
        let projected = self.geglu.forward(&self.norm3.forward(&x)?)?;
        self.ff_out.forward(&geglu(&projected)?)? + x
    }
}

/// A projection in or out of the transformer: a 1×1 convolution (SD 1.x) or a linear layer
/// over the tokens (SD 2.x).
enum Projection {
    Conv(Conv2d),
    Linear(Linear),
}

/// diffusers' `Transformer2DModel`: the feature map as tokens through transformer blocks.
struct SpatialTransformer {
    norm: GroupNorm,
    proj_in: Projection,
    blocks: Vec<TransformerBlock>,
    proj_out: Projection,
}

impl SpatialTransformer {
    fn load(vb: VarBuilder, c: &UnetConfig, channels: usize, level: &Level) -> Result<Self> {
        let projection = |name: &str| -> Result<Projection> {
            if c.use_linear_projection {
                Ok(Projection::Linear(Linear::load(
                    vb.pp(name),
                    channels,
                    channels,
                    true,
                )?))
            } else {
                Ok(Projection::Conv(Conv2d::load(
                    vb.pp(name),
                    channels,
                    channels,
                    1,
                    1,
                    0,
                )?))
            }
        };
        Ok(SpatialTransformer {
            norm: GroupNorm::load(vb.pp("norm"), c.groups, channels, 1e-6)?,
            proj_in: projection("proj_in")?,
            blocks: (0..level.transformer_layers.unwrap_or(1))
                .map(|i| {
                    TransformerBlock::load(
                        vb.pp("transformer_blocks").pp(i.to_string()),
                        channels,
                        c.cross_attention_dim,
                        level.heads,
                    )
                })
                .collect::<Result<_>>()?,
            proj_out: projection("proj_out")?,
        })
    }

    fn forward(&self, x: &Tensor, context: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let normed = self.norm.forward(x, false)?;
        let to_tokens = |t: &Tensor| t.reshape((b, c, h * w))?.transpose(1, 2)?.contiguous();
        let mut tokens = match &self.proj_in {
            Projection::Conv(conv) => to_tokens(&conv.forward(&normed)?)?,
            Projection::Linear(linear) => linear.forward(&to_tokens(&normed)?)?,
        };
        for block in &self.blocks {
            tokens = block.forward(&tokens, context)?;
        }
        let to_map = |t: &Tensor| t.transpose(1, 2)?.contiguous()?.reshape((b, c, h, w));
        let y = match &self.proj_out {
            Projection::Conv(conv) => conv.forward(&to_map(&tokens)?)?,
            Projection::Linear(linear) => to_map(&linear.forward(&tokens)?)?,
        };
        y + x
    }
}

/// ResNet blocks, each followed by a transformer on levels with attention.
struct Stage {
    resnets: Vec<ResnetBlock>,
    transformers: Vec<SpatialTransformer>,
}

impl Stage {
    fn layer(&self, i: usize, x: &Tensor, temb: &Tensor, context: &Tensor) -> Result<Tensor> {
        let x = self.resnets[i].forward(x, Some(temb))?;
        match self.transformers.get(i) {
            Some(t) => t.forward(&x, context),
            None => Ok(x),
        }
    }
}

pub struct Unet {
    config: UnetConfig,
    time_1: Linear,
    time_2: Linear,
    conv_in: Conv2d,
    down: Vec<(Stage, Option<Conv2d>)>,
    mid: (ResnetBlock, SpatialTransformer, ResnetBlock),
    up: Vec<(Stage, Option<Upsample>)>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Unet {
    pub fn load(vb: VarBuilder, c: UnetConfig) -> Result<Self> {
        let levels = c.levels.clone();
        let (Some(first), Some(last)) = (levels.first().copied(), levels.last().copied()) else {
            candle_core::bail!("unet: no blocks");
        };
        let temb = 4 * first.channels;
        let resnet = |vb: VarBuilder, i: usize, o: usize, scale: f64| {
            ResnetBlock::load(vb, i, o, Some(temb), c.groups, c.eps, scale)
        };
        let stage = |vb: VarBuilder, level: &Level, inputs: &[usize]| -> Result<Stage> {
            let resnets = inputs
                .iter()
                .enumerate()
                .map(|(j, &i)| resnet(vb.pp("resnets").pp(j.to_string()), i, level.channels, 1.0))
                .collect::<Result<_>>()?;
            let transformers = match level.transformer_layers {
                Some(_) => (0..inputs.len())
                    .map(|j| {
                        SpatialTransformer::load(
                            vb.pp("attentions").pp(j.to_string()),
                            &c,
                            level.channels,
                            level,
                        )
                    })
                    .collect::<Result<_>>()?,
                None => Vec::new(),
            };
            Ok(Stage {
                resnets,
                transformers,
            })
        };
        let n = levels.len();
        let mut down = Vec::new();
        let mut width = first.channels;
        for (i, level) in levels.iter().enumerate() {
            let vb = vb.pp("down_blocks").pp(i.to_string());
            let inputs: Vec<usize> = (0..c.layers_per_block)
                .map(|j| if j == 0 { width } else { level.channels })
                .collect();
            let downsample = (i + 1 < n)
                .then(|| {
                    let ch = level.channels;
                    let pad = c.downsample_padding;
                    Conv2d::load(vb.pp("downsamplers.0.conv"), ch, ch, 3, 2, pad)
                })
                .transpose()?;
            down.push((stage(vb, level, &inputs)?, downsample));
            width = level.channels;
        }
        let mid_vb = vb.pp("mid_block");
        let mid = (
            resnet(
                mid_vb.pp("resnets.0"),
                last.channels,
                last.channels,
                c.mid_block_scale_factor,
            )?,
            SpatialTransformer::load(mid_vb.pp("attentions.0"), &c, last.channels, &last)?,
            resnet(
                mid_vb.pp("resnets.1"),
                last.channels,
                last.channels,
                c.mid_block_scale_factor,
            )?,
        );
        let mut up = Vec::new();
        let mut previous = last.channels;
        for i in 0..n {
            let level = &levels[n - 1 - i];
            let skip_in = levels[(n - 1 - i).saturating_sub(1)].channels;
            let vb = vb.pp("up_blocks").pp(i.to_string());
            let layers = c.layers_per_block + 1;
            let inputs: Vec<usize> = (0..layers)
                .map(|j| {
                    let x = if j == 0 { previous } else { level.channels };
                    let skip = if j + 1 == layers {
                        skip_in
                    } else {
                        level.channels
                    };
                    x + skip
                })
                .collect();
            let upsample = (i + 1 < n)
                .then(|| Upsample::load(vb.pp("upsamplers.0"), level.channels))
                .transpose()?;
            up.push((stage(vb, level, &inputs)?, upsample));
            previous = level.channels;
        }
        Ok(Unet {
            time_1: Linear::load(vb.pp("time_embedding.linear_1"), first.channels, temb, true)?,
            time_2: Linear::load(vb.pp("time_embedding.linear_2"), temb, temb, true)?,
            conv_in: Conv2d::load(vb.pp("conv_in"), c.in_channels, first.channels, 3, 1, 1)?,
            down,
            mid,
            up,
            norm_out: GroupNorm::load(vb.pp("conv_norm_out"), c.groups, first.channels, c.eps)?,
            conv_out: Conv2d::load(vb.pp("conv_out"), first.channels, c.out_channels, 3, 1, 1)?,
            config: c,
        })
    }

    /// The sinusoidal embedding of `t` (diffusers' `Timesteps`), `[b, channels]`.
    fn timestep(&self, t: f64, b: usize) -> Result<Tensor> {
        let channels = self.config.levels[0].channels;
        let half = channels / 2;
        let mut row = vec![0f32; channels];
        for i in 0..half {
            let freq = (-(10000f64.ln()) * i as f64 / (half as f64 - self.config.freq_shift)).exp();
            let (sin, cos) = (t * freq).sin_cos();
            let (a, b) = if self.config.flip_sin_to_cos {
                (cos, sin)
            } else {
                (sin, cos)
            };
            row[i] = a as f32;
            row[half + i] = b as f32;
        }
        Tensor::from_vec(row.repeat(b), (b, channels), &candle_core::Device::Cpu)
    }

    /// The predicted noise (or velocity) for latents `x` at timestep `t`, conditioned on the
    /// prompt's hidden states `context` `[b, 77, cross_attention_dim]`.
    pub fn forward(&self, x: &Tensor, t: f64, context: &Tensor) -> Result<Tensor> {
        let b = x.dim(0)?;
        let emb = self
            .timestep(t, b)?
            .to_device(x.device())?
            .to_dtype(DType::F32)?;
        let emb = self
            .time_2
            .forward(&candle_nn::ops::silu(&self.time_1.forward(&emb)?)?)?;
        // every ResNet block projects the embedding's SiLU
        let temb = candle_nn::ops::silu(&emb)?;
        let x = if self.config.center_input_sample {
            ((x * 2.0)? - 1.0)?
        } else {
            x.clone()
        };
        let mut x = self.conv_in.forward(&x)?;
        let mut skips = vec![x.clone()];
        for (stage, downsample) in &self.down {
            for i in 0..stage.resnets.len() {
                x = stage.layer(i, &x, &temb, context)?;
                skips.push(x.clone());
            }
            if let Some(conv) = downsample {
                let input = if self.config.downsample_padding == 0 {
                    x.pad_with_zeros(D::Minus1, 0, 1)?
                        .pad_with_zeros(D::Minus2, 0, 1)?
                } else {
                    x
                };
                x = conv.forward(&input)?;
                skips.push(x.clone());
            }
        }
        x = self.mid.0.forward(&x, Some(&temb))?;
        x = self.mid.1.forward(&x, context)?;
        x = self.mid.2.forward(&x, Some(&temb))?;
        for (stage, upsample) in &self.up {
            for i in 0..stage.resnets.len() {
                let Some(skip) = skips.pop() else {
                    candle_core::bail!("unet: the up path ran out of skip connections");
                };
                x = stage.layer(i, &Tensor::cat(&[&x, &skip], 1)?, &temb, context)?;
            }
            if let Some(up) = upsample {
                // to the next skip's size (odd sizes do not double exactly)
                let size = match skips.last() {
                    Some(s) => Some((s.dim(2)?, s.dim(3)?)),
                    None => None,
                };
                x = up.forward(&x, size)?;
            }
        }
        self.conv_out.forward(&self.norm_out.forward(&x, true)?)
    }
}
