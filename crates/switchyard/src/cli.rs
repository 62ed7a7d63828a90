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
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
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
