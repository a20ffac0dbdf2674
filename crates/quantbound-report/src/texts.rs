//! The texts the models run over, and their token sequences.

use quantbound_llama::tokenizer::Tokenizer;

use crate::error::{ReportError, Result};
use crate::options::PplMode;

/// The seed's text: one sentence, repeated 100 times as its list of strings.
///
/// The seed notebook's own sentence is not in the design material; this one stands in for it.
/// Pass `--texts` with the notebook's sentence to compare with a notebook run number for number.
pub const DEFAULT_SENTENCE: &str = "The quick brown fox jumps over the lazy dog.";

/// The texts the models are run over.
#[derive(Clone, Debug, PartialEq)]
pub enum Texts {
    /// One sequence per string, tokenized with special tokens, truncated at `max_length` and
    /// right-padded per batch (the seed's `padding=True, truncation=True`).
    Lines(Vec<String>),
    /// One long document, tokenized once and split into sequences of `max_length` tokens as
    /// [`PplMode`] says.
    Document(String),
    /// Token ids, one sequence each (already tokenized; truncated at `max_length`).
    Tokens(Vec<Vec<u32>>),
}

impl Texts {
    /// The seed's default: [`DEFAULT_SENTENCE`] × 100.
    pub fn seed_default() -> Self {
        Texts::Lines(vec![DEFAULT_SENTENCE.to_owned(); 100])
    }

    /// Token sequences of the texts, each at most `max_length` long and non-empty; a document
    /// cut as `mode` says.
    pub fn tokenize(&self, tokenizer: &Tokenizer, max_length: usize, mode: PplMode) -> Result<Vec<Vec<u32>>> {
        let sequences: Vec<Vec<u32>> = match self {
            Texts::Lines(lines) => lines
                .iter()
                .enumerate()
                .map(|(i, line)| {
                    let empty = || ReportError::Invalid(format!("text {} ({line:?}) tokenizes to nothing", i + 1));
                    // Special tokens alone (a bos for an empty line) are not a text.
                    if tokenizer.encode(line, false)?.is_empty() {
                        return Err(empty());
                    }
                    let mut ids = tokenizer.encode(line, true)?;
                    ids.truncate(max_length);
                    if ids.is_empty() {
                        return Err(empty());
                    }
                    Ok(ids)
                })
                .collect::<Result<_>>()?,
            Texts::Document(text) => match mode {
                PplMode::Windows => tokenizer.encode(text, true)?.chunks(max_length).map(<[u32]>::to_vec).collect(),
                PplMode::LlamaCpp => llama_cpp_chunks(tokenizer, text, max_length)?,
            },
            Texts::Tokens(seqs) => seqs.iter().map(|s| s[..s.len().min(max_length)].to_vec()).collect(),
        };
        if sequences.is_empty() || sequences.iter().any(Vec::is_empty) {
            return Err(ReportError::Invalid("the texts tokenize to nothing: give at least one non-empty text".into()));
        }
        Ok(sequences)
    }
}

/// `llama-perplexity`'s chunks of a document: its tokens (with the BOS the tokenizer adds; one
/// trailing newline dropped, as `-f` reads a file), cut into whole chunks of `n_ctx` (the
/// remainder dropped), each chunk's first token replaced by BOS where the tokenizer adds one.
/// llama.cpp refuses a document shorter than two chunks; so do we.
fn llama_cpp_chunks(tokenizer: &Tokenizer, text: &str, n_ctx: usize) -> Result<Vec<Vec<u32>>> {
    let tokens = tokenizer.encode(text.strip_suffix('\n').unwrap_or(text), true)?;
    if tokens.len() < 2 * n_ctx {
        return Err(ReportError::Invalid(format!(
            "--ppl-mode llama-cpp: the document is {} tokens; n_ctx {n_ctx} (--max-length) needs at least {}, as \
             llama-perplexity does",
            tokens.len(),
            2 * n_ctx
        )));
    }
    // The BOS the tokenizer adds is what an empty text encodes to.
    let bos = tokenizer.encode("", true)?.first().copied();
    Ok(tokens
        .chunks_exact(n_ctx)
        .map(|chunk| {
            let mut chunk = chunk.to_vec();
            if let Some(bos) = bos {
                chunk[0] = bos;
            }
            chunk
        })
        .collect())
}
