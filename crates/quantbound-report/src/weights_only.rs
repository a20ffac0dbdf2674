//! `--weights-only`: the weight half of a report, for checkpoints too large to run. The model is
//! never built: each decoder linear is read from the checkpoint on its own, fitted and quantized
//! by every format, and dropped, so memory follows the largest tensor rather than the model. No text is tokenized and no forward pass runs, so there are no function
//! metrics, sensitivity or candidates.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Instant;

use quantbound_formats::FormatName;
use quantbound_llama::layout::{LinearId, LinearKind, DECODER_LINEARS};
use serde::{Deserialize, Serialize};

use crate::analyse::{analyse_layers, Analysis, LinearWeights};
use crate::error::{ReportError, Result};
use crate::options::{RefDtype, ReportOptions, Rotation};
use crate::progress::Progress;
use crate::report::{Theory, Versions};
use crate::theory::SeedTensor;

/// A weights-only run: the formats' weight errors and the seed tensor against the bounds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WeightsReport {
    pub settings: WeightsSettings,
    pub versions: Versions,
    pub model: WeightsModel,
    /// One entry per format.
    pub formats: Vec<WeightsFormat>,
    /// The seed's layer (its `mlp.down_proj`) against information theory, as in a full report.
    pub theory: Theory,
    /// One row per (layer, linear, format).
    pub layers: Vec<WeightsRow>,
    /// Wall-clock seconds per stage.
    pub timings: BTreeMap<String, f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WeightsSettings {
    pub formats: Vec<FormatName>,
    pub blocksize: usize,
    pub double_quant: bool,
    pub ref_dtype: RefDtype,
    pub layer: usize,
    pub rotate: Rotation,
    /// The SIMD level the kernels ran at.
    pub simd: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WeightsModel {
    /// As given to `--model`.
    pub source: String,
    /// The file or folder it resolved to.
    pub resolved: String,
    pub layers: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub quantized_linears: usize,
    pub quantized_weights: usize,
    /// The checkpoint dtypes of the decoder linears, with how many had each.
    pub weight_dtypes: BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WeightsFormat {
    pub format: FormatName,
    /// Every scale and zero-point counted, over all the linears.
    pub bits_per_weight: f64,
    pub block_size: usize,
    pub storage_bytes: usize,
    /// The weight MSE of the seed's tensor.
    pub seed_layer_weight_mse: f64,
    /// The mean over every decoder linear of its weight MSE.
    pub mean_weight_mse: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WeightsRow {
    pub layer: usize,
    pub linear: LinearKind,
    pub format: FormatName,
    pub numel: usize,
    pub sigma: f64,
    pub ggd_beta: f64,
    pub kl_to_gauss_bits: f64,
    /// The format's bits per weight on this linear.
    pub bits_per_weight: f64,
    pub weight_mse: f64,
    /// MSE / mean(w²).
    pub rel_mse: f64,
}

/// Runs the weight half of the comparison `options` describes, reading the checkpoint one
/// decoder linear at a time.
pub fn run_weights_only(options: &ReportOptions, progress: &dyn Progress) -> Result<WeightsReport> {
    options.validate()?;
    if !options.candidates.is_empty() {
        return Err(ReportError::Invalid(
            "--candidate needs the forward passes, which --weights-only skips; drop one of them".into(),
        ));
    }
    let path = options.model.resolve(progress)?;
    let clock = Instant::now();
    quantbound_llama::model::with_weights(&path, |config, source| {
        let seed = options.seed_linear(config.num_layers)?;
        let dtypes = RefCell::new(BTreeMap::<String, usize>::new());
        // One linear at a time (not a layer's seven in parallel, as the full report does), so
        // that memory follows the largest tensor.
        let ids = (0..config.num_layers).flat_map(|layer| DECODER_LINEARS.map(|kind| LinearId { layer, kind }));
        let layers = ids.map(|id| -> Result<Vec<LinearWeights>> {
            let shape = id.kind.shape(config);
            let mut tensor = source.load(&id.tensor_name(), &shape)?;
            *dtypes.borrow_mut().entry(tensor.source_dtype.clone()).or_default() += 1;
            options.ref_dtype.round(&mut tensor.values);
            Ok(vec![(id, shape, tensor.values)])
        });
        let count = config.num_layers * DECODER_LINEARS.len();
        let analysis = analyse_layers(count, layers, options, seed, progress, false)?;
        let analysed = clock.elapsed().as_secs_f64();
        let stage = progress.stage("theory: bounds, optimal codebooks, Blahut-Arimoto", 1);
        let theory = SeedTensor::new(&analysis, options).theory()?;
        stage.finish();
        let timings = BTreeMap::from([
            ("analyse".to_owned(), analysed),
            ("theory".to_owned(), clock.elapsed().as_secs_f64() - analysed),
        ]);
        Ok(WeightsReport {
            settings: WeightsSettings {
                formats: options.formats.clone(),
                blocksize: options.blocksize.get(),
                double_quant: options.double_quant,
                ref_dtype: options.ref_dtype,
                layer: options.layer,
                rotate: options.rotate,
                simd: quantbound_simd::active().to_string(),
            },
            versions: crate::results::versions(),
            model: WeightsModel {
                source: options.model_label.clone(),
                resolved: path.display().to_string(),
                layers: config.num_layers,
                hidden_size: config.hidden_size,
                intermediate_size: config.intermediate_size,
                quantized_linears: analysis.stats.len(),
                quantized_weights: analysis.stats.iter().map(|s| s.numel).sum(),
                weight_dtypes: dtypes.into_inner(),
            },
            formats: formats(&analysis),
            layers: rows(&analysis),
            theory,
            timings,
        })
    })
}

fn formats(analysis: &Analysis) -> Vec<WeightsFormat> {
    analysis
        .formats
        .iter()
        .map(|f| WeightsFormat {
            format: f.format,
            bits_per_weight: f.bits_per_weight,
            block_size: f.block_size,
            storage_bytes: f.storage_bytes,
            seed_layer_weight_mse: f.errors[analysis.seed].mse,
            mean_weight_mse: f.mean_mse(),
        })
        .collect()
}

fn rows(analysis: &Analysis) -> Vec<WeightsRow> {
    // Format by format, as a full report's layers.csv.
    let mut rows = Vec::with_capacity(analysis.formats.len() * analysis.stats.len());
    for f in &analysis.formats {
        for (i, s) in analysis.stats.iter().enumerate() {
            let mse = f.errors[i].mse;
            rows.push(WeightsRow {
                layer: s.id.layer,
                linear: s.id.kind,
                format: f.format,
                numel: s.numel,
                sigma: s.variance.sqrt(),
                ggd_beta: s.fit.dist.beta(),
                kl_to_gauss_bits: s.kl_bits,
                bits_per_weight: f.rates[i],
                weight_mse: mse,
                rel_mse: mse / s.mean_square,
            });
        }
    }
    rows
}
