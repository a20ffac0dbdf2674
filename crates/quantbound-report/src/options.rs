//! What a report compares: the model, the formats, the texts and the quantization settings, and
//! how it reports progress.

use std::path::{Path, PathBuf};

use quantbound_codebook::{Blocksize, QuantType};

use crate::error::{ReportError, Result};

/// The seed's text: one sentence, repeated 100 times as its list of strings.
///
/// The seed notebook's own sentence is not in the design material; this one stands in for it.
/// Pass `--texts` with the notebook's sentence to compare with a notebook run number for number.
pub const DEFAULT_SENTENCE: &str = "The quick brown fox jumps over the lazy dog.";

/// A quantized format to compare against the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Nf4,
    Fp4,
}

impl Format {
    /// `nf4` or `fp4`; anything else is an error listing the known names.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "nf4" => Ok(Format::Nf4),
            "fp4" => Ok(Format::Fp4),
            other => Err(ReportError::Invalid(format!(
                "unknown format {other:?}: the formats are nf4 and fp4 (the reference is always included)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Nf4 => "nf4",
            Format::Fp4 => "fp4",
        }
    }

    pub fn quant_type(self) -> QuantType {
        match self {
            Format::Nf4 => QuantType::Nf4,
            Format::Fp4 => QuantType::Fp4,
        }
    }
}

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
}

/// The reference model's weight precision (the compute dtype on ndarray is always f32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RefDtype {
    /// The checkpoint's own values (f32 for the GGUF-dequantized sample, bf16 for Llama-3.2).
    Checkpoint,
    /// Weights rounded to f16, as the seed's `torch_dtype=float16`.
    F16,
    /// Weights rounded to bf16.
    Bf16,
}

impl RefDtype {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "checkpoint" | "auto" => Ok(RefDtype::Checkpoint),
            "f16" | "fp16" | "float16" => Ok(RefDtype::F16),
            "bf16" | "bfloat16" => Ok(RefDtype::Bf16),
            other => Err(ReportError::Invalid(format!("unknown --ref-dtype {other:?}: use checkpoint, f16 or bf16"))),
        }
    }
}

/// The texts the models are run over.
#[derive(Clone, Debug, PartialEq)]
pub enum Texts {
    /// One sequence per string, tokenized with special tokens, truncated at `max_length` and
    /// right-padded per batch (the seed's `padding=True, truncation=True`).
    Lines(Vec<String>),
    /// One long document, tokenized once and split into windows of `max_length` tokens.
    Document(String),
    /// Token ids, one sequence each (already tokenized; truncated at `max_length`).
    Tokens(Vec<Vec<u32>>),
}

impl Texts {
    /// The seed's default: [`DEFAULT_SENTENCE`] × 100.
    pub fn seed_default() -> Self {
        Texts::Lines(vec![DEFAULT_SENTENCE.to_owned(); 100])
    }
}

/// Everything a report run needs besides the device.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    pub model: ModelSpec,
    /// The model as the user named it (for the report).
    pub model_label: String,
    pub formats: Vec<Format>,
    pub blocksize: Blocksize,
    pub double_quant: bool,
    pub ref_dtype: RefDtype,
    pub max_length: usize,
    pub batch_size: usize,
    /// The layer whose `mlp.down_proj` the seed analyses (8).
    pub layer: usize,
    pub texts: Texts,
    /// Description of the texts for the report (e.g. the file they came from).
    pub texts_label: String,
    /// Evaluate each distinct sequence once and count its scores once per occurrence (the same
    /// numbers as evaluating every copy; the seed's text is one sentence × 100).
    pub deduplicate: bool,
}

impl ReportOptions {
    /// The seed's settings on `model`: reference, NF4 and FP4, blocksize 64, no double quant,
    /// max length 128, batch 8, layer 8, the seed's text.
    pub fn seed(model: ModelSpec, model_label: &str) -> Self {
        ReportOptions {
            model,
            model_label: model_label.to_owned(),
            formats: vec![Format::Nf4, Format::Fp4],
            blocksize: Blocksize::DEFAULT,
            double_quant: false,
            ref_dtype: RefDtype::Checkpoint,
            max_length: 128,
            batch_size: 8,
            layer: 8,
            texts: Texts::seed_default(),
            texts_label: format!("the seed's text: {DEFAULT_SENTENCE:?} × 100"),
            deduplicate: true,
        }
    }
}

/// Progress of a long step (a progress bar in the CLI).
pub trait Stage {
    fn inc(&self, n: u64);
    fn finish(&self);
}

/// Starts the stages a run goes through; [`NoProgress`] ignores them.
pub trait Progress {
    fn stage(&self, name: &str, total: u64) -> Box<dyn Stage>;
}

/// No progress reporting (tests, library use).
pub struct NoProgress;

struct Silent;

impl Stage for Silent {
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

impl Progress for NoProgress {
    fn stage(&self, _: &str, _: u64) -> Box<dyn Stage> {
        Box::new(Silent)
    }
}
