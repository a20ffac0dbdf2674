//! Tokenization with the `tokenizers` crate from a `tokenizer.json`, and batches right-padded
//! with an attention mask, as the seed tokenizes (`padding=True, truncation=True`).

use std::path::Path;

use crate::error::{LlamaError, Result};

/// A tokenizer and the id it pads with.
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pad_id: u32,
}

/// Token ids of a batch, right-padded to the longest sequence, with 1/0 attention mask.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub ids: Vec<Vec<u32>>,
    pub attention_mask: Vec<Vec<u32>>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The padded length.
    pub fn seq_len(&self) -> usize {
        self.ids.first().map_or(0, Vec::len)
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json`; `pad_id` is the id padding uses (the model's pad or eos token).
    pub fn from_file(path: &Path, pad_id: u32) -> Result<Self> {
        if !path.is_file() {
            return Err(LlamaError::Io {
                file: path.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "tokenizer.json not found"),
            });
        }
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| LlamaError::Config {
            file: path.display().to_string(),
            key: "tokenizer.json".into(),
            reason: e.to_string(),
        })?;
        Ok(Tokenizer { inner, pad_id })
    }

    /// Ids of `text`, with or without the special tokens the post-processor adds (e.g. bos).
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        self.inner.encode(text, add_special_tokens).map(|e| e.get_ids().to_vec()).map_err(|e| LlamaError::Config {
            file: "tokenizer".into(),
            key: "encode".into(),
            reason: e.to_string(),
        })
    }

    /// Text of `ids`, with or without the special tokens.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner.decode(ids, skip_special_tokens).map_err(|e| LlamaError::Config {
            file: "tokenizer".into(),
            key: "decode".into(),
            reason: e.to_string(),
        })
    }

    /// Encodes each text (with special tokens), truncates to `max_length`, and right-pads to the
    /// longest. A text that encodes to nothing is an error naming it.
    pub fn encode_batch(&self, texts: &[&str], max_length: usize) -> Result<Batch> {
        let mut ids = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let mut encoded = self.encode(text, true)?;
            encoded.truncate(max_length);
            if encoded.is_empty() {
                return Err(LlamaError::Config {
                    file: "input text".into(),
                    key: format!("text {i}"),
                    reason: format!("{text:?} tokenizes to nothing"),
                });
            }
            ids.push(encoded);
        }
        let len = ids.iter().map(Vec::len).max().unwrap_or(0);
        let attention_mask = ids.iter().map(|s| (0..len).map(|t| u32::from(t < s.len())).collect()).collect();
        for s in &mut ids {
            s.resize(len, self.pad_id);
        }
        Ok(Batch { ids, attention_mask })
    }
}
