//! The Hugging Face bnb-4bit tensor set of one weight, as `Linear4bit._save_to_state_dict` writes
//! it and transformers reads it (golden/bnb4bit/README.md §7):
//!
//! | key | content |
//! | --- | --- |
//! | `W` | u8 `[(numel+1)/2, 1]` packed nibbles |
//! | `W.absmax` | f32 `[n_blocks]`, or u8 `[n_blocks]` with double quant |
//! | `W.quant_map` | f32 `[16]`, the code |
//! | `W.nested_absmax` | f32 `[⌈n_blocks/256⌉]` (double quant) |
//! | `W.nested_quant_map` | f32 `[256]` (double quant) |
//! | `W.quant_state.bitsandbytes__nf4` or `__fp4` | u8 JSON bytes |

use safetensors::{Dtype, SafeTensors};

use crate::blocksize::Blocksize;
use crate::bnb_json::QuantStateJson;
use crate::codebook::{Codebook, QuantType};
use crate::double_quant::DoubleQuant;
use crate::dtype::FloatVec;
use crate::error::{CodebookError, Result};
use crate::nibble;
use crate::state::{Absmax, QuantState, Quantized4bit};

/// One tensor to write: name, dtype, shape and data.
#[derive(Clone, Debug, PartialEq)]
pub struct OwnedTensor {
    pub name: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub data: TensorData,
}

/// A tensor's data, kept in its own type so that no copy is made to get bytes.
#[derive(Clone, Debug, PartialEq)]
pub enum TensorData {
    Bytes(Vec<u8>),
    Floats(FloatVec),
}

impl TensorData {
    /// The little-endian bytes a checkpoint stores.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            TensorData::Bytes(b) => b,
            TensorData::Floats(f) => f.as_bytes(),
        }
    }
}

/// The key suffix of the JSON quant state for a quant type.
pub fn quant_state_suffix(quant_type: QuantType) -> String {
    format!("quant_state.bitsandbytes__{quant_type}")
}

/// The name, dtype and shape of every tensor [`to_tensors`] writes for a weight named `name`, in
/// the same order, without computing anything (for streaming writers that need the header first).
pub fn tensor_layout(
    name: &str,
    quant_type: QuantType,
    numel: usize,
    blocksize: Blocksize,
    double_quant: bool,
    json_len: usize,
) -> Vec<(String, Dtype, Vec<usize>)> {
    let n_blocks = blocksize.n_blocks(numel);
    let mut layout = vec![
        (name.to_owned(), Dtype::U8, vec![nibble::packed_len(numel), 1]),
        (format!("{name}.absmax"), if double_quant { Dtype::U8 } else { Dtype::F32 }, vec![n_blocks]),
        (format!("{name}.quant_map"), Dtype::F32, vec![16]),
    ];
    if double_quant {
        layout.push((format!("{name}.nested_absmax"), Dtype::F32, vec![n_blocks.div_ceil(256)]));
        layout.push((format!("{name}.nested_quant_map"), Dtype::F32, vec![256]));
    }
    layout.push((format!("{name}.{}", quant_state_suffix(quant_type)), Dtype::U8, vec![json_len]));
    layout
}

/// The JSON that goes with a quantized tensor; fails for a custom codebook, which bnb cannot load.
pub fn quant_state_json(name: &str, q: &Quantized4bit) -> Result<QuantStateJson> {
    let quant_type =
        q.state.code.quant_type().ok_or_else(|| CodebookError::NotBnbCodebook { tensor: name.to_owned() })?;
    Ok(QuantStateJson {
        quant_type,
        blocksize: q.state.blocksize.get(),
        dtype: q.state.dtype,
        shape: q.state.shape.clone(),
        nested_offset: match &q.state.absmax {
            Absmax::Plain(_) => None,
            Absmax::Double(d) => Some(d.offset),
        },
    })
}

/// Every tensor of the HF bnb-4bit layout for the weight `name`, in [`tensor_layout`]'s order.
/// Takes the tensor by value so that its buffers move into the output instead of being copied.
pub fn to_tensors(name: &str, q: Quantized4bit) -> Result<Vec<OwnedTensor>> {
    let json = quant_state_json(name, &q)?.to_bnb_string().into_bytes();
    let quant_type = q.state.code.quant_type().expect("checked by quant_state_json");
    let layout = tensor_layout(
        name,
        quant_type,
        q.numel(),
        q.state.blocksize,
        matches!(q.state.absmax, Absmax::Double(_)),
        json.len(),
    );
    let floats = |v: Vec<f32>| TensorData::Floats(FloatVec::F32(v));
    let code = q.state.code.values().to_vec();
    let mut data = vec![TensorData::Bytes(q.packed)];
    match q.state.absmax {
        Absmax::Plain(a) => data.extend([floats(a), floats(code)]),
        Absmax::Double(d) => {
            data.extend([TensorData::Bytes(d.codes), floats(code), floats(d.nested_absmax), floats(d.nested_code)])
        }
    }
    data.push(TensorData::Bytes(json));
    Ok(layout
        .into_iter()
        .zip(data)
        .map(|((name, dtype, shape), data)| OwnedTensor { name, dtype, shape, data })
        .collect())
}

/// The quant type of `name` if the file holds a bnb quant state for it.
pub fn bnb_quant_type(st: &SafeTensors<'_>, name: &str) -> Option<QuantType> {
    [QuantType::Nf4, QuantType::Fp4]
        .into_iter()
        .find(|&qt| st.tensor(&format!("{name}.{}", quant_state_suffix(qt))).is_ok())
}

/// Reads the bnb-4bit weight `name` from a safetensors file (`file` labels errors), checking every
/// dtype, shape and length against the quant state.
pub fn from_safetensors(st: &SafeTensors<'_>, name: &str, file: &str) -> Result<Quantized4bit> {
    let get = |key: &str, dtype: Dtype, expected: &str| -> Result<(Vec<usize>, Vec<u8>)> {
        let view = st.tensor(key).map_err(|_| CodebookError::MissingTensor {
            file: file.to_owned(),
            tensor: key.to_owned(),
            expected: expected.to_owned(),
        })?;
        if view.dtype() != dtype {
            return Err(CodebookError::TensorMismatch {
                file: file.to_owned(),
                tensor: key.to_owned(),
                expected: format!("dtype {dtype:?} ({expected})"),
                found: format!("dtype {:?}", view.dtype()),
            });
        }
        Ok((view.shape().to_vec(), view.data().to_vec()))
    };
    let f32s = |bytes: &[u8]| -> Vec<f32> { bytemuck::pod_collect_to_vec(bytes) };

    let quant_type = bnb_quant_type(st, name).ok_or_else(|| CodebookError::MissingTensor {
        file: file.to_owned(),
        tensor: format!("{name}.quant_state.bitsandbytes__nf4 (or __fp4)"),
        expected: "the JSON quant state of a bnb-4bit weight".into(),
    })?;
    let json_key = format!("{name}.{}", quant_state_suffix(quant_type));
    let (_, json) = get(&json_key, Dtype::U8, "UTF-8 JSON bytes")?;
    // Errors from here on name the file beside the tensor.
    let in_file = |key: &str| format!("{file}: {key}");
    let json = QuantStateJson::parse(&json, &in_file(&json_key))?;
    if json.quant_type != quant_type {
        return Err(CodebookError::QuantStateJson {
            tensor: in_file(&json_key),
            reason: format!("quant_type {} contradicts the key's suffix {quant_type}", json.quant_type),
        });
    }
    let blocksize = Blocksize::new(json.blocksize, &in_file(&json_key))?;
    let (_, packed) = get(name, Dtype::U8, "packed 4-bit weight")?;

    let map_key = format!("{name}.quant_map");
    let (_, quant_map) = get(&map_key, Dtype::F32, "f32[16] code table")?;
    let quant_map: [f32; 16] = f32s(&quant_map).try_into().map_err(|v: Vec<f32>| CodebookError::Length {
        tensor: in_file(&map_key),
        what: "quant_map",
        expected: 16,
        found: v.len(),
    })?;
    let code = Codebook::from_quant_map(quant_type, quant_map, &in_file(&map_key))?;

    let absmax_key = format!("{name}.absmax");
    let absmax = match json.nested_offset {
        None => Absmax::Plain(f32s(&get(&absmax_key, Dtype::F32, "f32 absmax")?.1)),
        Some(offset) => {
            let codes = get(&absmax_key, Dtype::U8, "u8 double-quant absmax codes")?.1;
            let nested_absmax = f32s(&get(&format!("{name}.nested_absmax"), Dtype::F32, "f32 nested absmax")?.1);
            let nested_code = f32s(&get(&format!("{name}.nested_quant_map"), Dtype::F32, "f32[256] nested map")?.1);
            Absmax::Double(DoubleQuant { codes, nested_absmax, nested_code, offset })
        }
    };
    let state = QuantState { shape: json.shape, dtype: json.dtype, blocksize, code, absmax };
    Quantized4bit::from_parts(&in_file(name), packed, state)
}
