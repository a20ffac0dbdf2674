//! The full comparison, the seed notebook done right: a reference Llama and its NF4/FP4
//! variants, run over the same texts, measured at the weights (MSE, SQNR, GGD fit, KL to a
//! Gaussian, gaps to the Gaussian and GGD bounds), at the output (logits MSE, ΔCE, PPL, KL
//! percentiles, top-1, RMS Δp) and against information theory (Lloyd-Max and BOF4-style
//! codebooks, Blahut–Arimoto D(R)).
//!
//! [`run`] produces a serde [`Report`]; [`render`] writes it as `report.md`, `report.json`,
//! `layers.csv` and `plots/*.svg`. docs/report.md explains every number.

mod error;
pub mod options;
pub mod plots;
pub mod render;
pub mod report;
mod run;

pub use error::{ReportError, Result};
pub use options::{Format, ModelSpec, NoProgress, Progress, RefDtype, ReportOptions, Stage, Texts, DEFAULT_SENTENCE};
pub use report::Report;
pub use run::run;
