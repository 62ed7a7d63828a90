//! `switchyard models pull hf:org/repo[/file]`: files from the Hugging Face hub (or a mirror at
//! `HF_ENDPOINT`) into the models directory, resumed from a `.part` file after an interruption,
//! and checked against the hub's checksum (SHA-256 of LFS files, the git blob hash of others)
//! before they take their final name.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use ring::digest;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

/// `hf:org/repo[/path/in/repo]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSource {
    pub repo: String,
    /// One file; `None` = every file of the repository.
    pub file: Option<String>,
    pub revision: String,
}

impl HubSource {
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("hf:")?;
        let (rest, revision) = match rest.split_once('@') {
            Some((r, rev)) if !rev.is_empty() => (r, rev.to_owned()),
            _ => (rest, "main".to_owned()),
        };
        let mut parts = rest.splitn(3, '/');
        let org = parts.next().filter(|s| !s.is_empty())?;
        let name = parts.next().filter(|s| !s.is_empty())?;
        let file = parts
            .next()
            .map(|f| f.trim_end_matches('/').to_owned())
            .filter(|f| !f.is_empty());
        if [org, name].iter().any(|p| p.contains(".."))
            || file
                .as_deref()
                .is_some_and(|f| f.split('/').any(|c| c == ".."))
        {
            return None;
        }
        Some(HubSource {
            repo: format!("{org}/{name}"),
            file,
            revision,
        })
    }

    /// Where it lands under `models_dir`: the file, or the repository's folder.
    pub fn local_path(&self, models_dir: &Path) -> PathBuf {
        let dir = models_dir.join(&self.repo);
        match &self.file {
            Some(f) => dir.join(f),
            None => dir,
        }
    }
}

/// One file as the hub's tree API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct HubFile {
    #[serde(rename = "type")]
    pub kind: String,
    pub path: String,
    #[serde(default)]
    pub size: u64,
    /// The git blob id (SHA-1 of `blob <len>\0<content>`).
    #[serde(default)]
    pub oid: String,
    #[serde(default)]
    pub lfs: Option<Lfs>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Lfs {
    /// SHA-256 of the content.
    pub oid: String,
    pub size: u64,
}

/// Progress of one file: (path, bytes so far, total).
pub type Progress<'a> = &'a mut (dyn FnMut(&str, u64, u64) + Send);

pub struct Hub {
    endpoint: String,
    token: Option<String>,
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0}")]
    Http(String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(
        "{path}: checksum mismatch (expected {expected}, got {got}); the download was removed"
    )]
    Checksum {
        path: String,
        expected: String,
        got: String,
    },
    #[error("{0}")]
    NotFound(String),
    #[error("the hub lists `{0}`, which is not a plain relative path inside the repository; nothing was written")]
    UnsafePath(String),
}

impl Hub {
    /// `endpoint`: e.g. `https://huggingface.co`; `token`: sent as a bearer token (gated repos).
    pub fn new(endpoint: &str, token: Option<String>) -> Self {
        // an unreachable hub (offline, firewalled) fails fast instead of hanging on connect
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Hub {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            token,
            client,
        }
    }

    /// From `HF_ENDPOINT` and `HF_TOKEN`, defaulting to the public hub.
    pub fn from_env() -> Self {
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| "https://huggingface.co".into());
        Self::new(
            &endpoint,
            std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()),
        )
    }

    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let r = self.client.get(url);
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// The repository's files at the revision.
    pub async fn list(&self, src: &HubSource) -> Result<Vec<HubFile>, PullError> {
        let url = format!(
            "{}/api/models/{}/tree/{}?recursive=true",
            self.endpoint, src.repo, src.revision
        );
        let resp = self
            .get(&url)
            .send()
            .await
            .map_err(|e| PullError::Http(format!("{url}: {}", chain(&e))))?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Err(PullError::NotFound(format!(
                "no repository `{}` at revision `{}` on {}",
                src.repo, src.revision, self.endpoint
            )));
        }
        if !resp.status().is_success() {
            return Err(PullError::Http(format!("{url}: HTTP {}", resp.status())));
        }
        let files: Vec<HubFile> = resp
            .json()
            .await
            .map_err(|e| PullError::Http(format!("{url}: {}", chain(&e))))?;
        Ok(files.into_iter().filter(|f| f.kind == "file").collect())
    }

    /// Downloads what `src` names into `models_dir`; returns the local path (file or folder).
    pub async fn pull(
        &self,
        src: &HubSource,
        models_dir: &Path,
        progress: Progress<'_>,
    ) -> Result<PathBuf, PullError> {
        let files = self.list(src).await?;
        let wanted: Vec<&HubFile> = match &src.file {
            Some(f) => files.iter().filter(|h| &h.path == f).collect(),
            None => files.iter().filter(|h| usable(h, &files)).collect(),
        };
        if wanted.is_empty() {
            return Err(PullError::NotFound(match &src.file {
                Some(f) => format!("`{}` has no file `{f}`", src.repo),
                None => format!("`{}` has no files", src.repo),
            }));
        }
        // the listing is the hub's word: every name must stay inside the repository's folder
        let dir = models_dir.join(&src.repo);
        let targets = wanted
            .iter()
            .map(|f| {
                let relative =
                    plain_relative(&f.path).ok_or_else(|| PullError::UnsafePath(f.path.clone()))?;
                Ok((*f, dir.join(relative)))
            })
            .collect::<Result<Vec<_>, PullError>>()?;
        for (file, dest) in targets {
            self.download(src, file, &dest, progress).await?;
        }
        Ok(src.local_path(models_dir))
    }

    async fn download(
        &self,
        src: &HubSource,
        file: &HubFile,
        dest: &Path,
        progress: Progress<'_>,
    ) -> Result<(), PullError> {
        let io = |e| PullError::Io(dest.to_path_buf(), e);
        let size = file.lfs.as_ref().map_or(file.size, |l| l.size);
        if dest.is_file() && std::fs::metadata(dest).map(|m| m.len()).ok() == Some(size) {
            progress(&file.path, size, size);
            return Ok(());
        }
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io)?;
        }
        let part = dest.with_extension(format!(
            "{}part",
            dest.extension()
                .map(|e| format!("{}.", e.to_string_lossy()))
                .unwrap_or_default()
        ));
        let mut have = tokio::fs::metadata(&part)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if have > size {
            have = 0;
        }
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint, src.repo, src.revision, file.path
        );
        let mut req = self.get(&url);
        if have > 0 {
            req = req.header(reqwest::header::RANGE, format!("bytes={have}-"));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| PullError::Http(format!("{url}: {}", chain(&e))))?;
        let resumed = resp.status() == reqwest::StatusCode::PARTIAL_CONTENT;
        if !resp.status().is_success() {
            return Err(PullError::Http(format!("{url}: HTTP {}", resp.status())));
        }
        if !resumed {
            have = 0;
        }
        let mut out = tokio::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .append(resumed)
            .truncate(!resumed)
            .open(&part)
            .await
            .map_err(io)?;
        // hashed as it streams (a resumed file's first part is read back in chunks): memory
        // stays flat whatever the file's size
        let mut check = Checksum::for_file(file, size);
        if resumed {
            check.feed_file(&part).await.map_err(io)?;
        }
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| PullError::Http(format!("{url}: the download broke off after {have} bytes ({e}); run the pull again to resume")))?;
            check.update(&chunk);
            out.write_all(&chunk).await.map_err(io)?;
            have += chunk.len() as u64;
            progress(&file.path, have, size);
        }
        out.flush().await.map_err(io)?;
        drop(out);
        check.verify(file, &part).await?;
        tokio::fs::rename(&part, dest).await.map_err(io)?;
        Ok(())
    }
}

/// `path` as plain relative components (no root, no `.`/`..`, nothing empty), or `None`.
fn plain_relative(path: &str) -> Option<PathBuf> {
    use std::path::Component;
    let p = Path::new(path);
    let plain = !path.is_empty()
        && !path.contains('\\')
        && path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && p.components().all(|c| matches!(c, Component::Normal(_)));
    plain.then(|| p.to_path_buf())
}

/// Whether a file of a whole-repository pull is one the engines load: model repositories also
/// carry the same weights for other frameworks (ONNX, OpenVINO, TensorFlow, Flax, Core ML…),
/// often several times the size of what is needed; PyTorch `.bin` weights are skipped when
/// safetensors are there.
fn usable(file: &HubFile, all: &[HubFile]) -> bool {
    const OTHER_FORMATS: &[&str] = &["onnx/", "openvino/", "coreml/", "tflite/"];
    const OTHER_EXTENSIONS: &[&str] = &[
        ".onnx",
        ".onnx_data",
        ".h5",
        ".msgpack",
        ".ot",
        ".tflite",
        ".mlmodel",
        ".xml",
    ];
    let path = file.path.as_str();
    if OTHER_FORMATS
        .iter()
        .any(|d| path.starts_with(d) || path.contains(&format!("/{d}")))
        || OTHER_EXTENSIONS.iter().any(|e| path.ends_with(e))
    {
        return false;
    }
    let name = path.rsplit('/').next().unwrap_or(path);
    if name.starts_with("pytorch_model") && name.ends_with(".bin") {
        return !all.iter().any(|f| f.path.ends_with(".safetensors"));
    }
    if all.iter().any(|f| f.path == "model_index.json") {
        return diffusers_part(path, all);
    }
    true
}

/// In a diffusers pipeline repository (`model_index.json`), what the pipeline loads: the
/// components' folders (one weights file each: full precision where both it and an `.fp16`
/// variant are there, safetensors over PyTorch's `.bin`), not the single-file checkpoints
/// (`sd_turbo.safetensors`, `.ckpt`) most such repositories also carry at their root.
fn diffusers_part(path: &str, all: &[HubFile]) -> bool {
    let Some((folder, name)) = path.rsplit_once('/') else {
        // root files: the index, configs and docs, no weights
        return !(path.ends_with(".safetensors")
            || path.ends_with(".ckpt")
            || path.ends_with(".bin"));
    };
    let has = |file: &str| all.iter().any(|f| f.path == format!("{folder}/{file}"));
    if let Some(stem) = name.strip_suffix(".fp16.safetensors") {
        return !has(&format!("{stem}.safetensors"));
    }
    if let Some(stem) = name.strip_suffix(".bin") {
        let stem = stem.trim_end_matches(".fp16");
        return !has(&format!("{stem}.safetensors")) && !has(&format!("{stem}.fp16.safetensors"));
    }
    !name.ends_with(".ckpt")
}

/// The hub's hash of a file, computed as its bytes pass: SHA-256 for LFS files, the git blob id
/// (SHA-1 of `blob <len>\0<content>`) for the others.
struct Checksum {
    ctx: Option<digest::Context>,
    expected: String,
}

impl Checksum {
    fn for_file(file: &HubFile, size: u64) -> Self {
        match &file.lfs {
            Some(lfs) => Checksum {
                ctx: Some(digest::Context::new(&digest::SHA256)),
                expected: lfs.oid.clone(),
            },
            None if !file.oid.is_empty() => {
                let mut ctx = digest::Context::new(&digest::SHA1_FOR_LEGACY_USE_ONLY);
                ctx.update(format!("blob {size}\0").as_bytes());
                Checksum {
                    ctx: Some(ctx),
                    expected: file.oid.clone(),
                }
            }
            None => Checksum {
                ctx: None,
                expected: String::new(),
            },
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        if let Some(ctx) = &mut self.ctx {
            ctx.update(bytes);
        }
    }

    /// Feeds what an earlier, interrupted download left, a chunk at a time.
    async fn feed_file(&mut self, path: &Path) -> std::io::Result<()> {
        use tokio::io::AsyncReadExt;
        if self.ctx.is_none() {
            return Ok(());
        }
        let mut f = tokio::fs::File::open(path).await?;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            self.update(&buf[..n]);
        }
    }

    /// Ok when the hashes match (or the hub gave none); else the part file is removed.
    async fn verify(self, file: &HubFile, part: &Path) -> Result<(), PullError> {
        let Some(ctx) = self.ctx else {
            return Ok(());
        };
        let got = hex(ctx.finish().as_ref());
        if self.expected.eq_ignore_ascii_case(&got) {
            return Ok(());
        }
        let _ = tokio::fs::remove_file(part).await;
        Err(PullError::Checksum {
            path: file.path.clone(),
            expected: self.expected,
            got,
        })
    }
}

/// An error with its causes (`error sending request: … dns error: … failed to lookup address`),
/// so an offline machine says why.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_repository_pulls_skip_other_frameworks_weights() {
        let file = |path: &str| HubFile {
            kind: "file".into(),
            path: path.into(),
            size: 1,
            oid: String::new(),
            lfs: None,
        };
        let repo: Vec<HubFile> = [
            "config.json",
            "model.safetensors",
            "pytorch_model.bin",
            "tokenizer.json",
            "1_Pooling/config.json",
            "onnx/model.onnx",
            "openvino/openvino_model.xml",
            "tf_model.h5",
            "rust_model.ot",
            "flax_model.msgpack",
        ]
        .into_iter()
        .map(file)
        .collect();
        let kept: Vec<&str> = repo
            .iter()
            .filter(|f| usable(f, &repo))
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            kept,
            [
                "config.json",
                "model.safetensors",
                "tokenizer.json",
                "1_Pooling/config.json"
            ]
        );
        // PyTorch weights are kept where they are the only ones
        let only_bin = vec![file("config.json"), file("pytorch_model.bin")];
        assert!(usable(&only_bin[1], &only_bin));
    }

    #[test]
    fn a_diffusers_pull_takes_each_component_once() {
        let file = |path: &str| HubFile {
            kind: "file".into(),
            path: path.into(),
            size: 1,
            oid: String::new(),
            lfs: None,
        };
        // stabilityai/sd-turbo's listing, in short
        let repo: Vec<HubFile> = [
            "model_index.json",
            "README.md",
            "sd_turbo.safetensors",
            "unet/config.json",
            "unet/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors",
            "vae/config.json",
            "vae/diffusion_pytorch_model.fp16.safetensors",
            "vae/diffusion_pytorch_model.bin",
            "text_encoder/config.json",
            "text_encoder/model.safetensors",
            "text_encoder/model.fp16.safetensors",
            "tokenizer/vocab.json",
            "tokenizer/merges.txt",
            "scheduler/scheduler_config.json",
        ]
        .into_iter()
        .map(file)
        .collect();
        let kept: Vec<&str> = repo
            .iter()
            .filter(|f| usable(f, &repo))
            .map(|f| f.path.as_str())
            .collect();
        assert_eq!(
            kept,
            [
                "model_index.json",
                "README.md",
                "unet/config.json",
                "unet/diffusion_pytorch_model.safetensors",
                "vae/config.json",
                "vae/diffusion_pytorch_model.fp16.safetensors",
                "text_encoder/config.json",
                "text_encoder/model.safetensors",
                "tokenizer/vocab.json",
                "tokenizer/merges.txt",
                "scheduler/scheduler_config.json",
            ]
        );
    }

    #[test]
    fn listed_names_must_stay_inside_the_repository() {
        for ok in ["model.gguf", "1_Pooling/config.json", "a/b/c.bin"] {
            assert!(plain_relative(ok).is_some(), "{ok}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "./x",
            "a//b",
            "a/",
            "a\\..\\x",
            "..",
        ] {
            assert!(plain_relative(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn sources() {
        let s = HubSource::parse("hf:HuggingFaceTB/SmolLM2-135M-Instruct-GGUF/smollm2.q4.gguf")
            .unwrap();
        assert_eq!(s.repo, "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF");
        assert_eq!(s.file.as_deref(), Some("smollm2.q4.gguf"));
        assert_eq!(s.revision, "main");
        let s = HubSource::parse("hf:sentence-transformers/all-MiniLM-L6-v2@abc123").unwrap();
        assert_eq!((s.file, s.revision.as_str()), (None, "abc123"));
        assert!(HubSource::parse("hf:onlyorg").is_none());
        assert!(HubSource::parse("hf:a/b/../../etc/passwd").is_none());
        assert!(HubSource::parse("/local/path").is_none());
    }
}
