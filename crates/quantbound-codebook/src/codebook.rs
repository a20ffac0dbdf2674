//! 4-bit code tables. A codebook is data: bnb's NF4 and FP4, or any other 16-value table, all go
//! through the same quantize/pack/dequantize path.

use crate::error::{CodebookError, Result};

/// The two 4-bit types bitsandbytes knows, as they appear in its `quant_type` strings (serde and,
/// with the `clap` feature, command lines use the same names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum QuantType {
    /// NormalFloat-4: quantiles of a unit Gaussian.
    Nf4,
    /// bnb's 4-bit float: 1 sign, 2 exponent, 1 mantissa bit.
    Fp4,
}

impl QuantType {
    /// The bnb name: `"nf4"` or `"fp4"`.
    pub fn as_str(self) -> &'static str {
        match self {
            QuantType::Nf4 => "nf4",
            QuantType::Fp4 => "fp4",
        }
    }

    /// Parses bnb's name; `tensor` only labels the error.
    pub fn parse(name: &str, tensor: &str) -> Result<Self> {
        match name {
            "nf4" => Ok(QuantType::Nf4),
            "fp4" => Ok(QuantType::Fp4),
            other => Err(CodebookError::UnknownQuantType { tensor: tensor.to_owned(), found: other.to_owned() }),
        }
    }

    /// bnb's code table for this type (`get_4bit_type`).
    pub fn codebook(self) -> Codebook {
        match self {
            QuantType::Nf4 => Codebook::nf4(),
            QuantType::Fp4 => Codebook::fp4(),
        }
    }
}

impl std::fmt::Display for QuantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// NF4 as float32 bit patterns, from bitsandbytes 0.50.2 `functional.get_4bit_type("nf4")`
/// (the hex is recorded in golden/bnb4bit/README.md §3).
const NF4_BITS: [u32; 16] = [
    0xbf800000, 0xbf3239b1, 0xbf066b30, 0xbeca32a0, 0xbe91a24d, 0xbe3d353f, 0xbdba7871, 0x00000000, 0x3da2faff,
    0x3e24cae3, 0x3e7c04dd, 0x3ead033a, 0x3ee1a4b8, 0x3f1007ab, 0x3f3913b3, 0x3f800000,
];

/// FP4 magnitudes of bnb's E2M1-like type, indexed by the low three bits, before the division by 12
/// (bitsandbytes 0.50.2 `functional.get_4bit_type("fp4")`). Bit 3 is the sign.
const FP4_MAGNITUDES_X12: [f32; 8] = [0.0, 0.0625, 8.0, 12.0, 4.0, 6.0, 2.0, 3.0];

/// A 16-entry scalar code table plus what quantization needs: the entries in ascending order and
/// the decision thresholds between neighbours.
#[derive(Clone, Debug, PartialEq)]
pub struct Codebook {
    /// bnb's name for the table, or `None` for a custom one.
    quant_type: Option<QuantType>,
    /// The value of each 4-bit index (bnb's `quant_state.code`).
    values: [f32; 16],
    /// `sorted[k]` is the index of the k-th smallest value (stable: equal values keep index order).
    sorted: [u8; 16],
    /// `thresholds[k] = (values[sorted[k]] + values[sorted[k + 1]]) / 2` in f32, with those at or
    /// above 1 stored as +∞ and those below −1 as −∞ (see [`Codebook::thresholds`]).
    thresholds: [f32; 15],
}

impl Codebook {
    /// bitsandbytes' NF4 table.
    pub fn nf4() -> Self {
        Self::build(Some(QuantType::Nf4), NF4_BITS.map(f32::from_bits))
    }

    /// bitsandbytes' FP4 table. It follows the bit pattern, not the value order, and index 8 is
    /// +0.0 (bnb builds it from the integer `-0`).
    pub fn fp4() -> Self {
        let values = std::array::from_fn(|i| {
            let magnitude = FP4_MAGNITUDES_X12[i & 7] / 12.0;
            if i >= 8 && magnitude != 0.0 {
                -magnitude
            } else {
                magnitude
            }
        });
        Self::build(Some(QuantType::Fp4), values)
    }

    /// Any 16-value table: AF4, symmetric INT4, a Lloyd-Max design, … Values must be finite. For
    /// absmax-normalised quantization they should lie in [−1, 1], though nothing requires it.
    pub fn custom(values: [f32; 16]) -> Result<Self> {
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Err(CodebookError::InvalidCodebook {
                tensor: "custom codebook".into(),
                reason: format!("value {bad} is not finite"),
            });
        }
        Ok(Self::build(None, values))
    }

    /// A codebook read from a checkpoint's `quant_map`: its values are authoritative (bnb's CPU
    /// path uses them as stored), and it keeps bnb's name for writing back.
    pub fn from_quant_map(quant_type: QuantType, values: [f32; 16], tensor: &str) -> Result<Self> {
        let mut book = Self::custom(values).map_err(|e| match e {
            CodebookError::InvalidCodebook { reason, .. } => {
                CodebookError::InvalidCodebook { tensor: tensor.to_owned(), reason }
            }
            other => other,
        })?;
        book.quant_type = Some(quant_type);
        Ok(book)
    }

    fn build(quant_type: Option<QuantType>, values: [f32; 16]) -> Self {
        let mut order: [u8; 16] = std::array::from_fn(|i| i as u8);
        // A stable sort, so that equal values (FP4's two zeros, or −0 beside +0) keep their index
        // order, as bnb's stable torch.sort does. Values are finite, so partial_cmp never fails.
        order
            .sort_by(|&a, &b| values[a as usize].partial_cmp(&values[b as usize]).unwrap_or(std::cmp::Ordering::Equal));
        let thresholds = std::array::from_fn(|k| {
            let t = (values[order[k] as usize] + values[order[k + 1] as usize]) / 2.0;
            // bnb clamps the scaled value to [−1, 1] before bucketing it: a threshold at or above 1
            // is then never passed, one below −1 always. As ±∞ they say so to kernels that skip
            // the clamp, whose x·(1/absmax) can land past ±1 when 1/absmax is subnormal.
            if t >= 1.0 {
                f32::INFINITY
            } else if t < -1.0 {
                f32::NEG_INFINITY
            } else {
                t
            }
        });
        Codebook { quant_type, values, sorted: order, thresholds }
    }

    /// bnb's name for this table, if it is one of bnb's.
    pub fn quant_type(&self) -> Option<QuantType> {
        self.quant_type
    }

    /// The value of each 4-bit index.
    pub fn values(&self) -> &[f32; 16] {
        &self.values
    }

    /// The 15 decision thresholds between neighbouring values in ascending order, as the
    /// quantizer compares a scaled value with them: a table with values beyond ±1 (only a custom
    /// one can have them) has its thresholds outside [−1, 1) replaced by ±∞, which gives the index
    /// of the value clamped to [−1, 1], bnb's rule, without clamping it.
    pub fn thresholds(&self) -> &[f32; 15] {
        &self.thresholds
    }

    /// The 4-bit index of the code that represents the scaled value `s`, by bnb's rule
    /// (`torch.bucketize(s, thresholds, right=False)`): the bucket is the number of thresholds
    /// strictly below `s`, so a tie goes to the lower neighbour, and NaN goes to the top bucket.
    ///
    /// # Formula
    /// bucket(s) = #{k : ¬(s ≤ tₖ)}, index = sorted[bucket(s)]
    #[inline(always)]
    pub fn index_of(&self, s: f32) -> u8 {
        self.sorted[self.bucket(s) as usize]
    }

    /// The sorted position of `s` (see [`Codebook::index_of`]). Branch-free so that it vectorises:
    /// `¬(s ≤ t)` equals `s > t` for numbers and is true for NaN.
    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord, reason = "¬(s ≤ t) is the point: true for NaN")]
    pub fn bucket(&self, s: f32) -> u8 {
        let mut bucket = 0u8;
        for &t in &self.thresholds {
            bucket += u8::from(!(s <= t));
        }
        bucket
    }

    /// The map from sorted position to index (identity for NF4).
    pub fn sorted_indices(&self) -> &[u8; 16] {
        &self.sorted
    }

    /// Whether the sorted order is the index order, so a bucket is already an index.
    pub fn is_monotonic(&self) -> bool {
        self.sorted.iter().enumerate().all(|(i, &s)| i == s as usize)
    }
}
