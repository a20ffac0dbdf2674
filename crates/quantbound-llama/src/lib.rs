//! Llama-family checkpoints for quantbound.
//!
//! Today: the [`gguf`] reader (GGUF v3 metadata and tensors, dequantization of F32, F16, BF16,
//! Q8_0, Q4_0 and Q4_1, llama.cpp → Hugging Face names with the q/k rope permutation undone as
//! transformers does) and the embedded [`sample`] model's location. The Burn model generic over
//! `B: Backend` is the next step of this crate.

pub mod config;
mod error;
pub mod gguf;
pub mod hub;
pub mod linear;
pub mod model;
pub mod sample;
pub mod tokenizer;
pub mod weights;

pub use error::{LlamaError, Result};
