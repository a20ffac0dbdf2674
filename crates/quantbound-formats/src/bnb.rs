//! bitsandbytes' NF4 and FP4: blockwise absmax over the flattened tensor, blocksize 32–4096, the
//! absmax optionally double-quantized; quantbound-codebook's kernels, byte for byte bnb 0.50.2's.

use quantbound_codebook::{Absmax, FloatSlice, FloatSliceMut, QuantType, QuantizeOptions, Quantized4bit};

use crate::error::Result;
use crate::{BnbSettings, Format, FormatName, Quantized};

/// NF4 or FP4 with a blocksize and double quant.
#[derive(Clone, Debug)]
pub struct Bnb {
    quant_type: QuantType,
    settings: BnbSettings,
}

impl Bnb {
    pub fn new(quant_type: QuantType, settings: BnbSettings) -> Self {
        Bnb { quant_type, settings }
    }

    /// The codebook crate's options for this format.
    pub fn options(&self) -> QuantizeOptions {
        QuantizeOptions {
            codebook: self.quant_type.codebook(),
            blocksize: self.settings.blocksize,
            double_quant: self.settings.double_quant,
        }
    }
}

impl Format for Bnb {
    fn name(&self) -> FormatName {
        self.quant_type.into()
    }

    fn bits_per_weight(&self) -> f64 {
        self.settings.blocksize.bits_per_weight(self.settings.double_quant)
    }

    fn block_size(&self) -> usize {
        self.settings.blocksize.get()
    }

    fn quantize(&self, tensor: &str, weights: &[f32], shape: &[usize]) -> Result<Box<dyn Quantized>> {
        Ok(Box::new(Quantized4bit::quantize(tensor, FloatSlice::F32(weights), shape, &self.options())?))
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
