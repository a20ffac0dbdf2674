//! Helpers shared by the integration tests: reading the golden bnb files.

#![allow(dead_code)]

use std::path::PathBuf;

use quantbound_codebook::{FloatDtype, FloatVec};
use safetensors::SafeTensors;

/// The golden bitsandbytes 0.50.2 data copied into this crate (see tests/data/README.md).
pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/bnb4bit")
}

pub fn read(path: impl Into<PathBuf>) -> Vec<u8> {
    let path = path.into();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// manifest.json, written by Python's json, which spells non-finite floats `NaN`/`Infinity`;
/// those become `null` here (the tests read such values from the tensors instead).
pub fn manifest() -> serde_json::Value {
    let text = String::from_utf8(read(golden_dir().join("manifest.json"))).unwrap();
    let text = text.replace(": NaN", ": null").replace(": -Infinity", ": null").replace(": Infinity", ": null");
    serde_json::from_str(&text).expect("manifest.json parses")
}

/// A float tensor of a golden file as an owned vector of its own dtype.
pub fn float_tensor(st: &SafeTensors<'_>, name: &str) -> (FloatVec, Vec<usize>) {
    let view = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let dtype = FloatDtype::from_safetensors(view.dtype()).expect("a float tensor");
    (FloatVec::from_le_bytes(dtype, view.data()).unwrap(), view.shape().to_vec())
}

pub fn f32_tensor(st: &SafeTensors<'_>, name: &str) -> Vec<f32> {
    let view = st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(view.dtype(), safetensors::Dtype::F32, "{name}");
    bytemuck::pod_collect_to_vec(view.data())
}

pub fn u8_tensor(st: &SafeTensors<'_>, name: &str) -> Vec<u8> {
    st.tensor(name).unwrap_or_else(|e| panic!("{name}: {e}")).data().to_vec()
}

/// Equal as bnb's golden README says outputs should be compared: NaN equals NaN, +0 equals −0,
/// everything else bit for bit.
pub fn same_value(a: f32, b: f32) -> bool {
    (a.is_nan() && b.is_nan()) || a == b && a.to_bits() == b.to_bits() || (a == 0.0 && b == 0.0)
}

/// Index and values of the first element where `a` and `b` differ under [`same_value`].
pub fn first_difference(a: &[f32], b: &[f32]) -> Option<(usize, f32, f32)> {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter().zip(b).enumerate().find(|(_, (x, y))| !same_value(**x, **y)).map(|(i, (x, y))| (i, *x, *y))
}
