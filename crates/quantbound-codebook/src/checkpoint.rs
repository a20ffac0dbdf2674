//! Whole-file conversion between dense safetensors checkpoints and the HF bnb-4bit layout,
//! streamed tensor by tensor.
//!
//! The output is written to any [`Write`]: the header first (so every tensor's size is worked out
//! before any data is produced), then each tensor as it is converted. Only one tensor's input and
//! output are in memory at a time; the input is best memory-mapped by the caller.

use std::collections::HashMap;
use std::io::Write;

use safetensors::tensor::{Metadata, TensorInfo, TensorView};
use safetensors::{Dtype, SafeTensors};

use crate::bnb_json::QuantStateJson;
use crate::dtype::{FloatDtype, FloatSlice, FloatVec};
use crate::error::{CodebookError, Result};
use crate::hf::{self, OwnedTensor};
use crate::state::{QuantizeOptions, Quantized4bit};

/// What happened to each input tensor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ConversionSummary {
    /// Tensors quantized (quantize) or dequantized (dequantize).
    pub converted: Vec<String>,
    /// Tensors copied unchanged.
    pub copied: Vec<String>,
    /// Bytes of tensor data written.
    pub bytes_written: usize,
}

/// The default selection of `cargo xtask quantize`: every floating-point tensor of rank ≥ 2.
pub fn is_default_quantize_target(view: &TensorView<'_>) -> bool {
    FloatDtype::from_safetensors(view.dtype()).is_some() && view.shape().len() >= 2
}

/// Parses a safetensors buffer, with an error that names `file`.
pub fn open<'a>(bytes: &'a [u8], file: &str) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| CodebookError::Safetensors { file: file.to_owned(), reason: e.to_string() })
}

/// Quantizes the tensors of `input` for which `select` is true and copies the rest, writing the
/// HF bnb-4bit layout to `out`. A selected tensor that is not f32/f16/bf16 is an error.
pub fn quantize_safetensors(
    input: &[u8],
    file: &str,
    options: &QuantizeOptions,
    select: impl Fn(&str, &TensorView<'_>) -> bool,
    out: impl Write,
) -> Result<ConversionSummary> {
    let st = open(input, file)?;
    let quant_type = options
        .codebook
        .quant_type()
        .ok_or_else(|| CodebookError::NotBnbCodebook { tensor: file.to_owned() })?;
    let float_dtype = |name: &str, view: &TensorView<'_>| {
        FloatDtype::from_safetensors(view.dtype()).ok_or_else(|| CodebookError::UnsupportedDtype {
            tensor: format!("{file}: {name}"),
            found: format!("{:?}", view.dtype()),
        })
    };
    let quantize = |name: &str, view: &TensorView<'_>| -> Result<Quantized4bit> {
        let dtype = float_dtype(name, view)?;
        let owned;
        let data = match FloatSlice::from_le_bytes(dtype, view.data()) {
            Some(slice) => slice,
            None => {
                owned = FloatVec::from_le_bytes(dtype, view.data()).expect("safetensors checked the size");
                owned.as_slice()
            }
        };
        Quantized4bit::quantize(name, data, view.shape(), options)
    };

    let mut steps = Vec::new();
    for (name, view) in sorted_tensors(&st) {
        if select(&name, &view) {
            let json = if options.double_quant {
                // The JSON holds the double-quant offset, whose digits we only know after
                // quantizing; quantize now for the header and again when writing.
                hf::quant_state_json(&name, &quantize(&name, &view)?)?
            } else {
                QuantStateJson {
                    quant_type,
                    blocksize: options.blocksize.get(),
                    dtype: float_dtype(&name, &view)?,
                    shape: view.shape().to_vec(),
                    nested_offset: None,
                }
            };
            let json_len = json.to_bnb_string().len();
            let numel = view.shape().iter().product();
            let layout = hf::tensor_layout(&name, quant_type, numel, options.blocksize, options.double_quant, json_len);
            steps.push(Step { name, view, layout, convert: true });
        } else {
            let layout = vec![(name.clone(), view.dtype(), view.shape().to_vec())];
            steps.push(Step { name, view, layout, convert: false });
        }
    }
    write_steps(&st, input, file, &steps, out, |step| {
        hf::to_tensors(&step.name, &quantize(&step.name, &step.view)?)
    })
}

/// Dequantizes every bnb-4bit weight of `input` to a dense tensor of its recorded dtype and shape,
/// and copies every other tensor.
pub fn dequantize_safetensors(input: &[u8], file: &str, out: impl Write) -> Result<ConversionSummary> {
    let st = open(input, file)?;
    let mut sidecars = std::collections::HashSet::new();
    let mut steps = Vec::new();
    for (name, view) in sorted_tensors(&st) {
        if hf::bnb_quant_type(&st, &name).is_some() {
            let q = hf::from_safetensors(&st, &name, file)?;
            for suffix in ["absmax", "quant_map", "nested_absmax", "nested_quant_map"] {
                sidecars.insert(format!("{name}.{suffix}"));
            }
            for quant_type in [crate::QuantType::Nf4, crate::QuantType::Fp4] {
                sidecars.insert(format!("{name}.{}", hf::quant_state_suffix(quant_type)));
            }
            let layout = vec![(name.clone(), q.state.dtype.to_safetensors(), q.state.shape.clone())];
            steps.push(Step { name, view, layout, convert: true });
        } else {
            let layout = vec![(name.clone(), view.dtype(), view.shape().to_vec())];
            steps.push(Step { name, view, layout, convert: false });
        }
    }
    steps.retain(|s| !sidecars.contains(&s.name));
    write_steps(&st, input, file, &steps, out, |step| {
        let q = hf::from_safetensors(&st, &step.name, file)?;
        let dense = q.dequantize();
        Ok(vec![OwnedTensor {
            name: step.name.clone(),
            dtype: q.state.dtype.to_safetensors(),
            shape: q.state.shape.clone(),
            data: dense.as_bytes().to_vec(),
        }])
    })
}

/// One input tensor and the output tensors it becomes.
struct Step<'a> {
    name: String,
    view: TensorView<'a>,
    layout: Vec<(String, Dtype, Vec<usize>)>,
    convert: bool,
}

fn sorted_tensors<'a>(st: &SafeTensors<'a>) -> Vec<(String, TensorView<'a>)> {
    let mut tensors = st.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

/// Writes the header for `steps`, then each step's tensors: copied bytes, or `convert(step)`.
fn write_steps<'a>(
    st: &SafeTensors<'a>,
    input: &[u8],
    file: &str,
    steps: &[Step<'a>],
    mut out: impl Write,
    convert: impl Fn(&Step<'a>) -> Result<Vec<OwnedTensor>>,
) -> Result<ConversionSummary> {
    let io = |source| CodebookError::Io { file: file.to_owned(), source };
    let mut infos = Vec::new();
    let mut offset = 0;
    for (name, dtype, shape) in steps.iter().flat_map(|s| &s.layout) {
        let numel: usize = shape.iter().product();
        let len = numel * dtype.bitsize() / 8;
        infos.push((name.clone(), TensorInfo { dtype: *dtype, shape: shape.clone(), data_offsets: (offset, offset + len) }));
        offset += len;
    }
    let header = Metadata::new(Some(output_metadata(input)), infos)
        .map_err(|e| CodebookError::Safetensors { file: file.to_owned(), reason: e.to_string() })?;
    let mut header = serde_json::to_vec(&header).expect("safetensors metadata serialises");
    // safetensors pads the header with spaces so that the data starts 8-byte aligned.
    header.resize(header.len().next_multiple_of(8), b' ');
    out.write_all(&(header.len() as u64).to_le_bytes()).map_err(io)?;
    out.write_all(&header).map_err(io)?;

    let mut summary = ConversionSummary::default();
    for step in steps {
        if step.convert {
            let tensors = convert(step)?;
            for (tensor, (name, dtype, shape)) in tensors.iter().zip(&step.layout) {
                debug_assert_eq!((&tensor.name, tensor.dtype, &tensor.shape), (name, *dtype, shape));
                out.write_all(&tensor.data).map_err(io)?;
                summary.bytes_written += tensor.data.len();
            }
            summary.converted.push(step.name.clone());
        } else {
            let data = st.tensor(&step.name).expect("listed by the same file").data();
            out.write_all(data).map_err(io)?;
            summary.bytes_written += data.len();
            summary.copied.push(step.name.clone());
        }
    }
    out.flush().map_err(io)?;
    Ok(summary)
}

/// The input's `__metadata__`, with `format: pt`, which transformers requires.
fn output_metadata(input: &[u8]) -> HashMap<String, String> {
    let mut metadata = SafeTensors::read_metadata(input)
        .ok()
        .and_then(|(_, m)| m.metadata().clone())
        .unwrap_or_default();
    metadata.insert("format".into(), "pt".into());
    metadata
}
