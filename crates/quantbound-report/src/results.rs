//! Stage 5, results: the stages' outputs put together as the report's sections.

use std::collections::BTreeMap;

use quantbound_formats::ggml::BlockType;
use quantbound_llama::backend::QuantBackend;
use quantbound_metrics::LogitMetrics;
use quantbound_theory::bounds::{gap_bits, gaussian_distortion_rate, gaussian_entropy_bits, shannon_lower_bound};

use crate::analyse::{Analysis, FormatAnalysis};
use crate::load::Loaded;
use crate::options::ReportOptions;
use crate::report::{FormatResult, LinearRow, ModelInfo, Seed, SeedMethod, Sensitivity, Settings, Theory, Versions};
use crate::theory::SEED_RATE;

/// One row per (format, linear): its error, statistics and gaps at R = 4 and R_eff.
/// With `sensitivity`, each row also carries its layer's single-layer run. The "reff" gaps are at
/// each format's own bits per weight.
pub(crate) fn layer_rows(
    analysis: &Analysis,
    metrics: &[LogitMetrics],
    sensitivity: Option<&Sensitivity>,
) -> Vec<LinearRow> {
    let mut rows = Vec::with_capacity(analysis.formats.len() * analysis.stats.len());
    for (f, m) in analysis.formats.iter().zip(metrics) {
        for ((s, e), &rate) in analysis.stats.iter().zip(&f.errors).zip(&f.rates) {
            let measured =
                sensitivity.and_then(|sens| sens.layers.iter().find(|r| r.layer == s.id.layer && r.format == f.format));
            let h = s.fit.dist.entropy_bits();
            let gaps = |rate: f64| {
                let d_gauss = gaussian_distortion_rate(s.variance, rate);
                (gap_bits(e.mse, d_gauss), gap_bits(e.mse, shannon_lower_bound(h, rate)))
            };
            let ((g4, s4), (ge, se)) = (gaps(SEED_RATE), gaps(rate));
            rows.push(LinearRow {
                layer: s.id.layer,
                linear: s.id.kind,
                format: f.format,
                numel: s.numel,
                mse: e.mse,
                sqnr_db: e.sqnr_db,
                max_abs_error: e.max_abs_error,
                sigma: s.variance.sqrt(),
                ggd_beta: s.fit.dist.beta(),
                ggd_scale: s.fit.dist.scale(),
                ggd_loc: s.fit.dist.loc(),
                kl_to_gauss_bits: s.kl_bits,
                kl_to_gauss_bits_seed_sampling: s.kl_bits_seed_sampling,
                gap_bits_vs_gauss_r4: g4,
                gap_bits_vs_ggd_r4: s4,
                gap_bits_vs_gauss_reff: ge,
                gap_bits_vs_ggd_reff: se,
                amplification: m.logits_mse / e.mse,
                rotated_ggd_beta: s.rotated.map(|r| r.0),
                rotated_kl_to_gauss_bits: s.rotated.map(|r| r.1),
                layer_logits_mse: measured.map(|r| r.run.logits_mse),
                layer_kl_mean: measured.map(|r| r.run.kl_mean),
                layer_delta_ce: measured.map(|r| r.run.delta_ce),
                layer_amplification: measured.map(|r| r.run.amplification),
            });
        }
    }
    rows
}

/// Per format: its function metrics, weight MSE and amplification (seed tensor and mean), the
/// bytes its linears take on the device (`device_bytes`, in format order) and stored, and what the
/// reference's own checkpoint `dtypes` mean for it.
pub(crate) fn format_results(
    analysis: &Analysis,
    metrics: &[LogitMetrics],
    device_bytes: &[usize],
    dtypes: &BTreeMap<String, usize>,
) -> Vec<FormatResult> {
    let f16_bytes = analysis.stats.iter().map(|s| s.numel * 2).sum();
    analysis
        .formats
        .iter()
        .zip(metrics)
        .zip(device_bytes)
        .map(|((f, m), &device_bytes)| {
            let seed_mse = f.errors[analysis.seed].mse;
            let mean_mse = f.mean_mse();
            FormatResult {
                format: f.format,
                bits_per_weight: f.bits_per_weight,
                block_size: f.block_size,
                storage_bytes: f.storage_bytes,
                caveat: caveat(f, dtypes),
                metrics: m.clone(),
                seed_layer_weight_mse: seed_mse,
                mean_weight_mse: mean_mse,
                amplification_seed: m.logits_mse / seed_mse,
                amplification_mean: m.logits_mse / mean_mse,
                device_bytes,
                f16_bytes,
            }
        })
        .collect()
}

/// The caveats for `format`: some linears stored as another type, and a reference itself stored
/// in llama.cpp's blocks of 32 (the sample's Q4_1/Q8_0 GGUF), whose values already sit on such a
/// grid, which flatters formats whose blocks align with it; re-quantizing to the same type is exact.
fn caveat(format: &FormatAnalysis, dtypes: &BTreeMap<String, usize>) -> Option<String> {
    let caveats: Vec<String> =
        [stored_otherwise(format), blocked_reference(format, dtypes)].into_iter().flatten().collect();
    (!caveats.is_empty()).then(|| caveats.join("; "))
}

/// The caveat for a format that stored some linears as another type, as llama-quantize does.
fn stored_otherwise(format: &FormatAnalysis) -> Option<String> {
    if format.stored_otherwise.is_empty() {
        return None;
    }
    let (total, name) = (format.errors.len(), format.format.as_str().to_uppercase());
    let others: Vec<String> =
        format.stored_otherwise.iter().map(|(t, n)| format!("{n} of the {total} linears as {t}")).collect();
    Some(format!(
        "{} (their rows are not whole {}-weight blocks, and llama-quantize stores such a tensor so), so {name}'s \
         rate here is {:.4} bits per weight and its numbers are partly those of the stand-in",
        others.join(", "),
        format.block_size,
        format.bits_per_weight
    ))
}

/// The caveat for a reference that is itself stored in llama.cpp's blocks (the sample).
fn blocked_reference(format: &FormatAnalysis, dtypes: &BTreeMap<String, usize>) -> Option<String> {
    let blocked: Vec<&str> =
        dtypes.keys().map(String::as_str).filter(|t| BlockType::ALL.iter().any(|b| b.name() == *t)).collect();
    if blocked.is_empty() {
        return None;
    }
    let stored = blocked.join("/");
    let name = format.format.as_str().to_uppercase();
    Some(if blocked.contains(&name.as_str()) {
        format!(
            "the reference's weights are its checkpoint's {stored} values: re-quantizing them to {name} gives them \
             back (nearly) exactly, which no f16/bf16 original would; score a real f16/bf16 checkpoint for a fair number"
        )
    } else if 32usize.is_multiple_of(format.block_size) || format.block_size.is_multiple_of(32) {
        format!(
            "the reference's weights are its checkpoint's {stored} values, on a grid of 32-weight blocks: a format \
             whose blocks align with them ({} here) is flattered; score a real f16/bf16 checkpoint for a fair number",
            format.block_size
        )
    } else {
        return None;
    })
}

/// The seed notebook's numbers under its names.
pub(crate) fn seed(analysis: &Analysis, metrics: &[LogitMetrics], theory: &Theory) -> Seed {
    let stats = analysis.seed_stats();
    let (h_ggd, h_ggd_seed) = (stats.fit.dist.entropy_bits(), stats.fit.dist.entropy_bits_seed_formula());
    let d_gauss_4 = gaussian_distortion_rate(stats.variance, SEED_RATE);
    let (slb_4, slb_4_seed) = (shannon_lower_bound(h_ggd, SEED_RATE), shannon_lower_bound(h_ggd_seed, SEED_RATE));
    let methods = analysis
        .formats
        .iter()
        .zip(metrics)
        .map(|(f, m)| {
            let mse = f.errors[analysis.seed].mse;
            let method = SeedMethod {
                bits_per_weight: f.rates[analysis.seed],
                weight_mse: mse,
                logits_mse: m.logits_mse,
                delta_ce: m.delta_ce,
                amplification: m.logits_mse / mse,
                gap_bits_vs_gauss: gap_bits(mse, d_gauss_4),
                gap_bits_vs_ggd: gap_bits(mse, slb_4),
                ce: m.ce,
                mean_kl_nats: m.kl_mean,
                top1_agreement: m.top1_agreement,
            };
            (f.format, method)
        })
        .collect();
    let h_gauss = gaussian_entropy_bits(stats.variance);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Seed {
        sigma: stats.variance.sqrt(),
        d_shannon_gauss: d_gauss_4,
        ggd: theory.ggd.clone(),
        mean_kl_to_gauss_bits: mean(&theory.down_proj_kl_bits),
        mean_kl_to_gauss_bits_seed_sampling: mean(&theory.down_proj_kl_bits_seed_sampling),
        h_gauss_bits: h_gauss,
        h_ggd_bits: h_ggd,
        h_ggd_bits_seed_formula: h_ggd_seed,
        bonus: h_gauss - h_ggd,
        bonus_seed_formula: h_gauss - h_ggd_seed,
        bound_ggd_4: slb_4,
        bound_ggd_4_seed_formula: slb_4_seed,
        ce_ref: metrics[0].ce_ref,
        methods,
    }
}

/// The run's settings as the report records them.
pub(crate) fn settings<B: QuantBackend>(options: &ReportOptions, sequences: &[Vec<u32>], distinct: usize) -> Settings {
    Settings {
        formats: options.formats.clone(),
        blocksize: options.blocksize.get(),
        double_quant: options.double_quant,
        effective_rate: options.effective_rate(),
        ref_dtype: options.ref_dtype,
        compute_dtype: "f32".into(),
        device: options.device,
        backend: B::NAME.into(),
        max_length: options.max_length,
        batch_size: options.batch_size,
        layer: options.layer,
        texts: options.texts_label.clone(),
        ppl_mode: options.ppl_mode,
        sequences: sequences.len(),
        distinct_sequences: distinct,
        simd: quantbound_simd::active().to_string(),
        tokens: sequences.iter().map(Vec::len).sum(),
        rotate: options.rotate,
    }
}

pub(crate) fn versions() -> Versions {
    Versions {
        quantbound: env!("CARGO_PKG_VERSION").into(),
        burn: "0.21.0".into(),
        bitsandbytes_format: "0.50.2".into(),
    }
}

/// The reference model: its shape, where it came from, and what its weights were.
pub(crate) fn model_info<B: QuantBackend>(
    options: &ReportOptions,
    loaded: &Loaded<B>,
    analysis: &Analysis,
) -> ModelInfo {
    let config = &loaded.model.config;
    ModelInfo {
        source: options.model_label.clone(),
        resolved: loaded.resolved.clone(),
        layers: config.num_layers,
        hidden_size: config.hidden_size,
        intermediate_size: config.intermediate_size,
        heads: config.num_heads,
        kv_heads: config.num_kv_heads,
        vocab_size: config.vocab_size,
        quantized_linears: analysis.stats.len(),
        quantized_weights: analysis.stats.iter().map(|s| s.numel).sum(),
        weight_dtypes: loaded.dtypes.clone(),
        dtype_notes: loaded.notes.clone(),
    }
}
