//! The model's thread: owns the llama.cpp context, admits queued jobs into free sequence slots,
//! and runs one `decode` per step for every running sequence together — prompt chunks of new
//! ones and the next token of the others (continuous batching).

use std::sync::mpsc::{Sender, TryRecvError};
use std::sync::Arc;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use super::text::TextOut;
use super::Job;
use crate::queue::Jobs;
use crate::task::{Counts, Event, Finish};
use crate::RuntimeError;

/// Tokens decoded per step at most (prompt chunks of several sequences share it).
const STEP_TOKENS: usize = 512;

pub(crate) struct Setup {
    pub model: Arc<LlamaModel>,
    pub n_ctx_per_seq: u32,
    pub max_batch: u32,
    pub threads: u32,
    /// Sequences in slots, for [`crate::Backend::running`].
    pub running: Arc<std::sync::atomic::AtomicUsize>,
    pub name: String,
}

/// A running sequence.
struct Seq {
    job: Job,
    /// Prompt tokens already decoded.
    fed: usize,
    /// Next position in the sequence.
    pos: i32,
    /// The token to feed next (after the prompt).
    last: Option<LlamaToken>,
    generated: u32,
    /// Where this sequence's logits are in the current batch.
    logits_at: Option<i32>,
    text: TextOut,
}

pub(crate) fn run(
    backend: &'static LlamaBackend,
    setup: Setup,
    jobs: Jobs<Job>,
    ready: Sender<Result<(), RuntimeError>>,
) {
    let model = Arc::clone(&setup.model);
    let threads = super::thread_count(setup.threads);
    let params = LlamaContextParams::default()
        .with_n_ctx(super::nonzero(setup.n_ctx_per_seq * setup.max_batch))
        .with_n_batch(STEP_TOKENS as u32)
        .with_n_ubatch(STEP_TOKENS as u32)
        .with_n_seq_max(setup.max_batch)
        // one KV stream per sequence: a sequence attends over the same cells whatever else runs,
        // so greedy output does not change with the batch it shares (a unified cache did)
        .with_kv_unified(false)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(RuntimeError::load(format!(
                "model `{}`: cannot create a llama.cpp context: {e}",
                setup.name
            ))));
            return;
        }
    };
    let _ = ready.send(Ok(()));
    let mut slots: Vec<Option<Seq>> = (0..setup.max_batch).map(|_| None).collect();
    let mut batch = LlamaBatch::new(STEP_TOKENS, setup.max_batch as i32);
    loop {
        if !admit(&setup, &jobs, &mut slots) {
            break;
        }
        step(&model, &mut ctx, &mut batch, &mut slots);
        let n = slots.iter().filter(|s| s.is_some()).count();
        setup.running.store(n, std::sync::atomic::Ordering::Relaxed);
    }
    tracing::info!(model = %setup.name, "local model unloaded after its idle period");
}

/// Fills free slots from the queue; waits for work when nothing runs. False when the actor
/// should end (idle, or every handle dropped).
fn admit(setup: &Setup, jobs: &Jobs<Job>, slots: &mut [Option<Seq>]) -> bool {
    if !slots.iter().any(Option::is_some) {
        setup.running.store(0, std::sync::atomic::Ordering::Relaxed);
        match jobs.wait() {
            Some(job) => place(slots, job),
            None => return false,
        }
    }
    while slots.iter().any(Option::is_none) {
        match jobs.ready() {
            Ok(job) => place(slots, job),
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => return slots.iter().any(Option::is_some),
        }
    }
    true
}

fn place(slots: &mut [Option<Seq>], job: Job) {
    if let Some(free) = slots.iter_mut().find(|s| s.is_none()) {
        let stop = job.stop.clone();
        *free = Some(Seq {
            job,
            fed: 0,
            pos: 0,
            last: None,
            generated: 0,
            logits_at: None,
            text: TextOut::new(stop),
        });
    }
}

/// One decode for every running sequence, then one sampled token for each that produced logits.
fn step(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    batch: &mut LlamaBatch,
    slots: &mut [Option<Seq>],
) {
    // a client that went away frees its slot
    for (id, slot) in slots.iter_mut().enumerate() {
        if slot.as_ref().is_some_and(|s| s.job.events.is_closed()) {
            *slot = None;
            let _ = ctx.clear_kv_cache_seq(Some(id as u32), None, None);
        }
    }
    batch.clear();
    let mut room = STEP_TOKENS;
    // sequences past their prompt: one token each
    for (id, seq) in slots.iter_mut().enumerate() {
        let Some(seq) = seq else { continue };
        seq.logits_at = None;
        if let Some(token) = seq.last {
            if batch.add(token, seq.pos, &[id as i32], true).is_ok() {
                seq.logits_at = Some(batch.n_tokens() - 1);
                seq.pos += 1;
                room -= 1;
            }
        }
    }
    // then prompt chunks, in slot order, as far as the step has room
    for (id, seq) in slots.iter_mut().enumerate() {
        let Some(seq) = seq else { continue };
        if seq.last.is_some() || room == 0 {
            continue;
        }
        let take = (seq.job.tokens.len() - seq.fed).min(room);
        for i in seq.fed..seq.fed + take {
            let is_last = i + 1 == seq.job.tokens.len();
            if batch
                .add(seq.job.tokens[i], seq.pos, &[id as i32], is_last)
                .is_err()
            {
                break;
            }
            seq.pos += 1;
            if is_last {
                seq.logits_at = Some(batch.n_tokens() - 1);
            }
        }
        seq.fed += take;
        room -= take;
    }
    if batch.n_tokens() == 0 {
        return;
    }
    if let Err(e) = ctx.decode(batch) {
        let err = RuntimeError::engine(format!("llama.cpp decode failed: {e}"));
        for (id, slot) in slots.iter_mut().enumerate() {
            if let Some(seq) = slot.take() {
                let _ = seq.job.events.send(Event::Failed(err.clone()));
                let _ = ctx.clear_kv_cache_seq(Some(id as u32), None, None);
            }
        }
        return;
    }
    for (id, slot) in slots.iter_mut().enumerate() {
        let Some(seq) = slot else { continue };
        let Some(at) = seq.logits_at else { continue };
        if let Some(finish) = sample(model, ctx, seq, at) {
            let tail = seq.text.finish();
            if !tail.is_empty() {
                let _ = seq.job.events.send(Event::Text(tail));
            }
            let counts = Counts {
                input: seq.job.tokens.len() as u64,
                output: u64::from(seq.generated),
            };
            let _ = seq.job.events.send(Event::Done { finish, counts });
            *slot = None;
            let _ = ctx.clear_kv_cache_seq(Some(id as u32), None, None);
        }
    }
}

/// Draws the sequence's next token and sends its text; `Some` when the sequence ends.
fn sample(model: &LlamaModel, ctx: &LlamaContext<'_>, seq: &mut Seq, at: i32) -> Option<Finish> {
    let token = seq.job.sampler.sample(ctx, at);
    let vocab = model.vocab();
    if vocab.is_eog(token) {
        return Some(Finish::Stop);
    }
    seq.generated += 1;
    seq.last = Some(token);
    let piece = vocab.token_to_piece(token, false, None);
    if seq.job.logprobs {
        let logprob = logprob(ctx.get_logits_ith(at), token.0 as usize);
        let _ = seq
            .job
            .events
            .send(Event::Logprob(crate::task::TokenLogprob {
                token: String::from_utf8_lossy(&piece).into_owned(),
                bytes: piece.clone(),
                logprob,
            }));
    }
    let released = seq.text.push(&piece);
    if !released.text.is_empty() {
        let _ = seq.job.events.send(Event::Text(released.text));
    }
    if released.stopped {
        return Some(Finish::Stop);
    }
    if seq.generated >= seq.job.max_tokens {
        return Some(Finish::Length);
    }
    None
}

/// `log softmax(logits)[token]`: the model's own log-probability of the token, whatever the
/// sampling settings did.
fn logprob(logits: &[f32], token: usize) -> f32 {
    let Some(&x) = logits.get(token) else {
        return f32::NEG_INFINITY;
    };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|l| (l - max).exp()).sum();
    x - max - sum.ln()
}
