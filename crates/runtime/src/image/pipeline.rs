//! Stable Diffusion from a diffusers folder (`unet/`, `vae/`, `text_encoder/`, `tokenizer/`,
//! `scheduler/`, each with its config and safetensors weights): SD 1.x, SD 2.x (v-prediction
//! included) and SD-Turbo. The prompt (and the negative prompt, with classifier-free guidance)
//! is encoded by CLIP, seeded Gaussian latents are denoised by the UNet over DDIM's timesteps
//! (η = 0: the same seed gives the same image), and the VAE decodes them to RGB.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::stable_diffusion::ddim::DDIMSchedulerConfig;
use candle_transformers::models::stable_diffusion::schedulers::{
    BetaSchedule, PredictionType, SchedulerConfig, TimestepSpacing,
};
use serde_json::Value;

use super::clip::{ids_tensor, ClipConfig, ClipText, ClipTokenizer};
use super::unet::{Level, Unet, UnetConfig};
use super::vae::{Decoder, VaeConfig};
use crate::RuntimeError;

/// One image's settings, defaults already applied and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub width: usize,
    pub height: usize,
    pub steps: usize,
    /// Classifier-free guidance scale; ≤ 1 runs the prompt alone.
    pub guidance: f64,
    pub seed: u64,
}

/// What the model says about itself (sizes and defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Defaults {
    /// The size it was trained at (square).
    pub size: usize,
    pub steps: usize,
    pub guidance: f64,
    /// Width and height must be multiples of this.
    pub multiple: usize,
}

pub struct Pipeline {
    clip: ClipText,
    tokenizer: ClipTokenizer,
    unet: Unet,
    vae: Decoder,
    scheduler: DDIMSchedulerConfig,
    latent_channels: usize,
    vae_scale: f64,
    vae_factor: usize,
    defaults: Defaults,
    device: Device,
}

fn err(dir: &Path, what: &str, e: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::load(format!("image model at {}: {what}: {e}", dir.display()))
}

fn json(dir: &Path, file: &str) -> Result<Value, RuntimeError> {
    let text = std::fs::read_to_string(dir.join(file)).map_err(|e| err(dir, file, e))?;
    serde_json::from_str(&text).map_err(|e| err(dir, file, e))
}

/// The one `.safetensors` weights file of a component folder (fp32 or fp16 variant).
fn weights(dir: &Path, part: &str) -> Result<PathBuf, RuntimeError> {
    let folder = dir.join(part);
    let names = [
        "diffusion_pytorch_model.safetensors",
        "model.safetensors",
        "diffusion_pytorch_model.fp16.safetensors",
        "model.fp16.safetensors",
    ];
    names
        .iter()
        .map(|n| folder.join(n))
        .find(|p| p.is_file())
        .ok_or_else(|| err(dir, part, "no safetensors weights"))
}

fn usize_of(v: &Value, key: &str, default: usize) -> usize {
    v[key].as_u64().map_or(default, |n| n as usize)
}

/// A per-block value given as one number or a list.
fn per_block(v: &Value, key: &str, i: usize) -> Option<usize> {
    match &v[key] {
        Value::Array(a) => a.get(i).and_then(Value::as_u64).map(|n| n as usize),
        n => n.as_u64().map(|n| n as usize),
    }
}

fn unet_config(dir: &Path, v: &Value) -> Result<UnetConfig, RuntimeError> {
    if v["addition_embed_type"].is_string() {
        return Err(err(
            dir,
            "unet/config.json",
            "SDXL-style added conditioning (addition_embed_type) is not supported yet; SD 1.x, 2.x and SD-Turbo are",
        ));
    }
    let channels: Vec<usize> = v["block_out_channels"]
        .as_array()
        .ok_or_else(|| err(dir, "unet/config.json", "no block_out_channels"))?
        .iter()
        .filter_map(Value::as_u64)
        .map(|n| n as usize)
        .collect();
    let down: Vec<&str> = v["down_block_types"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if down.len() != channels.len() || channels.is_empty() {
        return Err(err(
            dir,
            "unet/config.json",
            "down_block_types and block_out_channels disagree",
        ));
    }
    // diffusers' `attention_head_dim` is the number of heads in SD 1.x/2.x checkpoints
    let heads_key = if v["num_attention_heads"].is_null() {
        "attention_head_dim"
    } else {
        "num_attention_heads"
    };
    let levels = channels
        .iter()
        .zip(&down)
        .enumerate()
        .map(|(i, (&channels, kind))| Level {
            channels,
            transformer_layers: kind
                .starts_with("CrossAttn")
                .then(|| per_block(v, "transformer_layers_per_block", i).unwrap_or(1)),
            heads: per_block(v, heads_key, i).unwrap_or(8),
        })
        .collect();
    let f = |key: &str, default: f64| v[key].as_f64().unwrap_or(default);
    Ok(UnetConfig {
        in_channels: usize_of(v, "in_channels", 4),
        out_channels: usize_of(v, "out_channels", 4),
        levels,
        layers_per_block: usize_of(v, "layers_per_block", 2),
        groups: usize_of(v, "norm_num_groups", 32),
        eps: f("norm_eps", 1e-5),
        cross_attention_dim: usize_of(v, "cross_attention_dim", 768),
        flip_sin_to_cos: v["flip_sin_to_cos"].as_bool().unwrap_or(true),
        freq_shift: f("freq_shift", 0.0),
        downsample_padding: usize_of(v, "downsample_padding", 1),
        mid_block_scale_factor: f("mid_block_scale_factor", 1.0),
        use_linear_projection: v["use_linear_projection"].as_bool().unwrap_or(false),
        center_input_sample: v["center_input_sample"].as_bool().unwrap_or(false),
    })
}

fn scheduler_config(v: &Value) -> DDIMSchedulerConfig {
    let beta_schedule = match v["beta_schedule"].as_str() {
        Some("linear") => BetaSchedule::Linear,
        Some("squaredcos_cap_v2") => BetaSchedule::SquaredcosCapV2,
        _ => BetaSchedule::ScaledLinear,
    };
    let prediction_type = match v["prediction_type"].as_str() {
        Some("v_prediction") => PredictionType::VPrediction,
        Some("sample") => PredictionType::Sample,
        _ => PredictionType::Epsilon,
    };
    let timestep_spacing = match v["timestep_spacing"].as_str() {
        Some("trailing") => TimestepSpacing::Trailing,
        Some("linspace") => TimestepSpacing::Linspace,
        _ => TimestepSpacing::Leading,
    };
    DDIMSchedulerConfig {
        beta_start: v["beta_start"].as_f64().unwrap_or(0.00085),
        beta_end: v["beta_end"].as_f64().unwrap_or(0.012),
        beta_schedule,
        eta: 0.0,
        steps_offset: usize_of(v, "steps_offset", 1),
        prediction_type,
        train_timesteps: usize_of(v, "num_train_timesteps", 1000),
        timestep_spacing,
    }
}

impl Pipeline {
    pub fn load(dir: &Path) -> Result<Self, RuntimeError> {
        #[cfg(feature = "cuda")]
        let device = Device::new_cuda(0).unwrap_or(Device::Cpu);
        #[cfg(not(feature = "cuda"))]
        let device = Device::Cpu;
        let dtype = DType::F32;
        let vb = |part: &str| -> Result<VarBuilder<'static>, RuntimeError> {
            let file = weights(dir, part)?;
            #[expect(
                unsafe_code,
                reason = "memory-maps the weights file; the file is not modified while the model is loaded (models are replaced by new files, never rewritten in place)"
            )]
            // SAFETY: see the reason above; the mapping lives as long as the model's tensors.
            let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[file], dtype, &device) };
            vb.map_err(|e| err(dir, part, e))
        };
        let clip_config: ClipConfig =
            serde_json::from_value(json(dir, "text_encoder/config.json")?)
                .map_err(|e| err(dir, "text_encoder/config.json", e))?;
        let clip = ClipText::load(vb("text_encoder")?, &clip_config)
            .map_err(|e| err(dir, "text_encoder", e))?;
        let tokenizer =
            ClipTokenizer::load(&dir.join("tokenizer")).map_err(|e| err(dir, "tokenizer", e))?;
        let unet_json = json(dir, "unet/config.json")?;
        let unet_config = unet_config(dir, &unet_json)?;
        let down = unet_config.levels.len();
        let unet = Unet::load(vb("unet")?, unet_config).map_err(|e| err(dir, "unet", e))?;
        let vae_json = json(dir, "vae/config.json")?;
        let vae_channels: Vec<usize> = vae_json["block_out_channels"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_u64)
                    .map(|n| n as usize)
                    .collect()
            })
            .unwrap_or_else(|| vec![128, 256, 512, 512]);
        let vae_factor = 1usize << vae_channels.len().saturating_sub(1);
        let latent_channels = usize_of(&vae_json, "latent_channels", 4);
        let vae_config = VaeConfig {
            block_out_channels: vae_channels,
            layers_per_block: usize_of(&vae_json, "layers_per_block", 2),
            latent_channels,
            norm_num_groups: usize_of(&vae_json, "norm_num_groups", 32),
            use_post_quant_conv: vae_json["use_post_quant_conv"].as_bool().unwrap_or(true),
        };
        let vae = Decoder::load(vb("vae")?, &vae_config).map_err(|e| err(dir, "vae", e))?;
        let scheduler_json = json(dir, "scheduler/scheduler_config.json")?;
        let scheduler = scheduler_config(&scheduler_json);
        // SD-Turbo (and other distilled models) sample on trailing timesteps, in a step or
        // a few, without guidance
        let turbo = matches!(scheduler.timestep_spacing, TimestepSpacing::Trailing)
            || dir.to_string_lossy().to_lowercase().contains("turbo");
        let size = usize_of(&unet_json, "sample_size", 64) * vae_factor;
        let defaults = Defaults {
            size,
            steps: if turbo { 1 } else { 20 },
            guidance: if turbo { 0.0 } else { 7.5 },
            multiple: vae_factor * (1 << down.saturating_sub(1)),
        };
        Ok(Pipeline {
            clip,
            tokenizer,
            unet,
            vae,
            scheduler,
            latent_channels,
            vae_scale: vae_json["scaling_factor"].as_f64().unwrap_or(0.18215),
            vae_factor,
            defaults,
            device,
        })
    }

    pub fn defaults(&self) -> Defaults {
        self.defaults
    }

    fn encode(&self, text: &str) -> candle_core::Result<Tensor> {
        let (ids, _cut) = self.tokenizer.encode(text, self.clip.max_tokens)?;
        self.clip.forward(&ids_tensor(&ids, &self.device)?)
    }

    /// One image, as `height` rows of `width` RGB pixels.
    pub fn generate(
        &self,
        prompt: &str,
        negative: &str,
        s: &Settings,
    ) -> Result<Vec<u8>, RuntimeError> {
        self.generate_inner(prompt, negative, s)
            .map_err(|e| RuntimeError::engine(format!("image generation failed: {e}")))
    }

    fn generate_inner(
        &self,
        prompt: &str,
        negative: &str,
        s: &Settings,
    ) -> candle_core::Result<Vec<u8>> {
        let guided = s.guidance > 1.0;
        let cond = self.encode(prompt)?;
        let context = if guided {
            Tensor::cat(&[self.encode(negative)?, cond], 0)?
        } else {
            cond
        };
        let mut scheduler = self.scheduler.build(s.steps)?;
        let (h, w) = (s.height / self.vae_factor, s.width / self.vae_factor);
        let noise = gaussian(s.seed, self.latent_channels * h * w);
        let mut latents =
            (Tensor::from_vec(noise, (1, self.latent_channels, h, w), &self.device)?
                * scheduler.init_noise_sigma())?;
        let timesteps = scheduler.timesteps().to_vec();
        for t in timesteps {
            let input = if guided {
                Tensor::cat(&[&latents, &latents], 0)?
            } else {
                latents.clone()
            };
            let input = scheduler.scale_model_input(input, t)?;
            let noise = self.unet.forward(&input, t as f64, &context)?;
            let noise = if guided {
                let parts = noise.chunk(2, 0)?;
                let (uncond, text) = (&parts[0], &parts[1]);
                (uncond + ((text - uncond)? * s.guidance)?)?
            } else {
                noise
            };
            latents = scheduler.step(&noise, t, &latents)?;
        }
        let image = self.vae.decode(&(latents / self.vae_scale)?)?;

        let image = ((image / 2.0)? + 0.5)?.clamp(0f32, 1f32)?;
        let image = (image * 255.0)?.round()?.to_dtype(DType::U8)?.squeeze(0)?;
        // [3, h, w] → rows of RGB
        image.permute((1, 2, 0))?.flatten_all()?.to_vec1::<u8>()
    }
}

/// `n` standard-normal numbers from `seed` (SplitMix64, Box–Muller): the same seed gives the
/// same latents on every machine.
pub fn gaussian(seed: u64, n: usize) -> Vec<f32> {
    let mut state = seed;
    let mut uniform = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // in (0, 1]
        ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    };
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let (u1, u2) = (uniform(), uniform());
        let r = (-2.0 * u1.ln()).sqrt();
        let a = std::f64::consts::TAU * u2;
        out.push((r * a.cos()) as f32);
        out.push((r * a.sin()) as f32);
    }
    out.truncate(n);
    out
}

/// RGB rows as a PNG file.
pub fn png(rgb: &[u8], width: usize, height: usize) -> Result<Vec<u8>, RuntimeError> {
    let mut out = Vec::new();
    let fail = |e: png::EncodingError| RuntimeError::engine(format!("PNG encoding failed: {e}"));
    {
        let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(fail)?;
        writer.write_image_data(rgb).map_err(fail)?;
    }
    Ok(out)
}
