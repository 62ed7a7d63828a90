//! Whisper's input: 16 kHz mono samples → log-mel spectrogram (25 ms Hann windows every 10 ms,
//! the filter bank below), padded as Whisper was trained. The same computation as candle's
//! `pcm_to_mel`, with the windows' FFTs planned once (rustfft) and run over the cores — candle
//! recomputes its twiddle factors with sin/cos in every window and recursion.

use std::sync::Arc;

use candle_transformers::models::whisper::{Config, CHUNK_LENGTH, HOP_LENGTH, N_FFT, SAMPLE_RATE};
use rayon::prelude::*;
use rustfft::num_complex::Complex;

/// Hz → mel on the Slaney scale (linear below 1 kHz, logarithmic above), as librosa's default.
fn hz_to_mel(hz: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

fn mel_to_hz(mel: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// The mel filter bank Whisper was trained with (`librosa.filters.mel(sr=16000, n_fft=400,
/// n_mels=N)`, Slaney-normalised): `n_mels` rows of `N_FFT / 2 + 1` weights.
pub fn filters(n_mels: usize) -> Vec<f32> {
    let bins = N_FFT / 2 + 1;
    let sr = SAMPLE_RATE as f64;
    let fft_hz: Vec<f64> = (0..bins).map(|i| i as f64 * sr / N_FFT as f64).collect();
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(sr / 2.0));
    let points: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = vec![0f32; n_mels * bins];
    for m in 0..n_mels {
        let (left, center, right) = (points[m], points[m + 1], points[m + 2]);
        // Slaney normalisation: each filter has the same area
        let norm = 2.0 / (right - left);
        for (k, &f) in fft_hz.iter().enumerate() {
            let rising = (f - left) / (center - left);
            let falling = (right - f) / (right - center);
            let w = rising.min(falling).max(0.0);
            out[m * bins + k] = (w * norm) as f32;
        }
    }
    out
}

/// The log-mel spectrogram of `pcm` (16 kHz mono): `config.num_mel_bins` rows, row-major, with
/// at least 30 s of padding after the audio (Whisper's windows are 30 s).
pub fn log_mel(config: &Config, pcm: &[f32], filters: &[f32]) -> Vec<f32> {
    let n_mel = config.num_mel_bins;
    let bins = N_FFT / 2 + 1;
    let hann: Vec<f32> = (0..N_FFT)
        .map(|i| 0.5 * (1.0 - (std::f32::consts::TAU * i as f32 / N_FFT as f32).cos()))
        .collect();
    // at least one more 30 s chunk of frames after the audio, in whole half-chunks
    let pad = 100 * CHUNK_LENGTH / 2;
    let frames = (pcm.len() / HOP_LENGTH).div_ceil(pad) * pad + pad;
    let fft: Arc<dyn rustfft::Fft<f32>> = rustfft::FftPlanner::new().plan_fft_forward(N_FFT);
    // every frame, the padding's included (silence: the floor after clamping)
    let columns: Vec<Vec<f32>> = (0..frames)
        .into_par_iter()
        .map_init(
            || {
                let scratch = vec![Complex::default(); fft.get_inplace_scratch_len()];
                (vec![Complex::default(); N_FFT], scratch, vec![0f32; bins])
            },
            |(buf, scratch, power), i| {
                let at = i * HOP_LENGTH;
                for (j, b) in buf.iter_mut().enumerate() {
                    let x = pcm.get(at + j).copied().unwrap_or(0.0);
                    *b = Complex::new(hann[j] * x, 0.0);
                }
                fft.process_with_scratch(buf, scratch);
                // the one-sided power spectrum (the mirrored half added in)
                for (j, p) in power.iter_mut().enumerate() {
                    *p = buf[j].norm_sqr();
                    if (1..N_FFT / 2).contains(&j) {
                        *p += buf[N_FFT - j].norm_sqr();
                    }
                }
                (0..n_mel)
                    .map(|m| {
                        let row = &filters[m * bins..(m + 1) * bins];
                        let sum: f32 = row.iter().zip(power.iter()).map(|(w, p)| w * p).sum();
                        sum.max(1e-10).log10()
                    })
                    .collect()
            },
        )
        .collect();
    let mut mel = vec![0f32; n_mel * frames];
    for (i, column) in columns.iter().enumerate() {
        for (m, v) in column.iter().enumerate() {
            mel[m * frames + i] = *v;
        }
    }
    let max = mel.iter().copied().fold(f32::NEG_INFINITY, f32::max) - 8.0;
    for v in &mut mel {
        *v = v.max(max) / 4.0 + 1.0;
    }
    mel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spectrogram_is_candles() {
        let config: Config = serde_json::from_value(serde_json::json!({
            "num_mel_bins": 80, "max_source_positions": 1500, "d_model": 384,
            "encoder_attention_heads": 6, "encoder_layers": 4, "vocab_size": 51864,
            "max_target_positions": 448, "decoder_attention_heads": 6, "decoder_layers": 4,
            "suppress_tokens": []
        }))
        .unwrap();
        // a chirp with some noise, 3.3 s
        let pcm: Vec<f32> = (0..52_800)
            .map(|i| {
                let t = i as f32 / 16_000.0;
                (t * (300.0 + 400.0 * t) * std::f32::consts::TAU).sin() * 0.4
                    + ((i * 7919) % 101) as f32 / 1010.0
            })
            .collect();
        let f = filters(80);
        let ours = log_mel(&config, &pcm, &f);
        let theirs = candle_transformers::models::whisper::audio::pcm_to_mel(&config, &pcm, &f);
        assert_eq!(ours.len(), theirs.len());
        let worst = ours
            .iter()
            .zip(&theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        // another FFT: rounding differs, most in the faintest bins
        assert!(worst < 1e-3, "largest difference {worst}");
    }

    #[test]
    fn the_mel_scale_round_trips_and_the_bank_covers_the_spectrum() {
        for hz in [0.0, 440.0, 1000.0, 3000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6, "{hz}");
        }
        let f = filters(80);
        assert_eq!(f.len(), 80 * 201);
        // the values of Whisper's own `mel_filters.npz` (librosa's bank for these settings)
        assert!((f[1] - 0.024_862_594).abs() < 1e-7, "{}", f[1]);
        let row10: Vec<f32> = f[10 * 201..11 * 201]
            .iter()
            .copied()
            .filter(|w| *w > 0.0)
            .collect();
        assert_eq!(row10.len(), 2);
        assert!((row10[0] - 0.019_908).abs() < 1e-6 && (row10[1] - 0.004_954).abs() < 1e-6);
        let last = f[79 * 201..].iter().copied().fold(0f32, f32::max);
        assert!((last - 0.003_164_712).abs() < 1e-7, "{last}");
        // every filter has some weight, none is negative
        for m in 0..80 {
            let row = &f[m * 201..(m + 1) * 201];
            assert!(row.iter().all(|w| *w >= 0.0));
            assert!(row.iter().any(|w| *w > 0.0), "filter {m}");
        }
    }
}
