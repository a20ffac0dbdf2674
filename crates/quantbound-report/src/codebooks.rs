//! The codebooks the theory stage compares on the seed's tensor: bnb's two, the best absmax
//! codebook for blocks of this size (BOF4-style), and the Lloyd-Max quantizer of the fitted GGD
//! (one fixed scale for the whole tensor).

use quantbound_codebook::{Blocksize, Codebook, FloatSlice, QuantType, QuantizeOptions, Quantized4bit};
use quantbound_metrics::weight_error;
use quantbound_theory::quantizer::{expected_mse, lloyd_max, optimal_absmax_codebook, Normalization};
use quantbound_theory::GeneralizedGaussian;

use crate::error::{theory, Result};
use crate::report::CodebookRow;

/// Each codebook's expected MSE under `dist` and, for the absmax ones, its measured MSE on
/// `weights` (the tensor `tensor`).
pub(crate) fn codebooks(
    tensor: &str,
    weights: &[f32],
    dist: &GeneralizedGaussian,
    blocksize: Blocksize,
) -> Result<Vec<CodebookRow>> {
    let absmax = Normalization::Absmax(blocksize);
    let what = format!("{tensor}: codebooks");
    let measure = |codebook: &Codebook| -> Result<f64> {
        let options = QuantizeOptions { codebook: codebook.clone(), blocksize, double_quant: false };
        let q = Quantized4bit::quantize(tensor, FloatSlice::F32(weights), &[weights.len()], &options)?;
        Ok(weight_error(weights, &q.dequantize().to_f32_vec()).mse)
    };
    let absmax_row = |name: String, codebook: &Codebook, expected_mse: f64| -> Result<CodebookRow> {
        Ok(CodebookRow {
            name,
            normalization: format!("absmax, blocks of {}", blocksize.get()),
            expected_mse,
            measured_mse: Some(measure(codebook)?),
            values: codebook.values().iter().map(|&v| f64::from(v)).collect(),
        })
    };
    let mut rows = Vec::with_capacity(4);
    for quant_type in [QuantType::Nf4, QuantType::Fp4] {
        let code = quant_type.codebook();
        let expected = expected_mse(&code, dist, absmax).map_err(theory(&what))?;
        rows.push(absmax_row(quant_type.as_str().to_uppercase(), &code, expected)?);
    }
    let (bof4, bof4_mse) =
        optimal_absmax_codebook(dist, blocksize, &QuantType::Nf4.codebook()).map_err(theory(&what))?;
    rows.push(absmax_row("optimal absmax (BOF4-style)".into(), &bof4, bof4_mse)?);
    let (levels, lloyd_mse) = lloyd_max(dist, 16).map_err(theory(&what))?;
    rows.push(CodebookRow {
        name: "Lloyd-Max for the fitted GGD".into(),
        normalization: "fixed scale (no per-block scales: 4.0 bits per weight)".into(),
        expected_mse: lloyd_mse,
        measured_mse: None,
        values: levels,
    });
    Ok(rows)
}
