//! What a report compares: the model, the formats, the reference precision, the device and the
//! quantization settings.

use std::path::{Path, PathBuf};

use quantbound_codebook::{Blocksize, QuantType};
use quantbound_formats::bnb::Bnb;
use quantbound_formats::{BnbSettings, Format, FormatName};
use quantbound_llama::layout::{LinearId, LinearKind};
use quantbound_theory::quantizer::optimal_absmax_codebook;
use quantbound_theory::GeneralizedGaussian;

use crate::error::{theory, ReportError, Result};
use crate::progress::Progress;
use crate::texts::{Texts, DEFAULT_SENTENCE};

/// Where the reference model comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSpec {
    /// The embedded sample model, SmolLM2-135M-Instruct (`cargo xtask fetch-sample`).
    Sample,
    /// A llama.cpp GGUF file.
    Gguf(PathBuf),
    /// A Hugging Face model folder (config.json, tokenizer.json, safetensors).
    Folder(PathBuf),
    /// A Hub repo id, optionally `@revision`.
    Hub(String),
}

impl ModelSpec {
    /// `sample`, a `.gguf` file, a folder, or else a Hub id (`owner/name[@revision]`).
    pub fn parse(spec: &str) -> Result<Self> {
        let path = Path::new(spec);
        if spec == "sample" {
            Ok(ModelSpec::Sample)
        } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
            if path.is_file() {
                Ok(ModelSpec::Gguf(path.to_path_buf()))
            } else {
                Err(ReportError::Invalid(format!("{spec}: no such GGUF file")))
            }
        } else if path.is_dir() {
            Ok(ModelSpec::Folder(path.to_path_buf()))
        } else if spec.split('@').next().is_some_and(|id| id.matches('/').count() == 1 && !id.starts_with(['.', '/'])) {
            Ok(ModelSpec::Hub(spec.to_owned()))
        } else {
            Err(ReportError::Invalid(format!(
                "--model {spec:?}: not `sample`, an existing .gguf file or folder, or a Hub id like meta-llama/Llama-3.2-1B"
            )))
        }
    }

    /// The GGUF file or model folder this names, fetched from the Hub (each download a
    /// `progress` stage) where it is a repo id.
    pub fn resolve(&self, progress: &dyn Progress) -> Result<PathBuf> {
        Ok(match self {
            ModelSpec::Sample => quantbound_llama::sample::find()?,
            ModelSpec::Gguf(path) => path.clone(),
            ModelSpec::Folder(dir) => dir.clone(),
            ModelSpec::Hub(id) => quantbound_llama::hub::HubModel::parse(id).snapshot(progress)?,
        })
    }
}

/// The reference model's weight precision (the compute dtype on the CPU is always f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum RefDtype {
    /// The checkpoint's own values (f32 for the GGUF-dequantized sample, bf16 for Llama-3.2).
    #[cfg_attr(feature = "clap", value(alias = "auto"))]
    Checkpoint,
    /// Weights rounded to f16, as the seed's `torch_dtype=float16`.
    #[cfg_attr(feature = "clap", value(aliases = ["fp16", "float16"]))]
    F16,
    /// Weights rounded to bf16.
    #[cfg_attr(feature = "clap", value(alias = "bfloat16"))]
    Bf16,
}

impl RefDtype {
    /// The name the report prints and serde writes.
    pub fn as_str(self) -> &'static str {
        match self {
            RefDtype::Checkpoint => "checkpoint",
            RefDtype::F16 => "f16",
            RefDtype::Bf16 => "bf16",
        }
    }

    /// Rounds `values` to this precision in place.
    pub fn round(self, values: &mut [f32]) {
        match self {
            RefDtype::Checkpoint => {}
            RefDtype::F16 => values.iter_mut().for_each(|v| *v = half::f16::from_f32(*v).to_f32()),
            RefDtype::Bf16 => values.iter_mut().for_each(|v| *v = half::bf16::from_f32(*v).to_f32()),
        }
    }
}

/// Where the models run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Device {
    /// The CPU backend (`quantbound_llama::backend::Cpu`).
    #[default]
    Cpu,
    /// wgpu (Vulkan, Metal, DX12), with quantbound-llama's `wgpu` feature.
    Wgpu,
    /// CUDA, with quantbound-llama's `cuda` feature.
    Cuda,
}

/// Which parts of the model are quantized on their own to measure their sensitivity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum SensitivityMode {
    /// None: only the fully quantized models are run.
    Off,
    /// Each decoder layer's seven linears, one layer at a time.
    #[default]
    Layers,
    /// Each layer, and each linear type (all q_proj, all k_proj, …) across every layer.
    Linears,
}

/// How a document (`--text-file`) becomes scored sequences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum PplMode {
    /// Consecutive windows of --max-length tokens, a BOS only at the document's start, every
    /// position scored.
    #[default]
    Windows,
    /// `llama-perplexity`'s: --max-length is n_ctx; whole n_ctx chunks, each one's first token
    /// replaced by BOS, only the second half of each scored. Its PPL and KLD figures are llama.cpp's.
    LlamaCpp,
}

impl PplMode {
    /// The first position scored in a sequence of `max_length` tokens.
    pub fn first_scored(self, max_length: usize) -> usize {
        match self {
            PplMode::Windows => 0,
            PplMode::LlamaCpp => max_length / 2,
        }
    }
}

/// A rotation of every linear's input dimension before quantizing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Rotation {
    /// The weights as they are.
    #[default]
    None,
    /// A randomized Hadamard transform per row (QuaRot, HIGGS), undone after dequantizing.
    Hadamard,
}

/// Everything a report run needs besides the device.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub model: ModelSpec,
    /// The model as the user named it (for the report).
    pub model_label: String,
    pub formats: Vec<FormatName>,
    /// Where the models ran (recorded in the report; the caller picks the backend).
    pub device: Device,
    pub blocksize: Blocksize,
    pub double_quant: bool,
    pub ref_dtype: RefDtype,
    pub max_length: usize,
    pub batch_size: usize,
    /// The layer whose `mlp.down_proj` the seed analyses (8).
    pub layer: usize,
    pub texts: Texts,
    /// How a [`Texts::Document`] is cut and scored.
    pub ppl_mode: PplMode,
    /// Description of the texts for the report (e.g. the file they came from).
    pub texts_label: String,
    /// Evaluate each distinct sequence once and count its scores once per occurrence (the same
    /// numbers as evaluating every copy; the seed's text is one sentence × 100).
    pub deduplicate: bool,
    /// The single-layer (and single-type) runs.
    pub sensitivity: SensitivityMode,
    /// Rotate each linear's rows before quantizing (every format alike).
    pub rotate: Rotation,
    /// Models quantized elsewhere to score against the reference (`--candidate`), each with the
    /// name it was given.
    pub candidates: Vec<(String, ModelSpec)>,
}

impl ReportOptions {
    /// Checks the settings that need no model: at least one format, batches and sequences of at
    /// least one token.
    pub fn validate(&self) -> Result<()> {
        if self.formats.is_empty() {
            let names = FormatName::ALL.map(FormatName::as_str).join(", ");
            return Err(ReportError::Invalid(format!("no format to compare: give at least one of {names}")));
        }
        if self.batch_size == 0 || self.max_length == 0 {
            return Err(ReportError::Invalid("--batch-size and --max-length must be at least 1".into()));
        }
        if self.ppl_mode == PplMode::LlamaCpp {
            if !matches!(self.texts, Texts::Document(_)) {
                return Err(ReportError::Invalid(
                    "--ppl-mode llama-cpp scores a document in n_ctx chunks: give it with --text-file".into(),
                ));
            }
            if self.max_length < 4 {
                return Err(ReportError::Invalid(format!(
                    "--ppl-mode llama-cpp: --max-length {} is n_ctx, which must be at least 4",
                    self.max_length
                )));
            }
        }
        Ok(())
    }

    /// The seed's tensor, `--layer`'s `mlp.down_proj`, in a model of `layers` layers.
    pub fn seed_linear(&self, layers: usize) -> Result<LinearId> {
        if self.layer >= layers {
            return Err(ReportError::Invalid(format!(
                "--layer {}: out of range, the model has {layers} layers (0..={})",
                self.layer,
                layers - 1
            )));
        }
        Ok(LinearId { layer: self.layer, kind: LinearKind::Down })
    }

    /// Bits per weight of the bnb formats, the scales included.
    pub fn effective_rate(&self) -> f64 {
        quantbound_theory::bounds::effective_rate(self.blocksize, self.double_quant)
    }

    /// `format` with these settings (the bnb formats take the blocksize and double quant; the
    /// optimal codebook is designed here for Gaussian weights in absmax blocks of this size).
    pub fn format(&self, format: FormatName) -> Result<Box<dyn Format>> {
        let bnb = BnbSettings { blocksize: self.blocksize, double_quant: self.double_quant };
        if format != FormatName::Optimal {
            return Ok(format.format(bnb)?);
        }
        let gaussian = GeneralizedGaussian::with_variance(2.0, 0.0, 1.0).map_err(theory("the optimal codebook"))?;
        let (codebook, _) = optimal_absmax_codebook(&gaussian, self.blocksize, &QuantType::Nf4.codebook())
            .map_err(theory("the optimal codebook"))?;
        Ok(Box::new(Bnb::with_codebook(format, codebook, bnb)))
    }

    /// The seed's settings on `model`: reference, NF4 and FP4, blocksize 64, no double quant,
    /// max length 128, batch 8, layer 8, the seed's text.
    pub fn seed(model: ModelSpec, model_label: &str) -> Self {
        ReportOptions {
            model,
            model_label: model_label.to_owned(),
            formats: vec![FormatName::Nf4, FormatName::Fp4],
            device: Device::Cpu,
            blocksize: Blocksize::DEFAULT,
            double_quant: false,
            ref_dtype: RefDtype::Checkpoint,
            max_length: 128,
            batch_size: 8,
            layer: 8,
            texts: Texts::seed_default(),
            ppl_mode: PplMode::Windows,
            texts_label: format!("the seed's text: {DEFAULT_SENTENCE:?} × 100"),
            deduplicate: true,
            sensitivity: SensitivityMode::Layers,
            rotate: Rotation::None,
            candidates: Vec::new(),
        }
    }
}
