//! GGUF v3: metadata, tensor infos, dequantization, and the llama.cpp → Hugging Face mapping.
//!
//! Layout (ggml's `gguf.h`): magic `GGUF`, u32 version, u64 tensor count, u64 metadata count; the
//! metadata key/value pairs; the tensor infos (name, dims innermost first, type, offset); padding to
//! `general.alignment` (32 by default); the tensor data. All little-endian.

use std::collections::BTreeMap;

use quantbound_codebook::{FloatDtype, FloatVec};
use quantbound_formats::ggml::BlockType;

use crate::error::{LlamaError, Result};
use crate::layout::{self, LinearId, LinearKind, RopePermute, Scope};

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    /// The value as an unsigned integer, if it is one.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as a float, if it is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// The tensor types this reader dequantizes; GGML's numbers in [`GgmlType::from_id`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Bf16,
    /// A block type, decoded by quantbound-formats' `ggml`.
    Block(BlockType),
}

impl GgmlType {
    /// ggml's `enum ggml_type` ids (ggml.h): 0 F32, 1 F16, 30 BF16, and the block types'
    /// ([`BlockType::from_id`]).
    pub fn from_id(id: u32) -> Option<Self> {
        Some(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            30 => GgmlType::Bf16,
            id => GgmlType::Block(BlockType::from_id(id)?),
        })
    }

    /// The type's name as a checkpoint's dtype: `F32`, `F16`, `Bf16`, or ggml's block name
    /// (`Q4_1`, `Q4_K`, …).
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Bf16 => "Bf16",
            GgmlType::Block(b) => b.name(),
        }
    }

    /// (elements per block, bytes per block).
    fn block(self) -> (usize, usize) {
        match self {
            GgmlType::F32 => (1, 4),
            GgmlType::F16 | GgmlType::Bf16 => (1, 2),
            GgmlType::Block(b) => b.block(),
        }
    }
}

/// One tensor's entry in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Dimensions innermost first, as GGUF stores them.
    pub dims: Vec<u64>,
    /// GGML's type id.
    pub ggml_type: u32,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
}

impl TensorInfo {
    /// The row-major shape (outermost first), as PyTorch and safetensors write it.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    pub fn numel(&self) -> usize {
        self.dims.iter().map(|&d| d as usize).product()
    }
}

/// A tensor as a Hugging Face Llama weight: name, row-major shape, f32 values.
#[derive(Clone, Debug, PartialEq)]
pub struct HfTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// A parsed GGUF file over borrowed bytes (typically a memory map).
pub struct Gguf<'a> {
    file: String,
    bytes: &'a [u8],
    pub version: u32,
    pub metadata: BTreeMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    data_start: usize,
}

/// A cursor that turns running off the end into a `Truncated` error.
struct Reader<'a> {
    file: &'a str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.bytes.len()).ok_or_else(|| {
            LlamaError::Truncated { file: self.file.to_owned(), what: what.to_owned(), len: self.bytes.len() }
        })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        Ok(self.take(N, what)?.try_into().expect("took N bytes"))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count or length that must fit what is left of the file (so a corrupt header cannot make
    /// us allocate terabytes).
    fn len(&mut self, what: &str, min_item_bytes: usize) -> Result<usize> {
        let n = self.u64(what)?;
        let left = (self.bytes.len() - self.pos) as u64;
        if n.saturating_mul(min_item_bytes as u64) > left {
            return Err(LlamaError::Truncated {
                file: self.file.to_owned(),
                what: format!("{what}, {n} long,"),
                len: self.bytes.len(),
            });
        }
        Ok(n as usize)
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let n = self.len(what, 1)?;
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| LlamaError::Malformed { file: self.file.to_owned(), reason: format!("{what} is not UTF-8") })
    }

    fn value(&mut self, kind: u32, what: &str) -> Result<Value> {
        Ok(match kind {
            0 => Value::U8(self.array::<1>(what)?[0]),
            1 => Value::I8(self.array::<1>(what)?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array(what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(what)?)),
            4 => Value::U32(self.u32(what)?),
            5 => Value::I32(i32::from_le_bytes(self.array(what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(what)?)),
            7 => Value::Bool(self.array::<1>(what)?[0] != 0),
            8 => Value::String(self.string(what)?),
            9 => {
                let item = self.u32(what)?;
                // llama.cpp reads no array of arrays, and following one would recurse as deep as
                // the file says.
                if item == 9 {
                    return Err(LlamaError::Malformed {
                        file: self.file.to_owned(),
                        reason: format!("{what} is an array of arrays, which GGUF readers do not support"),
                    });
                }
                let n = self.len(what, 1)?;
                let mut items = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    items.push(self.value(item, what)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(i64::from_le_bytes(self.array(what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(what)?)),
            other => {
                return Err(LlamaError::Malformed {
                    file: self.file.to_owned(),
                    reason: format!("{what} has unknown value type {other}"),
                })
            }
        })
    }
}

impl<'a> Gguf<'a> {
    /// Parses the header and tensor infos; `file` labels errors. Checks that every tensor's data
    /// lies inside the file.
    pub fn parse(bytes: &'a [u8], file: &str) -> Result<Self> {
        let mut r = Reader { file, bytes, pos: 0 };
        let magic = r.take(4, "the magic number").map_err(|_| LlamaError::NotGguf {
            file: file.to_owned(),
            reason: "shorter than 4 bytes, the length of the magic \"GGUF\"".into(),
        })?;
        if magic != b"GGUF" {
            return Err(LlamaError::NotGguf {
                file: file.to_owned(),
                reason: format!("magic is {magic:?}, expected \"GGUF\""),
            });
        }
        let version = r.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(LlamaError::NotGguf {
                file: file.to_owned(),
                reason: format!("version {version}, expected 3"),
            });
        }
        // The counts are not checked against the file up front: each item is read in turn, every
        // read bounded by the file, so a count past what the file holds fails at the item where
        // the bytes run out (naming it, and the count) and allocates no more than the file holds.
        let n_tensors = r.u64("the tensor count")?;
        let n_metadata = r.u64("the metadata count")?;
        let mut metadata = BTreeMap::new();
        for i in 0..n_metadata {
            let key = r.string(&format!("metadata key {i} (of the metadata count {n_metadata})"))?;
            let kind = r.u32(&format!("the type of {key}"))?;
            let value = r.value(kind, &key)?;
            metadata.insert(key, value);
        }
        // A tensor info takes at least 24 bytes.
        let mut tensors = Vec::with_capacity((n_tensors as usize).min((bytes.len() - r.pos) / 24));
        for i in 0..n_tensors {
            let name = r.string(&format!("tensor name {i} (of the tensor count {n_tensors})"))?;
            let n_dims = r.u32(&format!("the rank of {name}"))? as usize;
            if n_dims > 8 {
                return Err(LlamaError::Malformed {
                    file: file.to_owned(),
                    reason: format!(
                        "tensor {i} ({name:?}, of the tensor count {n_tensors}) has rank {n_dims}, more than GGUF's 8"
                    ),
                });
            }
            let dims = (0..n_dims).map(|_| r.u64(&format!("the dims of {name}"))).collect::<Result<Vec<_>>>()?;
            let ggml_type = r.u32(&format!("the type of {name}"))?;
            let offset = r.u64(&format!("the offset of {name}"))?;
            tensors.push(TensorInfo { name, dims, ggml_type, offset });
        }
        let alignment = metadata.get("general.alignment").and_then(Value::as_u64).unwrap_or(32) as usize;
        if alignment == 0 || !alignment.is_power_of_two() {
            return Err(LlamaError::Malformed {
                file: file.to_owned(),
                reason: format!("general.alignment is {alignment}"),
            });
        }
        let data_start = r.pos.next_multiple_of(alignment);
        let gguf = Gguf { file: file.to_owned(), bytes, version, metadata, tensors, data_start };
        for info in &gguf.tensors {
            gguf.data(info)?;
        }
        Ok(gguf)
    }

    /// A metadata value, or an error naming the key.
    pub fn get(&self, key: &str, expected: &str) -> Result<&Value> {
        self.metadata.get(key).ok_or_else(|| LlamaError::MissingMetadata {
            file: self.file.clone(),
            key: key.to_owned(),
            expected: expected.to_owned(),
        })
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| LlamaError::MissingTensor { file: self.file.clone(), tensor: name.to_owned() })
    }

    /// The type of a tensor, or the "unsupported type" error.
    pub fn ggml_type(&self, info: &TensorInfo) -> Result<GgmlType> {
        GgmlType::from_id(info.ggml_type).ok_or_else(|| LlamaError::UnsupportedType {
            file: self.file.clone(),
            tensor: info.name.clone(),
            ggml_type: format!("id {}", info.ggml_type),
        })
    }

    /// The raw bytes of a tensor, checked against its type, its size and the file's end.
    fn data(&self, info: &TensorInfo) -> Result<&'a [u8]> {
        let ty = self.ggml_type(info)?;
        let (per_block, block_bytes) = ty.block();
        let numel = info.dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d as usize));
        let malformed = |reason: String| LlamaError::Malformed { file: self.file.clone(), reason };
        let numel = numel.ok_or_else(|| malformed(format!("{}: dims {:?} overflow", info.name, info.dims)))?;
        // A zero dim beside a huge one holds no data yet drives loops over the other (the gguf
        // fuzz target's timeout: 2^60 rows of nothing through the q/k un-permutation).
        if numel == 0 {
            return Err(malformed(format!("{}: dims {:?} hold no elements", info.name, info.dims)));
        }
        if !numel.is_multiple_of(per_block) {
            return Err(malformed(format!(
                "{}: {numel} elements is not a whole number of {per_block}-element blocks",
                info.name
            )));
        }
        // A product of dims that fits can still overflow in bytes (found by the gguf fuzz target).
        let len = (numel / per_block).checked_mul(block_bytes);
        let start = self.data_start.checked_add(info.offset as usize);
        match start.zip(len).and_then(|(s, len)| s.checked_add(len).map(|e| (s, e))) {
            Some((s, e)) if e <= self.bytes.len() => Ok(&self.bytes[s..e]),
            _ => Err(LlamaError::Truncated {
                file: self.file.clone(),
                what: format!("the data of {}", info.name),
                len: self.bytes.len(),
            }),
        }
    }

    /// The tensor's values as f32, in GGUF's element order: floats widened exactly, block types
    /// decoded as llama.cpp decodes them ([`BlockType::dequantize`]).
    pub fn dequantize(&self, info: &TensorInfo) -> Result<Vec<f32>> {
        let data = self.data(info)?;
        let float = |dtype| FloatVec::from_le_bytes(dtype, data).expect("size checked by data()").to_f32_vec();
        let mut out = vec![0f32; info.numel()];
        match self.ggml_type(info)? {
            GgmlType::F32 => return Ok(float(FloatDtype::F32)),
            GgmlType::F16 => return Ok(float(FloatDtype::F16)),
            GgmlType::Bf16 => return Ok(float(FloatDtype::Bf16)),
            GgmlType::Block(b) => b.dequantize(data, &mut out).expect("size checked by data()"),
        }
        Ok(out)
    }

    /// The tensor as a Hugging Face Llama weight: its HF name, row-major shape and f32 values with
    /// the q/k rope permutation undone. `None` for tensors outside the mapping.
    pub fn hf_tensor(&self, info: &TensorInfo) -> Result<Option<HfTensor>> {
        let Some((name, permute)) = hf_name(&info.name) else { return Ok(None) };
        let mut values = self.dequantize(info)?;
        let shape = info.shape();
        let heads_key = match permute {
            RopePermute::None => None,
            RopePermute::Heads => Some("llama.attention.head_count"),
            RopePermute::KvHeads => Some("llama.attention.head_count_kv"),
        };
        if let Some(key) = heads_key {
            let heads = self.get(key, "needed to undo the q/k permutation")?.as_u64().unwrap_or(0) as usize;
            if heads == 0 || shape.len() != 2 || !shape[0].is_multiple_of(2 * heads) {
                return Err(LlamaError::Malformed {
                    file: self.file.clone(),
                    reason: format!("{}: shape {shape:?} does not split into {heads} heads of rotary pairs", info.name),
                });
            }
            values = unpermute_rows(&values, shape[0], shape[1], heads);
        }
        Ok(Some(HfTensor { name, shape, values }))
    }
}

/// llama.cpp's names → transformers' for the tensors outside the decoder linears (per-layer ones
/// under `blk.N.`); the linears' names are in [`crate::layout`]'s table.
const NAMES: [(&str, &str); 5] = [
    ("token_embd.weight", layout::EMBED),
    ("output_norm.weight", layout::FINAL_NORM),
    ("output.weight", layout::LM_HEAD),
    ("attn_norm.weight", layout::INPUT_NORM),
    ("ffn_norm.weight", layout::POST_NORM),
];

/// The llama.cpp name of a transformers tensor: [`hf_name`] backwards.
pub(crate) fn gguf_name(hf: &str) -> Option<String> {
    if let Some(&(gguf, _)) = NAMES[..3].iter().find(|(_, h)| *h == hf) {
        return Some(gguf.to_owned());
    }
    if let Some(id) = LinearId::parse(hf) {
        return Some(format!("blk.{}.{}.weight", id.layer, id.kind.gguf_name()));
    }
    let (layer, leaf) = hf.strip_prefix("model.layers.")?.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    NAMES[3..].iter().find(|(_, h)| *h == leaf).map(|(gguf, _)| format!("blk.{layer}.{gguf}"))
}

/// The Hugging Face name of a llama.cpp tensor, and how to un-permute it.
pub(crate) fn hf_name(gguf_name: &str) -> Option<(String, RopePermute)> {
    if let Some(rest) = gguf_name.strip_prefix("blk.") {
        let (layer, suffix) = rest.split_once('.')?;
        let layer: usize = layer.parse().ok()?;
        let leaf = suffix.strip_suffix(".weight")?;
        if let Some(kind) = LinearKind::from_gguf_name(leaf) {
            return Some((LinearId { layer, kind }.tensor_name(), kind.rope_permute()));
        }
        let &(_, hf) = NAMES[3..].iter().find(|(g, _)| *g == suffix)?;
        return Some((Scope::layer(layer).key(hf), RopePermute::None));
    }
    NAMES[..3].iter().find(|(g, _)| *g == gguf_name).map(|&(_, hf)| (hf.to_owned(), RopePermute::None))
}

/// Undoes llama.cpp's rotary permutation of q/k rows, as transformers' GGUF loader does:
/// `w.reshape(heads, dim, 2, cols).swapaxes(1, 2).reshape(rows, cols)` with dim = rows/heads/2.
///
/// # Formula
/// new row h·2d + a·d + b ← old row h·2d + 2b + a (a ∈ {0, 1}, b < d).
fn unpermute_rows(w: &[f32], rows: usize, cols: usize, heads: usize) -> Vec<f32> {
    let dim = rows / heads / 2;
    let mut out = vec![0f32; w.len()];
    for h in 0..heads {
        for a in 0..2 {
            for b in 0..dim {
                let new = h * 2 * dim + a * dim + b;
                let old = h * 2 * dim + 2 * b + a;
                out[new * cols..(new + 1) * cols].copy_from_slice(&w[old * cols..(old + 1) * cols]);
            }
        }
    }
    out
}
