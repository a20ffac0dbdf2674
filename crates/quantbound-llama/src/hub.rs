//! Models from the Hugging Face Hub (hf-hub): a repo id and revision become a local folder of
//! `config.json`, `tokenizer.json` and safetensors weights in the standard HF cache.
//!
//! - The token comes from `HF_TOKEN`, else the HF token file (`$HF_HOME/token`,
//!   `~/.cache/huggingface/token` by default, written by `huggingface-cli login`).
//! - With `HF_HUB_OFFLINE=1`, or when the Hub cannot be reached, files come from the cache only.
//! - A gated or private repo without a token, an unreachable Hub with nothing cached, and a missing
//!   file each give an error that says which and what to do.

use std::path::PathBuf;

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use quantbound_codebook::shards::{self, ShardIndex};

use crate::error::{LlamaError, Result};

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

    /// Fetches (or finds in the cache) what a model folder needs and returns the folder.
    pub fn snapshot(&self) -> Result<PathBuf> {
        let cache = Cache::from_env();
        let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.trim().is_empty()).or_else(|| cache.token());
        let offline =
            std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| matches!(v.as_str(), "1" | "true" | "TRUE" | "yes"));
        let repo = Repo::with_revision(self.repo_id.clone(), RepoType::Model, self.revision.clone());
        let api = ApiBuilder::from_cache(cache.clone())
            .with_token(token.clone())
            .with_progress(false)
            .build()
            .map_err(|e| self.error(format!("cannot set up the Hub client: {e}")))?;
        let remote = api.repo(repo.clone());
        let cached = cache.repo(repo);
        let unreachable = std::cell::Cell::new(offline);
        let get = |file: &str| -> Result<Option<PathBuf>> {
            tracing::info!(repo = %self.repo_id, file, offline = unreachable.get(), "fetching from the Hub");
            if !unreachable.get() {
                match remote.get(file) {
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
                            tracing::warn!(repo = %self.repo_id, error = %e, "the Hub is unreachable; using the cache");
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
