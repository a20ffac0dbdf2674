//! burn-flex: its tensors are host buffers it lends out, so the 4-bit linear never leaves the
//! host and never allocates a weight. Each call dequantizes the packed bytes, read in place, into
//! one reused per-thread f32 buffer (the size of the largest linear; warm in cache, no page
//! faults), then runs the same `gemm` kernel Flex's own matmul uses on it, `x · Wᵀ`, with `W` read
//! through strides; a dense linear hands its checkpoint buffer to the same call. RMSNorm, RoPE
//! and attention are fused loops over the buffers, parallel with rayon.

use std::cell::RefCell;

use rayon::prelude::*;

use burn::backend::Flex;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use quantbound_codebook::{Blocksize, Codebook, FloatDtype};

use crate::linear::Quant4;

thread_local! {
    /// The dequantized weight of the linear being multiplied, reused across calls and layers.
    static WEIGHT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Products smaller than this (m·n·k) run on one thread, as Flex's matmul does.
const PARALLEL_THRESHOLD: usize = 192 * 192 * 192;

/// Rows of at least this many elements per rayon task.
const ROWS_PER_TASK: usize = 1 << 14;

/// A contiguous f32 copy of `t`'s elements (a view of its buffer when it is contiguous already).
fn contiguous<const D: usize>(t: Tensor<Flex, D>) -> burn_flex::FlexTensor {
    let t = t.into_primitive().tensor();
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The f32 elements of a contiguous tensor (the model computes in f32 on the CPU).
fn f32s(t: &burn_flex::FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("a contiguous f32 tensor")
}

impl super::FusedOps for Flex {
    /// One pass per row: Σx² in f64, then x · (1/√(mean + ε)) · w in f32.
    fn rms_norm(x: Tensor<Self, 3>, weight: &Tensor<Self, 1>, eps: f64) -> Tensor<Self, 3> {
        let dims = x.dims();
        let device = x.device();
        let hidden = dims[2];
        let (x, w) = (contiguous(x), contiguous(weight.clone()));
        let (x, w) = (f32s(&x), f32s(&w));
        let mut out = vec![0f32; x.len()];
        let rows = (ROWS_PER_TASK / hidden).max(1) * hidden;
        out.par_chunks_mut(rows).zip(x.par_chunks(rows)).for_each(|(out, x)| {
            for (out, x) in out.chunks_exact_mut(hidden).zip(x.chunks_exact(hidden)) {
                let mean = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / hidden as f64;
                let scale = 1.0 / (mean as f32 + eps as f32).sqrt();
                for ((o, &v), &w) in out.iter_mut().zip(x).zip(w) {
                    *o = v * scale * w;
                }
            }
        });
        Tensor::from_data(TensorData::new(out, dims), &device)
    }

    fn rope(x: Tensor<Self, 4>, cos: &Tensor<Self, 2>, sin: &Tensor<Self, 2>) -> Tensor<Self, 4> {
        let dims @ [_, seq, heads, head_dim] = x.dims();
        let device = x.device();
        let half = head_dim / 2;
        let (x, cos, sin) = (contiguous(x), contiguous(cos.clone()), contiguous(sin.clone()));
        let x = f32s(&x);
        let (cos, sin) = (f32s(&cos), f32s(&sin));
        let mut out = vec![0f32; x.len()];
        // One task per (batch, position): `heads` rows of `head_dim` sharing one row of the tables.
        let position = heads * head_dim;
        out.par_chunks_mut(position).zip(x.par_chunks(position)).enumerate().for_each(|(i, (out, x))| {
            let p = i % seq;
            let (cos, sin) = (&cos[p * head_dim..(p + 1) * head_dim], &sin[p * head_dim..(p + 1) * head_dim]);
            for (out, x) in out.chunks_exact_mut(head_dim).zip(x.chunks_exact(head_dim)) {
                for j in 0..half {
                    out[j] = x[j] * cos[j] + -x[j + half] * sin[j];
                    out[j + half] = x[j + half] * cos[j + half] + x[j] * sin[j + half];
                }
            }
        });
        Tensor::from_data(TensorData::new(out, dims), &device)
    }

    /// One rayon task per (batch, query position), every head; GQA by indexing, without the
    /// repeated copies. Blocked keys are skipped, not added as zeros, so a sequence's attention
    /// does not depend on how far its batch is padded.
    fn gqa_attention(
        q: Tensor<Self, 4>,
        k: Tensor<Self, 4>,
        v: Tensor<Self, 4>,
        mask: Tensor<Self, 4, Bool>,
    ) -> Tensor<Self, 4> {
        let dims @ [batch, seq, heads, head_dim] = q.dims();
        let [_, keys, kv_heads, _] = k.dims();
        let device = q.device();
        let blocked: Vec<bool> = mask.expand([batch, 1, seq, keys]).into_data().to_vec().expect("a bool mask");
        let (q, k, v) = (contiguous(q), contiguous(k), contiguous(v));
        let (q, k, v) = (f32s(&q), f32s(&k), f32s(&v));
        let group = heads / kv_heads;
        let scale = (1.0 / (head_dim as f64).sqrt()) as f32;
        let mut out = vec![0f32; q.len()];
        out.par_chunks_mut(heads * head_dim).enumerate().for_each_init(
            || vec![0f32; keys],
            |scores, (position, out)| {
                let b = position / seq;
                let blocked = &blocked[position * keys..][..keys];
                let row = |j: usize, kvh: usize| ((b * keys + j) * kv_heads + kvh) * head_dim;
                for (h, out) in out.chunks_exact_mut(head_dim).enumerate() {
                    let kvh = h / group;
                    let query = &q[(position * heads + h) * head_dim..][..head_dim];
                    let mut max = f32::NEG_INFINITY;
                    for j in (0..keys).filter(|&j| !blocked[j]) {
                        scores[j] = dot(query, &k[row(j, kvh)..][..head_dim]) * scale;
                        max = max.max(scores[j]);
                    }
                    out.fill(0.0);
                    if max == f32::NEG_INFINITY {
                        continue; // every key blocked: zeros, as Burn's attention gives
                    }
                    let mut sum = 0f32;
                    for j in (0..keys).filter(|&j| !blocked[j]) {
                        scores[j] = (scores[j] - max).exp();
                        sum += scores[j];
                    }
                    let inv = 1.0 / sum;
                    for j in (0..keys).filter(|&j| !blocked[j]) {
                        let p = scores[j] * inv;
                        for (o, &x) in out.iter_mut().zip(&v[row(j, kvh)..][..head_dim]) {
                            *o += p * x;
                        }
                    }
                }
            },
        );
        Tensor::from_data(TensorData::new(out, dims), &device)
    }
}

/// Σ aᵢbᵢ on eight lanes in a fixed order (the same bits for any caller).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (a8, a_rest) = a.as_chunks::<8>();
    let (b8, b_rest) = b.as_chunks::<8>();
    let mut acc = [0f32; 8];
    for (x, y) in a8.iter().zip(b8) {
        for lane in 0..8 {
            acc[lane] += x[lane] * y[lane];
        }
    }
    let mut sum = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in a_rest.iter().zip(b_rest) {
        sum += x * y;
    }
    sum
}

impl super::QuantBackend for Flex {
    const NAME: &'static str = "flex";

    fn dequantize_4bit(
        nibbles: Tensor<Self, 1, Int>,
        absmax: Tensor<Self, 1>,
        code: &Codebook,
        blocksize: Blocksize,
        dtype: FloatDtype,
        numel: usize,
    ) -> Tensor<Self, 1> {
        let device = nibbles.device();
        let mut out = vec![0f32; numel];
        dequantize(&nibbles, &absmax, code, blocksize, dtype, &mut out);
        Tensor::from_data(TensorData::new(out, [numel]), &device)
    }

    fn linear_4bit(x: Tensor<Self, 2>, weight: &Quant4<Self>) -> Tensor<Self, 2> {
        let [out, input] = weight.shape();
        let absmax = weight.absmax();
        WEIGHT.with_borrow_mut(|w| {
            w.resize(out * input, 0.0);
            dequantize(weight.nibbles(), &absmax, weight.code(), weight.blocksize(), weight.dtype(), w);
            times_transposed(x, w, out)
        })
    }

    /// The weight is held as a transposed view of the checkpoint's `[out, in]` buffer; that
    /// buffer goes to `gemm` in place, as the 4-bit path's does (Flex's matmul on the view took
    /// 2.89 s for the 8×128 forward bench, this 2.52 s).
    fn linear_dense(x: Tensor<Self, 2>, weight_t: &Tensor<Self, 2>) -> Tensor<Self, 2> {
        let [_, out] = weight_t.dims();
        let w = contiguous(weight_t.clone().transpose());
        times_transposed(x, f32s(&w), out)
    }
}

/// x · Wᵀ for x `[rows, in]` and W `[out, in]` row-major, with the `gemm` kernel Flex's matmul uses.
fn times_transposed(x: Tensor<Flex, 2>, w: &[f32], out: usize) -> Tensor<Flex, 2> {
    let [rows, input] = x.dims();
    debug_assert_eq!(w.len(), out * input);
    let device = x.device();
    let x = contiguous(x);
    let lhs = f32s(&x);
    let mut y = vec![0f32; rows * out];
    let parallelism =
        if rows * out * input >= PARALLEL_THRESHOLD { gemm::Parallelism::Rayon(0) } else { gemm::Parallelism::None };
    // y[r, o] = Σᵢ x[r, i]·W[o, i]: dst and lhs row-major, rhs = Wᵀ read with column stride
    // `input` and row stride 1.
    // SAFETY: every pointer covers the extent its strides and sizes reach: y is rows × out, x is
    // rows × input, W is out × input, all contiguous row-major.
    unsafe {
        gemm::gemm(
            rows,
            out,
            input,
            y.as_mut_ptr(),
            1,
            out as isize,
            false,
            lhs.as_ptr(),
            1,
            input as isize,
            w.as_ptr(),
            input as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    };
    Tensor::from_data(TensorData::new(y, [rows, out]), &device)
}

/// The packed words and the absmax, read in place from Flex's buffers, into `out`.
fn dequantize(
    nibbles: &Tensor<Flex, 1, Int>,
    absmax: &Tensor<Flex, 1>,
    code: &Codebook,
    blocksize: Blocksize,
    dtype: FloatDtype,
    out: &mut [f32],
) {
    let words = nibbles.clone().into_primitive();
    let absmax = absmax.clone().into_primitive().tensor();
    super::dequantize_on_host(
        words.as_slice::<i32>().expect("4-bit weights are stored as contiguous i32 words"),
        absmax.as_slice::<f32>().expect("the absmax is a contiguous f32 vector"),
        code,
        blocksize,
        dtype,
        out,
    );
}
