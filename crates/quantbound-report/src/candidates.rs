//! Models quantized elsewhere (`--candidate`): a GGUF of llama.cpp's block types or a bnb-4bit
//! checkpoint, loaded as they are stored, refused unless they have the reference's architecture
//! and tokenizer, and scored against it as the formats are: each decoder linear's weight error,
//! and the function metrics of the same forward passes.

use std::cell::RefCell;
use std::collections::BTreeMap;

use quantbound_formats::ggml::BlockType;
use quantbound_llama::backend::QuantBackend;
use quantbound_llama::config::LlamaConfig;
use quantbound_llama::model::Llama;
use quantbound_llama::weights::HostTensor;
use quantbound_metrics::{weight_error, LogitMetrics, WeightError};
use quantbound_theory::bounds::{gap_bits, shannon_lower_bound};

use crate::error::{ReportError, Result};
use crate::load::Loaded;
use crate::options::{ModelSpec, ReportOptions};
use crate::progress::Progress;
use crate::report::{CandidateLinear, CandidateResult};

/// A candidate loaded and checked, with its weight errors against the reference.
pub(crate) struct CandidateModel<B: QuantBackend> {
    /// `--candidate` as given.
    pub label: String,
    /// The file or folder it resolved to.
    pub resolved: String,
    pub model: Llama<B>,
    /// Stored type of the decoder linears → how many have it.
    pub dtypes: BTreeMap<String, usize>,
    /// Bits per weight of each decoder linear as stored, in [`Llama::linears`] order.
    pub bits: Vec<f64>,
    /// One per decoder linear, in [`Llama::linears`] order.
    pub errors: Vec<WeightError>,
}

/// Bits per weight of a tensor stored as `dtype` (a GGUF or safetensors type name).
fn dtype_bits(dtype: &str) -> Option<f64> {
    match dtype {
        "F32" => Some(32.0),
        "F16" | "BF16" => Some(16.0),
        other => BlockType::ALL.into_iter().find(|b| b.name() == other).map(BlockType::bits_per_weight),
    }
}

/// Loads `spec` onto the reference's device, checks it against `reference` (its architecture,
/// and its tokenization of the texts against `sequences`), and measures each decoder linear.
pub(crate) fn load<B: QuantBackend>(
    spec: &ModelSpec,
    label: &str,
    reference: &Loaded<B>,
    sequences: &[Vec<u32>],
    options: &ReportOptions,
    device: &B::Device,
    progress: &dyn Progress,
) -> Result<CandidateModel<B>> {
    let stored = RefCell::new(BTreeMap::<String, String>::new());
    let transform = |name: &str, t: HostTensor| -> quantbound_llama::Result<HostTensor> {
        stored.borrow_mut().insert(name.to_owned(), t.source_dtype.clone());
        Ok(t)
    };
    tracing::info!(candidate = label, "loading a candidate");
    let (model, tokenizer, resolved) = crate::load::open::<B>(spec, device, &transform, progress)?;
    let incompatible = |what: String| ReportError::Incompatible { candidate: label.to_owned(), what };
    check_architecture(&reference.model.config, &model.config).map_err(incompatible)?;
    let theirs = options.texts.tokenize(&tokenizer, options.max_length, options.ppl_mode)?;
    if theirs.len() != sequences.len() {
        return Err(incompatible(format!(
            "its tokenizer differs from the reference's: the texts make {} sequences with its own, {} with the reference's",
            theirs.len(),
            sequences.len()
        )));
    }
    if let Some(i) = sequences.iter().zip(&theirs).position(|(a, b)| a != b) {
        return Err(incompatible(format!(
            "its tokenizer differs from the reference's: text {} is {:?} with the reference's, {:?} with its own",
            i + 1,
            &sequences[i][..sequences[i].len().min(12)],
            &theirs[i][..theirs[i].len().min(12)],
        )));
    }
    let stored = stored.into_inner();
    let mut dtypes = BTreeMap::<String, usize>::new();
    let (mut bits, mut errors) = (Vec::new(), Vec::new());
    for ((id, ours), (_, candidate)) in reference.model.linears().into_iter().zip(model.linears()) {
        let name = id.tensor_name();
        let (w, q) = (ours.weight_values(), candidate.weight_values());
        let dtype = stored.get(&name).cloned().unwrap_or_else(|| "bnb-4bit".to_owned());
        bits.push(
            candidate
                .bits_per_weight()
                .or_else(|| dtype_bits(&dtype))
                .ok_or_else(|| incompatible(format!("{name}: its stored type {dtype} has no known size")))?,
        );
        *dtypes.entry(dtype).or_default() += 1;
        errors.push(weight_error(&w, &q));
    }
    Ok(CandidateModel { label: label.to_owned(), resolved, model, dtypes, bits, errors })
}

/// What differs between the reference's config and the candidate's, if anything.
fn check_architecture(reference: &LlamaConfig, candidate: &LlamaConfig) -> std::result::Result<(), String> {
    let fields: [(&str, String, String); 8] = [
        ("layers", reference.num_layers.to_string(), candidate.num_layers.to_string()),
        ("hidden size", reference.hidden_size.to_string(), candidate.hidden_size.to_string()),
        ("intermediate size", reference.intermediate_size.to_string(), candidate.intermediate_size.to_string()),
        ("attention heads", reference.num_heads.to_string(), candidate.num_heads.to_string()),
        ("KV heads", reference.num_kv_heads.to_string(), candidate.num_kv_heads.to_string()),
        ("head dim", reference.head_dim.to_string(), candidate.head_dim.to_string()),
        ("vocabulary", reference.vocab_size.to_string(), candidate.vocab_size.to_string()),
        // A GGUF stores it as f32: compared at f32 precision.
        ("RMSNorm eps", (reference.rms_norm_eps as f32).to_string(), (candidate.rms_norm_eps as f32).to_string()),
    ];
    let mut differences: Vec<String> =
        fields.iter().filter(|(_, a, b)| a != b).map(|(what, a, b)| format!("{what} {b}, not {a}")).collect();
    // RoPE by its inverse frequencies, which a config.json states as θ and Llama 3 scaling and a
    // GGUF as θ and per-frequency divisors; the two roundings of the same scaling agree to an ulp.
    let (ours, theirs) = (reference.rope.inv_freq(reference.head_dim), candidate.rope.inv_freq(candidate.head_dim));
    if let Some(i) = (0..ours.len().max(theirs.len())).find(|&i| match (ours.get(i), theirs.get(i)) {
        (Some(a), Some(b)) => (a - b).abs() > 1e-6 * a.abs(),
        _ => true,
    }) {
        let show = |v: &[f32]| v.get(i).map_or("none".into(), |f| format!("{f:e}"));
        differences.push(format!(
            "RoPE inverse frequency {i} {}, not {} (RoPE θ {} and scaling {:?}, not θ {} and {:?})",
            show(&theirs),
            show(&ours),
            candidate.rope.theta,
            candidate.rope.scaling.map(|_| "llama3").or(candidate.rope.freq_factors.as_ref().map(|_| "rope_freqs")),
            reference.rope.theta,
            reference.rope.scaling.map(|_| "llama3").or(reference.rope.freq_factors.as_ref().map(|_| "rope_freqs")),
        ));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(format!("a different architecture: {}", differences.join("; ")))
    }
}

impl<B: QuantBackend> CandidateModel<B> {
    /// Its section of the report: the metrics of its forward passes (`metrics`), and its weight
    /// errors against the reference's linears (`seed`: the seed tensor's index, whose GGD fit has
    /// differential entropy `h_ggd_bits`).
    pub fn result(
        &self,
        reference: &Llama<B>,
        metrics: &LogitMetrics,
        seed: usize,
        h_ggd_bits: f64,
    ) -> CandidateResult {
        let numel: usize = self.errors.iter().map(|e| e.numel).sum();
        let storage_bits: f64 = self.errors.iter().zip(&self.bits).map(|(e, b)| b * e.numel as f64).sum();
        let seed_mse = self.errors[seed].mse;
        let mean_mse = self.errors.iter().map(|e| e.mse).sum::<f64>() / self.errors.len() as f64;
        let linears = reference
            .linears()
            .iter()
            .zip(self.errors.iter().zip(&self.bits))
            .map(|((id, _), (e, &bits_per_weight))| CandidateLinear {
                layer: id.layer,
                linear: id.kind,
                bits_per_weight,
                mse: e.mse,
                sqnr_db: e.sqnr_db,
            })
            .collect();
        CandidateResult {
            candidate: self.label.clone(),
            resolved: self.resolved.clone(),
            linear_dtypes: self.dtypes.clone(),
            bits_per_weight: storage_bits / numel as f64,
            metrics: metrics.clone(),
            seed_layer_weight_mse: seed_mse,
            seed_gap_bits_vs_ggd: gap_bits(seed_mse, shannon_lower_bound(h_ggd_bits, self.bits[seed])),
            mean_weight_mse: mean_mse,
            amplification_seed: metrics.logits_mse / seed_mse,
            amplification_mean: metrics.logits_mse / mean_mse,
            linears,
        }
    }
}
