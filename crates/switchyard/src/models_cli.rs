//! `switchyard models pull|list|rm` and `switchyard run MODEL "prompt"`.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use switchyard_config::{Config, LocalModel, ModelSource};
use switchyard_runtime::hub::{Hub, HubSource};
use switchyard_runtime::task::{Constraint, Generate, Message, Prompt, Sampling};
use switchyard_runtime::{Event, ModelSettings, Runtime, Task, TaskKind};

use crate::cli::ModelsCommand;

pub async fn run(config: &Config, command: ModelsCommand) -> anyhow::Result<()> {
    let dir = &config.runtime.models_dir;
    match command {
        ModelsCommand::Pull {
            source: Some(source),
        } => pull(dir, &source).await,
        ModelsCommand::Pull { source: None } => pull_missing(config).await,
        ModelsCommand::List { json } => list(config, json),
        ModelsCommand::Rm { source } => rm(dir, &source),
    }
}

async fn pull(dir: &Path, source: &str) -> anyhow::Result<()> {
    let src = HubSource::parse(source)
        .with_context(|| format!("`{source}`: expected hf:org/repo[/file][@revision]"))?;
    let hub = Hub::from_env();
    let mut last = (String::new(), 0u64);
    let mut progress = |file: &str, done: u64, total: u64| {
        // redraw at most every 1% (and at the end)
        let step = (total / 100).max(1);
        if last.0 != file || done / step != last.1 / step || done == total {
            let pct = (done * 100).checked_div(total).unwrap_or(100);
            let bar = "#".repeat((pct / 4) as usize);
            eprint!(
                "\r{file}: [{bar:<25}] {pct:>3}% {:.1}/{:.1} MB",
                done as f64 / 1e6,
                total as f64 / 1e6
            );
            if done == total {
                eprintln!();
            }
            last = (file.to_owned(), done);
        }
    };
    let path = hub.pull(&src, dir, &mut progress).await?;
    println!("{}", path.display());
    Ok(())
}

/// Every configured hub model that is not on disk yet.
async fn pull_missing(config: &Config) -> anyhow::Result<()> {
    let missing: Vec<&str> = config
        .runtime
        .models
        .iter()
        .filter(|m| !on_disk(&m.path))
        .filter_map(|m| match &m.source {
            ModelSource::Hub(src) => Some(src.as_str()),
            ModelSource::Path(_) => None,
        })
        .collect();
    if missing.is_empty() {
        eprintln!("every configured model is on disk");
        return Ok(());
    }
    for src in missing {
        eprintln!("pulling {src}");
        pull(&config.runtime.models_dir, src).await?;
    }
    Ok(())
}

/// Whether a model's weights are there: a file, or a folder with its config and weights (files
/// take their final names only once complete and checked).
pub fn on_disk(path: &Path) -> bool {
    if path.join("unet").is_dir() {
        // a diffusers pipeline: its parts in folders
        return path.join("model_index.json").is_file() || path.join("vae").is_dir();
    }
    if path.is_dir() {
        path.join("config.json").is_file()
            && ["model.safetensors", "pytorch_model.bin", "model.bin"]
                .iter()
                .any(|w| path.join(w).is_file())
    } else {
        path.is_file()
    }
}

fn size_of(path: &Path) -> u64 {
    if path.is_dir() {
        std::fs::read_dir(path)
            .map(|rd| rd.flatten().map(|e| size_of(&e.path())).sum())
            .unwrap_or(0)
    } else {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }
}

fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let rows: Vec<serde_json::Value> = config
        .runtime
        .models
        .iter()
        .map(|m| {
            serde_json::json!({
                "name": m.name, "task": m.task, "aliases": m.aliases,
                "source": match &m.source {
                    ModelSource::Hub(src) => src.clone(),
                    ModelSource::Path(p) => p.display().to_string(),
                },
                "path": m.path, "present": on_disk(&m.path), "bytes": size_of(&m.path),
            })
        })
        .collect();
    if json {
        for r in &rows {
            println!("{r}");
        }
        return Ok(());
    }
    println!(
        "{:<20} {:<16} {:>10}  {:<8} PATH",
        "NAME", "TASK", "MB", "PRESENT"
    );
    for r in &rows {
        println!(
            "{:<20} {:<16} {:>10.1}  {:<8} {}",
            r["name"].as_str().unwrap_or(""),
            r["task"].as_str().unwrap_or(""),
            r["bytes"].as_u64().unwrap_or(0) as f64 / 1e6,
            if r["present"].as_bool().unwrap_or(false) {
                "yes"
            } else {
                "no"
            },
            r["path"].as_str().unwrap_or(""),
        );
    }
    Ok(())
}

fn rm(dir: &Path, source: &str) -> anyhow::Result<()> {
    let path = match HubSource::parse(source) {
        Some(src) => src.local_path(dir),
        None => PathBuf::from(source),
    };
    let root = dir
        .canonicalize()
        .with_context(|| format!("models directory {}", dir.display()))?;
    let target = path
        .canonicalize()
        .with_context(|| format!("{} is not there", path.display()))?;
    if !target.starts_with(&root) || target == root {
        bail!(
            "{} is not inside the models directory {}",
            target.display(),
            root.display()
        );
    }
    if target.is_dir() {
        std::fs::remove_dir_all(&target)?;
    } else {
        std::fs::remove_file(&target)?;
    }
    println!("removed {}", target.display());
    Ok(())
}

pub struct RunArgs {
    pub model: String,
    pub prompt: String,
    pub max_tokens: Option<u32>,
    pub temperature: f32,
    pub system: Option<String>,
    /// Images: where the PNG goes; the seed and steps.
    pub output: PathBuf,
    pub seed: Option<u64>,
    pub steps: Option<u32>,
}

/// `switchyard run`: whatever the model's task is — text generated to stdout, a transcript of an
/// audio file, or an image written to a PNG file.
pub async fn run_model(config: &Config, args: RunArgs) -> anyhow::Result<()> {
    let mut settings = settings_for(config, &args.model)?;
    settings.queue = 1;
    settings.max_batch = 1;
    match settings.task {
        TaskKind::TextGeneration => generate(settings, args).await,
        TaskKind::SpeechRecognition => crate::run_cli::transcribe(settings, &args).await,
        TaskKind::TextToImage => crate::run_cli::imagine(settings, &args).await,
        other => bail!(
            "`{}` is a {} model: `switchyard run` generates text, transcribes audio and makes images",
            args.model,
            other.name()
        ),
    }
}

/// The configured model a name (or alias) means, or a GGUF file given by path.
fn settings_for(config: &Config, model: &str) -> anyhow::Result<ModelSettings> {
    let found: Option<&LocalModel> = config.runtime.models.iter().find(|m| {
        m.name == model
            || m.aliases.iter().any(|a| a == model)
            || format!("local/{}", m.name) == model
    });
    if let Some(m) = found {
        if let ModelSource::Hub(src) = &m.source {
            if !m.path.exists() {
                bail!("`{model}` is not downloaded yet: run `switchyard models pull {src}`");
            }
        }
        return Ok(switchyard_gateway::local::settings(m));
    }
    let path = PathBuf::from(model);
    if path.extension().is_some_and(|e| e == "gguf") && path.is_file() {
        return Ok(ModelSettings::new("cli", TaskKind::TextGeneration, path));
    }
    bail!("no local model `{model}` in the config, and no such .gguf file")
}

async fn generate(settings: ModelSettings, args: RunArgs) -> anyhow::Result<()> {
    let name = settings.name.clone();
    let runtime = Runtime::new(vec![settings]);
    let mut messages = Vec::new();
    let message = |role: &str, content: String| Message {
        role: role.into(),
        content,
        tool_calls: None,
        tool_call_id: None,
    };
    if let Some(system) = args.system {
        messages.push(message("system", system));
    }
    messages.push(message("user", args.prompt));
    let task = Task::Generate(Generate {
        prompt: Prompt::Chat {
            messages,
            tools: Vec::new(),
        },
        max_tokens: args.max_tokens,
        stop: Vec::new(),
        sampling: Sampling {
            temperature: args.temperature,
            ..Sampling::default()
        },
        constraint: Constraint::None,
        ignore_eos: false,
        logprobs: false,
    });
    let mut events = runtime.schedule(&name, task).await?;
    let mut out = std::io::stdout().lock();
    while let Some(e) = events.recv().await {
        match e {
            Event::Text(t) => {
                out.write_all(t.as_bytes())?;
                out.flush()?;
            }
            Event::Done { counts, .. } => {
                writeln!(out)?;
                eprintln!(
                    "[{} prompt tokens, {} generated]",
                    counts.input, counts.output
                );
                return Ok(());
            }
            Event::Failed(e) => bail!(e),
            Event::Vectors(_)
            | Event::Logprob(_)
            | Event::Segments(_)
            | Event::Language(_)
            | Event::Scores(_)
            | Event::Classes(_)
            | Event::Image { .. } => {}
        }
    }
    bail!("the model stopped before finishing")
}

/// `switchyard router eval`: the router's score here is the prompt's length in tokens (the
pub fn router(command: crate::cli::RouterCommand) -> anyhow::Result<()> {
    use crate::cli::RouterCommand;
    use switchyard_gateway::tools::knn::Classifier;
    match command {
        RouterCommand::Eval {
            data,
            steps,
            weak_cost,
            target,
            json,
            classifier,
            config,
        } => {
            let args = EvalArgs {
                steps,
                weak_cost,
                target,
                json,
            };
            let Some(path) = classifier else {
                return router_eval(&data, None, &args);
            };
            let c = Classifier::load(&path).map_err(anyhow::Error::msg)?;
            crate::report_command(config, |config| async move {
                let examples = read_examples(&data)?;
                // the classifier's own training file: its vectors are these prompts' embeddings
                let same = c.gain.len() == examples.len()
                    && c.gain
                        .iter()
                        .zip(&examples)
                        .all(|(g, (_, w, s))| (f64::from(*g) - (s - w).max(0.0)).abs() < 1e-6);
                let vectors = if same {
                    c.vectors.clone()
                } else if let Some(idf) = &c.static_idf {
                    embed_static(&config, &c.embedder, &examples, Some(idf))?.0
                } else {
                    embed_all(&config, &c.embedder, &examples).await?
                };
                router_eval(&data, Some((&c, &vectors)), &args)
            })
        }
        RouterCommand::Train {
            data,
            from_logs,
            since,
            embedder,
            k,
            vectors,
            out,
            config,
        } => crate::report_command(config, |config| async move {
            let mut examples = match &data {
                Some(d) => read_examples(d)?,
                None => Vec::new(),
            };
            if from_logs {
                let since = crate::report::parse_since(&since)?;
                let from = crate::report::now_ms() - since.as_millis() as i64;
                let rated = crate::feedback::examples(&config, from).await?;
                println!("{} rated local answers from the request log", rated.len());
                examples.extend(rated);
            }
            if examples.is_empty() {
                bail!("no examples to train on");
            }
            let (vectors, static_idf) = if vectors == "static" {
                let (v, idf) = embed_static(&config, &embedder, &examples, None)?;
                (v, Some(idf))
            } else {
                (embed_all(&config, &embedder, &examples).await?, None)
            };
            let gain = examples
                .iter()
                .map(|(_, w, s)| (s - w).max(0.0) as f32)
                .collect();
            let c = Classifier {
                embedder,
                k,
                vectors,
                gain,
                static_idf,
            };
            std::fs::write(&out, serde_json::to_vec(&c)?)?;
            println!("{} examples -> {}", c.gain.len(), out.display());
            Ok(())
        }),
    }
}

pub struct EvalArgs {
    steps: usize,
    weak_cost: f64,
    target: f64,
    json: bool,
}

/// (prompt, weak quality, strong quality) per line.
fn read_examples(data: &Path) -> anyhow::Result<Vec<(String, f64, f64)>> {
    use switchyard_gateway::tools::eval::Example;
    let text =
        std::fs::read_to_string(data).with_context(|| format!("reading {}", data.display()))?;
    let mut out = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let e: Example =
            serde_json::from_str(line).with_context(|| format!("{}:{}", data.display(), i + 1))?;
        let Some((weak, strong)) = e.qualities() else {
            bail!(
                "{}:{}: needs weak/strong quality, weak_is_enough, or weak_correct/strong_correct",
                data.display(),
                i + 1
            );
        };
        out.push((e.prompt, weak, strong));
    }
    if out.is_empty() {
        bail!("{} has no examples", data.display());
    }
    Ok(out)
}

/// The config's local embeddings model `name`.
fn embedding_model<'a>(
    config: &'a Config,
    name: &str,
) -> anyhow::Result<&'a switchyard_config::LocalModel> {
    config
        .runtime
        .models
        .iter()
        .find(|m| m.name == name && m.task == switchyard_config::LocalTask::Embeddings)
        .with_context(|| format!("no local embeddings model `{name}` in the config"))
}

/// Every prompt's static vector from local embedding model `embedder`'s token table, weighted by
/// `idf` (or by the IDF of these prompts, returned with the vectors).
fn embed_static(
    config: &Config,
    embedder: &str,
    examples: &[(String, f64, f64)],
    idf: Option<&switchyard_gateway::tools::knn::Idf>,
) -> anyhow::Result<(Vec<Vec<f32>>, switchyard_gateway::tools::knn::Idf)> {
    use switchyard_gateway::tools::knn::Idf;
    let m = embedding_model(config, embedder)?;
    let se = switchyard_runtime::embed::StaticEmbedder::load(&m.path)?;
    let ids: Vec<Vec<u32>> = examples.iter().map(|(p, _, _)| se.token_ids(p)).collect();
    let idf = match idf {
        Some(i) => i.clone(),
        None => Idf::of(&ids),
    };
    let vectors = ids.iter().map(|t| se.embed(t, |x| idf.weight(x))).collect();
    Ok((vectors, idf))
}

/// Every prompt's unit vector from local embedding model `embedder`, 32 at a time.
async fn embed_all(
    config: &Config,
    embedder: &str,
    examples: &[(String, f64, f64)],
) -> anyhow::Result<Vec<Vec<f32>>> {
    let m = embedding_model(config, embedder)?;
    let runtime = Runtime::new(vec![switchyard_gateway::local::settings(m)]);
    let mut out = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(32) {
        let inputs = chunk.iter().map(|(p, _, _)| p.clone()).collect();
        let task = Task::Embed(switchyard_runtime::task::Embed {
            inputs,
            truncate: true,
        });
        let mut events = runtime.schedule(embedder, task).await?;
        loop {
            match events.recv().await {
                Some(Event::Vectors(v)) => {
                    out.extend(v);
                    break;
                }
                Some(Event::Failed(e)) => bail!(e),
                Some(_) => {}
                None => bail!("the embedding model stopped"),
            }
        }
    }
    Ok(out)
}

/// `switchyard router eval`: scored by prompt length in tokens (the `max_prompt_tokens` rule, so
/// the chosen threshold is the value to configure) or, with a classifier, by its complexity
/// score with each example left out of its own neighbours.
fn router_eval(
    data: &Path,
    classifier: Option<(&switchyard_gateway::tools::knn::Classifier, &Vec<Vec<f32>>)>,
    args: &EvalArgs,
) -> anyhow::Result<()> {
    use switchyard_gateway::tools::eval::evaluate;
    let (steps, weak_cost, target, json) = (args.steps, args.weak_cost, args.target, args.json);
    let examples = read_examples(data)?;
    let scored: Vec<(f64, f64, f64)> = examples
        .iter()
        .enumerate()
        .map(|(i, (prompt, weak, strong))| {
            let score = match classifier {
                Some((c, vectors)) => c.score_without(&vectors[i], Some(i)),
                None => switchyard_gateway::tools::count_text(prompt) as f64,
            };
            (score, *weak, *strong)
        })
        .collect();
    let report = evaluate(&scored, steps, weak_cost, target);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} examples; quality: all local {:.3}, all frontier {:.3}; score = {}",
        report.examples,
        report.weak_quality,
        report.strong_quality,
        if classifier.is_some() {
            "complexity (leave-one-out)"
        } else {
            "prompt tokens"
        }
    );
    println!(
        "{:>10} {:>10} {:>9} {:>9} {:>9}",
        "ESCALATED", "THRESHOLD", "QUALITY", "RETAINED", "COST"
    );
    // token counts are whole numbers; complexity scores lie in 0..1
    let shown = |t: f64| {
        if classifier.is_some() {
            format!("{t:.3}")
        } else {
            format!("{t:.0}")
        }
    };
    for s in &report.steps {
        let threshold = s
            .threshold
            .map_or("-".to_owned(), |t| format!(">= {}", shown(t)));
        println!(
            "{:>9.0}% {:>10} {:>9.3} {:>8.1}% {:>8.1}%",
            s.escalated * 100.0,
            threshold,
            s.quality,
            s.retained * 100.0,
            s.cost * 100.0
        );
    }
    println!("APGR {:.3}", report.apgr);
    match &report.chosen {
        Some(c) => println!(
            "cheapest keeping {:.0}% of frontier quality: escalate {:.0}% ({} {}), {:.1}% of the all-frontier cost",
            target * 100.0,
            c.escalated * 100.0,
            if classifier.is_some() {
                "complexity_threshold ="
            } else {
                "max_prompt_tokens ="
            },
            c.threshold.map_or("-".to_owned(), shown),
            c.cost * 100.0
        ),
        None => println!("no threshold keeps {:.0}% of frontier quality", target * 100.0),
    }
    Ok(())
}
