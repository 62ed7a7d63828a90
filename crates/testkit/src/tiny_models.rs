//! Models with a real architecture and seeded random weights, written by the tests themselves
//! where no small trained model is packaged (see `models` for the real ones): the folders load
//! through the same code as downloaded checkpoints, and give the same numbers for the same seed.

use std::collections::BTreeMap;
use std::path::Path;

/// A deterministic generator (SplitMix64) of weights around zero.
struct Weights(u64);

impl Weights {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // uniform in [-1, 1)
        (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn tensor(&mut self, scale: f32, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

/// Tensors by name, with their shapes, written as one safetensors file (F32).
#[derive(Default)]
pub struct Tensors(BTreeMap<String, (Vec<usize>, Vec<f32>)>);

impl Tensors {
    pub fn put(&mut self, name: &str, shape: &[usize], data: Vec<f32>) {
        assert_eq!(shape.iter().product::<usize>(), data.len(), "{name}");
        self.0.insert(name.to_owned(), (shape.to_vec(), data));
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let mut header = serde_json::Map::new();
        let mut at = 0usize;
        for (name, (shape, data)) in &self.0 {
            let end = at + data.len() * 4;
            header.insert(
                name.clone(),
                serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [at, end]}),
            );
            at = end;
        }
        let mut head = serde_json::Value::Object(header).to_string().into_bytes();
        while !head.len().is_multiple_of(8) {
            head.push(b' ');
        }
        let mut out = Vec::with_capacity(8 + head.len() + at);
        out.extend_from_slice(&(head.len() as u64).to_le_bytes());
        out.extend_from_slice(&head);
        for (_, data) in self.0.values() {
            for x in data {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        std::fs::write(path, out)
    }
}

/// Which checkpoint layout a tiny cross-encoder copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrossEncoderLayout {
    /// `BertForSequenceClassification` (ms-marco MiniLM cross-encoders, distilbert-free
    /// sentiment classifiers): `bert.*`, `bert.pooler.dense`, `classifier`.
    Bert,
    /// `XLMRobertaForSequenceClassification` (bge-reranker): `roberta.*`, positions after the
    /// padding token, `classifier.dense` and `classifier.out_proj`.
    Roberta,
}

/// Writes a tiny cross-encoder (2 layers, hidden 32) into `dir`, with MiniLM's real WordPiece
/// tokenizer; `labels` become its `id2label` (one label: a reranker's single logit).
pub fn cross_encoder(
    dir: &Path,
    layout: CrossEncoderLayout,
    labels: &[&str],
    seed: u64,
) -> std::io::Result<()> {
    let (h, inter, layers, vocab) = (32usize, 64usize, 2usize, 30522usize);
    let roberta = layout == CrossEncoderLayout::Roberta;
    let positions = if roberta { 130 } else { 128 };
    let types = if roberta { 1 } else { 2 };
    let prefix = if roberta { "roberta" } else { "bert" };
    let mut w = Weights(seed);
    let mut t = Tensors::default();
    let mut put = |t: &mut Tensors, name: String, shape: &[usize], scale: f32| {
        let n = shape.iter().product();
        t.put(&name, shape, w.tensor(scale, n));
    };
    let e = format!("{prefix}.embeddings");
    put(
        &mut t,
        format!("{e}.word_embeddings.weight"),
        &[vocab, h],
        0.5,
    );
    put(
        &mut t,
        format!("{e}.position_embeddings.weight"),
        &[positions, h],
        0.1,
    );
    put(
        &mut t,
        format!("{e}.token_type_embeddings.weight"),
        &[types, h],
        0.1,
    );
    let norm = |t: &mut Tensors, at: String| {
        t.put(&format!("{at}.weight"), &[h], vec![1.0; h]);
        t.put(&format!("{at}.bias"), &[h], vec![0.0; h]);
    };
    norm(&mut t, format!("{e}.LayerNorm"));
    let mut dense = |t: &mut Tensors, at: String, out: usize, inp: usize| {
        put(t, format!("{at}.weight"), &[out, inp], 0.3);
        put(t, format!("{at}.bias"), &[out], 0.1);
    };
    for i in 0..layers {
        let l = format!("{prefix}.encoder.layer.{i}");
        for p in ["query", "key", "value"] {
            dense(&mut t, format!("{l}.attention.self.{p}"), h, h);
        }
        dense(&mut t, format!("{l}.attention.output.dense"), h, h);
        dense(&mut t, format!("{l}.intermediate.dense"), inter, h);
        dense(&mut t, format!("{l}.output.dense"), h, inter);
    }
    if roberta {
        dense(&mut t, "classifier.dense".into(), h, h);
        dense(&mut t, "classifier.out_proj".into(), labels.len(), h);
    } else {
        dense(&mut t, "bert.pooler.dense".into(), h, h);
        dense(&mut t, "classifier".into(), labels.len(), h);
    }
    for i in 0..layers {
        let l = format!("{prefix}.encoder.layer.{i}");
        norm(&mut t, format!("{l}.attention.output.LayerNorm"));
        norm(&mut t, format!("{l}.output.LayerNorm"));
    }
    std::fs::create_dir_all(dir)?;
    t.write(&dir.join("model.safetensors"))?;
    let id2label: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), serde_json::json!(l)))
        .collect();
    let mut config = serde_json::json!({
        "architectures": [if roberta { "XLMRobertaForSequenceClassification" } else { "BertForSequenceClassification" }],
        "model_type": if roberta { "xlm-roberta" } else { "bert" },
        "hidden_size": h, "num_hidden_layers": layers, "num_attention_heads": 4,
        "intermediate_size": inter, "max_position_embeddings": positions,
        "type_vocab_size": types, "vocab_size": vocab, "hidden_act": "gelu",
        "layer_norm_eps": 1e-12, "id2label": id2label, "num_labels": labels.len(),
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02, "pad_token_id": 0,
    });
    if roberta {
        config["pad_token_id"] = serde_json::json!(1);
        config["layer_norm_eps"] = serde_json::json!(1e-5);
    }
    std::fs::write(dir.join("config.json"), config.to_string())?;
    std::fs::copy(
        crate::models::minilm().join("tokenizer.json"),
        dir.join("tokenizer.json"),
    )?;
    Ok(())
}
