//! Stage 4, sensitivity: each format applied to one part of the model at a time (a decoder
//! layer, or a linear type across the layers), the rest left as the reference, and the texts run
//! through each such model from the first layer it changes. From those runs: the per-layer
//! amplification, whether the layers' errors add up, a linear model of ΔKL in the layers'
//! relative weight MSE, and what keeping the most sensitive layers unquantized would buy, checked
//! with a real run.

use std::collections::BTreeMap;

use quantbound_llama::backend::QuantBackend;
use quantbound_llama::layout::{LinearId, LinearKind, DECODER_LINEARS};
use quantbound_llama::model::Llama;
use quantbound_metrics::LogitMetrics;

use crate::analyse::Analysis;
use crate::error::Result;
use crate::forward::{Candidate, Evaluator};
use crate::options::SensitivityMode;
use crate::report::{
    Additivity, Allocation, LayerCoefficients, LayerSensitivity, LinearTypeSensitivity, PartRun, Sensitivity,
};

/// Bits per weight of a layer kept out of quantization: stored as f16/bf16.
pub const KEPT_BITS: f64 = 16.0;
/// The numbers of most sensitive layers the allocation view keeps unquantized.
pub const KEPT_COUNTS: [usize; 3] = [1, 2, 4];
/// The k whose prediction a real run checks (or the largest k below the layer count).
pub const VERIFIED_K: usize = 2;

/// The part of the model a run quantizes; everything else is the reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// One decoder layer's seven linears.
    Layer(usize),
    /// One linear type in every layer.
    Kind(LinearKind),
    /// Every decoder linear but those of these layers.
    AllBut(Vec<usize>),
}

impl Part {
    fn contains(&self, id: LinearId) -> bool {
        match self {
            Part::Layer(l) => id.layer == *l,
            Part::Kind(k) => id.kind == *k,
            Part::AllBut(kept) => !kept.contains(&id.layer),
        }
    }

    /// The first layer the part changes: the layers before are the reference's.
    fn first_layer(&self) -> usize {
        match self {
            Part::Layer(l) => *l,
            Part::Kind(_) => 0,
            Part::AllBut(kept) => (0..).find(|l| !kept.contains(l)).unwrap_or(0),
        }
    }
}

/// The weight error of one part under one format.
#[derive(Clone, Copy, Debug)]
struct PartError {
    /// MSE over the part's weights.
    mse: f64,
    /// That over the mean of w² on the same weights.
    rel_mse: f64,
    /// The part's weight count.
    numel: usize,
}

impl PartError {
    fn of(analysis: &Analysis, format: usize, part: &Part) -> Self {
        let (mut squared_error, mut squares, mut numel) = (0.0, 0.0, 0usize);
        for (stats, error) in analysis.stats.iter().zip(&analysis.formats[format].errors) {
            if part.contains(stats.id) {
                squared_error += error.mse * stats.numel as f64;
                squares += stats.mean_square * stats.numel as f64;
                numel += stats.numel;
            }
        }
        PartError { mse: squared_error / numel as f64, rel_mse: squared_error / squares, numel }
    }

    /// The run of this part that gave `metrics`.
    fn run(&self, metrics: &LogitMetrics) -> PartRun {
        PartRun {
            weight_mse: self.mse,
            logits_mse: metrics.logits_mse,
            kl_mean: metrics.kl_mean,
            delta_ce: metrics.delta_ce,
            top1_agreement: metrics.top1_agreement,
            amplification: metrics.logits_mse / self.mse,
        }
    }
}

/// Measures the sensitivity `evaluator.options.sensitivity` asks for. `quantized` holds each
/// format's fully quantized model and `full` its metrics, in the order of `analysis.formats`.
pub(crate) fn measure<B: QuantBackend>(
    evaluator: &Evaluator<'_, B>,
    analysis: &Analysis,
    quantized: &[Llama<B>],
    full: &[LogitMetrics],
) -> Result<Option<Sensitivity>> {
    let mode = evaluator.options.sensitivity;
    if mode == SensitivityMode::Off {
        return Ok(None);
    }
    let layers = evaluator.reference.config.num_layers;
    let mut parts: Vec<Part> = (0..layers).map(Part::Layer).collect();
    if mode == SensitivityMode::Linears {
        parts.extend(DECODER_LINEARS.map(Part::Kind));
    }
    let runs = run_parts(evaluator, quantized, &parts, "sensitivity: one part quantized at a time")?;
    let formats = analysis.formats.len();
    // runs[f][p]: format f, part p.
    let layer_rows = |f: usize| -> Vec<(PartError, &LogitMetrics)> {
        (0..layers).map(|l| (PartError::of(analysis, f, &parts[l]), &runs[f][l])).collect()
    };
    let per_format: Vec<Vec<(PartError, &LogitMetrics)>> = (0..formats).map(layer_rows).collect();
    let fit = LayerFit::new(&per_format);

    let mut rows = Vec::new();
    let mut additivity = BTreeMap::new();
    let mut linears = Vec::new();
    for (f, format) in analysis.formats.iter().enumerate() {
        for (l, (error, m)) in per_format[f].iter().enumerate() {
            rows.push(LayerSensitivity {
                layer: l,
                format: format.format,
                run: error.run(m),
                rel_mse: error.rel_mse,
                predicted_kl: fit.kl[l] * error.rel_mse,
            });
        }
        // The linear-type runs follow the layers', in DECODER_LINEARS order.
        let kinds: Vec<(LinearKind, &LogitMetrics)> = DECODER_LINEARS.into_iter().zip(&runs[f][layers..]).collect();
        for &(kind, m) in &kinds {
            let run = PartError::of(analysis, f, &Part::Kind(kind)).run(m);
            linears.push(LinearTypeSensitivity { linear: kind, format: format.format, run });
        }
        let mut sums = additivity_of(&per_format[f], &fit, &full[f], formats > 1);
        sums.sum_kl_linear_types = (!kinds.is_empty()).then(|| kinds.iter().map(|(_, m)| m.kl_mean).sum());
        additivity.insert(format.format, sums);
    }
    let allocation = allocate(evaluator, analysis, quantized, &per_format, full)?;
    let coefficients = (0..layers)
        .map(|layer| LayerCoefficients {
            layer,
            kl_per_rel_mse: fit.kl[layer],
            delta_ce_per_rel_mse: fit.delta_ce[layer],
        })
        .collect();
    Ok(Some(Sensitivity { mode, layers: rows, linears, additivity, coefficients, allocation }))
}

/// One format's single-layer runs (`runs[l]`) summed against its full model's metrics `full`,
/// and the linear model's fit on them (its R² only when several formats share the fit).
fn additivity_of(runs: &[(PartError, &LogitMetrics)], fit: &LayerFit, full: &LogitMetrics, shared: bool) -> Additivity {
    let x: Vec<f64> = runs.iter().map(|(e, _)| e.rel_mse).collect();
    let kl: Vec<f64> = runs.iter().map(|(_, m)| m.kl_mean).collect();
    let predicted = |coefficients: &[f64]| x.iter().zip(coefficients).map(|(x, a)| x * a).sum::<f64>();
    let one_coefficient = through_origin(&x, &kl);
    Additivity {
        sum_kl: kl.iter().sum(),
        full_kl: full.kl_mean,
        sum_delta_ce: runs.iter().map(|(_, m)| m.delta_ce).sum(),
        full_delta_ce: full.delta_ce,
        r2: shared.then(|| r_squared(&kl, &fit.predict_kl(&x))),
        r2_weight_error_only: r_squared(&kl, &x.iter().map(|x| one_coefficient * x).collect::<Vec<_>>()),
        predicted_kl: predicted(&fit.kl),
        predicted_delta_ce: predicted(&fit.delta_ce),
        sum_kl_linear_types: None,
    }
}

/// Runs every format on every part: `result[format][part]`.
fn run_parts<B: QuantBackend>(
    evaluator: &Evaluator<'_, B>,
    quantized: &[Llama<B>],
    parts: &[Part],
    stage: &str,
) -> Result<Vec<Vec<LogitMetrics>>> {
    let variants: Vec<(&Llama<B>, &Part)> = quantized.iter().flat_map(|q| parts.iter().map(move |p| (q, p))).collect();
    let metrics = run_variants(evaluator, &variants, stage)?;
    Ok(metrics.chunks(parts.len().max(1)).map(<[_]>::to_vec).collect())
}

/// Runs each (quantized model, part) variant: the reference with that part taken from that
/// model, from the part's first layer on. Every variant shares the models' tensors.
fn run_variants<B: QuantBackend>(
    evaluator: &Evaluator<'_, B>,
    variants: &[(&Llama<B>, &Part)],
    stage: &str,
) -> Result<Vec<LogitMetrics>> {
    let models = variants.iter().map(|(q, part)| variant(evaluator.reference, q, part)).collect::<Result<Vec<_>>>()?;
    let candidates: Vec<Candidate<'_, B>> = models
        .iter()
        .zip(variants)
        .map(|(model, (_, part))| Candidate { model, first_layer: part.first_layer() })
        .collect();
    Ok(evaluator.evaluate(&candidates, stage)?.metrics)
}

/// `reference` with the linears of `part` taken from `quantized`.
fn variant<B: QuantBackend>(reference: &Llama<B>, quantized: &Llama<B>, part: &Part) -> Result<Llama<B>> {
    Ok(reference.map_linears(|id, linear| {
        Ok(if part.contains(id) { quantized.linear(id).unwrap_or(linear).clone() } else { linear.clone() })
    })?)
}

/// The least-squares fit of ΔKL_l ≈ a_l·relMSE_l and ΔCE_l ≈ b_l·relMSE_l, each layer's
/// coefficient shared by every format (a layer's sensitivity does not depend on the quantizer).
struct LayerFit {
    kl: Vec<f64>,
    delta_ce: Vec<f64>,
}

impl LayerFit {
    /// `per_format[f][l]`: format f's run on layer l alone.
    fn new(per_format: &[Vec<(PartError, &LogitMetrics)>]) -> Self {
        let layers = per_format.first().map_or(0, Vec::len);
        let coefficient = |l: usize, y: fn(&LogitMetrics) -> f64| {
            let x: Vec<f64> = per_format.iter().map(|runs| runs[l].0.rel_mse).collect();
            let y: Vec<f64> = per_format.iter().map(|runs| y(runs[l].1)).collect();
            through_origin(&x, &y)
        };
        LayerFit {
            kl: (0..layers).map(|l| coefficient(l, |m| m.kl_mean)).collect(),
            delta_ce: (0..layers).map(|l| coefficient(l, |m| m.delta_ce)).collect(),
        }
    }

    fn predict_kl(&self, rel_mse: &[f64]) -> Vec<f64> {
        rel_mse.iter().zip(&self.kl).map(|(x, a)| a * x).collect()
    }
}

/// The least-squares a of y ≈ a·x.
fn through_origin(x: &[f64], y: &[f64]) -> f64 {
    let xy: f64 = x.iter().zip(y).map(|(x, y)| x * y).sum();
    let xx: f64 = x.iter().map(|x| x * x).sum();
    xy / xx
}

/// 1 − Σ(y − ŷ)² / Σ(y − ȳ)².
fn r_squared(y: &[f64], predicted: &[f64]) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let residual: f64 = y.iter().zip(predicted).map(|(y, p)| (y - p).powi(2)).sum();
    let total: f64 = y.iter().map(|y| (y - mean).powi(2)).sum();
    1.0 - residual / total
}

/// Per format and k: keep its k layers of largest ΔKL unquantized. The prediction subtracts their
/// measured ΔKL (and ΔCE) from the full model's; one k per format is run for real.
fn allocate<B: QuantBackend>(
    evaluator: &Evaluator<'_, B>,
    analysis: &Analysis,
    quantized: &[Llama<B>],
    per_format: &[Vec<(PartError, &LogitMetrics)>],
    full: &[LogitMetrics],
) -> Result<Vec<Allocation>> {
    let layers = evaluator.reference.config.num_layers;
    let counts: Vec<usize> = KEPT_COUNTS.into_iter().filter(|&k| k < layers).collect();
    let verified = counts.iter().copied().filter(|&k| k <= VERIFIED_K).max();
    let mut rows = Vec::new();
    let mut checks = Vec::new();
    for (f, runs) in per_format.iter().enumerate() {
        let mut ranking: Vec<usize> = (0..layers).collect();
        ranking.sort_by(|&a, &b| runs[b].1.kl_mean.total_cmp(&runs[a].1.kl_mean));
        let total: usize = runs.iter().map(|(e, _)| e.numel).sum();
        for &k in &counts {
            let mut kept = ranking[..k].to_vec();
            kept.sort_unstable();
            let kept_numel: usize = kept.iter().map(|&l| runs[l].0.numel).sum();
            let rate = analysis.formats[f].bits_per_weight;
            let bits = (rate * (total - kept_numel) as f64 + KEPT_BITS * kept_numel as f64) / total as f64;
            let gain = |y: fn(&LogitMetrics) -> f64| kept.iter().map(|&l| y(runs[l].1)).sum::<f64>();
            let (kl_gain, delta_ce_gain) = (gain(|m| m.kl_mean), gain(|m| m.delta_ce));
            if Some(k) == verified {
                checks.push((rows.len(), f, Part::AllBut(kept.clone())));
            }
            rows.push(Allocation {
                format: analysis.formats[f].format,
                k,
                kept_layers: kept,
                bits_per_weight: bits,
                predicted_kl: full[f].kl_mean - kl_gain,
                predicted_delta_ce: full[f].delta_ce - delta_ce_gain,
                measured_kl: None,
                measured_delta_ce: None,
            });
        }
    }
    if checks.is_empty() {
        return Ok(rows);
    }
    // One model per format, each with its own kept layers.
    let variants: Vec<(&Llama<B>, &Part)> = checks.iter().map(|(_, f, part)| (&quantized[*f], part)).collect();
    let measured = run_variants(evaluator, &variants, "sensitivity: the most sensitive layers kept")?;
    for ((row, _, _), m) in checks.iter().zip(measured) {
        rows[*row].measured_kl = Some(m.kl_mean);
        rows[*row].measured_delta_ce = Some(m.delta_ce);
    }
    Ok(rows)
}
