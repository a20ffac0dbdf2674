//! Function metrics of a quantized model against its reference, streamed batch by batch.
//!
//! Positions:
//! - *real*: attention mask 1. The logits MSE is the mean of (z_ref − z_q)² over real positions and
//!   the vocabulary (the seed's masked MSE).
//! - *scored*: real positions whose next token is real. The model's prediction there is scored
//!   against that token: cross-entropy (hence ΔCE and perplexity), KL(p_ref ‖ p_q), top-1
//!   agreement and Δp, as llama.cpp's perplexity tool scores each evaluated token.
//!
//! Each batch's `[batch, seq, vocab]` logits stay on the device; log-softmax, KL, the target's
//! log-probability, argmax and the squared error are reduced over the vocabulary there, and only
//! `[batch, seq]` values come to the host.

use burn::tensor::activation::log_softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// The KL percentiles llama.cpp's perplexity tool prints, in percent.
pub const KL_PERCENTILES: [f64; 9] = [99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1];

/// Sums over the batches seen so far, and the per-position KL values for the percentiles.
#[derive(Clone, Debug, Default)]
pub struct LogitAccumulator {
    squared_error: f64,
    real_values: u64,
    real_positions: u64,
    ce_ref: f64,
    ce_q: f64,
    kl: Vec<f64>,
    top1_same: u64,
    dp_squared: f64,
}

/// One sequence's values at its positions, as [`LogitAccumulator::add`] sums them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SequenceScores {
    vocab: u64,
    /// Σ_v (z_ref − z_q)² at each real position.
    squared_error: Vec<f32>,
    /// At each scored position.
    scored: Vec<Scored>,
}

/// A scored position: both models' log-probabilities of the next token, KL(p_ref ‖ p_q), and
/// whether their argmax agree.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Scored {
    lp_ref: f32,
    lp_q: f32,
    kl: f32,
    top1_same: bool,
}

/// The function metrics of one quantized model (natural logs; KL in nats).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogitMetrics {
    /// Mean (z_ref − z_q)² over real positions × vocabulary.
    pub logits_mse: f64,
    /// Mean next-token cross-entropy over scored positions, reference and quantized (nats).
    pub ce_ref: f64,
    pub ce: f64,
    /// ce − ce_ref.
    pub delta_ce: f64,
    pub ppl_ref: f64,
    pub ppl: f64,
    pub kl_mean: f64,
    pub kl_max: f64,
    /// (percent, KL at that percentile) for [`KL_PERCENTILES`], linear interpolation between ranks.
    pub kl_percentiles: Vec<(f64, f64)>,
    /// Fraction of scored positions where both models' argmax agree.
    pub top1_agreement: f64,
    /// √mean((p_q(t) − p_ref(t))²) over scored positions, for the true next token t.
    pub rms_delta_p: f64,
    pub scored_positions: usize,
    pub real_positions: u64,
}

fn host<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().to_vec().expect("converted to f32")
}

impl LogitAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one batch ([`LogitAccumulator::scores`], then [`LogitAccumulator::add`] row by row).
    ///
    /// # Shapes
    /// - reference, quantized: [batch, seq, vocab], on the same device
    /// - ids, mask: `batch` rows of `seq` (the right-padded batch both logits came from)
    pub fn update<B: Backend>(
        &mut self,
        reference: Tensor<B, 3>,
        quantized: Tensor<B, 3>,
        ids: &[Vec<u32>],
        mask: &[Vec<u32>],
    ) {
        for scores in Self::scores(reference, quantized, ids, mask) {
            self.add(&scores);
        }
    }

    /// One batch's per-position values, one [`SequenceScores`] per row, reduced on the device.
    /// A sequence that occurs several times in a text set is scored once and added once per
    /// occurrence, in order, which gives the same sums as scoring every occurrence.
    ///
    /// # Shapes
    /// - reference, quantized: [batch, seq, vocab], on the same device
    /// - ids, mask: `batch` rows of `seq` (the right-padded batch both logits came from)
    pub fn scores<B: Backend>(
        reference: Tensor<B, 3>,
        quantized: Tensor<B, 3>,
        ids: &[Vec<u32>],
        mask: &[Vec<u32>],
    ) -> Vec<SequenceScores> {
        let [batch, seq, vocab] = reference.dims();
        let device = reference.device();
        let squared = host((reference.clone() - quantized.clone()).powi_scalar(2).sum_dim(2));
        let logp_ref = log_softmax(reference, 2);
        let logp_q = log_softmax(quantized, 2);
        let kl = host((logp_ref.clone().exp() * (logp_ref.clone() - logp_q.clone())).sum_dim(2));
        // The token after each position (the last position's is never scored).
        let targets: Vec<i64> =
            ids.iter().flat_map(|row| (0..seq).map(move |t| i64::from(row[(t + 1).min(seq - 1)]))).collect();
        let targets = Tensor::<B, 3, Int>::from_data(TensorData::new(targets, [batch, seq, 1]), &device);
        let top_ref = logp_ref.clone().argmax(2);
        let top_q = logp_q.clone().argmax(2);
        let same: Vec<bool> = top_ref.equal(top_q).into_data().to_vec().expect("a bool tensor");
        let lp_ref = host(logp_ref.gather(2, targets.clone()));
        let lp_q = host(logp_q.gather(2, targets));
        let mut out = Vec::with_capacity(batch);
        for (b, row) in mask.iter().enumerate().take(batch) {
            let mut scores = SequenceScores { vocab: vocab as u64, ..Default::default() };
            for t in 0..seq {
                let i = b * seq + t;
                if row[t] == 0 {
                    continue;
                }
                scores.squared_error.push(squared[i]);
                if t + 1 >= seq || row[t + 1] == 0 {
                    continue;
                }
                scores.scored.push(Scored { lp_ref: lp_ref[i], lp_q: lp_q[i], kl: kl[i], top1_same: same[i] });
            }
            out.push(scores);
        }
        out
    }

    /// Adds one sequence's values.
    pub fn add(&mut self, scores: &SequenceScores) {
        for &squared in &scores.squared_error {
            self.squared_error += f64::from(squared);
            self.real_values += scores.vocab;
            self.real_positions += 1;
        }
        for s in &scores.scored {
            self.ce_ref -= f64::from(s.lp_ref);
            self.ce_q -= f64::from(s.lp_q);
            // Rounding can make a near-zero KL slightly negative; it is ≥ 0 by definition.
            self.kl.push(f64::from(s.kl).max(0.0));
            self.top1_same += u64::from(s.top1_same);
            self.dp_squared += (f64::from(s.lp_q).exp() - f64::from(s.lp_ref).exp()).powi(2);
        }
    }

    /// The metrics over every batch added; `None` if no position was scored.
    pub fn finish(mut self) -> Option<LogitMetrics> {
        let n = self.kl.len();
        if n == 0 {
            return None;
        }
        let nf = n as f64;
        self.kl.sort_by(f64::total_cmp);
        let percentile = |p: f64| {
            let rank = p / 100.0 * (nf - 1.0);
            let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
            self.kl[lo] + (self.kl[hi] - self.kl[lo]) * (rank - lo as f64)
        };
        let (ce_ref, ce) = (self.ce_ref / nf, self.ce_q / nf);
        Some(LogitMetrics {
            logits_mse: self.squared_error / self.real_values as f64,
            ce_ref,
            ce,
            delta_ce: ce - ce_ref,
            ppl_ref: ce_ref.exp(),
            ppl: ce.exp(),
            kl_mean: self.kl.iter().sum::<f64>() / nf,
            kl_max: self.kl[n - 1],
            kl_percentiles: KL_PERCENTILES.iter().map(|&p| (p, percentile(p))).collect(),
            top1_agreement: self.top1_same as f64 / nf,
            rms_delta_p: (self.dp_squared / nf).sqrt(),
            scored_positions: n,
            real_positions: self.real_positions,
        })
    }
}
