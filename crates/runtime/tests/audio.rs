//! Audio files as sox writes them — WAV (16-bit, 24-bit, float), FLAC, Ogg Vorbis; 8 to 48 kHz;
//! mono and stereo — decoded to 16 kHz mono with their length and pitch kept.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use switchyard_runtime::audio;

fn frequency(x: &[f32]) -> f64 {
    let ups = x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count();
    ups as f64 * 16_000.0 / x.len() as f64
}

#[test]
fn common_formats_decode_to_16khz_mono() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("a.wav", vec!["-r", "44100", "-c", "2", "-b", "16"]),
        ("b.wav", vec!["-r", "48000", "-c", "1", "-b", "24"]),
        (
            "c.wav",
            vec!["-r", "22050", "-c", "1", "-e", "floating-point", "-b", "32"],
        ),
        ("d.flac", vec!["-r", "44100", "-c", "2"]),
        ("e.ogg", vec!["-r", "44100", "-c", "2"]),
        ("f.wav", vec!["-r", "8000", "-c", "1", "-b", "16"]),
    ];
    for (name, args) in cases {
        let path = dir.path().join(name);
        let ok = Command::new("sox")
            .args(["-n"])
            .args(&args)
            .arg(&path)
            .args(["synth", "1.5", "sine", "440", "vol", "0.5"])
            .status()
            .expect("sox runs (scripts/install-deps.sh installs it)");
        assert!(ok.success(), "{name}");
        let ext = name.rsplit('.').next();
        let pcm = audio::decode(std::fs::read(&path).unwrap(), ext, 60).unwrap();
        // Vorbis frames pad the end a little
        assert!(
            (pcm.len() as i64 - 24_000).abs() < 800,
            "{name}: {}",
            pcm.len()
        );
        assert!(
            (frequency(&pcm) - 440.0).abs() < 5.0,
            "{name}: {}",
            frequency(&pcm)
        );
        // and without a hint, from the bytes alone
        let unhinted = audio::decode(std::fs::read(&path).unwrap(), None, 60).unwrap();
        assert_eq!(unhinted.len(), pcm.len(), "{name}");
    }
    // longer than allowed: refused before the whole file is expanded
    let long = dir.path().join("long.flac");
    let ok = Command::new("sox")
        .args(["-n", "-r", "16000", "-c", "1"])
        .arg(&long)
        .args(["synth", "5", "sine", "440"])
        .status()
        .unwrap();
    assert!(ok.success());
    let e = audio::decode(std::fs::read(&long).unwrap(), Some("flac"), 2).unwrap_err();
    assert!(e.to_string().contains("longer than 2 s"), "{e}");
}
