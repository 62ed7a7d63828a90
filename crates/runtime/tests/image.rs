//! Text-to-image on a tiny Stable Diffusion with the real architecture and random weights
//! (`image::tiny`; no small trained SD-family model is packaged): valid PNGs of the asked size,
//! the same image for the same seed, another for another seed or prompt, out-of-range settings
//! refused before they queue, and the tokenizer built from `vocab.json` + `merges.txt`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use switchyard_runtime::image::clip::ClipTokenizer;
use switchyard_runtime::image::tiny::write_tiny_model;
use switchyard_runtime::task::TextToImage;
use switchyard_runtime::{Event, ModelSettings, Runtime, Task, TaskKind};

fn ask(prompt: &str, seed: u64) -> TextToImage {
    TextToImage {
        prompt: prompt.into(),
        negative_prompt: String::new(),
        width: None,
        height: None,
        steps: Some(2),
        guidance: None,
        seed: Some(seed),
        n: 1,
    }
}

async fn images(rt: &Runtime, t: TextToImage) -> (Vec<Vec<u8>>, u64) {
    let mut events = rt.schedule("sd", Task::Imagine(t)).await.unwrap();
    let mut out = Vec::new();
    while let Some(e) = events.recv().await {
        match e {
            Event::Image { png, .. } => out.push(png),
            Event::Done { counts, .. } => return (out, counts.input),
            Event::Failed(e) => panic!("{e}"),
            _ => {}
        }
    }
    panic!("no Done")
}

/// (width, height, RGB rows) of a PNG.
fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seed_gives_the_same_png_of_the_asked_size() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path()).unwrap();
    let rt = Runtime::new(vec![ModelSettings::new(
        "sd",
        TaskKind::TextToImage,
        dir.path().to_path_buf(),
    )]);
    let (a, units) = images(&rt, ask("a lighthouse at dusk", 42)).await;
    assert_eq!(a.len(), 1);
    assert_eq!(units, 2, "2 steps on one 512×512 tile");
    let (w, h, pixels) = decode(&a[0]);
    assert_eq!((w, h), (64, 64), "the model's own size by default");
    assert!(pixels.iter().any(|&p| p != pixels[0]), "not a flat image");
    let (again, _) = images(&rt, ask("a lighthouse at dusk", 42)).await;
    assert_eq!(again, a, "same seed, same image");
    let (other, _) = images(&rt, ask("a lighthouse at dusk", 43)).await;
    assert_ne!(other, a);
    let (prompted, _) = images(&rt, ask("a red bicycle", 42)).await;
    assert_ne!(prompted, a, "the prompt conditions the image");

    // size, count, guidance with a negative prompt
    let mut t = ask("a lighthouse", 7);
    t.width = Some(96);
    t.height = Some(48);
    t.n = 2;
    t.guidance = Some(5.0);
    t.negative_prompt = "blurry".into();
    let (two, units) = images(&rt, t).await;
    assert_eq!(two.len(), 2);
    assert_eq!(units, 4);
    assert_ne!(two[0], two[1], "the second image uses the next seed");
    for png in &two {
        let (w, h, _) = decode(png);
        assert_eq!((w, h), (96, 48));
    }

    // refused before queueing, by name
    for (field, t) in [
        (
            "width",
            TextToImage {
                width: Some(30),
                ..ask("x", 1)
            },
        ),
        (
            "height",
            TextToImage {
                height: Some(4096),
                ..ask("x", 1)
            },
        ),
        (
            "num_steps",
            TextToImage {
                steps: Some(0),
                ..ask("x", 1)
            },
        ),
        (
            "n",
            TextToImage {
                n: 9,
                ..ask("x", 1)
            },
        ),
        ("prompt", ask(" ", 1)),
        (
            "guidance",
            TextToImage {
                guidance: Some(-1.0),
                ..ask("x", 1)
            },
        ),
    ] {
        let e = rt.schedule("sd", Task::Imagine(t)).await.unwrap_err();
        assert_eq!(e.status(), 400, "{field}");
        assert!(e.to_json().to_string().contains(field), "{field}: {e}");
    }
}

#[test]
fn clip_bpe_tokenizer_frames_and_pads_to_the_encoder_length() {
    let dir = tempfile::tempdir().unwrap();
    write_tiny_model(dir.path()).unwrap();
    let t = ClipTokenizer::load(&dir.path().join("tokenizer")).unwrap();
    let (ids, cut) = t.encode("Hi  there", 77).unwrap();
    assert_eq!((ids.len(), cut), (77, 0));
    // <|startoftext|> h i</w> t h e r e</w> <|endoftext|>, then padding
    assert_eq!(ids[0], 512);
    assert_eq!(ids[8], 513);
    assert!(ids[9..].iter().all(|&i| i == 513));
    let (upper, _) = t.encode("HI THERE", 77).unwrap();
    assert_eq!(upper, ids, "lower-cased, spaces folded");
    let (_, cut) = t.encode(&"word ".repeat(30), 77).unwrap();
    assert_eq!(cut, 30 * 4 - 75, "four tokens a word, 75 fit");
}
