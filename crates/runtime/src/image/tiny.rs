//! A Stable Diffusion model with the real architecture (CLIP text encoder, conditional UNet with
//! cross-attention, KL autoencoder, DDIM scheduler) at toy sizes and random weights, written as
//! a diffusers folder: what the tests and the benchmark's smoke run load when no small trained
//! SD-family model is packaged. Images from it are noise, but of the asked size, and the same
//! for the same seed.

use std::path::Path;

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use candle_transformers::models::stable_diffusion::unet_2d::UNet2DConditionModel;
use candle_transformers::models::stable_diffusion::vae::AutoEncoderKL;
use serde_json::json;

use super::clip::{ClipConfig, ClipText};

fn write(dir: &Path, file: &str, v: &serde_json::Value) -> candle_core::Result<()> {
    let path = dir.join(file);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let bytes = serde_json::to_vec_pretty(v).map_err(candle_core::Error::wrap)?;
    std::fs::write(path, bytes)?;
    Ok(())
}

/// Writes the folder (about 4 MB): 64×64 images by default, sides in multiples of 4.
pub fn write_tiny_model(dir: &Path) -> candle_core::Result<()> {
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
    let vocab_size = vocab.len();
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

    let clip = json!({"architectures": ["CLIPTextModel"], "vocab_size": vocab_size, "hidden_size": 32,
        "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
        "projection_dim": 32});
    write(dir, "text_encoder/config.json", &clip)?;
    let map = VarMap::new();
    let config: ClipConfig = serde_json::from_value(clip).map_err(candle_core::Error::wrap)?;
    ClipText::load(
        VarBuilder::from_varmap(&map, DType::F32, &device).pp("text_model"),
        &config,
    )?;
    map.save(dir.join("text_encoder/model.safetensors"))?;

    let unet = json!({"_class_name": "UNet2DConditionModel", "sample_size": 32,
        "in_channels": 4, "out_channels": 4, "block_out_channels": [32, 64],
        "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"], "attention_head_dim": 4,
        "cross_attention_dim": 32, "layers_per_block": 1, "norm_num_groups": 8, "norm_eps": 1e-5,
        "flip_sin_to_cos": true, "freq_shift": 0, "downsample_padding": 1,
        "mid_block_scale_factor": 1, "use_linear_projection": false});
    write(dir, "unet/config.json", &unet)?;
    let map = VarMap::new();
    let pipeline_dir = dir.to_path_buf();
    let config = super::pipeline::unet_config(&pipeline_dir, &unet)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
    UNet2DConditionModel::new(
        VarBuilder::from_varmap(&map, DType::F32, &device),
        4,
        4,
        false,
        config,
    )?;
    map.save(dir.join("unet/diffusion_pytorch_model.safetensors"))?;

    let vae = json!({"_class_name": "AutoencoderKL", "block_out_channels": [32, 64],
        "layers_per_block": 1, "latent_channels": 4, "norm_num_groups": 8, "sample_size": 64,
        "scaling_factor": 0.18215});
    write(dir, "vae/config.json", &vae)?;
    let map = VarMap::new();
    AutoEncoderKL::new(
        VarBuilder::from_varmap(&map, DType::F32, &device),
        3,
        3,
        candle_transformers::models::stable_diffusion::vae::AutoEncoderKLConfig {
            block_out_channels: vec![32, 64],
            layers_per_block: 1,
            latent_channels: 4,
            norm_num_groups: 8,
            use_quant_conv: true,
            use_post_quant_conv: true,
        },
    )?;
    map.save(dir.join("vae/diffusion_pytorch_model.safetensors"))?;

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
