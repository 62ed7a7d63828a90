//! Audio as speech models read it: any common container (WAV, FLAC, Ogg Vorbis, MP3, MP4/AAC)
//! decoded in Rust, mixed down to mono and resampled to 16 kHz (windowed-sinc, anti-aliased).
//!
//! Decoding is bounded by duration, not by the compressed size the body limit already bounds: a
//! small file of silence can expand to hours of samples.

use std::io::Cursor;

use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as AudioError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::RuntimeError;

/// What speech models take.
pub const RATE: u32 = 16_000;

fn invalid(message: impl Into<String>) -> RuntimeError {
    RuntimeError::invalid("audio", message)
}

/// `bytes` (a whole audio file; `hint`: its extension or MIME type, when known) as 16 kHz mono
/// samples in -1..1, refused past `max_seconds`.
pub fn decode(
    bytes: Vec<u8>,
    hint: Option<&str>,
    max_seconds: u32,
) -> Result<Vec<f32>, RuntimeError> {
    // a decoder that trips over hostile input fails this request, not the process
    let run = std::panic::AssertUnwindSafe(|| decode_inner(bytes, hint, max_seconds));
    std::panic::catch_unwind(run)
        .unwrap_or_else(|_| Err(invalid("the audio could not be decoded (it is damaged)")))
}

fn decode_inner(
    bytes: Vec<u8>,
    hint: Option<&str>,
    max_seconds: u32,
) -> Result<Vec<f32>, RuntimeError> {
    if bytes.is_empty() {
        return Err(invalid("the audio is empty"));
    }
    let mut probe_hint = Hint::new();
    match hint {
        Some(h) if h.contains('/') => drop(probe_hint.mime_type(h)),
        Some(h) => drop(probe_hint.with_extension(h)),
        None => {}
    }
    let stream = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());
    let probed = symphonia::default::get_probe()
        .format(
            &probe_hint,
            stream,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| {
            invalid(format!(
                "not audio this server can read (WAV, FLAC, Ogg Vorbis, MP3, MP4/AAC): {e}"
            ))
        })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| invalid("the file has no audio track"))?;
    let track_id = track.id;
    let rate = track
        .codec_params
        .sample_rate
        .ok_or_else(|| invalid("the audio track has no sample rate"))?;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| invalid(format!("the audio codec is not supported: {e}")))?;
    let limit = rate as usize * max_seconds as usize;
    let mut mono: Vec<f32> = Vec::new();
    let mut buffer: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(AudioError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(AudioError::ResetRequired) => break,
            Err(e) => return Err(invalid(format!("the audio could not be read: {e}"))),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // a damaged packet is skipped, as players do
            Err(AudioError::DecodeError(_)) => continue,
            Err(e) => return Err(invalid(format!("the audio could not be decoded: {e}"))),
        };
        let channels = decoded.spec().channels.count().max(1);
        let frames = decoded.frames();
        if frames == 0 {
            continue; // headers (Vorbis) decode to nothing
        }
        let samples =
            buffer.get_or_insert_with(|| SampleBuffer::new(frames as u64, *decoded.spec()));
        if samples.capacity() < frames * channels {
            *samples = SampleBuffer::new(frames as u64, *decoded.spec());
        }
        samples.copy_interleaved_ref(decoded);
        mono.extend(
            samples
                .samples()
                .chunks_exact(channels)
                .map(|frame| frame.iter().sum::<f32>() / channels as f32),
        );
        if mono.len() > limit {
            return Err(invalid(format!(
                "the audio is longer than {max_seconds} s, the most one request may carry"
            )));
        }
    }
    if mono.is_empty() {
        return Err(invalid("the audio has no samples"));
    }
    Ok(resample(&mono, rate, RATE))
}

/// `x` at `from` Hz resampled to `to` Hz: a Blackman-windowed sinc, 16 zero crossings each side,
/// cut off below the lower of the two Nyquist frequencies (no aliasing when downsampling). The
/// kernel is tabulated once per phase (`to / gcd` of them: 320 for 22.05 kHz, 160 for 44.1 kHz),
/// so each sample costs only its multiply-adds.
pub fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    if from == to || x.is_empty() || from == 0 || to == 0 {
        return x.to_vec();
    }
    const ZEROS: f64 = 16.0;
    let step = f64::from(from) / f64::from(to);
    let cutoff = 0.97 * (1.0 / step).min(1.0);
    // the kernel's half-width, in input samples
    let half = ZEROS / cutoff;
    let width = half.ceil() as i64;
    let g = gcd(from, to);
    let (up, down) = (u64::from(to / g), u64::from(from / g));
    let kernel = |d: f64| -> f64 {
        if d.abs() >= half {
            return 0.0;
        }
        let arg = d * cutoff;
        let sinc = if arg.abs() < 1e-12 {
            1.0
        } else {
            (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg)
        };
        let p = (d / half + 1.0) / 2.0;
        let window = 0.42 - 0.5 * (2.0 * std::f64::consts::PI * p).cos()
            + 0.08 * (4.0 * std::f64::consts::PI * p).cos();
        sinc * window
    };
    let taps = (2 * width + 1) as usize;
    // one row of taps per phase (`phase / up` of an input sample past the nearest one below)
    let phases = up.min(4096) as usize;
    let exact = up as usize == phases;
    let table: Vec<f32> = (0..phases)
        .flat_map(|p| {
            let frac = p as f64 / phases as f64;
            (0..taps).map(move |k| kernel((k as i64 - width) as f64 - frac) as f32)
        })
        .collect();
    let n_out = ((x.len() as u64 * up) / down) as usize;
    let mut out = Vec::with_capacity(n_out);
    for j in 0..n_out as u64 {
        let pos = j * down;
        let base = (pos / up) as i64;
        let phase = if exact {
            (pos % up) as usize
        } else {
            ((pos % up) as f64 / up as f64 * phases as f64) as usize % phases
        };
        let row = &table[phase * taps..(phase + 1) * taps];
        let first = (base - width).max(0);
        let last = (base + width).min(x.len() as i64 - 1);
        let mut acc = 0.0f32;
        let mut weight = 0.0f32;
        for i in first..=last {
            let h = row[(i - base + width) as usize];
            acc += x[i as usize] * h;
            weight += h;
        }
        // normalised by the kernel's sum: unity gain at DC, also at the edges
        out.push(if weight.abs() > 1e-9 {
            acc / weight
        } else {
            0.0
        });
    }
    out
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, rate: u32, seconds: f64) -> Vec<f32> {
        (0..(f64::from(rate) * seconds) as usize)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as f32
            })
            .collect()
    }

    fn rms(x: &[f32]) -> f64 {
        // away from the edges
        let x = &x[x.len() / 10..x.len() * 9 / 10];
        (x.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    /// Upward zero crossings per second.
    fn frequency(x: &[f32], rate: u32) -> f64 {
        let ups = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
        ups as f64 * f64::from(rate) / x.len() as f64
    }

    #[test]
    fn a_tone_keeps_its_pitch_and_loudness_and_what_cannot_be_kept_is_filtered_out() {
        for from in [44_100, 48_000, 22_050, 8_000, 44_123] {
            let y = resample(&tone(440.0, from, 1.0), from, RATE);
            assert!((y.len() as i64 - 16_000).abs() <= 1, "{from}: {}", y.len());
            assert!(
                (frequency(&y, RATE) - 440.0).abs() < 3.0,
                "{from}: {}",
                frequency(&y, RATE)
            );
            assert!(
                (rms(&y) - 0.5 / 2f64.sqrt()).abs() < 0.01,
                "{from}: {}",
                rms(&y)
            );
        }
        // 12 kHz cannot exist at 16 kHz: it is removed, not folded down to 4 kHz
        let y = resample(&tone(12_000.0, 44_100, 1.0), 44_100, RATE);
        assert!(rms(&y) < 0.01, "{}", rms(&y));
    }

    #[test]
    fn random_and_cut_files_are_refused_without_a_panic() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..300 {
            let len = (next() % 4096) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // half of them start like a real container
            let magic: &[&[u8]] = &[
                b"RIFF\x24\x08\0\0WAVEfmt ",
                b"fLaC",
                b"OggS",
                b"ID3",
                b"\0\0\0\x20ftypM4A ",
            ];
            if round % 2 == 0 {
                let m = magic[round / 2 % magic.len()];
                bytes.splice(0..0, m.iter().copied());
            }
            let hint = ["wav", "flac", "ogg", "mp3", "m4a", "audio/mpeg"][round % 6];
            let _ = decode(bytes.clone(), Some(hint), 5);
            let _ = decode(bytes, None, 5);
        }
    }

    #[test]
    fn what_is_not_audio_is_refused() {
        assert!(decode(Vec::new(), None, 60).is_err());
        assert!(decode(b"definitely not audio, just some text".to_vec(), None, 60).is_err());
        assert!(decode(vec![0u8; 4096], Some("wav"), 60).is_err());
    }
}
