//! The image pipeline's own layers against references on the same weights: convolution (1×1,
//! 3×3, stride 2, and inputs large enough to run in bands of rows), group norm with and
//! without SiLU, linear layers and GEGLU against candle's operations, blocked multi-head
//! attention against the plain softmax(QKᵀ)V, and the whole UNet and autoencoder decoder
//! against diffusers' outputs on the seeded tiny model (`golden/sd_reference.json`; candle's
//! own UNet does not match diffusers on it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::VarBuilder;
use switchyard_runtime::image::ops::{exp, Conv2d, GroupNorm};
use switchyard_runtime::image::pipeline::gaussian;
use switchyard_runtime::image::tiny::write_tiny_model;
use switchyard_runtime::image::tokens::{attention_heads, geglu, Linear};
use switchyard_runtime::image::unet::{Level, Unet, UnetConfig};
use switchyard_runtime::image::vae::{Decoder, VaeConfig};

/// The largest magnitude in `t`.
fn max_abs(t: &Tensor) -> f32 {
    let flat = t.abs().unwrap().flatten_all().unwrap();
    flat.max(0).unwrap().to_scalar::<f32>().unwrap()
}

/// The largest difference, relative to the reference's largest magnitude.
fn relative_error(ours: &Tensor, reference: &Tensor) -> f32 {
    assert_eq!(ours.dims(), reference.dims());
    let scale = max_abs(reference);
    assert!(scale > 0.0, "the reference is all zeros");
    max_abs(&(ours - reference).unwrap()) / scale
}

fn weights(tensors: Vec<(&str, Tensor)>) -> VarBuilder<'static> {
    let map: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    VarBuilder::from_tensors(map, DType::F32, &Device::Cpu)
}

#[test]
fn convolution_matches_candle_in_every_shape_and_in_bands() {
    let cpu = Device::Cpu;
    // (batch, c_in, c_out, kernel, stride, padding, height, width)
    let cases = [
        (2, 3, 5, 3, 1, 1, 9, 7),
        (1, 4, 6, 3, 2, 1, 9, 8),
        (2, 5, 7, 1, 1, 0, 6, 6),
        (1, 3, 4, 3, 1, 0, 5, 6),
        // 288-deep patches × 512 columns: 113 rows a band, three bands
        (1, 32, 8, 3, 1, 1, 256, 512),
        (1, 32, 8, 3, 2, 1, 300, 1024),
    ];
    for (b, c_in, c_out, k, s, p, h, w) in cases {
        let weight = Tensor::randn(0f32, 1.0, (c_out, c_in, k, k), &cpu).unwrap();
        let bias = Tensor::randn(0f32, 1.0, c_out, &cpu).unwrap();
        let x = Tensor::randn(0f32, 1.0, (b, c_in, h, w), &cpu).unwrap();
        let conv = Conv2d::load(
            weights(vec![("weight", weight.clone()), ("bias", bias.clone())]),
            c_in,
            c_out,
            k,
            s,
            p,
        )
        .unwrap();
        let ours = conv.forward(&x).unwrap();
        let reference = x
            .conv2d(&weight, p, s, 1, 1)
            .unwrap()
            .broadcast_add(&bias.reshape((1, c_out, 1, 1)).unwrap())
            .unwrap();
        let e = relative_error(&ours, &reference);
        assert!(
            e < 1e-5,
            "conv {:?}: relative error {e}",
            (b, c_in, c_out, k, s, p, h, w)
        );
    }
}

#[test]
fn group_norm_matches_candle_with_and_without_silu() {
    let cpu = Device::Cpu;
    let (c, groups) = (12, 4);
    let gamma = Tensor::randn(1f32, 0.5, c, &cpu).unwrap();
    let beta = Tensor::randn(0f32, 0.5, c, &cpu).unwrap();
    let x = Tensor::randn(3f32, 2.0, (2, c, 5, 7), &cpu).unwrap();
    let ours = GroupNorm::load(
        weights(vec![("weight", gamma.clone()), ("bias", beta.clone())]),
        groups,
        c,
        1e-5,
    )
    .unwrap();
    let reference = candle_nn::GroupNorm::new(gamma, beta, c, groups, 1e-5)
        .unwrap()
        .forward(&x)
        .unwrap();
    assert!(relative_error(&ours.forward(&x, false).unwrap(), &reference) < 1e-5);
    let silu = candle_nn::ops::silu(&reference).unwrap();
    assert!(relative_error(&ours.forward(&x, true).unwrap(), &silu) < 1e-5);
}

#[test]
fn the_vectorising_exp_is_within_a_millionth_of_libm() {
    let mut worst = 0f32;
    for i in -8700..8799 {
        let x = i as f32 / 100.0 + 0.003;
        let (ours, reference) = (exp(x), x.exp());
        worst = worst.max(((ours - reference) / reference).abs());
    }
    assert!(worst < 1e-6, "worst relative error {worst}");
    assert_eq!(exp(-1000.0), exp(-87.0), "clamped below");
    assert!(exp(-1000.0) > 0.0 && exp(-1000.0) < 1e-37);
    assert!(exp(1000.0).is_finite(), "clamped above");
}

#[test]
fn linear_matches_candle_with_and_without_bias() {
    let cpu = Device::Cpu;
    let weight = Tensor::randn(0f32, 1.0, (6, 10), &cpu).unwrap();
    let bias = Tensor::randn(0f32, 1.0, 6, &cpu).unwrap();
    let x = Tensor::randn(0f32, 1.0, (2, 5, 10), &cpu).unwrap();
    let vb = weights(vec![("weight", weight.clone()), ("bias", bias.clone())]);
    for with_bias in [true, false] {
        let ours = Linear::load(vb.clone(), 10, 6, with_bias)
            .unwrap()
            .forward(&x)
            .unwrap();
        let reference = candle_nn::Linear::new(weight.clone(), with_bias.then(|| bias.clone()))
            .forward(&x)
            .unwrap();
        let e = relative_error(&ours, &reference);
        assert!(e < 1e-5, "bias {with_bias}: relative error {e}");
    }
    assert!(Linear::load(vb, 10, 6, true)
        .unwrap()
        .forward(&Tensor::zeros((2, 9), DType::F32, &cpu).unwrap())
        .is_err());
}

#[test]
fn geglu_is_the_first_half_times_the_exact_gelu_of_the_second() {
    let x = Tensor::randn(0f32, 2.0, (3, 5, 16), &Device::Cpu).unwrap();
    let reference =
        (x.narrow(2, 0, 8).unwrap() * x.narrow(2, 8, 8).unwrap().gelu_erf().unwrap()).unwrap();
    let e = relative_error(&geglu(&x).unwrap(), &reference);
    assert!(e < 1e-5, "relative error {e}");
}

#[test]
fn blocked_attention_matches_softmax_qk_v() {
    let cpu = Device::Cpu;
    // 100 queries: a full block of 64 and a partial one
    let (b, n, m, heads, d) = (2, 100, 77, 4, 8);
    let q = Tensor::randn(0f32, 1.0, (b, n, heads * d), &cpu).unwrap();
    let k = Tensor::randn(0f32, 1.0, (b, m, heads * d), &cpu).unwrap();
    let v = Tensor::randn(0f32, 1.0, (b, m, heads * d), &cpu).unwrap();
    let ours = attention_heads(&q, &k, &v, heads).unwrap();
    let split = |t: &Tensor, len: usize| {
        t.reshape((b, len, heads, d))
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .contiguous()
            .unwrap()
    };
    let scores =
        (split(&q, n).matmul(&split(&k, m).t().unwrap()).unwrap() / (d as f64).sqrt()).unwrap();
    let reference = candle_nn::ops::softmax_last_dim(&scores)
        .unwrap()
        .matmul(&split(&v, m))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .reshape((b, n, heads * d))
        .unwrap();
    let e = relative_error(&ours, &reference);
    assert!(e < 1e-5, "relative error {e}");
    assert!(
        attention_heads(&q, &k, &v, 3).is_err(),
        "12 × 8 wide is not 3 heads"
    );
}

fn mmap(path: &std::path::Path) -> VarBuilder<'static> {
    let tensors = candle_core::safetensors::load(path, &Device::Cpu).unwrap();
    VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu)
}

/// diffusers' outputs for the seeded tiny model and inputs (`golden/sd_reference.py`).
fn golden(key: &str, dims: &[usize]) -> Tensor {
    let all: HashMap<String, Vec<f32>> =
        serde_json::from_str(include_str!("golden/sd_reference.json")).unwrap();
    Tensor::from_vec(all[key].clone(), dims, &Device::Cpu).unwrap()
}

fn seeded(seed: u64, dims: &[usize]) -> Tensor {
    let n = dims.iter().product();
    Tensor::from_vec(gaussian(seed, n), dims, &Device::Cpu).unwrap()
}

#[test]
fn the_unet_and_the_decoder_match_diffusers_on_the_tiny_model() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path()).unwrap();
    // the tiny model's UNet: two levels, the first with attention
    let unet = Unet::load(
        mmap(&dir.path().join("unet/diffusion_pytorch_model.safetensors")),
        UnetConfig {
            in_channels: 4,
            out_channels: 4,
            levels: vec![
                Level {
                    channels: 32,
                    transformer_layers: Some(1),
                    heads: 4,
                },
                Level {
                    channels: 64,
                    transformer_layers: None,
                    heads: 4,
                },
            ],
            layers_per_block: 1,
            groups: 8,
            eps: 1e-5,
            cross_attention_dim: 32,
            flip_sin_to_cos: true,
            freq_shift: 0.0,
            downsample_padding: 1,
            mid_block_scale_factor: 1.0,
            use_linear_projection: false,
            center_input_sample: false,
        },
    )
    .unwrap();
    let latents = seeded(11, &[2, 4, 8, 12]);
    let context = seeded(12, &[2, 7, 32]);
    for t in [1, 500, 999] {
        let ours = unet.forward(&latents, f64::from(t), &context).unwrap();
        let e = relative_error(&ours, &golden(&format!("unet_t{t}"), &[2, 4, 8, 12]));
        assert!(e < 1e-4, "unet at t = {t}: relative error {e}");
    }

    let decoder = Decoder::load(
        mmap(&dir.path().join("vae/diffusion_pytorch_model.safetensors")),
        &VaeConfig {
            block_out_channels: vec![32, 64],
            layers_per_block: 1,
            latent_channels: 4,
            norm_num_groups: 8,
            use_post_quant_conv: true,
        },
    )
    .unwrap();
    let ours = decoder.decode(&seeded(13, &[1, 4, 6, 10])).unwrap();
    let e = relative_error(&ours, &golden("decoder", &[1, 3, 12, 20]));
    assert!(e < 1e-4, "decoder: relative error {e}");
}
