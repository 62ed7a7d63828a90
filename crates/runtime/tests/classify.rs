//! Reranking and classification on cross-encoders: the fused CPU encoder plus the checkpoint's
//! head against candle-transformers' BERT with the head written out in tensor ops, on tiny
//! models with the real layouts (no small trained cross-encoder is packaged on PyPI; see
//! testkit's `tiny_models`); and the engine's answers through the runtime.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use switchyard_runtime::classify::{softmax, CrossEncoder};
use switchyard_runtime::task::{Classify, Rerank};
use switchyard_runtime::{Event, ModelSettings, Runtime, Task, TaskKind};
use switchyard_testkit::tiny_models::{cross_encoder, CrossEncoderLayout};

/// candle-transformers' BERT and the BERT head (pooler, classifier) on `(query, doc)` pairs.
fn reference_logits(dir: &std::path::Path, pairs: &[(&str, &str)]) -> Vec<Vec<f32>> {
    let config: candle_transformers::models::bert::Config =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let tensors =
        candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let vb = VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu);
    let model = candle_transformers::models::bert::BertModel::load(vb.pp("bert"), &config).unwrap();
    let mut tokenizer = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).unwrap();
    // MiniLM's tokenizer.json pads to a fixed length: the reference runs unpadded
    tokenizer.with_padding(None);
    let h = config.hidden_size;
    let pooler_w = vb.get((h, h), "bert.pooler.dense.weight").unwrap();
    let pooler_b = vb.get(h, "bert.pooler.dense.bias").unwrap();
    let n = vb.get_unchecked("classifier.bias").unwrap().dim(0).unwrap();
    let cls_w = vb.get((n, h), "classifier.weight").unwrap();
    let cls_b = vb.get(n, "classifier.bias").unwrap();
    pairs
        .iter()
        .map(|&(q, d)| {
            let enc = tokenizer.encode((q, d), true).unwrap();
            let ids = Tensor::new(enc.get_ids(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let types = Tensor::new(enc.get_type_ids(), &Device::Cpu)
                .unwrap()
                .unsqueeze(0)
                .unwrap();
            let out = model.forward(&ids, &types, None).unwrap();
            let cls = out.get(0).unwrap().get(0).unwrap().unsqueeze(0).unwrap();
            let pooled = cls
                .matmul(&pooler_w.t().unwrap())
                .unwrap()
                .broadcast_add(&pooler_b)
                .unwrap()
                .tanh()
                .unwrap();
            let logits = pooled
                .matmul(&cls_w.t().unwrap())
                .unwrap()
                .broadcast_add(&cls_b)
                .unwrap();
            logits.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        })
        .collect()
}

const PAIRS: [(&str, &str); 3] = [
    (
        "where is the lighthouse",
        "The lighthouse stands on the northern cliff.",
    ),
    ("where is the lighthouse", "Bananas are rich in potassium."),
    ("where is the lighthouse", "a"),
];

#[test]
fn a_bert_cross_encoder_matches_candle_transformers_alone_and_batched() {
    let dir = tempfile::tempdir().unwrap();
    cross_encoder(dir.path(), CrossEncoderLayout::Bert, &["LABEL_0"], 7).unwrap();
    let model = CrossEncoder::load(dir.path()).unwrap();
    let expected = reference_logits(dir.path(), &PAIRS);
    let inputs: Vec<(&str, Option<&str>)> = PAIRS.iter().map(|&(q, d)| (q, Some(d))).collect();
    for batch in [1, 3] {
        let (logits, tokens) = model.logits(&inputs, batch).unwrap();
        for (got, want) in logits.iter().zip(&expected) {
            assert_eq!(got.len(), 1);
            assert!(
                (got[0] - want[0]).abs() < 1e-4,
                "batch {batch}: {got:?} vs {want:?}"
            );
        }
        assert!(tokens[0] > tokens[2], "{tokens:?}");
    }
    // different documents score differently (the head sees the pair, not a constant)
    let (logits, _) = model.logits(&inputs, 3).unwrap();
    assert!((logits[0][0] - logits[1][0]).abs() > 1e-5, "{logits:?}");
}

#[test]
fn a_roberta_cross_encoder_loads_its_own_head_and_positions() {
    let dir = tempfile::tempdir().unwrap();
    cross_encoder(dir.path(), CrossEncoderLayout::Roberta, &["LABEL_0"], 11).unwrap();
    let model = CrossEncoder::load(dir.path()).unwrap();
    let inputs: Vec<(&str, Option<&str>)> = PAIRS.iter().map(|&(q, d)| (q, Some(d))).collect();
    let (alone, _) = model.logits(&inputs[..1], 1).unwrap();
    let (batched, _) = model.logits(&inputs, 3).unwrap();
    assert!((alone[0][0] - batched[0][0]).abs() < 1e-4);
    assert!(batched.iter().all(|l| l.len() == 1 && l[0].is_finite()));
}

fn settings(dir: &std::path::Path, task: TaskKind) -> ModelSettings {
    ModelSettings::new("ce", task, dir.to_path_buf())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_scores_documents_and_classifies_texts() {
    let dir = tempfile::tempdir().unwrap();
    cross_encoder(dir.path(), CrossEncoderLayout::Bert, &["LABEL_0"], 7).unwrap();
    let expected = reference_logits(dir.path(), &PAIRS);
    let rt = Runtime::new(vec![settings(dir.path(), TaskKind::Rerank)]);
    let task = Task::Rerank(Rerank {
        query: PAIRS[0].0.into(),
        documents: PAIRS.iter().map(|p| p.1.to_owned()).collect(),
    });
    let mut events = rt.schedule("ce", task).await.unwrap();
    let Some(Event::Scores(scores)) = events.recv().await else {
        panic!("no scores")
    };
    for (s, l) in scores.iter().zip(&expected) {
        assert!(
            (s - 1.0 / (1.0 + (-l[0]).exp())).abs() < 1e-4,
            "{s} vs sigmoid({})",
            l[0]
        );
    }
    assert!(matches!(events.recv().await, Some(Event::Done { counts, .. }) if counts.input > 10));
    // an empty list is a 400 before it queues
    let empty = Task::Rerank(Rerank {
        query: "q".into(),
        documents: vec![],
    });
    assert_eq!(rt.schedule("ce", empty).await.unwrap_err().status(), 400);

    let sentiment = tempfile::tempdir().unwrap();
    cross_encoder(
        sentiment.path(),
        CrossEncoderLayout::Bert,
        &["NEGATIVE", "POSITIVE"],
        3,
    )
    .unwrap();
    let model = CrossEncoder::load(sentiment.path()).unwrap();
    let (logits, _) = model.logits(&[("what a lovely day", None)], 1).unwrap();
    let probs = softmax(&logits[0]);
    let rt = Runtime::new(vec![settings(
        sentiment.path(),
        TaskKind::TextClassification,
    )]);
    let mut events = rt
        .schedule(
            "ce",
            Task::Classify(Classify {
                inputs: vec!["what a lovely day".into()],
            }),
        )
        .await
        .unwrap();
    let Some(Event::Classes(classes)) = events.recv().await else {
        panic!("no classes")
    };
    let got = &classes[0];
    assert_eq!(got.len(), 2);
    assert!(got[0].1 >= got[1].1, "likeliest first: {got:?}");
    assert!((got[0].1 + got[1].1 - 1.0).abs() < 1e-5);
    let neg = got.iter().find(|(l, _)| l == "NEGATIVE").unwrap().1;
    assert!((neg - probs[0]).abs() < 1e-5);
}
