//! Models from the Hugging Face Hub (hf-hub): a repo id and revision become a local folder of
//! `config.json`, `tokenizer.json` and safetensors weights in the standard HF cache.
//!
//! - The Hub is `HF_ENDPOINT` (`https://huggingface.co` by default, a mirror or a test server
//!   otherwise), the cache `$HF_HOME/hub` (`~/.cache/huggingface/hub`), as huggingface_hub has them.
//! - The token comes from `HF_TOKEN`, else the HF token file (`$HF_HOME/token`,
//!   `~/.cache/huggingface/token` by default, written by `huggingface-cli login`).
//! - Each download reports its bytes to the caller's [`Progress`]; a request that fails in
//!   transit, or that the Hub answers 429 or 5xx, is tried again ([`ATTEMPTS`] times in all, with
//!   backoff), and an interrupted body resumes where it stopped.
//! - With `HF_HUB_OFFLINE=1`, or when the Hub cannot be reached, files come from the cache only.
//! - A gated or private repo without a token, an unreachable Hub with nothing cached, and a missing
//!   file each give an error that says which and what to do.

use std::path::PathBuf;
use std::time::Duration;

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use quantbound_codebook::shards::{self, ShardIndex};

use crate::error::{LlamaError, Result};
use crate::progress::{Progress, Stage};

/// Tries of one request before the Hub counts as unreachable (or the error is final).
pub const ATTEMPTS: u32 = 4;

/// The Hub's address: `HF_ENDPOINT`, without a trailing slash, or huggingface_hub's default.
pub fn endpoint() -> String {
    match std::env::var("HF_ENDPOINT") {
        Ok(url) if !url.trim().is_empty() => url.trim().trim_end_matches('/').to_owned(),
        _ => "https://huggingface.co".to_owned(),
    }
}

/// Where a model comes from on the Hub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubModel {
    pub repo_id: String,
    /// A branch, tag or commit; `main` by default.
    pub revision: String,
}

impl HubModel {
    /// `owner/name`, optionally `owner/name@revision`.
    pub fn parse(spec: &str) -> Self {
        match spec.split_once('@') {
            Some((repo_id, revision)) => HubModel { repo_id: repo_id.into(), revision: revision.into() },
            None => HubModel { repo_id: spec.into(), revision: "main".into() },
        }
    }

    /// Fetches (or finds in the cache) what a model folder needs and returns the folder; each
    /// file downloaded is a `progress` stage counted in bytes.
    pub fn snapshot(&self, progress: &dyn Progress) -> Result<PathBuf> {
        let cache = Cache::from_env();
        let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty()).or_else(|| cache.token());
        let offline =
            std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes"));
        let repo = Repo::with_revision(self.repo_id.clone(), RepoType::Model, self.revision.clone());
        let api = ApiBuilder::from_cache(cache.clone())
            .with_endpoint(endpoint())
            .with_token(token.clone())
            .with_retries(ATTEMPTS as usize - 1)
            .build()
            .map_err(|e| self.error(format!("cannot set up the Hub client: {e}")))?;
        let remote = api.repo(repo.clone());
        let cached = cache.repo(repo);
        let unreachable = std::cell::Cell::new(offline);
        let get = |file: &str| -> Result<Option<PathBuf>> {
            tracing::info!(repo = %self.repo_id, file, offline = unreachable.get(), "fetching from the Hub");
            if !unreachable.get() {
                let fetched = match cached.get(file) {
                    // Found by the revision's ref, as `ApiRepo::get` would, without a request.
                    Some(path) => Ok(path),
                    None => with_retries(file, || remote.download_with_progress(file, Bar::new(progress))),
                };
                match fetched {
                    Ok(path) => return Ok(Some(path)),
                    Err(ApiError::RequestError(e)) => match *e {
                        ureq::Error::Status(404, _) => return Ok(None),
                        ureq::Error::Status(401 | 403, _) => {
                            return Err(self.error(if token.is_some() {
                                "the Hub refused the token: the repo is gated or private and this account \
                                 has no access; accept its licence on the model page, or use another token"
                                    .into()
                            } else {
                                "the repo is gated or private and no token was found: set HF_TOKEN, or run \
                                 `huggingface-cli login` (it writes the token file), after accepting the \
                                 model's licence on its page"
                                    .into()
                            }))
                        }
                        ureq::Error::Status(code, _) => {
                            return Err(self.error(format!("{file}: the Hub answered HTTP {code}")))
                        }
                        ureq::Error::Transport(e) => {
                            tracing::warn!(repo = %self.repo_id, error = %e, endpoint = %endpoint(), "the Hub is unreachable; using the cache");
                            unreachable.set(true)
                        }
                    },
                    Err(e) => return Err(self.error(format!("{file}: {e}"))),
                }
            }
            Ok(cached.get(file))
        };
        let config = get("config.json")?.ok_or_else(|| {
            self.error(if unreachable.get() {
                format!(
                    "no network connection to the Hub{} and config.json is not in the HF cache ({}); \
                     connect once to download it",
                    if offline { " (HF_HUB_OFFLINE is set)" } else { "" },
                    cache.path().display()
                )
            } else {
                "the repo has no config.json (is this a transformers model?)".into()
            })
        })?;
        let missing = |file: &str| self.error(format!("{file} is neither on the Hub nor in the HF cache"));
        get("tokenizer.json")?.ok_or_else(|| missing("tokenizer.json"))?;
        if let Some(index) = get(shards::INDEX_FILE)? {
            for shard in ShardIndex::read(&index)?.shard_files() {
                get(shard)?.ok_or_else(|| missing(shard))?;
            }
        } else {
            get(shards::SINGLE_FILE)?.ok_or_else(|| missing(shards::SINGLE_FILE))?;
        }
        Ok(config.parent().expect("a file in a snapshot folder").to_path_buf())
    }

    fn error(&self, reason: String) -> LlamaError {
        LlamaError::Hub { repo: format!("{}@{}", self.repo_id, self.revision), reason }
    }
}

/// Whether a failed request is worth another try: it failed in transit, or the Hub was busy or
/// failing (429, 5xx). A 4xx other than 429 is an answer.
fn transient(e: &ApiError) -> bool {
    match e {
        ApiError::RequestError(e) => match **e {
            ureq::Error::Status(code, _) => code == 429 || code >= 500,
            ureq::Error::Transport(_) => true,
        },
        ApiError::IoError(_) | ApiError::TooManyRetries(_) => true,
        _ => false,
    }
}

/// `request`, tried up to [`ATTEMPTS`] times while it fails transiently, waiting 0.25 s, 0.5 s,
/// 1 s … between tries.
fn with_retries(
    file: &str,
    mut request: impl FnMut() -> std::result::Result<PathBuf, ApiError>,
) -> std::result::Result<PathBuf, ApiError> {
    let mut attempt = 1;
    loop {
        match request() {
            Err(e) if attempt < ATTEMPTS && transient(&e) => {
                let wait = Duration::from_millis(250 << (attempt - 1));
                tracing::warn!(file, attempt, error = %e, ?wait, "Hub request failed; trying again");
                std::thread::sleep(wait);
                attempt += 1;
            }
            result => return result,
        }
    }
}

/// hf-hub's download progress, forwarded to a [`Progress`] stage per file.
struct Bar<'a> {
    progress: &'a dyn Progress,
    stage: Option<Box<dyn Stage>>,
}

impl<'a> Bar<'a> {
    fn new(progress: &'a dyn Progress) -> Self {
        Bar { progress, stage: None }
    }
}

impl hf_hub::api::Progress for Bar<'_> {
    fn init(&mut self, size: usize, filename: &str) {
        // hf-hub calls init again when it resumes; one stage a file.
        if self.stage.is_none() {
            self.stage = Some(self.progress.stage(&format!("downloading {filename}"), size as u64));
        }
    }
    fn update(&mut self, size: usize) {
        if let Some(stage) = &self.stage {
            stage.inc(size as u64);
        }
    }
    fn finish(&mut self) {
        if let Some(stage) = &self.stage {
            stage.finish();
        }
    }
}
