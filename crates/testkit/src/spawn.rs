//! Runs the real `switchyard` binary for integration tests.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A running gateway process; killed when dropped.
pub struct Switchyard {
    child: Child,
    base_url: String,
    /// The file its stderr goes to.
    logs: PathBuf,
    _dir: tempfile::TempDir,
}

impl Switchyard {
    /// Writes `config` (TOML) to a temp dir and starts `bin serve --config FILE` there, listening on
    /// an ephemeral port, with no provider keys inherited from the environment.
    pub async fn start(bin: &Path, config: &str) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("switchyard.toml");
        std::fs::write(&path, config)?;
        let mut command = Command::new(bin);
        command
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .arg("--listen")
            .arg("127.0.0.1:0")
            .current_dir(dir.path());
        Self::spawn(command, dir).await
    }

    /// Starts the binary with custom arguments (for commands without a config file). `dir` is its
    /// working directory.
    pub async fn spawn(mut command: Command, dir: tempfile::TempDir) -> std::io::Result<Self> {
        for var in [
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
            "GROQ_API_KEY",
            "MISTRAL_API_KEY",
            "SWITCHYARD_CONFIG",
        ] {
            command.env_remove(var);
        }
        // stderr goes to a file: read whenever asked, whatever the test's runtime is doing
        static SPAWNED: AtomicUsize = AtomicUsize::new(0);
        let logs = dir.path().join(format!(
            "stderr-{}.log",
            SPAWNED.fetch_add(1, Ordering::Relaxed)
        ));
        command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&logs)?))
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let wait = async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("switchyard listening on ") {
                    return Ok(url.trim().to_owned());
                }
            }
            Err(std::io::Error::other("switchyard exited before listening"))
        };
        let base_url = match tokio::time::timeout(Duration::from_secs(20), wait).await {
            Ok(Ok(url)) => url,
            Ok(Err(e)) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let logs = read_logs(&logs);
                return Err(std::io::Error::other(format!("{e}; logs:\n{logs}")));
            }
            Err(_) => {
                return Err(std::io::Error::other(
                    "switchyard did not start within 20 s",
                ))
            }
        };
        // Keep draining stdout so the process never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Switchyard {
            child,
            base_url,
            logs,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn addr(&self) -> String {
        self.base_url.trim_start_matches("http://").to_owned()
    }

    /// Everything the process has written to stderr so far.
    /// The working directory it runs in (its `.switchyard/` files are there).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }

    /// The gateway's log so far. It writes log lines in batches (every 50 ms under load), so
    /// this waits until nothing new has arrived for 80 ms (at most 2 s): a line logged before a
    /// response was sent is in the text.
    pub fn logs(&self) -> String {
        let read = || read_logs(&self.logs);
        let mut seen = read();
        for _ in 0..25 {
            std::thread::sleep(std::time::Duration::from_millis(80));
            let now = read();
            if now.len() == seen.len() {
                return now;
            }
            seen = now;
        }
        seen
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Sends SIGTERM (through `kill`, to stay free of `unsafe`).
    pub fn terminate(&self) -> std::io::Result<()> {
        let pid = self
            .pid()
            .ok_or_else(|| std::io::Error::other("already exited"))?;
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other("kill failed"))
        }
    }

    /// Waits for the process to exit.
    pub async fn wait(&mut self, timeout: Duration) -> std::io::Result<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .map_err(|_| std::io::Error::other("switchyard did not exit in time"))?
    }
}

/// What a process wrote to its stderr file so far.
fn read_logs(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
