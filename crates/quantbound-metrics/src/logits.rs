//! Function metrics of a quantized model against its reference, streamed batch by batch.
//!
//! Positions:
//! - *real*: attention mask 1. The logits MSE is the mean of (z_ref − z_q)² over real positions and
//!   the vocabulary (the seed's masked MSE).
//! - *scored*: real positions whose next token is real, from `first_scored` on (0, or n_ctx/2 in
//!   llama.cpp's chunks). The model's prediction there is scored against that token:
//!   cross-entropy (hence ΔCE and perplexity), KL(p_ref ‖ p_q), top-1 agreement and Δp, as
//!   llama.cpp's perplexity tool scores each evaluated token.
//!
//! The ± figures are llama.cpp's (`llama-perplexity --kl-divergence`): each mean's standard error
//! √((mean(x²) − mean(x)²)/(n − 1)) (0 for n ≤ 10, as llama.cpp gives it), carried to PPL, the
//! PPL ratio and difference through their first-order propagation with the covariance of the two
//! models' token NLLs ((mean(xy) − mean(x)·mean(y))/(n − 1), 0 for n < 10); a proportion's
//! √(p(1 − p)/(n − 1)); RMS Δp's the standard error of Δp² over 2·RMS.
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

/// The Δp percentiles llama.cpp's perplexity tool prints, in percent.
pub const DELTA_P_PERCENTILES: [f64; 11] = [99.9, 99.0, 95.0, 90.0, 75.0, 50.0, 25.0, 10.0, 5.0, 1.0, 0.1];

/// Sums over the batches seen so far, and the per-position KL values for the percentiles.
#[derive(Clone, Debug, Default)]
pub struct LogitAccumulator {
    squared_error: f64,
    real_values: u64,
    real_positions: u64,
    /// Σ −log p of the next token, Σ of its square, and Σ of the two models' product.
    ce_ref: f64,
    ce_q: f64,
    ce_ref_squared: f64,
    ce_q_squared: f64,
    ce_cross: f64,
    kl: Vec<f64>,
    top1_same: u64,
    /// Δp = p_q(t) − p_ref(t) at each scored position.
    dp: Vec<f64>,
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
    #[serde(default)]
    pub kl_min: f64,
    /// ppl / ppl_ref (its natural log is `delta_ce`).
    #[serde(default)]
    pub ppl_ratio: f64,
    /// Pearson correlation of the two models' per-token NLLs (llama.cpp's Cor(ln PPL(Q), ln PPL(base))).
    #[serde(default)]
    pub nll_correlation: f64,
    /// mean(p_q(t) − p_ref(t)), with its extremes and [`DELTA_P_PERCENTILES`].
    #[serde(default)]
    pub delta_p_mean: f64,
    #[serde(default)]
    pub delta_p_min: f64,
    #[serde(default)]
    pub delta_p_max: f64,
    #[serde(default)]
    pub delta_p_percentiles: Vec<(f64, f64)>,
    /// llama.cpp's ± standard errors.
    #[serde(default)]
    pub errors: StandardErrors,
}

/// The standard error of each statistic llama.cpp gives one for (module docs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StandardErrors {
    pub ppl: f64,
    pub ppl_ref: f64,
    /// Of ln(PPL / PPL_ref) = ΔCE.
    pub delta_ce: f64,
    pub ppl_ratio: f64,
    /// Of PPL − PPL_ref.
    pub ppl_difference: f64,
    pub kl_mean: f64,
    pub top1_agreement: f64,
    pub delta_p_mean: f64,
    pub rms_delta_p: f64,
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
        for scores in Self::scores(reference, quantized, ids, mask, 0) {
            self.add(&scores);
        }
    }

    /// One batch's per-position values, one [`SequenceScores`] per row, reduced on the device.
    /// A sequence that occurs several times in a text set is scored once and added once per
    /// occurrence, in order, which gives the same sums as scoring every occurrence. Positions
    /// before `first_scored` are context only: neither scored nor in the logits MSE.
    ///
    /// # Shapes
    /// - reference, quantized: [batch, seq, vocab], on the same device
    /// - ids, mask: `batch` rows of `seq` (the right-padded batch both logits came from)
    pub fn scores<B: Backend>(
        reference: Tensor<B, 3>,
        quantized: Tensor<B, 3>,
        ids: &[Vec<u32>],
        mask: &[Vec<u32>],
        first_scored: usize,
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
        // Compared on the host: a backend's bool tensors need not be Rust bools (wgpu's are u32).
        let top = |logp: &Tensor<B, 3>| -> Vec<i64> {
            logp.clone().argmax(2).into_data().convert::<i64>().to_vec().expect("converted to i64")
        };
        let (top_ref, top_q) = (top(&logp_ref), top(&logp_q));
        let lp_ref = host(logp_ref.gather(2, targets.clone()));
        let lp_q = host(logp_q.gather(2, targets));
        let mut out = Vec::with_capacity(batch);
        for (b, row) in mask.iter().enumerate().take(batch) {
            let mut scores = SequenceScores { vocab: vocab as u64, ..Default::default() };
            for t in first_scored..seq {
                let i = b * seq + t;
                if row[t] == 0 {
                    continue;
                }
                scores.squared_error.push(squared[i]);
                if t + 1 >= seq || row[t + 1] == 0 {
                    continue;
                }
                scores.scored.push(Scored {
                    lp_ref: lp_ref[i],
                    lp_q: lp_q[i],
                    kl: kl[i],
                    top1_same: top_ref[i] == top_q[i],
                });
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
            let (nll_ref, nll_q) = (-f64::from(s.lp_ref), -f64::from(s.lp_q));
            self.ce_ref += nll_ref;
            self.ce_q += nll_q;
            self.ce_ref_squared += nll_ref * nll_ref;
            self.ce_q_squared += nll_q * nll_q;
            self.ce_cross += nll_ref * nll_q;
            // Rounding can make a near-zero KL slightly negative; it is ≥ 0 by definition.
            let kl = f64::from(s.kl).max(0.0);
            self.kl.push(kl);
            self.top1_same += u64::from(s.top1_same);
            self.dp.push(f64::from(s.lp_q).exp() - f64::from(s.lp_ref).exp());
        }
    }

    /// The metrics over every batch added; `None` if no position was scored.
    pub fn finish(mut self) -> Option<LogitMetrics> {
        let n = self.kl.len();
        if n == 0 {
            return None;
        }
        let nf = n as f64;
        // The higher moments, summed in the order the positions came.
        let kl_squared = self.kl.iter().map(|k| k * k).sum::<f64>();
        let dp_squared = self.dp.iter().map(|d| d * d).sum::<f64>();
        let dp_fourth = self.dp.iter().map(|d| d.powi(4)).sum::<f64>();
        self.kl.sort_by(f64::total_cmp);
        self.dp.sort_by(f64::total_cmp);
        let (ce_ref, ce) = (self.ce_ref / nf, self.ce_q / nf);
        let kl_mean = self.kl.iter().sum::<f64>() / nf;
        let dp_mean = self.dp.iter().sum::<f64>() / nf;
        let top1 = self.top1_same as f64 / nf;
        let rms_dp = (dp_squared / nf).sqrt();
        // llama.cpp's standard error of a mean, and covariance of two means, with its guards.
        let error = |mean: f64, mean_of_squares: f64| {
            let variance = mean_of_squares - mean * mean;
            if variance > 0.0 && n > 10 {
                (variance / (nf - 1.0)).sqrt()
            } else {
                0.0
            }
        };
        let (e_ce, e_ce_ref) = (error(ce, self.ce_q_squared / nf), error(ce_ref, self.ce_ref_squared / nf));
        let covariance = if n < 10 { 0.0 } else { (self.ce_cross / nf - ce * ce_ref) / (nf - 1.0) };
        let (ppl, ppl_ref) = (ce.exp(), ce_ref.exp());
        let e_delta_ce = (e_ce * e_ce + e_ce_ref * e_ce_ref - 2.0 * covariance).max(0.0).sqrt();
        let ppl_ratio = (ce - ce_ref).exp();
        let (e_ppl, e_ppl_ref) = (ppl * e_ce, ppl_ref * e_ce_ref);
        let e_difference = (e_ppl * e_ppl + e_ppl_ref * e_ppl_ref - 2.0 * ppl * ppl_ref * covariance).max(0.0).sqrt();
        let e_dp_squared = error(dp_squared / nf, dp_fourth / nf);
        Some(LogitMetrics {
            logits_mse: self.squared_error / self.real_values as f64,
            ce_ref,
            ce,
            delta_ce: ce - ce_ref,
            ppl_ref,
            ppl,
            kl_mean,
            kl_max: self.kl[n - 1],
            kl_percentiles: KL_PERCENTILES.iter().map(|&p| (p, percentile(&self.kl, p))).collect(),
            top1_agreement: top1,
            rms_delta_p: rms_dp,
            scored_positions: n,
            real_positions: self.real_positions,
            kl_min: self.kl[0],
            ppl_ratio,
            nll_correlation: if e_ce > 0.0 && e_ce_ref > 0.0 { covariance / (e_ce * e_ce_ref) } else { f64::NAN },
            delta_p_mean: dp_mean,
            delta_p_min: self.dp[0],
            delta_p_max: self.dp[n - 1],
            delta_p_percentiles: DELTA_P_PERCENTILES.iter().map(|&p| (p, percentile(&self.dp, p))).collect(),
            errors: StandardErrors {
                ppl: e_ppl,
                ppl_ref: e_ppl_ref,
                delta_ce: e_delta_ce,
                ppl_ratio: ppl_ratio * e_delta_ce,
                ppl_difference: e_difference,
                kl_mean: error(kl_mean, kl_squared / nf),
                top1_agreement: if n < 2 { 0.0 } else { (top1 * (1.0 - top1) / (nf - 1.0)).sqrt() },
                delta_p_mean: error(dp_mean, dp_squared / nf),
                rms_delta_p: if rms_dp > 0.0 { e_dp_squared / (2.0 * rms_dp) } else { 0.0 },
            },
        })
    }
}

/// The `p`-th percentile of ascending `sorted`, linearly interpolated between ranks.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}
