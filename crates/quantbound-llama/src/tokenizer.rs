//! Tokenization with the `tokenizers` crate from a `tokenizer.json`, and batches right-padded
//! with an attention mask, as the seed tokenizes (`padding=True, truncation=True`).

use std::path::Path;

use crate::error::{LlamaError, Result};
use crate::gguf::{Gguf, Value};

/// Llama 3's pre-tokenizer split pattern (its tokenizer.json), used for `tokenizer.ggml.pre =
/// "llama-bpe"`.
const LLAMA3_SPLIT: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

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
    /// `sequences` right-padded with `pad_id` to the longest, and their 1/0 attention mask.
    pub fn right_padded(mut ids: Vec<Vec<u32>>, pad_id: u32) -> Self {
        let len = ids.iter().map(Vec::len).max().unwrap_or(0);
        let attention_mask = ids.iter().map(|s| (0..len).map(|t| u32::from(t < s.len())).collect()).collect();
        for s in &mut ids {
            s.resize(len, pad_id);
        }
        Batch { ids, attention_mask }
    }

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

    /// Builds the tokenizer a GGUF carries in its metadata: llama.cpp's byte-level BPE
    /// (`tokenizer.ggml.model = "gpt2"`) with its vocabulary, merges, token types (control tokens
    /// become special) and pre-tokenizer, as transformers' `tokenizer.json` describes the same
    /// tokenizer. Other tokenizer models are an error naming the key.
    pub fn from_gguf(gguf: &Gguf<'_>, file: &str, pad_id: u32) -> Result<Self> {
        let bad = |key: &str, reason: String| LlamaError::Config { file: file.into(), key: key.into(), reason };
        let model = gguf.get("tokenizer.ggml.model", "the tokenizer model name")?;
        if model.as_str() != Some("gpt2") {
            return Err(bad(
                "tokenizer.ggml.model",
                format!("{model:?} is not supported (only byte-level BPE, \"gpt2\")"),
            ));
        }
        let strings = |key: &str| -> Result<Vec<&str>> {
            match gguf.get(key, "an array of strings")? {
                Value::Array(items) => {
                    items.iter().map(|v| v.as_str().ok_or_else(|| bad(key, "an item is not a string".into()))).collect()
                }
                other => Err(bad(key, format!("expected an array of strings, found {other:?}"))),
            }
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?;
        let types: Vec<u64> = match gguf.metadata.get("tokenizer.ggml.token_type") {
            Some(Value::Array(items)) => items.iter().map(|v| v.as_u64().unwrap_or(1)).collect(),
            _ => vec![1; tokens.len()],
        };
        let vocab: serde_json::Map<String, serde_json::Value> =
            tokens.iter().enumerate().map(|(id, t)| ((*t).to_owned(), id.into())).collect();
        // llama.cpp token types: 3 control (special), 4 user-defined (added, not special).
        let added: Vec<serde_json::Value> = tokens
            .iter()
            .enumerate()
            .filter(|(id, _)| matches!(types.get(*id), Some(3 | 4)))
            .map(|(id, t)| {
                serde_json::json!({"id": id, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                    "normalized": types[id] == 4, "special": types[id] == 3})
            })
            .collect();
        let byte_level = serde_json::json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
        let pre = gguf.metadata.get("tokenizer.ggml.pre").and_then(Value::as_str).unwrap_or("default");
        // GPT-2's regex: llama.cpp names it "gpt-2" (and "default" when unnamed); "gpt2" is how
        // some writers spell it.
        let gpt2_split = matches!(pre, "default" | "gpt-2" | "gpt2" | "smollm");
        let pre_tokenizer = match pre {
            // GPT-2's regex inside ByteLevel.
            _ if gpt2_split => byte_level.clone(),
            // Llama 3's split regex, then byte-level without its own regex.
            "llama-bpe" | "llama3" => serde_json::json!({"type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"Regex": LLAMA3_SPLIT}, "behavior": "Isolated", "invert": false},
                {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}),
            other => {
                return Err(bad(
                    "tokenizer.ggml.pre",
                    format!("pre-tokenizer {other:?} is not supported (known: gpt-2, smollm, llama-bpe)"),
                ))
            }
        };
        let add_bos = gguf.metadata.get("tokenizer.ggml.add_bos_token").is_some_and(|v| matches!(v, Value::Bool(true)));
        let post_processor = match gguf.metadata.get("tokenizer.ggml.bos_token_id").and_then(Value::as_u64) {
            Some(bos) if add_bos => {
                let bos_token = tokens
                    .get(bos as usize)
                    .ok_or_else(|| bad("tokenizer.ggml.bos_token_id", format!("{bos} is outside the vocabulary")))?;
                serde_json::json!({"type": "TemplateProcessing",
                    "single": [{"SpecialToken": {"id": bos_token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                    "pair": [{"SpecialToken": {"id": bos_token, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                             {"SpecialToken": {"id": bos_token, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                    "special_tokens": {bos_token.to_string(): {"id": bos_token, "ids": [bos], "tokens": [bos_token]}}})
            }
            _ => serde_json::Value::Null,
        };
        let json = serde_json::json!({
            "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
            "normalizer": null, "pre_tokenizer": pre_tokenizer, "post_processor": post_processor,
            "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": !gpt2_split,
                "vocab": vocab, "merges": merges}
        });
        let inner: tokenizers::Tokenizer = json
            .to_string()
            .parse()
            .map_err(|e: tokenizers::Error| bad("tokenizer.ggml.*", format!("cannot build a tokenizer: {e}")))?;
        Ok(Tokenizer { inner, pad_id })
    }

    /// The id batches are padded with.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
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
        Ok(Batch::right_padded(ids, self.pad_id))
    }
}
