//! Stage 4, theory: the seed's tensor (`--layer`'s `mlp.down_proj`) against the bounds: the
//! Gaussian D(R) and the GGD's Shannon lower bound at R = 4 and at R_eff, Blahut–Arimoto on its
//! weights and on its fitted GGD, each finely discretized, and the optimal codebooks
//! ([`crate::codebooks`]).

use quantbound_codebook::Blocksize;
use quantbound_formats::FormatName;
use quantbound_theory::blahut_arimoto::{distortion_at_rate, DiscreteSource, Discretization};
use quantbound_theory::bounds::{gap_bits, gaussian_distortion_rate, gaussian_entropy_bits, shannon_lower_bound};
use quantbound_theory::histogram::SEED_BINS;
use rayon::prelude::*;

use crate::analyse::{Analysis, LinearStats};
use crate::error::{theory, Result};
use crate::options::ReportOptions;
use crate::report::{GapRow, RateView, RdCurve, RdPoint, SeedGgd, Theory};

/// The rate the seed evaluates its bounds at.
pub(crate) const SEED_RATE: f64 = 4.0;
/// Blahut–Arimoto accuracy asked for, bits (each point reports the accuracy it reached).
pub(crate) const BA_TOLERANCE: f64 = 1e-2;
/// Rates of the Blahut–Arimoto curves besides R = 4 and R_eff, up to the highest the report
/// certifies against the Shannon lower bound.
const BA_RATES: [f64; 3] = [3.0, 3.5, 5.0];
/// The discretization's bins are this fraction of √D at the curve's highest rate (D there taken
/// as the GGD's Shannon lower bound, the smallest D the curve can reach): the spread within the
/// bins is then at most 1/192 of any D on the curve.
pub(crate) const BA_BIN_FRACTION: f64 = 0.25;

/// Everything the theory of the seed's tensor is computed from.
pub(crate) struct SeedTensor<'a> {
    /// Its checkpoint name.
    pub name: String,
    pub weights: &'a [f32],
    pub stats: &'a LinearStats,
    /// Each format, its bits per weight and its weight MSE on this tensor.
    pub errors: Vec<(FormatName, f64, f64)>,
    /// The histogram KL to a Gaussian of every layer's `down_proj`: on all its weights, and on
    /// the seed's subsample.
    pub down_proj_kl_bits: Vec<f64>,
    pub down_proj_kl_bits_seed_sampling: Vec<f64>,
    pub blocksize: Blocksize,
}

impl<'a> SeedTensor<'a> {
    pub fn new(analysis: &'a Analysis, options: &ReportOptions) -> Self {
        let stats = analysis.seed_stats();
        SeedTensor {
            name: stats.id.tensor_name(),
            weights: &analysis.seed_weights,
            stats,
            errors: analysis
                .formats
                .iter()
                .map(|f| (f.format, f.rates[analysis.seed], f.errors[analysis.seed].mse))
                .collect(),
            down_proj_kl_bits: analysis
                .stats
                .iter()
                .filter(|s| s.id.kind == stats.id.kind)
                .map(|s| s.kl_bits)
                .collect(),
            down_proj_kl_bits_seed_sampling: analysis.stats.iter().filter_map(|s| s.kl_bits_seed_sampling).collect(),
            blocksize: options.blocksize,
        }
    }

    /// The tensor against the bounds, Blahut–Arimoto and the optimal codebooks.
    pub fn theory(&self) -> Result<Theory> {
        let dist = self.stats.fit.dist;
        // The seed's 200 equal-width bins as densities, for the plot.
        let plotted = DiscreteSource::histogram(self.weights, SEED_BINS).map_err(theory(&self.name))?;
        let width = plotted.values[1] - plotted.values[0];
        let histogram = plotted.values.iter().zip(&plotted.probabilities).map(|(&v, &p)| (v, p / width)).collect();
        // Blahut–Arimoto on the weights and on the fitted density, each finely discretized, beside
        // the codebook designs: the stage takes as long as its longest part.
        let rates = self.ba_rates();
        let bin_width = BA_BIN_FRACTION * shannon_lower_bound(dist.entropy_bits(), rates[rates.len() - 1]).sqrt();
        let ((weights, density), codebooks) = rayon::join(
            || {
                rayon::join(
                    || Discretization::of_samples(self.weights, bin_width).map(|d| self.blahut_arimoto(d, &rates)),
                    || Discretization::of_density(&dist, bin_width).map(|d| self.blahut_arimoto(d, &rates)),
                )
            },
            || crate::codebooks::codebooks(&self.name, self.weights, &dist, self.blocksize),
        );
        let (curve, curve_ggd) = (weights.map_err(theory(&self.name))??, density.map_err(theory(&self.name))??);
        Ok(Theory {
            tensor: self.name.clone(),
            numel: self.weights.len(),
            sigma: self.stats.variance.sqrt(),
            ggd: SeedGgd { beta: dist.beta(), loc: dist.loc(), scale: dist.scale() },
            ggd_loglik: self.stats.fit.loglik,
            h_gauss_bits: gaussian_entropy_bits(self.stats.variance),
            h_ggd_bits: dist.entropy_bits(),
            h_ggd_bits_seed_formula: dist.entropy_bits_seed_formula(),
            kl_to_gauss_bits: self.stats.kl_bits,
            rates: self.rate_views(&curve.points),
            blahut_arimoto: curve,
            blahut_arimoto_ggd: curve_ggd,
            histogram_bins: SEED_BINS,
            codebooks: codebooks?,
            histogram,
            histogram_entropy_bits: plotted.entropy_bits(),
            down_proj_kl_bits: self.down_proj_kl_bits.clone(),
            down_proj_kl_bits_seed_sampling: self.down_proj_kl_bits_seed_sampling.clone(),
        })
    }

    /// The formats' own rates, ascending, each once.
    fn format_rates(&self) -> Vec<f64> {
        let mut rates: Vec<f64> = self.errors.iter().map(|e| e.1).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        rates
    }

    /// The curve's rates, ascending: the seed's, the formats' own, and [`BA_RATES`].
    fn ba_rates(&self) -> Vec<f64> {
        let mut rates: Vec<f64> = BA_RATES.to_vec();
        rates.push(SEED_RATE);
        rates.extend(self.format_rates());
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        rates
    }

    /// Every format at R = 4, then each format at its own rate.
    fn rate_views(&self, curve: &[RdPoint]) -> Vec<RateView> {
        let mut views = vec![self.rate_view(SEED_RATE, curve, |_| true)];
        for rate in self.format_rates() {
            views.push(self.rate_view(rate, curve, |bits| bits == rate));
        }
        views
    }

    /// D(R) of `discretization` at `rates`, each point certified for the undiscretized source.
    fn blahut_arimoto(&self, discretization: Discretization, rates: &[f64]) -> Result<RdCurve> {
        let source = &discretization.source;
        let within = discretization.within_variance;
        let points = rates
            .par_iter()
            .map(|&rate| {
                let p = distortion_at_rate(source, rate, BA_TOLERANCE).map_err(theory(&self.name))?;
                Ok(RdPoint {
                    rate: p.rate,
                    distortion: p.distortion + within,
                    discrete_distortion: p.distortion,
                    accuracy_bits: p.accuracy,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(RdCurve { bin_width: discretization.bin_width, bins: source.values.len(), within_variance: within, points })
    }

    /// The bounds at `rate` and the gaps to them of the formats whose bits per weight `at` takes.
    fn rate_view(&self, rate: f64, curve: &[RdPoint], at: impl Fn(f64) -> bool) -> RateView {
        let d_gauss = gaussian_distortion_rate(self.stats.variance, rate);
        let slb = shannon_lower_bound(self.stats.fit.dist.entropy_bits(), rate);
        // The curve's point nearest `rate`, moved to `rate` along D ∝ 2^(−2R) (the curve's slope at
        // these rates; the points sit within the tolerance of their rates).
        let ba = curve
            .iter()
            .min_by(|a, b| (a.rate - rate).abs().total_cmp(&(b.rate - rate).abs()))
            .map_or(f64::NAN, |p| p.distortion * (-2.0 * (rate - p.rate)).exp2());
        let gaps = self
            .errors
            .iter()
            .filter(|e| at(e.1))
            .map(|&(format, _, mse)| GapRow {
                format,
                weight_mse: mse,
                gap_bits_vs_gauss: gap_bits(mse, d_gauss),
                gap_bits_vs_ggd: gap_bits(mse, slb),
                gap_bits_vs_blahut_arimoto: gap_bits(mse, ba),
            })
            .collect();
        RateView { rate, d_gauss, slb_ggd: slb, blahut_arimoto: ba, gaps }
    }
}
