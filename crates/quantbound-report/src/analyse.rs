//! Stage 2, analyse: one pass over the reference's decoder linears. Each linear's statistics (σ²,
//! GGD fit, KL to a Gaussian) and, per format, its quantized state and weight error; then the
//! quantized models built from those states.

use std::collections::BTreeMap;

use burn::tensor::{Tensor, TensorData};
use quantbound_formats::rotation::{Hadamard, Rotated};
use quantbound_formats::{Format, FormatName, Quantized};
use quantbound_llama::backend::QuantBackend;
use quantbound_llama::layout::{LinearId, LinearKind, DECODER_LINEARS};
use quantbound_llama::linear::Linear;
use quantbound_llama::model::Llama;
use quantbound_metrics::{weight_error, WeightError};
use quantbound_theory::histogram::{kl_to_gaussian_bits, SeedSubsampling, SEED_BINS};
use quantbound_theory::{fit_ggd, GgdFit};
use rayon::prelude::*;

use crate::error::{theory, Result};
use crate::options::{ReportOptions, Rotation};

/// The seed of the rotations' random signs (each linear draws its own from it).
const ROTATION_SEED: u64 = 0x5EED;
use crate::progress::Progress;

/// The weight statistics of one linear (the same for every format).
pub(crate) struct LinearStats {
    pub id: LinearId,
    pub numel: usize,
    pub variance: f64,
    /// Mean of w² (the denominator of a relative MSE).
    pub mean_square: f64,
    pub fit: GgdFit,
    /// The seed's histogram KL to a Gaussian, bits, on every weight.
    pub kl_bits: f64,
    /// With `--rotate`: the GGD shape β and the KL to a Gaussian of the rotated weights.
    pub rotated: Option<(f64, f64)>,
    /// The same on the seed's 200k-weight subsample, as the notebook prints it: for the
    /// `down_proj`s only, drawn from one generator in layer order.
    pub kl_bits_seed_sampling: Option<f64>,
}

/// One format's view of every linear, in [`Llama::linears`] order.
pub(crate) struct FormatAnalysis {
    pub format: FormatName,
    /// Bits per weight, every scale and zero-point counted, over all the linears (a format may
    /// store some shapes otherwise: Q4_K's fallback type).
    pub bits_per_weight: f64,
    /// Weights per scale.
    pub block_size: usize,
    pub errors: Vec<WeightError>,
    /// Each linear's own bits per weight (Q4_K's are 4.5 or its stand-in's 5.5).
    pub rates: Vec<f64>,
    /// Bytes the format stores for all the linears.
    pub storage_bytes: usize,
    /// The linears stored as another type (Q4_K's Q5_0 stand-in): that type → how many.
    pub stored_otherwise: BTreeMap<&'static str, usize>,
    states: BTreeMap<LinearId, Box<dyn Quantized>>,
}

/// What the analysis found, every list in [`Llama::linears`] order.
pub(crate) struct Analysis {
    pub stats: Vec<LinearStats>,
    pub formats: Vec<FormatAnalysis>,
    /// The seed's tensor (`--layer`'s `mlp.down_proj`): its index and its weights.
    pub seed: usize,
    pub seed_weights: Vec<f32>,
}

/// One decoder linear's weights on the host: its id, `[out, in]` shape and values.
pub(crate) type LinearWeights = (LinearId, [usize; 2], Vec<f32>);

/// Analyses every decoder linear of `reference`, a layer at a time: its linears' weights come off
/// the device one by one, then are fitted and quantized in parallel (the fits dominate; this bounds
/// host memory to one layer). The quantized states are kept, to build the formats' models.
pub(crate) fn analyse<B: QuantBackend>(
    reference: &Llama<B>,
    options: &ReportOptions,
    seed: LinearId,
    progress: &dyn Progress,
) -> Result<Analysis> {
    let linears = reference.linears();
    let layers = linears
        .chunk_by(|a, b| a.0.layer == b.0.layer)
        .map(|layer| Ok(layer.iter().map(|(id, linear)| (*id, linear.shape(), linear.weight_values())).collect()));
    analyse_layers(linears.len(), layers, options, seed, progress, true)
}

/// The analysis of `count` decoder linears that `layers` yields in groups analysed in parallel (a
/// layer's seven, or one at a time), in [`Llama::linears`] order. With `keep_states` false the
/// quantized states are dropped once measured (`--weights-only`).
pub(crate) fn analyse_layers(
    count: usize,
    layers: impl Iterator<Item = Result<Vec<LinearWeights>>>,
    options: &ReportOptions,
    seed: LinearId,
    progress: &dyn Progress,
    keep_states: bool,
) -> Result<Analysis> {
    let stage = progress.stage("fitting and quantizing the weights", count as u64);
    let mut stats = Vec::with_capacity(count);
    let quantizers = options.formats.iter().map(|&f| options.format(f)).collect::<Result<Vec<_>>>()?;
    let mut formats: Vec<FormatAnalysis> = quantizers
        .iter()
        .map(|q| FormatAnalysis {
            format: q.name(),
            bits_per_weight: q.bits_per_weight(),
            block_size: q.block_size(),
            errors: Vec::new(),
            rates: Vec::new(),
            storage_bytes: 0,
            stored_otherwise: BTreeMap::new(),
            states: BTreeMap::new(),
        })
        .collect();
    let mut seed_weights = Vec::new();
    let mut subsampling = SeedSubsampling::new();
    // Weights and their bits where a format stores a shape otherwise than its nominal rate.
    let (mut bits, mut numel) = (vec![None::<f64>; formats.len()], 0usize);
    for weights in layers {
        let weights = weights?;
        let (layer, count) = (weights.first().map_or(0, |(id, _, _)| id.layer), weights.len() as u64);
        let analysed = weights
            .par_iter()
            .map(|(id, shape, w)| analyse_linear(*id, shape, w, &quantizers, options.rotate))
            .collect::<Result<Vec<_>>>()?;
        for ((id, shape, w), (mut linear_stats, per_format)) in weights.into_iter().zip(analysed) {
            if id.kind == LinearKind::Down {
                // A tensor the seed uses whole has the all-weights KL already computed.
                let name = id.tensor_name();
                let kl = match subsampling.sample(&w).map_err(theory(&name))? {
                    Some(sample) => kl_to_gaussian_bits(&sample, SEED_BINS).map_err(theory(&name))?,
                    None => linear_stats.kl_bits,
                };
                linear_stats.kl_bits_seed_sampling = Some(kl);
            }
            stats.push(linear_stats);
            for (k, (format, (error, q))) in formats.iter_mut().zip(per_format).enumerate() {
                let rate = quantizers[k].bits_per_weight_of(&shape);
                if rate != format.bits_per_weight || bits[k].is_some() {
                    *bits[k].get_or_insert(numel as f64 * format.bits_per_weight) += w.len() as f64 * rate;
                }
                if let Some(other) = quantizers[k].stored_as(&shape) {
                    *format.stored_otherwise.entry(other).or_default() += 1;
                }
                format.errors.push(error);
                format.rates.push(rate);
                format.storage_bytes += q.storage_bytes();
                if keep_states {
                    format.states.insert(id, q);
                }
            }
            numel += w.len();
            if id == seed {
                seed_weights = w;
            }
        }
        stage.inc(count);
        tracing::debug!(layer, "analysed");
    }
    stage.finish();
    for (format, bits) in formats.iter_mut().zip(bits) {
        if let Some(bits) = bits {
            format.bits_per_weight = bits / numel as f64;
        }
    }
    let seed = stats.iter().position(|s| s.id == seed).ok_or_else(|| {
        crate::error::ReportError::Invalid(format!("{} is not among the analysed linears", seed.tensor_name()))
    })?;
    Ok(Analysis { stats, formats, seed, seed_weights })
}

impl FormatAnalysis {
    /// The mean over every linear of its weight MSE.
    pub fn mean_mse(&self) -> f64 {
        self.errors.iter().map(|e| e.mse).sum::<f64>() / self.errors.len() as f64
    }
}

impl Analysis {
    /// Each format's model: the reference with every decoder linear replaced by its quantized
    /// state, 4-bit on the device for bnb's formats (its kernels), dequantized to f32 for the
    /// others (the same function). The host copies of the states are freed.
    pub fn models<B: QuantBackend>(&mut self, reference: &Llama<B>, device: &B::Device) -> Result<Vec<Llama<B>>> {
        let mut models = Vec::with_capacity(self.formats.len());
        for f in &self.formats {
            let model = reference.map_linears(|id, linear| {
                let state = &f.states[&id];
                let name = id.tensor_name();
                if let Some(bnb) = state.as_bnb() {
                    return Linear::quantized(bnb, &name, device);
                }
                let mut values = vec![0f32; state.numel()];
                state.dequantize_into(&mut values)?;
                Ok(Linear::dense(Tensor::from_data(TensorData::new(values, linear.shape()), device)))
            })?;
            models.push(model);
        }
        self.formats.iter_mut().for_each(|f| f.states.clear());
        Ok(models)
    }

    /// The seed tensor's statistics.
    pub fn seed_stats(&self) -> &LinearStats {
        &self.stats[self.seed]
    }
}

/// One format's weight error on a linear, and its quantized state.
type FormatState = (WeightError, Box<dyn Quantized>);

/// One linear's statistics, and per format its error and quantized state.
fn analyse_linear(
    id: LinearId,
    shape: &[usize; 2],
    w: &[f32],
    formats: &[Box<dyn Format>],
    rotate: Rotation,
) -> Result<(LinearStats, Vec<FormatState>)> {
    let name = id.tensor_name();
    let n = w.len() as f64;
    let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let variance = w.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let fit = fit_ggd(w).map_err(theory(&name))?;
    let kl_bits = kl_to_gaussian_bits(w, SEED_BINS).map_err(theory(&name))?;
    // The format sees the rotated rows; the error is measured back in the original basis.
    let rotation = (rotate == Rotation::Hadamard).then_some(Hadamard { seed: ROTATION_SEED });
    let index =
        (id.layer * DECODER_LINEARS.len() + DECODER_LINEARS.iter().position(|&k| k == id.kind).unwrap_or(0)) as u64;
    let rotated = rotation.map(|r| r.rotate(index, w, shape[1]));
    let seen = rotated.as_deref().unwrap_or(w);
    let mut dequantized = vec![0f32; w.len()];
    let per_format = formats
        .iter()
        .map(|format| {
            let mut q = format.quantize(&name, seen, shape)?;
            if let Some(rotation) = rotation {
                q = Box::new(Rotated { inner: q, rotation, index, row: shape[1] });
            }
            q.dequantize_into(&mut dequantized)?;
            Ok((weight_error(w, &dequantized), q))
        })
        .collect::<Result<Vec<_>>>()?;
    let rotated = match &rotated {
        Some(r) => Some((
            fit_ggd(r).map_err(theory(&name))?.dist.beta(),
            kl_to_gaussian_bits(r, SEED_BINS).map_err(theory(&name))?,
        )),
        None => None,
    };
    let mean_square = variance + mean * mean;
    let stats =
        LinearStats { id, numel: w.len(), variance, mean_square, fit, kl_bits, rotated, kl_bits_seed_sampling: None };
    Ok((stats, per_format))
}
