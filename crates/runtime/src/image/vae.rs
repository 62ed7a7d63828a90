//! The KL autoencoder's decoder (`vae/` in the diffusers layout): latents → RGB. Only the
//! decoder is loaded; text-to-image never encodes.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use super::ops::{Conv2d, GroupNorm, ResnetBlock, Upsample};
use super::tokens::{attention_heads, Linear};

const EPS: f64 = 1e-6;

/// `vae/config.json`, the part read here.
#[derive(Debug, Clone)]
pub struct VaeConfig {
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    pub latent_channels: usize,
    pub norm_num_groups: usize,
    pub use_post_quant_conv: bool,
}

/// The mid block's single-head self-attention over every pixel.
struct PixelAttention {
    norm: GroupNorm,
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
}

impl PixelAttention {
    fn load(vb: VarBuilder, channels: usize, groups: usize) -> Result<Self> {
        // diffusers renamed query/key/value/proj_attn to to_q/to_k/to_v/to_out.0
        let names = if vb.contains_tensor("to_q.weight") {
            ["to_q", "to_k", "to_v", "to_out.0"]
        } else {
            ["query", "key", "value", "proj_attn"]
        };
        let linear = |name: &str| Linear::load(vb.pp(name), channels, channels, true);
        Ok(PixelAttention {
            norm: GroupNorm::load(vb.pp("group_norm"), groups, channels, EPS)?,
            q: linear(names[0])?,
            k: linear(names[1])?,
            v: linear(names[2])?,
            out: linear(names[3])?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, c, h, w) = x.dims4()?;
        let tokens = self
            .norm
            .forward(x, false)?
            .reshape((b, c, h * w))?
            .transpose(1, 2)?
            .contiguous()?;
        let mixed = attention_heads(
            &self.q.forward(&tokens)?,
            &self.k.forward(&tokens)?,
            &self.v.forward(&tokens)?,
            1,
        )?;
        let y = self
            .out
            .forward(&mixed)?
            .transpose(1, 2)?
            .reshape((b, c, h, w))?;
        x + y
    }
}

struct UpBlock {
    resnets: Vec<ResnetBlock>,
    upsample: Option<Upsample>,
}

pub struct Decoder {
    post_quant: Option<Conv2d>,
    conv_in: Conv2d,
    mid: (ResnetBlock, PixelAttention, ResnetBlock),
    up: Vec<UpBlock>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
}

impl Decoder {
    /// `vb`: the `vae/` weights' root.
    pub fn load(vb: VarBuilder, c: &VaeConfig) -> Result<Self> {
        let groups = c.norm_num_groups;
        let widths: Vec<usize> = c.block_out_channels.iter().rev().copied().collect();
        let (Some(&top), Some(&last)) = (widths.first(), widths.last()) else {
            candle_core::bail!("vae: no block_out_channels");
        };
        let post_quant = c
            .use_post_quant_conv
            .then(|| {
                Conv2d::load(
                    vb.pp("post_quant_conv"),
                    c.latent_channels,
                    c.latent_channels,
                    1,
                    1,
                    0,
                )
            })
            .transpose()?;
        let vb = vb.pp("decoder");
        let resnet = |vb: VarBuilder, i: usize, o: usize| {
            ResnetBlock::load(vb, i, o, None, groups, EPS, 1.0)
        };
        let mid = vb.pp("mid_block");
        let mid = (
            resnet(mid.pp("resnets.0"), top, top)?,
            PixelAttention::load(mid.pp("attentions.0"), top, groups)?,
            resnet(mid.pp("resnets.1"), top, top)?,
        );
        let mut up = Vec::new();
        let mut width = top;
        for (i, &out) in widths.iter().enumerate() {
            let block = vb.pp("up_blocks").pp(i.to_string());
            let resnets = (0..=c.layers_per_block)
                .map(|j| {
                    let c_in = if j == 0 { width } else { out };
                    resnet(block.pp("resnets").pp(j.to_string()), c_in, out)
                })
                .collect::<Result<Vec<_>>>()?;
            let upsample = (i + 1 < widths.len())
                .then(|| Upsample::load(block.pp("upsamplers.0"), out))
                .transpose()?;
            up.push(UpBlock { resnets, upsample });
            width = out;
        }
        Ok(Decoder {
            post_quant,
            conv_in: Conv2d::load(vb.pp("conv_in"), c.latent_channels, top, 3, 1, 1)?,
            mid,
            up,
            norm_out: GroupNorm::load(vb.pp("conv_norm_out"), groups, last, EPS)?,
            conv_out: Conv2d::load(vb.pp("conv_out"), last, 3, 3, 1, 1)?,
        })
    }

    /// Scaled latents `[b, latent, h, w]` → images `[b, 3, 8h, 8w]` in −1‥1.
    pub fn decode(&self, latents: &Tensor) -> Result<Tensor> {
        let x = match &self.post_quant {
            Some(conv) => conv.forward(latents)?,
            None => latents.clone(),
        };
        let x = self.conv_in.forward(&x)?;
        let x = self.mid.0.forward(&x, None)?;
        let x = self.mid.1.forward(&x)?;
        let mut x = self.mid.2.forward(&x, None)?;
        for block in &self.up {
            for resnet in &block.resnets {
                x = resnet.forward(&x, None)?;
            }
            if let Some(up) = &block.upsample {
                x = up.forward(&x, None)?;
            }
        }
        self.conv_out.forward(&self.norm_out.forward(&x, true)?)
    }
}
