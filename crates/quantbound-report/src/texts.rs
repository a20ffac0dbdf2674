//! The texts the models run over, and their token sequences.

use quantbound_llama::tokenizer::Tokenizer;

use crate::error::{ReportError, Result};

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
    /// One long document, tokenized once and split into windows of `max_length` tokens.
    Document(String),
    /// Token ids, one sequence each (already tokenized; truncated at `max_length`).
    Tokens(Vec<Vec<u32>>),
}

impl Texts {
    /// The seed's default: [`DEFAULT_SENTENCE`] × 100.
    pub fn seed_default() -> Self {
        Texts::Lines(vec![DEFAULT_SENTENCE.to_owned(); 100])
    }

    /// Token sequences of the texts, each at most `max_length` long and non-empty.
    pub fn tokenize(&self, tokenizer: &Tokenizer, max_length: usize) -> Result<Vec<Vec<u32>>> {
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
            Texts::Document(text) => tokenizer.encode(text, true)?.chunks(max_length).map(<[u32]>::to_vec).collect(),
            Texts::Tokens(seqs) => seqs.iter().map(|s| s[..s.len().min(max_length)].to_vec()).collect(),
        };
        if sequences.is_empty() || sequences.iter().any(Vec::is_empty) {
            return Err(ReportError::Invalid("the texts tokenize to nothing: give at least one non-empty text".into()));
        }
        Ok(sequences)
    }
}
