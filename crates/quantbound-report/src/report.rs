//! The serde model of a report: every number a run produces, named as docs/report.md explains.

use std::collections::BTreeMap;

use quantbound_formats::FormatName;
use quantbound_llama::layout::LinearKind;
use quantbound_metrics::LogitMetrics;
use serde::{Deserialize, Serialize};

use crate::options::{Device, PplMode, RefDtype, Rotation, SensitivityMode};

/// One comparison run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub settings: Settings,
    pub versions: Versions,
    pub model: ModelInfo,
    /// The seed notebook's numbers under its own names.
    pub seed: Seed,
    /// One entry per quantized format.
    pub formats: Vec<FormatResult>,
    /// Weight analysis of the seed's layer (its `mlp.down_proj`) against information theory.
    pub theory: Theory,
    /// One row per (layer, linear, format).
    pub layers: Vec<LinearRow>,
    /// Each layer (and linear type) quantized on its own; absent with `--sensitivity off`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<Sensitivity>,
    /// The models quantized elsewhere (`--candidate`), scored against the reference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<CandidateResult>,
    /// Wall-clock seconds per stage.
    pub timings: BTreeMap<String, f64>,
}

impl Report {
    /// The stage timings as one line, `forward 0.3 s, load 0.3 s, …` (report.md and the CLI).
    pub fn timings_line(&self) -> String {
        self.timings.iter().map(|(stage, s)| format!("{stage} {s:.1} s")).collect::<Vec<_>>().join(", ")
    }

    /// `format`'s row for the seed's tensor (`--layer`'s `mlp.down_proj`).
    pub fn seed_row(&self, format: FormatName) -> Option<&LinearRow> {
        self.layers
            .iter()
            .find(|r| r.layer == self.settings.layer && r.linear == LinearKind::Down && r.format == format)
    }

    /// `format`'s gaps on the seed's tensor at its own bits per weight.
    pub fn own_rate_gap(&self, format: FormatName) -> Option<&GapRow> {
        self.theory.gap_at(self.seed.methods.get(&format)?.bits_per_weight, format)
    }

    /// The mean of `value` over `layer`'s rows of `format` (its seven linears).
    pub fn layer_mean(&self, layer: usize, format: FormatName, value: impl Fn(&LinearRow) -> f64) -> f64 {
        let values: Vec<f64> =
            self.layers.iter().filter(|r| r.layer == layer && r.format == format).map(value).collect();
        values.iter().sum::<f64>() / values.len().max(1) as f64
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub formats: Vec<FormatName>,
    pub blocksize: usize,
    pub double_quant: bool,
    /// Bits per weight of the bnb formats including the scales: 4 + 32/blocksize, or
    /// 4 + 8/blocksize + 32/(256·blocksize). Each format's own is its `bits_per_weight`.
    pub effective_rate: f64,
    pub ref_dtype: RefDtype,
    pub compute_dtype: String,
    pub device: Device,
    /// The Burn backend's name (`flex`, `ndarray`, …).
    pub backend: String,
    pub max_length: usize,
    pub batch_size: usize,
    pub layer: usize,
    pub texts: String,
    /// How a document was cut and scored (`windows`, `llama-cpp`).
    #[serde(default)]
    pub ppl_mode: PplMode,
    pub sequences: usize,
    /// Sequences evaluated: each distinct one once, its scores counted once per occurrence.
    pub distinct_sequences: usize,
    /// The SIMD level the kernels ran at (`QUANTBOUND_SIMD`, else the best the CPU has).
    pub simd: String,
    pub tokens: usize,
    /// The rotation applied before quantizing.
    #[serde(default)]
    pub rotate: Rotation,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Versions {
    pub quantbound: String,
    pub burn: String,
    /// The bitsandbytes release whose bytes the codebook reproduces.
    pub bitsandbytes_format: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelInfo {
    /// As given to `--model`.
    pub source: String,
    /// The file or folder it resolved to.
    pub resolved: String,
    pub layers: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub vocab_size: usize,
    pub quantized_linears: usize,
    pub quantized_weights: usize,
    /// The checkpoint dtypes of the weights, with how many tensors had each.
    pub weight_dtypes: BTreeMap<String, usize>,
    /// What the reference precision means for this model.
    pub dtype_notes: Vec<String>,
}

/// The seed notebook's numbers, with its names, for its layer's `mlp.down_proj`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Seed {
    pub sigma: f64,
    /// σ²·2^(−2·4).
    pub d_shannon_gauss: f64,
    pub ggd: SeedGgd,
    /// Mean over every layer's `down_proj` of the histogram KL to a Gaussian on all its weights,
    /// bits: the better estimate.
    pub mean_kl_to_gauss_bits: f64,
    /// The same on the seed's 200k-weight subsamples: the number the notebook prints.
    pub mean_kl_to_gauss_bits_seed_sampling: f64,
    pub h_gauss_bits: f64,
    pub h_ggd_bits: f64,
    /// The seed's `ggd_entropy`, which omits log2(e) on 1/β.
    pub h_ggd_bits_seed_formula: f64,
    /// h_gauss − h_ggd: the bits the GGD's shape saves over a Gaussian of the same variance.
    pub bonus: f64,
    pub bonus_seed_formula: f64,
    /// The GGD's Shannon lower bound at R = 4: 2^(2(h − 4))/(2πe).
    pub bound_ggd_4: f64,
    pub bound_ggd_4_seed_formula: f64,
    /// The reference model's next-token cross-entropy, nats.
    pub ce_ref: f64,
    pub methods: BTreeMap<FormatName, SeedMethod>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedGgd {
    pub beta: f64,
    pub loc: f64,
    pub scale: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedMethod {
    /// The seed tensor's bits per weight in this format, every scale and zero-point counted (its
    /// own: Q4_K's 4.5 where other linears take Q5_0's 5.5).
    pub bits_per_weight: f64,
    /// MSE of the seed's layer's `down_proj`.
    pub weight_mse: f64,
    pub logits_mse: f64,
    pub delta_ce: f64,
    /// logits_mse / weight_mse (the seed's single-layer definition).
    pub amplification: f64,
    /// ½·log2(weight_mse / d_shannon_gauss).
    pub gap_bits_vs_gauss: f64,
    /// ½·log2(weight_mse / bound_ggd_4).
    pub gap_bits_vs_ggd: f64,
    pub ce: f64,
    pub mean_kl_nats: f64,
    pub top1_agreement: f64,
}

/// One quantized format's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FormatResult {
    pub format: FormatName,
    /// Bits per weight, every scale and zero-point counted, and the weights per scale.
    pub bits_per_weight: f64,
    pub block_size: usize,
    /// Bytes the format stores for the quantized linears.
    pub storage_bytes: usize,
    /// What the reference's own storage means for this format's numbers, if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caveat: Option<String>,
    pub metrics: LogitMetrics,
    /// MSE of the seed's layer's `down_proj`.
    pub seed_layer_weight_mse: f64,
    /// Mean MSE over every quantized linear.
    pub mean_weight_mse: f64,
    /// logits MSE / seed-layer weight MSE.
    pub amplification_seed: f64,
    /// logits MSE / mean weight MSE over all quantized linears.
    pub amplification_mean: f64,
    /// Bytes of the quantized linears on the device, and of the same weights in f16.
    pub device_bytes: usize,
    pub f16_bytes: usize,
}

/// A model quantized elsewhere (`--candidate`) against the reference: the same metrics as a
/// format's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CandidateResult {
    /// `--candidate` as given, and the file or folder it resolved to.
    pub candidate: String,
    pub resolved: String,
    /// Stored type of its decoder linears (`Q4_K`, `Q6_K`, `bnb-4bit`, `F16`, …) → how many.
    pub linear_dtypes: BTreeMap<String, usize>,
    /// Bits per weight of its decoder linears as stored, every scale counted.
    pub bits_per_weight: f64,
    pub metrics: LogitMetrics,
    /// MSE of the seed's layer's `down_proj` against the reference's.
    pub seed_layer_weight_mse: f64,
    /// ½·log2 of that MSE over the GGD Shannon lower bound at that linear's own stored rate.
    pub seed_gap_bits_vs_ggd: f64,
    /// Mean MSE over every decoder linear.
    pub mean_weight_mse: f64,
    pub amplification_seed: f64,
    pub amplification_mean: f64,
    /// Each decoder linear's error, in layer order.
    pub linears: Vec<CandidateLinear>,
}

/// One decoder linear of a candidate against the reference's.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CandidateLinear {
    pub layer: usize,
    pub linear: LinearKind,
    /// As stored, its scales counted.
    pub bits_per_weight: f64,
    pub mse: f64,
    pub sqnr_db: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Theory {
    /// e.g. `model.layers.8.mlp.down_proj.weight`.
    pub tensor: String,
    pub numel: usize,
    pub sigma: f64,
    pub ggd: SeedGgd,
    pub ggd_loglik: f64,
    pub h_gauss_bits: f64,
    pub h_ggd_bits: f64,
    pub h_ggd_bits_seed_formula: f64,
    pub kl_to_gauss_bits: f64,
    /// Bounds and gaps at R = 4 (every format), then at each format's own bits per weight (the
    /// formats of that rate), ascending.
    pub rates: Vec<RateView>,
    /// Blahut–Arimoto D(R) of the weights, finely discretized (the gaps' Blahut–Arimoto column).
    pub blahut_arimoto: RdCurve,
    /// The same for the fitted GGD's density.
    pub blahut_arimoto_ggd: RdCurve,
    /// Bins of the seed's histogram (the KL and the plot).
    pub histogram_bins: usize,
    /// Entropy of that 200-bin histogram as a discrete source, bits: its own D(R) is 0 from this
    /// rate on, which is why Blahut–Arimoto runs on a finer discretization.
    pub histogram_entropy_bits: f64,
    /// MSE of NF4, FP4 and the optimal codebooks on this tensor.
    pub codebooks: Vec<CodebookRow>,
    /// Histogram KL to a Gaussian of every layer's `down_proj`, on all its weights.
    pub down_proj_kl_bits: Vec<f64>,
    /// The same on the seed notebook's 200,000-weight subsample (`default_rng(0)`, one generator
    /// across the layers in order; tensors of at most 200,000 weights are used whole).
    pub down_proj_kl_bits_seed_sampling: Vec<f64>,
    /// The tensor's histogram as (bin centre, density), for the plot.
    pub histogram: Vec<(f64, f64)>,
}

impl Theory {
    /// `format`'s gaps on the tensor at `bits` per weight, the rate it is stored at (the views
    /// after the first, which is R = 4 for every format).
    pub fn gap_at(&self, bits: f64, format: FormatName) -> Option<&GapRow> {
        self.rates.iter().skip(1).filter(|v| v.rate == bits).flat_map(|v| &v.gaps).find(|g| g.format == format)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RateView {
    pub rate: f64,
    pub d_gauss: f64,
    pub slb_ggd: f64,
    pub blahut_arimoto: f64,
    /// Per format: (format, gap to Gaussian D(R), gap to the GGD SLB, gap to Blahut–Arimoto), bits.
    pub gaps: Vec<GapRow>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GapRow {
    pub format: FormatName,
    pub weight_mse: f64,
    pub gap_bits_vs_gauss: f64,
    pub gap_bits_vs_ggd: f64,
    pub gap_bits_vs_blahut_arimoto: f64,
}

/// A Blahut–Arimoto D(R) curve and the discretization it ran on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RdCurve {
    /// Bin width of the discretization, and its bins with mass (each at its centroid).
    pub bin_width: f64,
    pub bins: usize,
    /// The mean squared distance of the source from its bin's centroid, added to every point.
    pub within_variance: f64,
    pub points: Vec<RdPoint>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RdPoint {
    pub rate: f64,
    /// A certified upper bound on the source's D at `rate`: the discretized source's D plus the
    /// spread within the bins (achievable, so never below the Shannon lower bound).
    pub distortion: f64,
    /// D of the discretized source itself.
    pub discrete_distortion: f64,
    /// The discretized source's true R(D) lies within this many bits below `rate`.
    pub accuracy_bits: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CodebookRow {
    pub name: String,
    /// How it scales weights: "absmax, blocks of N" or "fixed scale".
    pub normalization: String,
    /// Expected MSE under the fitted GGD (integral).
    pub expected_mse: f64,
    /// Measured MSE on the tensor (None where the codebook is not a 4-bit absmax one).
    pub measured_mse: Option<f64>,
    pub values: Vec<f64>,
}

/// One (layer, linear, format) row of `layers.csv`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinearRow {
    pub layer: usize,
    pub linear: LinearKind,
    pub format: FormatName,
    pub numel: usize,
    pub mse: f64,
    pub sqnr_db: f64,
    pub max_abs_error: f64,
    pub sigma: f64,
    pub ggd_beta: f64,
    pub ggd_scale: f64,
    pub ggd_loc: f64,
    pub kl_to_gauss_bits: f64,
    /// For `mlp.down_proj` rows: the KL on the seed's subsample (empty in layers.csv otherwise).
    pub kl_to_gauss_bits_seed_sampling: Option<f64>,
    pub gap_bits_vs_gauss_r4: f64,
    pub gap_bits_vs_ggd_r4: f64,
    pub gap_bits_vs_gauss_reff: f64,
    pub gap_bits_vs_ggd_reff: f64,
    /// The format's logits MSE / this linear's weight MSE.
    pub amplification: f64,
    /// With `--rotate hadamard`: the GGD β and the KL to a Gaussian of the rotated weights.
    pub rotated_ggd_beta: Option<f64>,
    pub rotated_kl_to_gauss_bits: Option<f64>,
    /// The layer's measured sensitivity (only this layer quantized; empty with
    /// `--sensitivity off`): its logits MSE, KL mean, ΔCE and amplification.
    pub layer_logits_mse: Option<f64>,
    pub layer_kl_mean: Option<f64>,
    pub layer_delta_ce: Option<f64>,
    pub layer_amplification: Option<f64>,
}

/// Per-layer sensitivity, measured: each format applied to one part of the model at a time, the
/// rest left in the reference's precision.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sensitivity {
    pub mode: SensitivityMode,
    /// One row per (format, layer): only that layer's seven linears quantized.
    pub layers: Vec<LayerSensitivity>,
    /// With `--sensitivity linears`: one row per (format, linear type), that type quantized in
    /// every layer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub linears: Vec<LinearTypeSensitivity>,
    /// Per format: the single-layer runs summed against the fully quantized model.
    pub additivity: BTreeMap<FormatName, Additivity>,
    /// The linear model ΔKL_l ≈ a_l · relMSE_l (and ΔCE_l ≈ b_l · relMSE_l), one coefficient per
    /// layer shared by every format, fitted by least squares on the single-layer runs.
    pub coefficients: Vec<LayerCoefficients>,
    /// Keeping the k most sensitive layers in the reference's precision: the cost in bits per
    /// weight and the predicted gain; one k verified with a real run.
    pub allocation: Vec<Allocation>,
}

/// One run with part of the model quantized: its weight error and what it did to the output.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PartRun {
    /// MSE over all the part's quantized weights.
    pub weight_mse: f64,
    pub logits_mse: f64,
    /// KL(ref ‖ q) mean, nats: ΔKL, as the reference's own KL is 0.
    pub kl_mean: f64,
    pub delta_ce: f64,
    pub top1_agreement: f64,
    /// logits_mse / weight_mse: the seed's definition, measured for this part alone.
    pub amplification: f64,
}

/// One format applied to one decoder layer only (its seven linears).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerSensitivity {
    pub layer: usize,
    pub format: FormatName,
    #[serde(flatten)]
    pub run: PartRun,
    /// weight_mse / mean(w²) over the layer's weights.
    pub rel_mse: f64,
    /// a_l · rel_mse: the linear model's ΔKL for this run.
    pub predicted_kl: f64,
}

/// One format applied to one linear type in every layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinearTypeSensitivity {
    pub linear: LinearKind,
    pub format: FormatName,
    #[serde(flatten)]
    pub run: PartRun,
}

/// Do the single-layer errors add up to the fully quantized model's?
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Additivity {
    /// Σ_l ΔKL_l over the single-layer runs, nats.
    pub sum_kl: f64,
    /// The fully quantized model's KL mean.
    pub full_kl: f64,
    pub sum_delta_ce: f64,
    pub full_delta_ce: f64,
    /// R² of the per-layer linear model on this format's single-layer runs; absent with one
    /// format (one point per coefficient fits exactly).
    pub r2: Option<f64>,
    /// R² of ΔKL_l ≈ a · relMSE_l with one coefficient for every layer: how much of the
    /// sensitivity weight error alone explains.
    pub r2_weight_error_only: f64,
    /// The full model's ΔKL and ΔCE predicted by the linear model, Σ_l a_l · relMSE_l.
    pub predicted_kl: f64,
    pub predicted_delta_ce: f64,
    /// Σ ΔKL over the linear-type runs, with `--sensitivity linears`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum_kl_linear_types: Option<f64>,
}

/// The fitted sensitivities of one layer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerCoefficients {
    pub layer: usize,
    /// a_l: ΔKL (nats) per unit of relative MSE.
    pub kl_per_rel_mse: f64,
    /// b_l: ΔCE (nats) per unit of relative MSE.
    pub delta_ce_per_rel_mse: f64,
}

/// One format with its k most sensitive layers (by measured ΔKL) kept in the reference's
/// precision.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Allocation {
    pub format: FormatName,
    pub k: usize,
    pub kept_layers: Vec<usize>,
    /// Bits per weight over the decoder linears: the format's effective rate, and 16 (f16) for
    /// the kept layers.
    pub bits_per_weight: f64,
    /// full ΔKL − Σ of the kept layers' ΔKL, and the same for ΔCE.
    pub predicted_kl: f64,
    pub predicted_delta_ce: f64,
    /// The same model run for real (one k per format).
    pub measured_kl: Option<f64>,
    pub measured_delta_ce: Option<f64>,
}
