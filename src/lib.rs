//! quantbound: measure 4-bit weight quantization of Llama-family models: how much error it adds,
//! how the network amplifies it, and how close it comes to the limits of information theory.
//!
//! This facade re-exports the workspace's crates so that one dependency is enough. The README
//! below is compiled as documentation, so its Rust example is tested.
#![doc = include_str!("../README.md")]

pub use quantbound_codebook as codebook;
pub use quantbound_formats as formats;
pub use quantbound_llama as llama;
pub use quantbound_metrics as metrics;
pub use quantbound_report as report;
pub use quantbound_theory as theory;
