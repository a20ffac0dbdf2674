//! The Hugging Face bnb-4bit tensor set of one weight and its quant-state JSON: every tensor may
//! be missing, of the wrong dtype or length, and the JSON's fields may be missing, extra, of the
//! wrong type or out of range. Whatever reads as a weight must dequantize, alone and through the
//! whole-file `dequantize` path.
#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use quantbound_codebook::bnb_json::QuantStateJson;
use quantbound_codebook::{checkpoint, hf, QuantType};
use safetensors::tensor::TensorView;
use safetensors::Dtype;

#[derive(Arbitrary, Debug)]
enum Json {
    /// The fields bnb writes, each chosen by the fuzzer (and an extra one).
    Fields {
        quant_type: Result<bool, String>,
        blocksize: i64,
        dtype: Result<u8, String>,
        shape: Vec<i64>,
        nested: Option<(i64, String, f64)>,
        extra: Option<(String, i64)>,
    },
    /// Any bytes at all.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Sidecar {
    dtype: u8,
    /// None: the right length for the JSON's shape; else this many bytes.
    len: Option<u16>,
    fill: u8,
}

#[derive(Arbitrary, Debug)]
struct Input {
    fp4_suffix: bool,
    json: Json,
    packed: Option<Sidecar>,
    absmax: Option<Sidecar>,
    /// None writes the real code table of the quant type.
    quant_map: Option<Option<Sidecar>>,
    nested_absmax: Option<Sidecar>,
    nested_quant_map: Option<Sidecar>,
}

const DTYPES: [Dtype; 5] = [Dtype::U8, Dtype::F32, Dtype::F16, Dtype::BF16, Dtype::I64];
const FLOATS: [&str; 3] = ["float32", "float16", "bfloat16"];

fn json_bytes(json: &Json) -> Vec<u8> {
    match json {
        Json::Raw(bytes) => bytes.clone(),
        Json::Fields { quant_type, blocksize, dtype, shape, nested, extra } => {
            let mut map = BTreeMap::new();
            let qt = match quant_type {
                Ok(true) => "fp4".to_owned(),
                Ok(false) => "nf4".to_owned(),
                Err(s) => s.clone(),
            };
            map.insert("quant_type", serde_json::json!(qt));
            map.insert("blocksize", serde_json::json!(blocksize));
            let dt = match dtype {
                Ok(i) => FLOATS[usize::from(*i) % 3].to_owned(),
                Err(s) => s.clone(),
            };
            map.insert("dtype", serde_json::json!(dt));
            map.insert("shape", serde_json::json!(shape));
            if let Some((bs, dtype, offset)) = nested {
                map.insert("nested_blocksize", serde_json::json!(bs));
                map.insert("nested_dtype", serde_json::json!(dtype));
                map.insert("nested_offset", serde_json::json!(offset));
            }
            if let Some((key, value)) = extra {
                map.insert(key.as_str(), serde_json::json!(value));
            }
            serde_json::to_vec(&map).unwrap()
        }
    }
}

/// The bytes of a sidecar: `right` bytes when the input asks for the right length (capped, so a
/// huge declared shape stays cheap).
fn bytes(sidecar: &Sidecar, right: usize) -> (Dtype, Vec<u8>) {
    let dtype = DTYPES[usize::from(sidecar.dtype) % DTYPES.len()];
    let len = sidecar.len.map_or(right.min(1 << 16), usize::from);
    let len = len - len % (dtype.bitsize() / 8);
    (dtype, vec![sidecar.fill; len])
}

fuzz_target!(|input: Input| {
    let json = json_bytes(&input.json);
    let _ = QuantStateJson::parse(&json, "fuzz");
    let quant_type = if input.fp4_suffix { QuantType::Fp4 } else { QuantType::Nf4 };
    let numel = match &input.json {
        Json::Fields { shape, .. } => shape
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d.clamp(0, 1 << 16) as usize))
            .map_or(1 << 16, |n| n.min(1 << 16)),
        Json::Raw(_) => 64,
    };
    let name = "model.layers.0.mlp.down_proj.weight";
    let mut tensors: Vec<(String, Dtype, Vec<u8>)> = Vec::new();
    tensors.push((format!("{name}.{}", hf::quant_state_suffix(quant_type)), Dtype::U8, json));
    if let Some(s) = &input.packed {
        let (dtype, data) = bytes(s, numel.div_ceil(2));
        tensors.push((name.to_owned(), dtype, data));
    }
    if let Some(s) = &input.absmax {
        let (dtype, data) = bytes(s, numel.div_ceil(64) * 4);
        tensors.push((format!("{name}.absmax"), dtype, data));
    }
    match &input.quant_map {
        None => {
            let code: Vec<u8> = quant_type.codebook().values().iter().flat_map(|v| v.to_le_bytes()).collect();
            tensors.push((format!("{name}.quant_map"), Dtype::F32, code));
        }
        Some(Some(s)) => {
            let (dtype, data) = bytes(s, 64);
            tensors.push((format!("{name}.quant_map"), dtype, data));
        }
        Some(None) => {}
    }
    if let Some(s) = &input.nested_absmax {
        let (dtype, data) = bytes(s, numel.div_ceil(64 * 256) * 4);
        tensors.push((format!("{name}.nested_absmax"), dtype, data));
    }
    if let Some(s) = &input.nested_quant_map {
        let (dtype, data) = bytes(s, 1024);
        tensors.push((format!("{name}.nested_quant_map"), dtype, data));
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(n, dtype, data)| {
            let len = data.len() / (dtype.bitsize() / 8);
            (n.clone(), TensorView::new(*dtype, vec![len], data).unwrap())
        })
        .collect();
    let file = safetensors::serialize(views, None).unwrap();
    let st = checkpoint::open(&file, "fuzz.safetensors").unwrap();
    if let Ok(q) = hf::from_safetensors(&st, name, "fuzz.safetensors") {
        assert_eq!(q.dequantize().len(), q.numel());
    }
    let _ = checkpoint::dequantize_safetensors(&file, "fuzz.safetensors", std::io::sink());
});
