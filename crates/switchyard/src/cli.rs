//! The command line (clap only; no logic here).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "switchyard",
    version,
    about = "AI gateway and local inference server in one binary"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway (embedded defaults when no config file is given).
    Serve {
        /// Config file. Without it, ./switchyard.toml is used if present, else embedded defaults.
        #[arg(short, long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        /// Override `server.listen`.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Write a commented example config.
    Init {
        /// Where to write it.
        #[arg(default_value = "switchyard.toml")]
        path: PathBuf,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print the request log as a table (newest last), from the configured store.
    Logs {
        #[arg(short, long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        /// Keep printing new records as they arrive.
        #[arg(short, long)]
        follow: bool,
        #[arg(long)]
        provider: Option<String>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        status: Option<i64>,
        /// Only failed requests.
        #[arg(long)]
        errors: bool,
        /// How far back: 30s, 15m, 2h, 7d.
        #[arg(long)]
        since: Option<String>,
        /// Most recent records to show.
        #[arg(short = 'n', long, default_value_t = 50)]
        limit: u32,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Usage and cost, grouped, from the request log.
    Usage {
        #[arg(short, long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        /// model | provider | day | hour | metadata.KEY
        #[arg(long, default_value = "model")]
        by: String,
        /// How far back: 30s, 15m, 2h, 7d.
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long)]
        json: bool,
    },
    /// Gateway API keys (`sy-…`), in the configured key store.
    Keys {
        #[arg(short, long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Stored provider keys (BYOK), sealed with the master key (SWITCHYARD_MASTER_KEY).
    Secrets {
        #[arg(short, long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Local model files: pull from the Hugging Face hub, list, remove.
    Models {
        #[arg(short, long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Run a local model in the terminal: text generation streams to stdout, a speech model
    /// transcribes the audio file given as the prompt, an image model writes a PNG (`-o`).
    Run {
        #[arg(short, long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
        /// A local model's name or alias from the config, or a path to a .gguf file.
        model: String,
        /// The user message, the image's prompt, or the audio file to transcribe.
        prompt: String,
        /// Image models: the PNG file to write.
        #[arg(short, long, default_value = "out.png")]
        output: PathBuf,
        /// Image models: the seed (the same seed gives the same image).
        #[arg(long)]
        seed: Option<u64>,
        /// Image models: denoising steps (default: the model's).
        #[arg(long)]
        steps: Option<u32>,
        #[arg(long)]
        max_tokens: Option<u32>,
        /// 0 = greedy.
        #[arg(long, default_value_t = 0.7)]
        temperature: f32,
        #[arg(long)]
        system: Option<String>,
    },
    /// Hybrid routing tools.
    Router {
        #[command(subcommand)]
        command: RouterCommand,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum RouterCommand {
    /// The cost/quality curve of routing by the router's score on labelled prompts (JSON lines:
    /// `prompt` and `weak`/`strong` quality 0..1, or `weak_is_enough`, or
    /// `weak_correct`/`strong_correct`), and the cheapest threshold keeping the target quality.
    Eval {
        #[arg(long)]
        data: PathBuf,
        /// Shares of escalation swept (10 → 0 %, 10 %, …, 100 %).
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// A weak (local) request's cost as a fraction of a frontier request's.
        #[arg(long, default_value_t = 0.0)]
        weak_cost: f64,
        /// Quality to keep, as a share of all-frontier quality.
        #[arg(long, default_value_t = 0.95)]
        target: f64,
        #[arg(long)]
        json: bool,
        /// Score by this classifier (`router train`), leave-one-out, instead of prompt length.
        #[arg(long)]
        classifier: Option<PathBuf>,
        #[arg(short, long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Train the complexity classifier: embed each labelled prompt with a local embedding model
    /// and keep the vectors with how much the frontier answer helped (kNN). Examples come from
    /// a labelled file, from rated answers in the request log (`--from-logs`), or both.
    Train {
        #[arg(long, required_unless_present = "from_logs")]
        data: Option<PathBuf>,
        /// Add the local answers of `model = "auto"` rated with feedback in the request log
        /// (thumbs down: the frontier was needed; thumbs up: the local answer was enough).
        #[arg(long)]
        from_logs: bool,
        /// With `--from-logs`: how far back (e.g. 30d, 12h).
        #[arg(long, default_value = "90d")]
        since: String,
        /// A local embeddings model from the config.
        #[arg(long)]
        embedder: String,
        #[arg(long, default_value_t = 10)]
        k: usize,
        /// `static` (default): the IDF-weighted mean of the embedder's token embeddings — no
        /// model pass at routing time (about a millisecond) and, on the routing dev set, better
        /// routing; `encoder`: the embedding model's sentence vectors (tens of milliseconds).
        #[arg(long, default_value = "static", value_parser = ["static", "encoder"])]
        vectors: String,
        #[arg(long, default_value = "router-classifier.json")]
        out: PathBuf,
        #[arg(short, long, env = "SWITCHYARD_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download `hf:org/repo[/file]` into the models directory (resumable, checksum-checked);
    /// without a source, every configured hub model not on disk yet (the default models too).
    Pull { source: Option<String> },
    /// Configured local models and the files in the models directory.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Delete a pulled model: `hf:org/repo[/file]` or a path under the models directory.
    Rm { source: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key; it is printed once and stored hashed.
    Create {
        #[arg(long)]
        name: String,
        /// Models the key may call (as clients name them), comma-separated; default any.
        #[arg(long, value_delimiter = ',')]
        models: Vec<String>,
        /// Lifetime: 30d, 12h, 90m.
        #[arg(long)]
        expires: Option<String>,
        /// Its own rate limit: 100/min, 50000 tokens/hour.
        #[arg(long)]
        rate_limit: Option<String>,
        /// Its own spend cap in USD: 10/month, 2/day.
        #[arg(long)]
        budget: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Every key (never the keys themselves).
    List {
        #[arg(long)]
        json: bool,
    },
    Disable {
        id: String,
    },
    Enable {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Store or rotate a provider key; the value is read from stdin (never from the command line).
    Set {
        #[arg(long)]
        provider: String,
        /// What requests name it by (`cf-aig-byok-alias`).
        #[arg(long)]
        alias: String,
        /// Only requests made with these gateway keys (ids, comma-separated) may use it.
        #[arg(long, value_delimiter = ',')]
        keys: Option<Vec<String>>,
    },
    /// Every stored key (never the values).
    List,
    Rm {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        alias: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate a config file and print the resolved configuration, secrets redacted.
    Check {
        /// Config file (default: ./switchyard.toml if present, else the embedded defaults).
        file: Option<PathBuf>,
    },
}
