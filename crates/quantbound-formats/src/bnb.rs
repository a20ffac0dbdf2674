//! bitsandbytes' NF4 and FP4: blockwise absmax over the flattened tensor, blocksize 32–4096, the
//! absmax optionally double-quantized; quantbound-codebook's kernels, byte for byte bnb 0.50.2's.
//! Any other 16-value table runs through the same kernels (the `optimal` format's).

use quantbound_codebook::{Absmax, Codebook, FloatSlice, FloatSliceMut, QuantType, QuantizeOptions, Quantized4bit};

use crate::error::Result;
use crate::{BnbSettings, Format, FormatName, Quantized};

/// A 16-value codebook under bnb's blockwise absmax, with a blocksize and double quant: NF4, FP4,
/// or another table (the optimal one) through the same kernels.
#[derive(Clone, Debug)]
pub struct Bnb {
    name: FormatName,
    options: QuantizeOptions,
}

impl Bnb {
    /// bnb's own NF4 or FP4.
    pub fn new(quant_type: QuantType, settings: BnbSettings) -> Self {
        Self::with_codebook(quant_type.into(), quant_type.codebook(), settings)
    }

    /// `codebook` under bnb's absmax blocks, named `name`.
    pub fn with_codebook(name: FormatName, codebook: Codebook, settings: BnbSettings) -> Self {
        let options = QuantizeOptions { codebook, blocksize: settings.blocksize, double_quant: settings.double_quant };
        Bnb { name, options }
    }

    /// The codebook crate's options for this format.
    pub fn options(&self) -> &QuantizeOptions {
        &self.options
    }
}

impl Format for Bnb {
    fn name(&self) -> FormatName {
        self.name
    }

    fn bits_per_weight(&self) -> f64 {
        self.options.blocksize.bits_per_weight(self.options.double_quant)
    }

    fn block_size(&self) -> usize {
        self.options.blocksize.get()
    }

    fn quantize(&self, tensor: &str, weights: &[f32], shape: &[usize]) -> Result<Box<dyn Quantized>> {
        Ok(Box::new(Quantized4bit::quantize(tensor, FloatSlice::F32(weights), shape, &self.options)?))
    }
}

impl Quantized for Quantized4bit {
    fn numel(&self) -> usize {
        Quantized4bit::numel(self)
    }

    /// The packed nibbles and the absmax: f32 per block, or with double quant a u8 code per block,
    /// an f32 per 256 codes and the f32 offset (the 256-entry nested map is bnb's constant).
    fn storage_bytes(&self) -> usize {
        let absmax = match &self.state.absmax {
            Absmax::Plain(a) => 4 * a.len(),
            Absmax::Double(d) => d.codes.len() + 4 * d.nested_absmax.len() + 4,
        };
        self.packed.len() + absmax
    }

    fn dequantize_into(&self, out: &mut [f32]) -> Result<()> {
        Ok(Quantized4bit::dequantize_into(self, FloatSliceMut::F32(out))?)
    }

    fn as_bnb(&self) -> Option<&Quantized4bit> {
        Some(self)
    }
}
