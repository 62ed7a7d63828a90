//! The validated work a model is given ([`Task`]) and what comes back ([`Event`]), plus the
//! [`Backend`] trait every engine implements.

use tokio::sync::mpsc;

use crate::RuntimeError;

/// Sampling parameters, already checked for range.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// 0 = greedy.
    pub temperature: f32,
    pub top_p: f32,
    /// 0 = off.
    pub top_k: i32,
    /// 0 = off.
    pub min_p: f32,
    pub seed: u32,
    /// 1 = off.
    pub repetition_penalty: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            temperature: 0.7,
            top_p: 1.0,
            top_k: 0,
            min_p: 0.0,
            seed: 0xFFFF_FFFF,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
        }
    }
}

/// One chat message, as the chat template sees it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Message {
    pub role: String,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// What the model continues.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// Rendered with the model's chat template. `tools` are the OpenAI tool definitions.
    Chat {
        messages: Vec<Message>,
        tools: Vec<serde_json::Value>,
    },
    /// Raw text, tokenized as is (`/v1/completions`).
    Text(String),
}

/// How the output is constrained.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    None,
    /// Any JSON object (`response_format: json_object`).
    JsonObject,
    /// JSON matching this schema.
    JsonSchema(serde_json::Value),
    /// A call of one of these tools: `{"name": …, "arguments": {…}}`; `required` forbids plain
    /// text.
    Tools {
        tools: Vec<serde_json::Value>,
        required: bool,
    },
}

/// A text-generation request, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Generate {
    pub prompt: Prompt,
    /// `None` = until the context is full or the model stops.
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub sampling: Sampling,
    pub constraint: Constraint,
    /// Never end the turn: generate exactly `max_tokens` (benchmarks; llama.cpp's `ignore_eos`).
    pub ignore_eos: bool,
    /// Report each generated token's log-probability ([`Event::Logprob`]).
    pub logprobs: bool,
}

/// A generated token and its log-probability under the model (before sampling settings).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    /// The token's text (a piece of a multi-byte character shows as U+FFFD; `bytes` has it).
    pub token: String,
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

/// An embeddings request.
#[derive(Debug, Clone, PartialEq)]
pub struct Embed {
    pub inputs: Vec<String>,
    /// Cut inputs longer than the model takes (routing and training embeddings) instead of
    /// refusing them (client requests: a 400, never silent truncation).
    pub truncate: bool,
}

/// A speech-to-text request: an audio file as uploaded (decoded on the model's thread).
#[derive(Debug, Clone, PartialEq)]
pub struct Transcribe {
    pub audio: Vec<u8>,
    /// Its extension or MIME type, when the upload said.
    pub format: Option<String>,
    /// The language spoken (`en`, `english`); heard from the audio when not given.
    pub language: Option<String>,
    /// Answer in English whatever is spoken (Whisper's translate task).
    pub translate: bool,
    /// Text the audio follows on from (names, spellings, style), as OpenAI's `prompt`.
    pub prompt: Option<String>,
    /// Each segment's words with their times.
    pub words: bool,
}

/// A reranking request: how relevant each document is to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Rerank {
    pub query: String,
    pub documents: Vec<String>,
}

/// A text-classification request: each text's class probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Classify {
    pub inputs: Vec<String>,
}

/// A text-to-image request; what it leaves out comes from the model.
#[derive(Debug, Clone, PartialEq)]
pub struct TextToImage {
    pub prompt: String,
    /// What the image should not show (the unconditional side of guidance).
    pub negative_prompt: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub steps: Option<u32>,
    pub guidance: Option<f32>,
    /// The same seed, prompt and settings give the same image; the n-th image uses `seed + n`.
    pub seed: Option<u64>,
    /// Images to make.
    pub n: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    Generate(Generate),
    Embed(Embed),
    Transcribe(Transcribe),
    Rerank(Rerank),
    Classify(Classify),
    Imagine(TextToImage),
}

impl Task {
    pub fn kind(&self) -> TaskKind {
        match self {
            Task::Generate(_) => TaskKind::TextGeneration,
            Task::Embed(_) => TaskKind::Embeddings,
            Task::Transcribe(_) => TaskKind::SpeechRecognition,
            Task::Rerank(_) => TaskKind::Rerank,
            Task::Classify(_) => TaskKind::TextClassification,
            Task::Imagine(_) => TaskKind::TextToImage,
        }
    }
}

/// What a model does (`task` in `[[models]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    TextGeneration,
    Embeddings,
    /// Whisper: audio in, its transcript out.
    SpeechRecognition,
    /// A cross-encoder scoring documents against a query.
    Rerank,
    /// A sequence classifier: text in, class probabilities out.
    TextClassification,
    /// Stable Diffusion: a prompt in, PNG images out.
    TextToImage,
}

impl TaskKind {
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::TextGeneration => "text-generation",
            TaskKind::Embeddings => "embeddings",
            TaskKind::SpeechRecognition => "speech-recognition",
            TaskKind::Rerank => "rerank",
            TaskKind::TextClassification => "text-classification",
            TaskKind::TextToImage => "text-to-image",
        }
    }

    /// Workers AI's task name.
    pub fn workers_ai_name(self) -> &'static str {
        match self {
            TaskKind::TextGeneration => "Text Generation",
            TaskKind::Embeddings => "Text Embeddings",
            TaskKind::SpeechRecognition => "Automatic Speech Recognition",
            // Workers AI lists its rerankers (bge-reranker-base) as text classification
            TaskKind::Rerank | TaskKind::TextClassification => "Text Classification",
            TaskKind::TextToImage => "Text-to-Image",
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model ended its turn, or a stop sequence matched.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// A tool call was generated.
    ToolCalls,
}

/// Token counts of one request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub input: u64,
    pub output: u64,
}

/// A stretch of a transcript with its times (seconds from the start of the audio).
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub start: f32,
    pub end: f32,
    pub text: String,
    /// Its words with their times, when they were asked for.
    pub words: Vec<Word>,
}

/// A word of a transcript with its times (seconds from the start of the audio).
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    pub word: String,
    pub start: f32,
    pub end: f32,
}

/// One step of a task's output.
#[derive(Debug, Clone)]
pub enum Event {
    /// Generated text (valid UTF-8, stop sequences already cut).
    Text(String),
    /// A generated token's log-probability (when asked for), before the text it released.
    Logprob(TokenLogprob),
    /// The embeddings, one per input, in order.
    Vectors(Vec<Vec<f32>>),
    /// A transcript's segments, with their times (before its `Text`).
    Segments(Vec<Segment>),
    /// The language a transcript was heard in (Whisper's code), before its `Text`.
    Language(String),
    /// A reranking's relevance scores (0‥1), one per document, in order.
    Scores(Vec<f32>),
    /// A classification's labels with their probabilities, likeliest first, one list per text.
    Classes(Vec<Vec<(String, f32)>>),
    /// One generated image, a PNG file, and the seed that made it.
    Image { png: Vec<u8>, seed: u64 },
    /// The end: why, and the token counts.
    Done { finish: Finish, counts: Counts },
    /// The engine failed after the task started.
    Failed(RuntimeError),
}

/// A task's output, as the engine produces it. Dropping it cancels the task (its slot is freed
/// at the engine's next step).
pub type EventStream = mpsc::UnboundedReceiver<Event>;

/// An engine serving one loaded model (see STYLE.md: `schedule(valid request) -> stream`).
pub trait Backend: Send + Sync {
    /// Queues the task. Errors come back at once for invalid requests (400) and a full queue
    /// (429); later failures arrive as [`Event::Failed`].
    fn schedule(&self, task: Task) -> Result<EventStream, RuntimeError>;

    /// The context window in tokens (0 when the task has none).
    fn context_length(&self) -> u32;

    /// Whether the engine's thread still runs (it ends after the idle period).
    fn is_alive(&self) -> bool;

    /// Requests running now (not counting those queued).
    fn running(&self) -> usize;

    /// The prompt text a chat turns into (the chat template applied).
    fn render(&self, _prompt: &Prompt) -> Result<String, RuntimeError> {
        Err(RuntimeError::invalid(
            "model",
            "this model takes no prompts",
        ))
    }
}
