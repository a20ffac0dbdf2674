//! The full comparison, the seed notebook done right: a reference Llama and its NF4/FP4
//! variants, run over the same texts, measured at the weights (MSE, SQNR, GGD fit, KL to a
//! Gaussian, gaps to the Gaussian and GGD bounds), at the output (logits MSE, ΔCE, PPL, KL
//! percentiles, top-1, RMS Δp) and against information theory (Lloyd-Max and BOF4-style
//! codebooks, Blahut–Arimoto D(R)).
//!
//! [`run`] produces a serde [`Report`] in five stages, one module each: `load` (the reference and
//! its tokenizer), `analyse` (per-linear statistics and quantized states, by
//! [`quantbound_llama::layout::LinearId`]), `forward` (the texts through every model), `theory`
//! (the seed tensor against the bounds; `codebooks`) and `results` (the report's sections);
//! `candidates` loads and scores the models quantized elsewhere (`--candidate`).
//! [`render`] writes it as `report.md`, `report.json`, `layers.csv` and `plots/*.svg`.
//! docs/report.md explains every number.

mod analyse;
mod candidates;
mod codebooks;
mod error;
mod forward;
mod load;
pub mod options;
pub mod plots;
pub use quantbound_llama::progress;
pub mod render;
pub mod report;
mod results;
mod run;
mod sensitivity;
pub mod texts;
mod theory;
pub mod weights_only;

pub use error::{ReportError, Result};
pub use options::{Device, ModelSpec, PplMode, RefDtype, ReportOptions, Rotation, SensitivityMode};
pub use progress::{NoProgress, Progress, Stage};
pub use report::Report;
pub use run::run;
pub use texts::{Texts, DEFAULT_SENTENCE};
pub use weights_only::{run_weights_only, WeightsReport};
