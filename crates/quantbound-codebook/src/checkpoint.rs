//! Whole-file conversion between dense safetensors checkpoints and the HF bnb-4bit layout,
//! streamed tensor by tensor.
//!
//! The output is written to any [`Write`]: the header first (so every tensor's size is worked out
//! before any data is produced), then the data. Tensors are laid out as the safetensors library
//! lays them out when transformers saves a model (by dtype alignment, largest first, then by name),
//! so quantizing the same weights gives a file byte-identical to transformers' `save_pretrained`.
//! Only one weight's conversion is held in memory at a time; the input is best memory-mapped.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use safetensors::tensor::{Metadata, TensorInfo, TensorView};
use safetensors::{Dtype, SafeTensors};

use crate::bnb_json::QuantStateJson;
use crate::dtype::{FloatDtype, FloatSlice, FloatVec};
use crate::error::{CodebookError, Result};
use crate::hf::{self, OwnedTensor, TensorData};
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
/// HF bnb-4bit layout to `out`. A selected tensor that is not f32/f16/bf16, and an input that is
/// already bnb-4bit, are errors found before anything is written; a selected tensor holding a NaN
/// or an infinity is an error too (bnb would quantize it, but no weight of a working model is one).
pub fn quantize_safetensors(
    input: &[u8],
    file: &str,
    options: &QuantizeOptions,
    select: impl Fn(&str, &TensorView<'_>) -> bool,
    out: impl Write,
) -> Result<ConversionSummary> {
    let st = open(input, file)?;
    if let Some(state) = st.names().into_iter().find(|n| n.contains(".quant_state.bitsandbytes__")) {
        let tensor = state.split(".quant_state.").next().unwrap_or(state).to_owned();
        return Err(CodebookError::AlreadyQuantized { file: file.to_owned(), tensor });
    }
    let quant_type =
        options.codebook.quant_type().ok_or_else(|| CodebookError::NotBnbCodebook { tensor: file.to_owned() })?;
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
        if let Some((index, value)) = data.first_non_finite() {
            return Err(CodebookError::NonFinite { file: file.to_owned(), tensor: name.to_owned(), index, value });
        }
        Quantized4bit::quantize(name, data, view.shape(), options)
    };

    let mut plan = Vec::new();
    for (name, view) in st.iter() {
        if !select(name, &view) {
            tracing::debug!(tensor = name, "copied");
            plan.push(Planned::copy(name, &view));
            continue;
        }
        tracing::debug!(tensor = name, shape = ?view.shape(), "quantized");
        let json = if options.double_quant {
            // The JSON holds the double-quant offset, whose digits are known only after
            // quantizing; quantize now for the header and again when writing.
            hf::quant_state_json(name, &quantize(name, &view)?)?
        } else {
            QuantStateJson {
                quant_type,
                blocksize: options.blocksize.get(),
                dtype: float_dtype(name, &view)?,
                shape: view.shape().to_vec(),
                nested_offset: None,
            }
        };
        let numel = view.shape().iter().product();
        let layout = hf::tensor_layout(
            name,
            quant_type,
            numel,
            options.blocksize,
            options.double_quant,
            json.to_bnb_string().len(),
        );
        plan.push(Planned { name: name.to_owned(), outputs: layout, convert: true });
    }
    write_plan(&st, input, file, plan, out, |name| {
        let view = st.tensor(name).expect("planned from the same file");
        hf::to_tensors(name, quantize(name, &view)?)
    })
}

/// Dequantizes every bnb-4bit weight of `input` to a dense tensor of its recorded dtype and shape,
/// and copies every other tensor.
pub fn dequantize_safetensors(input: &[u8], file: &str, out: impl Write) -> Result<ConversionSummary> {
    let st = open(input, file)?;
    let mut sidecars = HashSet::new();
    let mut plan = Vec::new();
    for (name, view) in st.iter() {
        let Some(quant_type) = hf::bnb_quant_type(&st, name) else {
            plan.push(Planned::copy(name, &view));
            continue;
        };
        tracing::debug!(tensor = name, ?quant_type, "dequantized");
        // Read (and so validate) the whole state now, before anything is written.
        let q = hf::from_safetensors(&st, name, file)?;
        for suffix in ["absmax", "quant_map", "nested_absmax", "nested_quant_map"] {
            sidecars.insert(format!("{name}.{suffix}"));
        }
        sidecars.insert(format!("{name}.{}", hf::quant_state_suffix(quant_type)));
        let outputs = vec![(name.to_owned(), q.state.dtype.to_safetensors(), q.state.shape.clone())];
        plan.push(Planned { name: name.to_owned(), outputs, convert: true });
    }
    plan.retain(|p| !sidecars.contains(&p.name));
    write_plan(&st, input, file, plan, out, |name| {
        let q = hf::from_safetensors(&st, name, file)?;
        Ok(vec![OwnedTensor {
            name: name.to_owned(),
            dtype: q.state.dtype.to_safetensors(),
            shape: q.state.shape.clone(),
            data: TensorData::Floats(q.dequantize()),
        }])
    })
}

/// An output tensor's name, dtype and shape.
type Layout = (String, Dtype, Vec<usize>);

/// One input tensor and the output tensors it becomes.
struct Planned {
    name: String,
    outputs: Vec<Layout>,
    convert: bool,
}

impl Planned {
    fn copy(name: &str, view: &TensorView<'_>) -> Self {
        Planned {
            name: name.to_owned(),
            outputs: vec![(name.to_owned(), view.dtype(), view.shape().to_vec())],
            convert: false,
        }
    }
}

/// Writes the header for `plan`, then every output tensor in safetensors' order: copied bytes, or
/// the matching tensor of `convert(input name)`. The last conversion is kept, so a weight whose
/// outputs sit next to each other is converted once per dtype group.
fn write_plan(
    st: &SafeTensors<'_>,
    input: &[u8],
    file: &str,
    plan: Vec<Planned>,
    mut out: impl Write,
    convert: impl Fn(&str) -> Result<Vec<OwnedTensor>>,
) -> Result<ConversionSummary> {
    let io = |source| CodebookError::Io { file: file.to_owned(), source };
    // safetensors' `serialize`: larger alignment first, then by name.
    let mut outputs: Vec<(&Planned, &Layout)> =
        plan.iter().flat_map(|p| p.outputs.iter().map(move |o| (p, o))).collect();
    outputs.sort_by(|(_, a), (_, b)| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let mut infos = Vec::with_capacity(outputs.len());
    let mut offset = 0;
    for (_, (name, dtype, shape)) in &outputs {
        let len = shape.iter().product::<usize>() * dtype.bitsize() / 8;
        infos.push((
            name.clone(),
            TensorInfo { dtype: *dtype, shape: shape.clone(), data_offsets: (offset, offset + len) },
        ));
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
    let mut last: Option<(&str, Vec<OwnedTensor>)> = None;
    for (planned, (name, dtype, shape)) in outputs {
        if !planned.convert {
            let data = st.tensor(name).expect("listed by the same file").data();
            out.write_all(data).map_err(io)?;
            summary.bytes_written += data.len();
            continue;
        }
        if last.as_ref().is_none_or(|(input, _)| *input != planned.name) {
            // The previous weight's conversion goes before the next one is made, so that no
            // more than one converted weight is held at a time.
            drop(last.take());
            last = Some((&planned.name, convert(&planned.name)?));
        }
        let (_, tensors) = last.as_ref().expect("just filled");
        let tensor = tensors.iter().find(|t| &t.name == name).expect("conversion yields every planned tensor");
        debug_assert_eq!((tensor.dtype, &tensor.shape), (*dtype, shape));
        out.write_all(tensor.data.as_bytes()).map_err(io)?;
        summary.bytes_written += tensor.data.as_bytes().len();
    }
    out.flush().map_err(io)?;
    for planned in plan {
        if planned.convert {
            summary.converted.push(planned.name);
        } else {
            summary.copied.push(planned.name);
        }
    }
    summary.converted.sort();
    summary.copied.sort();
    Ok(summary)
}

/// The input's `__metadata__`, with `format: pt`, which transformers requires.
fn output_metadata(input: &[u8]) -> HashMap<String, String> {
    let mut metadata =
        SafeTensors::read_metadata(input).ok().and_then(|(_, m)| m.metadata().clone()).unwrap_or_default();
    metadata.insert("format".into(), "pt".into());
    metadata
}
