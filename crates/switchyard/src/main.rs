//! The `switchyard` binary: wiring only. Parses the command line, loads the config, sets up
//! logging, binds the listener and runs the server until SIGTERM/SIGINT.

mod cli;
mod feedback;
mod keys_cli;
mod log_sink;
mod models_cli;
mod report;
mod run_cli;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;
use switchyard_config::Config;
use tokio::net::TcpListener;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, ConfigCommand};

const DEFAULT_CONFIG_FILE: &str = "switchyard.toml";

/// mimalloc: the request path allocates many small, short-lived buffers; it measured faster than
/// glibc's allocator under the load harness (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { config, listen } => serve(config, listen),
        Command::Init { path, force } => init(&path, force),
        Command::Logs {
            config,
            follow,
            provider,
            model,
            status,
            errors,
            since,
            limit,
            json,
        } => report_command(config, |config| async move {
            let since = since.as_deref().map(report::parse_since).transpose()?;
            let filter = switchyard_store::logs::LogFilter {
                since: since.map(|d| report::now_ms() - d.as_millis() as i64),
                provider,
                model,
                status,
                ..Default::default()
            };
            let args = report::LogsArgs {
                follow,
                filter,
                errors,
                limit,
                json,
            };
            report::logs(&config, args).await
        }),
        Command::Usage {
            config,
            by,
            since,
            json,
        } => report_command(config, |config| async move {
            report::usage(&config, &by, &since, json).await
        }),
        Command::Config {
            command: ConfigCommand::Check { file },
        } => check(file),
        Command::Router { command } => models_cli::router(command),
        Command::Models { config, command } => report_command(config, |config| async move {
            models_cli::run(&config, command).await
        }),
        Command::Run {
            config,
            model,
            prompt,
            max_tokens,
            temperature,
            system,
            output,
            seed,
            steps,
        } => {
            let args = models_cli::RunArgs {
                model,
                prompt,
                max_tokens,
                temperature,
                system,
                output,
                seed,
                steps,
            };
            report_command(config, |config| async move {
                models_cli::run_model(&config, args).await
            })
        }
        Command::Keys { config, command } => report_command(config, |config| async move {
            keys_cli::run(&config, command).await
        }),
        Command::Secrets { config, command } => report_command(config, |config| async move {
            keys_cli::secrets(&config, command).await
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("switchyard: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a reporting command (no logging setup, no server) on a small runtime.
pub(crate) fn report_command<F, Fut>(file: Option<PathBuf>, run: F) -> anyhow::Result<()>
where
    F: FnOnce(Config) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = load_config(file)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(config))
}

/// An explicit file, else ./switchyard.toml if present, else the embedded defaults.
fn load_config(file: Option<PathBuf>) -> anyhow::Result<Config> {
    let file = file.or_else(|| {
        let default = PathBuf::from(DEFAULT_CONFIG_FILE);
        default.exists().then_some(default)
    });
    let config = match file {
        Some(path) => switchyard_config::load_file(&path)?,
        None => switchyard_config::defaults()?,
    };
    Ok(config)
}

fn serve(file: Option<PathBuf>, listen: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    let mut config = load_config(file)?;
    if let Some(listen) = listen {
        config.server.listen = listen;
        switchyard_config::control::check_exposure(listen, &config.auth)
            .map_err(anyhow::Error::msg)?;
    }
    let _log_guard = init_logging(&config.server.log_level);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    match &config.source {
        Some(path) => tracing::info!("config: {}", path.display()),
        None => tracing::info!("config: embedded defaults (no switchyard.toml)"),
    }
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
    tracing::info!(
        "providers: {}",
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    );
    for m in &config.runtime.models {
        let names = std::iter::once(&m.name)
            .chain(&m.aliases)
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(", ");
        if models_cli::on_disk(&m.path) {
            tracing::info!("local model: {names} ({})", m.path.display());
        } else {
            let hint = match &m.source {
                switchyard_config::ModelSource::Hub(src) => {
                    format!("run `switchyard models pull {src}`")
                }
                switchyard_config::ModelSource::Path(p) => format!("{} is missing", p.display()),
            };
            tracing::warn!("local model: {names} is not on disk yet: {hint}");
        }
    }

    let cache = switchyard_gateway::ResponseCache::open(&config.cache)
        .await
        .context("opening the response cache")?;
    tracing::info!(
        "cache: {} backend, {}",
        cache.backend_name(),
        match config.cache.ttl {
            Some(ttl) => format!("default TTL {} s", ttl.as_secs()),
            None => "off unless a model or request sets a TTL".to_owned(),
        }
    );
    let mut state =
        switchyard_server::AppState::new(&config, cache).context("building providers")?;
    // the record step runs with the request log off too: metrics, traces, budget settlement
    let observer = switchyard_gateway::observe::Observer::start(&config.logs, &config.pricing)
        .await
        .with_context(|| {
            format!(
                "opening the request log at {}",
                switchyard_config::redact_url(&config.logs.url)
            )
        })?;
    match observer.store() {
        Some(store) => tracing::info!(
            "request log: {} ({})",
            store.backend_name(),
            switchyard_config::redact_url(&config.logs.url)
        ),
        None => tracing::info!("request log: off (metrics and traces still kept)"),
    }
    // metric labels name configured providers only (clients may name anything)
    observer
        .metrics()
        .know_providers(config.providers.iter().map(|p| p.name.clone()));
    state = state.with_observer(observer.clone());
    let keys = switchyard_gateway::control::Keys::open(&config.auth.url)
        .await
        .with_context(|| {
            format!(
                "opening the key store at {}",
                switchyard_config::redact_url(&config.auth.url)
            )
        })?;
    if let Some(master) = &config.auth.master_key {
        let vault = switchyard_gateway::control::Vault::new(keys.store(), master)
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        state.gateway.attach_vault(vault);
    }
    state = state.with_keys(std::sync::Arc::new(keys));
    tracing::info!(
        "auth: gateway keys {}, admin API {}",
        if config.auth.required {
            "required"
        } else {
            "optional (loopback only)"
        },
        if config.auth.admin_token.is_some() {
            "behind the admin token"
        } else {
            "open (loopback only)"
        }
    );
    let listener = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.server.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    // Printed on stdout (not through the logger) so scripts and tests can wait for it.
    println!("switchyard listening on http://{addr}");
    let _ = std::io::stdout().flush();

    let app = switchyard_server::app(state.clone());
    let shutdown = async move {
        shutdown_signal().await;
        state.set_not_ready();
    };
    switchyard_server::serve(
        listener,
        app,
        Some(observer.clone()),
        shutdown,
        switchyard_server::ServeOptions::new(&config.server),
    )
    .await;
    // every queued record is written before the process exits
    observer.shutdown(std::time::Duration::from_secs(30)).await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::warn!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

/// Logs go to stderr in batches written by a background thread ([`log_sink`]), so the request path
/// never blocks on I/O nor wakes a thread per line. `RUST_LOG` overrides the configured level.
fn init_logging(level: &str) -> log_sink::Guard {
    let (writer, guard) = log_sink::sink(std::io::stderr());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .init();
    guard
}

fn init(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        anyhow::bail!(
            "{} already exists (use --force to overwrite)",
            path.display()
        );
    }
    std::fs::write(path, switchyard_config::template::EXAMPLE)
        .with_context(|| format!("writing {}", path.display()))?;
    println!(
        "wrote {}; check it with `switchyard config check {}`",
        path.display(),
        path.display()
    );
    Ok(())
}

fn check(file: Option<PathBuf>) -> anyhow::Result<()> {
    let config = load_config(file)?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    match &config.source {
        Some(path) => println!("# {}: OK", path.display()),
        None => println!("# embedded defaults: OK"),
    }
    print!("{}", config.to_redacted_toml());
    Ok(())
}
