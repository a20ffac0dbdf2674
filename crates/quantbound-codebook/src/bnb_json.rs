//! The `quant_state.bitsandbytes__nf4|fp4` JSON that bnb stores beside a 4-bit weight.
//!
//! bnb writes it with Python's `json.dumps` (separators `", "` and `": "`, floats in `repr` form,
//! `NaN`/`Infinity` for non-finite values), with the keys in this order: `quant_type`,
//! `blocksize`, `dtype`, `shape`, then with double quant `nested_blocksize`, `nested_dtype`,
//! `nested_offset`. [`QuantStateJson::to_bnb_string`] reproduces those bytes exactly.

use serde::Deserialize;

use crate::codebook::QuantType;
use crate::double_quant::NESTED_BLOCKSIZE;
use crate::dtype::FloatDtype;
use crate::error::{CodebookError, Result};

/// The fields of bnb's quant_state JSON, parsed and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantStateJson {
    pub quant_type: QuantType,
    pub blocksize: usize,
    pub dtype: FloatDtype,
    pub shape: Vec<usize>,
    /// The double-quant offset, present exactly when the absmax is double-quantized.
    pub nested_offset: Option<f32>,
}

/// Exactly the keys bnb's `QuantState.as_dict(packed=True)` writes; any other is refused, so a
/// state from a format we do not know is not read as one we do.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    quant_type: String,
    blocksize: usize,
    dtype: String,
    shape: Vec<usize>,
    nested_blocksize: Option<usize>,
    nested_dtype: Option<String>,
    nested_offset: Option<PyFloat>,
}

/// A float as Python's json writes it, including the non-standard `NaN` and `±Infinity`, which
/// [`QuantStateJson::parse`] turns into strings before serde sees them.
#[derive(Deserialize)]
#[serde(untagged)]
enum PyFloat {
    Number(f64),
    Special(String),
}

impl QuantStateJson {
    /// Parses the JSON bytes stored under `tensor`.
    pub fn parse(bytes: &[u8], tensor: &str) -> Result<Self> {
        let err = |reason: String| CodebookError::QuantStateJson { tensor: tensor.to_owned(), reason };
        let text = std::str::from_utf8(bytes).map_err(|e| err(format!("not UTF-8: {e}")))?;
        let text = text
            .replace(": NaN", ": \"NaN\"")
            .replace(": Infinity", ": \"Infinity\"")
            .replace(": -Infinity", ": \"-Infinity\"");
        let raw: Raw = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
        let quant_type = QuantType::parse(&raw.quant_type, tensor)?;
        let dtype = FloatDtype::from_bnb_name(&raw.dtype, tensor)?;
        if raw.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).is_none() {
            return Err(err(format!("shape {:?} has more elements than an address space holds", raw.shape)));
        }
        let nested_offset = match (raw.nested_offset, raw.nested_blocksize, raw.nested_dtype) {
            (None, None, None) => None,
            (Some(offset), Some(NESTED_BLOCKSIZE), Some(nested_dtype)) if nested_dtype == "float32" => {
                Some(match offset {
                    PyFloat::Number(v) => v as f32,
                    PyFloat::Special(s) => match s.as_str() {
                        "NaN" => f32::NAN,
                        "Infinity" => f32::INFINITY,
                        "-Infinity" => f32::NEG_INFINITY,
                        other => return Err(err(format!("nested_offset {other:?} is not a number"))),
                    },
                })
            }
            (offset, blocksize, dtype) => {
                return Err(err(format!(
                    "double-quant fields must all be present with nested_blocksize 256 and nested_dtype \
                     \"float32\"; found nested_offset {}, nested_blocksize {blocksize:?}, nested_dtype {dtype:?}",
                    if offset.is_some() { "present" } else { "absent" }
                )))
            }
        };
        Ok(QuantStateJson { quant_type, blocksize: raw.blocksize, dtype, shape: raw.shape, nested_offset })
    }

    /// The exact bytes bnb 0.50.2 writes (`json.dumps(…)` with default separators).
    pub fn to_bnb_string(&self) -> String {
        let shape: Vec<String> = self.shape.iter().map(|d| d.to_string()).collect();
        let mut s = format!(
            "{{\"quant_type\": \"{}\", \"blocksize\": {}, \"dtype\": \"{}\", \"shape\": [{}]",
            self.quant_type,
            self.blocksize,
            self.dtype.bnb_name(),
            shape.join(", ")
        );
        if let Some(offset) = self.nested_offset {
            s += &format!(
                ", \"nested_blocksize\": {NESTED_BLOCKSIZE}, \"nested_dtype\": \"float32\", \"nested_offset\": {}",
                python_float_repr(f64::from(offset))
            );
        }
        s.push('}');
        s
    }
}

/// Python's `repr(float)` (and `json.dumps`): the shortest round-trip digits, in positional form
/// when the decimal exponent is in −4..16, otherwise as `d.ddde±XX`.
pub fn python_float_repr(x: f64) -> String {
    if x.is_nan() {
        return "NaN".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "-5.2794694900512695e-2".
    let sci = format!("{x:e}");
    let (mantissa, exponent) = sci.split_once('e').expect("{:e} always has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = mantissa.strip_prefix('-').map_or(("", mantissa), |m| ("-", m));
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exponent) {
        let point = exponent + 1; // digits before the decimal point
        let body = if point <= 0 {
            format!("0.{}{}", "0".repeat((-point) as usize), digits)
        } else if point as usize >= digits.len() {
            format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
        } else {
            format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
        };
        format!("{sign}{body}")
    } else {
        let mantissa = if digits.len() == 1 { digits } else { format!("{}.{}", &digits[..1], &digits[1..]) };
        format!("{sign}{mantissa}e{}{:02}", if exponent < 0 { '-' } else { '+' }, exponent.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::python_float_repr;

    #[test]
    fn matches_python_repr() {
        // Values and their repr() from CPython 3.11.
        let cases = [
            (0.052794694900512695, "0.052794694900512695"),
            (1e-05, "1e-05"),
            (0.0001, "0.0001"),
            (1.5e-05, "1.5e-05"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (5.0, "5.0"),
            (-0.25, "-0.25"),
            (123.456, "123.456"),
            (3.4028234663852886e38, "3.4028234663852886e+38"),
            (9.99999935589796e-39, "9.99999935589796e-39"),
        ];
        for (x, expected) in cases {
            assert_eq!(python_float_repr(x), expected, "{x}");
        }
    }
}
