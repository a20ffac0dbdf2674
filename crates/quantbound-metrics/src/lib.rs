//! Distortion metrics for quantbound.
//!
//! - [`weight`]: MSE, SQNR and max |error| of a quantized weight, on slices.
//! - [`logits`]: the function metrics of a quantized model against its reference, streamed batch
//!   by batch. The per-vocabulary work (log-softmax, KL, argmax, squared error) runs as Burn tensor
//!   ops on the model's device; only per-position values (`[batch, seq]`) reach the host.

pub mod logits;
pub mod weight;

pub use logits::{LogitAccumulator, LogitMetrics, SequenceScores, StandardErrors, DELTA_P_PERCENTILES, KL_PERCENTILES};
pub use weight::{weight_error, WeightError};
