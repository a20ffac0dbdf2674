//! Llama-family models on Burn for quantbound, generic over the backend.
//!
//! - [`gguf`]: GGUF v3 (metadata, tensors; F32, F16, BF16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL, MXFP4), llama.cpp → Hugging
//!   Face names with the q/k rope permutation undone as transformers does;
//! - [`layout`]: checkpoint names, stated once (the scoped key builder, the table of decoder
//!   linears, [`layout::LinearId`]);
//! - [`config`], [`weights`], [`hub`]: config.json or GGUF metadata; safetensors folders (dense or
//!   bnb-4bit), GGUF and the Hugging Face Hub;
//! - [`tokenizer`]: from tokenizer.json or GGUF metadata, right-padded batches;
//! - [`linear`], [`model`]: one linear for dense and 4-bit (NF4/FP4, on the device) weights and the
//!   Llama forward pass, matching transformers;
//! - [`sample`]: where the embedded sample model is cached.

pub mod backend;
pub mod config;
mod error;
pub mod gguf;
pub mod hub;
pub mod layout;
pub mod linear;
pub mod model;
pub mod progress;
pub mod sample;
pub mod tokenizer;
pub mod weights;

pub use error::{LlamaError, Result};
