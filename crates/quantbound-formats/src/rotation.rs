//! The randomized Hadamard rotation QuaRot and HIGGS apply along a linear's input dimension
//! before quantizing: each row w becomes R·w with R = H·D/√b block by block, H the Sylvester
//! Hadamard matrix of size b and D a diagonal of random signs. R is orthonormal, so the rotation
//! is undone exactly by Rᵀ after dequantizing, and the model computes the same function; what
//! changes is the distribution the format sees (closer to Gaussian, outliers spread).
//!
//! b is the largest power of two that divides the row length (up to [`MAX_BLOCK`]): 64 for a row
//! of 576, 512 for 1536. HIGGS rotates in such groups; QuaRot's full-row transforms for other
//! lengths (Kronecker products with 12×12, 20×20 … matrices) are not implemented.

/// The largest Hadamard block.
pub const MAX_BLOCK: usize = 4096;

/// A randomized Hadamard rotation, its signs drawn from `seed` (and the tensor's index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hadamard {
    pub seed: u64,
}

/// splitmix64: the sign stream (Steele, Lea and Flood 2014).
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The in-place fast Walsh–Hadamard transform of `x` (length a power of two), unnormalised:
/// x ← H·x with H_ij = (−1)^popcount(i & j).
fn fwht(x: &mut [f64]) {
    let mut h = 1;
    while h < x.len() {
        for block in x.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (a, b) in a.iter_mut().zip(b) {
                (*a, *b) = (*a + *b, *a - *b);
            }
        }
        h *= 2;
    }
}

impl Hadamard {
    /// The block size for rows of `row` weights.
    pub fn block(row: usize) -> usize {
        if row == 0 {
            return 1;
        }
        (1usize << row.trailing_zeros().min(MAX_BLOCK.trailing_zeros())).clamp(1, MAX_BLOCK)
    }

    /// The signs of tensor `index`'s rotation, one per input (`row` of them).
    fn signs(&self, index: u64, row: usize) -> Vec<f64> {
        let stream = splitmix64(self.seed ^ splitmix64(index));
        (0..row as u64).map(|i| if splitmix64(stream.wrapping_add(i)) >> 63 == 0 { 1.0 } else { -1.0 }).collect()
    }

    /// Each row of `weights` (rows of `row` weights) rotated: R·w in f64, rounded to f32.
    pub fn rotate(&self, index: u64, weights: &[f32], row: usize) -> Vec<f32> {
        let (signs, b) = (self.signs(index, row), Self::block(row));
        let scale = 1.0 / (b as f64).sqrt();
        let mut out = Vec::with_capacity(weights.len());
        let mut buf = vec![0f64; b];
        for w in weights.chunks_exact(row) {
            for (w, signs) in w.chunks_exact(b).zip(signs.chunks_exact(b)) {
                buf.iter_mut().zip(w).zip(signs).for_each(|((o, &w), s)| *o = f64::from(w) * s);
                fwht(&mut buf);
                out.extend(buf.iter().map(|v| (v * scale) as f32));
            }
        }
        out
    }

    /// The inverse of [`Hadamard::rotate`] in place: w ← Rᵀ·w = D·H·w/√b per block.
    pub fn unrotate(&self, index: u64, weights: &mut [f32], row: usize) {
        let (signs, b) = (self.signs(index, row), Self::block(row));
        let scale = 1.0 / (b as f64).sqrt();
        let mut buf = vec![0f64; b];
        for w in weights.chunks_exact_mut(row) {
            for (w, signs) in w.chunks_exact_mut(b).zip(signs.chunks_exact(b)) {
                buf.iter_mut().zip(w.iter()).for_each(|(o, &w)| *o = f64::from(w));
                fwht(&mut buf);
                w.iter_mut().zip(&buf).zip(signs).for_each(|((w, v), s)| *w = (v * scale * s) as f32);
            }
        }
    }
}

/// A tensor quantized in a rotated basis: dequantizing gives its weights back in the original
/// basis (Rᵀ after the format's own dequantization). It never runs on bnb's kernels.
#[derive(Debug)]
pub struct Rotated {
    pub inner: Box<dyn crate::Quantized>,
    pub rotation: Hadamard,
    /// The index the signs were drawn for, and the row length.
    pub index: u64,
    pub row: usize,
}

impl crate::Quantized for Rotated {
    fn numel(&self) -> usize {
        self.inner.numel()
    }

    /// The format's bytes; the signs come from the seed.
    fn storage_bytes(&self) -> usize {
        self.inner.storage_bytes()
    }

    fn dequantize_into(&self, out: &mut [f32]) -> crate::Result<()> {
        self.inner.dequantize_into(out)?;
        self.rotation.unrotate(self.index, out, self.row);
        Ok(())
    }
}
