#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The engines on real small models: SmolLM2-135M (llama.cpp) and all-MiniLM-L6-v2 (candle).

use switchyard_runtime::task::{Constraint, Finish, Generate, Message, Prompt, Sampling};
use switchyard_runtime::{Event, ModelSettings, Runtime, Task, TaskKind};

fn smol(max_batch: u32) -> ModelSettings {
    let mut s = ModelSettings::new(
        "smol",
        TaskKind::TextGeneration,
        switchyard_testkit::models::smollm2(),
    );
    s.threads = 2;
    s.max_batch = max_batch;
    s.context_size = Some(1024);
    s
}

fn greedy(prompt: &str, max_tokens: u32) -> Task {
    Task::Generate(Generate {
        prompt: Prompt::Chat {
            messages: vec![Message {
                role: "user".into(),
                content: prompt.into(),
                tool_calls: None,
                tool_call_id: None,
            }],
            tools: vec![],
        },
        max_tokens: Some(max_tokens),
        stop: vec![],
        sampling: Sampling {
            temperature: 0.0,
            ..Sampling::default()
        },
        constraint: Constraint::None,
        ignore_eos: false,
        logprobs: false,
    })
}

async fn text_of(rt: &Runtime, task: Task) -> (String, Finish, switchyard_runtime::task::Counts) {
    let mut events = rt.schedule("smol", task).await.unwrap();
    let mut text = String::new();
    while let Some(e) = events.recv().await {
        match e {
            Event::Text(t) => text.push_str(&t),
            Event::Done { finish, counts } => return (text, finish, counts),
            Event::Failed(e) => panic!("failed: {e}"),
            Event::Vectors(_)
            | Event::Segments(_)
            | Event::Language(_)
            | Event::Scores(_)
            | Event::Classes(_)
            | Event::Image { .. } => {
                panic!("not a text model's output")
            }
            Event::Logprob(_) => panic!("logprobs not asked for"),
        }
    }
    panic!("stream ended without Done")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logprobs_come_one_per_generated_token() {
    let rt = Runtime::new(vec![smol(1)]);
    let Task::Generate(mut g) = greedy("What is the capital of France?", 12) else {
        unreachable!()
    };
    g.logprobs = true;
    let mut events = rt.schedule("smol", Task::Generate(g)).await.unwrap();
    let (mut text, mut tokens, mut logprobs) = (String::new(), Vec::new(), Vec::new());
    let counts = loop {
        match events.recv().await.unwrap() {
            Event::Text(t) => text.push_str(&t),
            Event::Logprob(l) => {
                tokens.extend_from_slice(&l.bytes);
                logprobs.push(l.logprob);
            }
            Event::Done { counts, .. } => break counts,
            e => panic!("{e:?}"),
        }
    };
    assert_eq!(logprobs.len() as u64, counts.output);
    assert_eq!(
        String::from_utf8(tokens).unwrap(),
        text,
        "the tokens spell the text"
    );
    assert!(
        logprobs.iter().all(|l| *l <= 0.0 && l.is_finite()),
        "{logprobs:?}"
    );
    // greedy picks the likeliest token: on average far above a uniform draw over the vocabulary
    let mean = logprobs.iter().sum::<f32>() / logprobs.len() as f32;
    assert!(mean > -3.0, "{mean}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_generation_is_deterministic_and_counts_tokens() {
    let rt = Runtime::new(vec![smol(1)]);
    let (a, finish, counts) = text_of(&rt, greedy("What is the capital of France?", 24)).await;
    let (b, _, _) = text_of(&rt, greedy("What is the capital of France?", 24)).await;
    assert_eq!(a, b);
    assert!(!a.is_empty());
    assert_eq!(finish, Finish::Length);
    assert_eq!(counts.output, 24);
    // the rendered chat template (SmolLM2's default system prompt included) is what was counted
    let rendered = rt
        .render("smol", &chat("What is the capital of France?"))
        .await
        .unwrap();
    assert_eq!(
        rendered,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    );
    assert_eq!(counts.input, 37);
}

fn chat(text: &str) -> Prompt {
    Prompt::Chat {
        messages: vec![Message {
            role: "user".into(),
            content: text.into(),
            tool_calls: None,
            tool_call_id: None,
        }],
        tools: vec![],
    }
}

const PROMPTS: [&str; 4] = [
    "Write a haiku about the sea.",
    "List three colours.",
    "What is 2 + 2?",
    "Say hello in French.",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn greedy_output_is_the_same_alone_and_batched() {
    let alone = Runtime::new(vec![smol(1)]);
    let mut expected = Vec::new();
    for p in PROMPTS {
        expected.push(text_of(&alone, greedy(p, 20)).await.0);
    }
    let batched = std::sync::Arc::new(Runtime::new(vec![smol(4)]));
    let runs = PROMPTS.map(|p| {
        let rt = std::sync::Arc::clone(&batched);
        tokio::spawn(async move { text_of(&rt, greedy(p, 20)).await.0 })
    });
    for (run, want) in runs.into_iter().zip(expected) {
        assert_eq!(run.await.unwrap(), want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sequences_and_max_tokens_are_honoured() {
    let rt = Runtime::new(vec![smol(1)]);
    let (full, _, _) = text_of(&rt, greedy("Count from one to ten in words.", 40)).await;
    // stop at the second word of the unconstrained answer
    let word = full.split_whitespace().nth(1).unwrap().to_owned();
    let Task::Generate(mut g) = greedy("Count from one to ten in words.", 40) else {
        unreachable!()
    };
    g.stop = vec![word.clone()];
    let (cut, finish, _) = text_of(&rt, Task::Generate(g)).await;
    assert_eq!(finish, Finish::Stop);
    assert!(!cut.contains(&word), "{cut:?} still holds {word:?}");
    assert!(full.starts_with(&cut), "{full:?} / {cut:?}");
    let (_, finish, counts) = text_of(&rt, greedy("Count from one to ten in words.", 3)).await;
    assert_eq!((finish, counts.output), (Finish::Length, 3));
    // "Hi" gets a short answer; with ignore_eos the model goes on to max_tokens
    let (_, finish, counts) = text_of(&rt, greedy("Hi", 200)).await;
    assert!(finish == Finish::Stop && counts.output < 200, "{counts:?}");
    let Task::Generate(mut g) = greedy("Hi", 200) else {
        unreachable!()
    };
    g.ignore_eos = true;
    let (_, finish, counts) = text_of(&rt, Task::Generate(g)).await;
    assert_eq!((finish, counts.output), (Finish::Length, 200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_beyond_the_context_is_refused_not_truncated() {
    let mut s = smol(1);
    s.context_size = Some(64);
    let rt = Runtime::new(vec![s]);
    let long = "word ".repeat(200);
    let err = rt.schedule("smol", greedy(&long, 8)).await.unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.message.contains("context is 64 tokens"), "{err}");
    let err = rt.schedule("smol", greedy("Hi", 60)).await.unwrap_err();
    assert_eq!((err.status(), err.param), (400, Some("max_tokens")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_output_is_valid_and_matches() {
    let rt = Runtime::new(vec![smol(1)]);
    let schema = serde_json::json!({
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"]
    });
    let Task::Generate(mut g) = greedy("Describe a person as JSON with a name and an age.", 120)
    else {
        unreachable!()
    };
    g.constraint = Constraint::JsonSchema(schema);
    let (text, finish, _) = text_of(&rt, Task::Generate(g)).await;
    assert_eq!(finish, Finish::Stop, "{text}");
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(v["name"].is_string(), "{v}");
    assert!(v["age"].is_i64() || v["age"].is_u64(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_refused_and_a_dropped_request_frees_its_slot() {
    let mut s = smol(1);
    s.queue = 1;
    let rt = Runtime::new(vec![s]);
    let mut first = rt
        .schedule("smol", greedy("Tell me a long story.", 900))
        .await
        .unwrap();
    assert!(matches!(first.recv().await, Some(Event::Text(_))));
    let second = rt.schedule("smol", greedy("Hi", 4)).await.unwrap();
    let err = rt.schedule("smol", greedy("Hi", 4)).await.unwrap_err();
    assert_eq!(err.status(), 429, "{err}");
    // the first client goes away: its slot is freed and the queued request runs at once
    drop(first);
    let mut second = second;
    let done = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while let Some(e) = second.recv().await {
            if let Event::Done { counts, .. } = e {
                return counts.output;
            }
        }
        0
    })
    .await
    .expect("the queued request never ran: the dropped one kept its slot");
    assert!(done > 0);
    // the actor counts its slots after each step: nothing runs once that step is over
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while rt.running("smol") != 0 {
        assert!(std::time::Instant::now() < deadline, "a slot stayed taken");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

fn minilm() -> ModelSettings {
    ModelSettings::new(
        "minilm",
        TaskKind::Embeddings,
        switchyard_testkit::models::minilm(),
    )
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_are_unit_384d_and_rank_by_meaning() {
    let rt = Runtime::new(vec![minilm()]);
    let inputs = [
        "A man is eating food.",
        "A man is eating a piece of bread.",
        "A cheetah is running behind its prey.",
        "The new movie is awesome.",
    ];
    let task = Task::Embed(switchyard_runtime::task::Embed {
        inputs: inputs.map(String::from).to_vec(),
        truncate: false,
    });
    let mut events = rt.schedule("minilm", task).await.unwrap();
    let Some(Event::Vectors(v)) = events.recv().await else {
        panic!("no vectors")
    };
    assert_eq!(v.len(), 4);
    for e in &v {
        assert_eq!(e.len(), 384);
        let norm: f32 = e.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
    let (bread, cheetah, movie) = (cos(&v[0], &v[1]), cos(&v[0], &v[2]), cos(&v[0], &v[3]));
    assert!((bread - 0.755).abs() < 0.01, "{bread}");
    assert!((cheetah - 0.14).abs() < 0.02, "{cheetah}");
    assert!((movie + 0.05).abs() < 0.03, "{movie}");
    assert!(bread > cheetah && cheetah > movie);
    let Some(Event::Done { counts, .. }) = events.recv().await else {
        panic!("no Done")
    };
    assert!(counts.input >= 4 * 7, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_load_on_first_use_and_unload_when_idle() {
    let mut s = smol(1);
    s.idle_unload = Some(std::time::Duration::from_millis(300));
    let rt = Runtime::new(vec![s, minilm()]);
    let loaded = |rt: &Runtime| -> Vec<(String, bool)> {
        rt.status()
            .into_iter()
            .map(|m| (m.name, m.loaded))
            .collect()
    };
    assert_eq!(
        loaded(&rt),
        [("minilm".into(), false), ("smol".into(), false)]
    );
    let first = text_of(&rt, greedy("Hi", 4)).await.0;
    assert_eq!(
        loaded(&rt),
        [("minilm".into(), false), ("smol".into(), true)]
    );
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert_eq!(
        loaded(&rt),
        [("minilm".into(), false), ("smol".into(), false)]
    );
    // the next request loads it again, with the same answer
    assert_eq!(text_of(&rt, greedy("Hi", 4)).await.0, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_embedding_inputs_are_refused_unless_truncation_is_asked_for() {
    let rt = Runtime::new(vec![minilm()]);
    let long = "word ".repeat(600);
    let task = |truncate| {
        Task::Embed(switchyard_runtime::task::Embed {
            inputs: vec![long.clone()],
            truncate,
        })
    };
    let err = rt.schedule("minilm", task(false)).await.unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.message.contains("at most 256"), "{err}");
    let mut events = rt.schedule("minilm", task(true)).await.unwrap();
    let Some(Event::Vectors(v)) = events.recv().await else {
        panic!("no vectors")
    };
    assert_eq!(v[0].len(), 384);
    let Some(Event::Done { counts, .. }) = events.recv().await else {
        panic!("no Done")
    };
    assert_eq!(counts.input, 256);
}

#[test]
fn fused_cpu_encoder_matches_candle_transformers() {
    use switchyard_runtime::embed::Encoder;
    let dir = switchyard_testkit::models::minilm();
    let (fused, reference) = (
        Encoder::load(&dir).unwrap(),
        Encoder::load_reference(&dir).unwrap(),
    );
    // mixed lengths: padding inside the batch, one long text
    let long = "The quick brown fox jumps over the lazy dog. ".repeat(20);
    let texts = [
        "A man is eating food.",
        "hi",
        long.as_str(),
        "Émile's café — naïve façade, 42 €.",
    ];
    let (a, na) = fused.embed(&texts, 3).unwrap();
    let (b, nb) = reference.embed(&texts, 3).unwrap();
    assert_eq!(na, nb);
    for (x, y) in a.iter().zip(&b) {
        let worst = x
            .iter()
            .zip(y)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "largest difference {worst}");
        assert!(cos(x, y) > 0.999_99);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedding_threads_setting_gives_the_same_vectors() {
    let mut one = minilm();
    one.threads = 1;
    let task = || {
        Task::Embed(switchyard_runtime::task::Embed {
            inputs: vec!["A man is eating food.".into(), "Thread counts".into()],
            truncate: false,
        })
    };
    let mut got = Vec::new();
    for settings in [one, minilm()] {
        let rt = Runtime::new(vec![settings]);
        let mut events = rt.schedule("minilm", task()).await.unwrap();
        let Some(Event::Vectors(v)) = events.recv().await else {
            panic!("no vectors")
        };
        got.push(v);
    }
    for (a, b) in got[0].iter().zip(&got[1]) {
        assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5));
    }
}
