//! A Stable Diffusion model with the real architecture (CLIP text encoder, conditional UNet with
//! cross-attention, KL autoencoder, DDIM scheduler) and random weights, written as a diffusers
//! folder: at toy sizes, what the tests load when no small trained SD-family model is packaged;
//! at SD 1.5's sizes, what the benchmark runs against stable-diffusion.cpp and diffusers (each
//! step costs what a trained model's does). Images from it are noise, but of the asked size,
//! and the same for the same seed.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::stable_diffusion::unet_2d::{
    BlockConfig, UNet2DConditionModel, UNet2DConditionModelConfig,
};
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKL;
use serde_json::json;

use super::clip::{ClipConfig, ClipText};
use super::pipeline::gaussian;

/// Which sizes to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizes {
    /// About 4 MB: 64×64 images by default, sides in multiples of 4.
    Tiny,
    /// Stable Diffusion 1.5's architecture (CLIP ViT-L/14 text encoder, 860M-parameter UNet,
    /// the KL-f8 autoencoder), about 4.3 GB of f32: 512×512 by default.
    Sd15,
}

struct Shape {
    clip_hidden: usize,
    clip_layers: usize,
    clip_heads: usize,
    clip_vocab: Option<usize>,
    unet_channels: Vec<usize>,
    unet_heads: usize,
    layers_per_block: usize,
    groups: usize,
    vae_channels: Vec<usize>,
    sample_size: usize,
}

impl Sizes {
    fn shape(self) -> Shape {
        match self {
            Sizes::Tiny => Shape {
                clip_hidden: 32,
                clip_layers: 2,
                clip_heads: 4,
                clip_vocab: None,
                unet_channels: vec![32, 64],
                unet_heads: 4,
                layers_per_block: 1,
                groups: 8,
                vae_channels: vec![32, 64],
                sample_size: 32,
            },
            Sizes::Sd15 => Shape {
                clip_hidden: 768,
                clip_layers: 12,
                clip_heads: 12,
                clip_vocab: Some(49408),
                unet_channels: vec![320, 640, 1280, 1280],
                unet_heads: 8,
                layers_per_block: 2,
                groups: 32,
                vae_channels: vec![128, 256, 512, 512],
                sample_size: 64,
            },
        }
    }
}

/// Saves `map` with its random initial values replaced by seeded ones, so every write of a
/// folder is the same: matrices and kernels N(0, 1/fan-in); vectors left as initialised where
/// constant (norms' ones and zeros), else N(0, 0.02²).
fn save_seeded(map: &VarMap, seed: u64, path: &Path) -> candle_core::Result<()> {
    {
        let vars = map
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("the weights' map is poisoned".into()))?;
        let mut names: Vec<&String> = vars.keys().collect();
        names.sort();
        for (i, name) in names.into_iter().enumerate() {
            let var = &vars[name];
            let dims = var.dims().to_vec();
            let n = var.elem_count();
            let scale = if dims.len() >= 2 {
                (n / dims[0].max(1)).max(1) as f32
            } else {
                let flat = var.as_tensor().flatten_all()?;
                if flat.min(0)?.to_scalar::<f32>()? == flat.max(0)?.to_scalar::<f32>()? {
                    continue;
                }
                2500.0
            };
            let values: Vec<f32> = gaussian(seed << 32 | i as u64, n)
                .into_iter()
                .map(|v| v / scale.sqrt())
                .collect();
            var.set(&candle_core::Tensor::from_vec(values, dims, &Device::Cpu)?)?;
        }
    }
    map.save(path)
}

fn write(dir: &Path, file: &str, v: &serde_json::Value) -> candle_core::Result<()> {
    let path = dir.join(file);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let bytes = serde_json::to_vec_pretty(v).map_err(candle_core::Error::wrap)?;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Writes the tiny folder (about 4 MB): 64×64 images by default, sides in multiples of 4.
pub fn write_tiny_model(dir: &Path) -> candle_core::Result<()> {
    write_random_model(dir, Sizes::Tiny)
}

/// Writes a diffusers folder of the given sizes with random weights.
pub fn write_random_model(dir: &Path, sizes: Sizes) -> candle_core::Result<()> {
    let shape = sizes.shape();
    let device = Device::Cpu;
    // the tokenizer: CLIP's byte-level alphabet, each byte alone and ending a word, no merges
    let mut alphabet: Vec<char> = tokenizers::pre_tokenizers::byte_level::ByteLevel::alphabet()
        .into_iter()
        .collect();
    alphabet.sort_unstable();
    let mut vocab = serde_json::Map::new();
    for c in &alphabet {
        let n = vocab.len();
        vocab.insert(c.to_string(), json!(n));
    }
    for c in &alphabet {
        let n = vocab.len();
        vocab.insert(format!("{c}</w>"), json!(n));
    }
    for special in ["<|startoftext|>", "<|endoftext|>"] {
        let n = vocab.len();
        vocab.insert(special.into(), json!(n));
    }
    // the full model's embedding table keeps CLIP's size, so other engines load the folder
    let vocab_size = shape.clip_vocab.unwrap_or(vocab.len());
    write(
        dir,
        "tokenizer/vocab.json",
        &serde_json::Value::Object(vocab),
    )?;
    std::fs::write(dir.join("tokenizer/merges.txt"), "#version: 0.2\n")?;
    write(
        dir,
        "tokenizer/special_tokens_map.json",
        &json!({"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}),
    )?;
    write(
        dir,
        "tokenizer/tokenizer_config.json",
        &json!({"tokenizer_class": "CLIPTokenizer", "model_max_length": 77,
            "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
            "pad_token": "<|endoftext|>", "unk_token": "<|endoftext|>"}),
    )?;

    let clip = json!({"architectures": ["CLIPTextModel"], "vocab_size": vocab_size,
        "hidden_size": shape.clip_hidden, "intermediate_size": 4 * shape.clip_hidden,
        "num_hidden_layers": shape.clip_layers, "num_attention_heads": shape.clip_heads,
        "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
        "projection_dim": shape.clip_hidden});
    write(dir, "text_encoder/config.json", &clip)?;
    let map = VarMap::new();
    let config: ClipConfig = serde_json::from_value(clip).map_err(candle_core::Error::wrap)?;
    ClipText::load(
        VarBuilder::from_varmap(&map, DType::F32, &device).pp("text_model"),
        &config,
    )?;
    save_seeded(&map, 1, &dir.join("text_encoder/model.safetensors"))?;

    let blocks = shape.unet_channels.len();
    let mut down = vec!["CrossAttnDownBlock2D"; blocks - 1];
    down.push("DownBlock2D");
    let mut up = vec!["CrossAttnUpBlock2D"; blocks - 1];
    up.insert(0, "UpBlock2D");
    let unet = json!({"_class_name": "UNet2DConditionModel", "sample_size": shape.sample_size,
        "in_channels": 4, "out_channels": 4, "block_out_channels": shape.unet_channels,
        "down_block_types": down, "up_block_types": up, "attention_head_dim": shape.unet_heads,
        "cross_attention_dim": shape.clip_hidden, "layers_per_block": shape.layers_per_block,
        "norm_num_groups": shape.groups, "norm_eps": 1e-5, "act_fn": "silu",
        "flip_sin_to_cos": true, "freq_shift": 0, "downsample_padding": 1,
        "mid_block_scale_factor": 1, "use_linear_projection": false});
    write(dir, "unet/config.json", &unet)?;
    let map = VarMap::new();
    // candle's UNet names its weights as diffusers does: it writes the folder's
    let config = UNet2DConditionModelConfig {
        center_input_sample: false,
        flip_sin_to_cos: true,
        freq_shift: 0.0,
        blocks: shape
            .unet_channels
            .iter()
            .enumerate()
            .map(|(i, &out_channels)| BlockConfig {
                out_channels,
                use_cross_attn: (i + 1 < blocks).then_some(1),
                attention_head_dim: shape.unet_heads,
            })
            .collect(),
        layers_per_block: shape.layers_per_block,
        downsample_padding: 1,
        mid_block_scale_factor: 1.0,
        norm_num_groups: shape.groups,
        norm_eps: 1e-5,
        cross_attention_dim: shape.clip_hidden,
        sliced_attention_size: None,
        use_linear_projection: false,
    };
    UNet2DConditionModel::new(
        VarBuilder::from_varmap(&map, DType::F32, &device),
        4,
        4,
        false,
        config,
    )?;
    save_seeded(
        &map,
        2,
        &dir.join("unet/diffusion_pytorch_model.safetensors"),
    )?;

    let vae_blocks = shape.vae_channels.len();
    let vae = json!({"_class_name": "AutoencoderKL", "block_out_channels": shape.vae_channels,
        "down_block_types": vec!["DownEncoderBlock2D"; vae_blocks],
        "up_block_types": vec!["UpDecoderBlock2D"; vae_blocks], "in_channels": 3,
        "out_channels": 3, "act_fn": "silu", "layers_per_block": shape.layers_per_block,
        "latent_channels": 4, "norm_num_groups": shape.groups,
        "sample_size": shape.sample_size * (1 << (vae_blocks - 1)), "scaling_factor": 0.18215});
    write(dir, "vae/config.json", &vae)?;
    let map = VarMap::new();
    AutoEncoderKL::new(
        VarBuilder::from_varmap(&map, DType::F32, &device),
        3,
        3,
        candle_transformers::models::stable_diffusion::vae::AutoEncoderKLConfig {
            block_out_channels: shape.vae_channels.clone(),
            layers_per_block: shape.layers_per_block,
            latent_channels: 4,
            norm_num_groups: shape.groups,
            use_quant_conv: true,
            use_post_quant_conv: true,
        },
    )?;
    save_seeded(
        &map,
        3,
        &dir.join("vae/diffusion_pytorch_model.safetensors"),
    )?;

    write(
        dir,
        "scheduler/scheduler_config.json",
        &json!({"_class_name": "DDIMScheduler", "beta_start": 0.00085, "beta_end": 0.012,
            "beta_schedule": "scaled_linear", "num_train_timesteps": 1000,
            "prediction_type": "epsilon", "steps_offset": 1, "timestep_spacing": "leading"}),
    )?;
    write(
        dir,
        "model_index.json",
        &json!({"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"], "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"], "scheduler": ["diffusers", "DDIMScheduler"]}),
    )?;
    Ok(())
}
