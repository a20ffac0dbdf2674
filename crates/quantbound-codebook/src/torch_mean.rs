//! The float32 mean that bitsandbytes uses as the double-quant offset (`absmax.mean()`), summed in
//! the same order as torch's CPU kernel so that the offset comes out bit-identical.
//!
//! torch 2.x computes `mean` on CPU as `sum(x) / n`. Its float sum (`cascade_sum`,
//! `aten/src/ATen/native/cpu/SumKernel.cpp`) is not sequential:
//! - n ≥ 8: full 8-lane vectors are summed lane-wise by a cascade (below), the ≤ 7 trailing
//!   scalars are added to 0 one by one, then the 8 lane sums one by one;
//! - n < 8: the same cascade over scalars.
//!
//! The sum kernel runs 8 f32 lanes even where torch reports `cpu_capability` AVX512 (the golden
//! data's machine); checked against torch 2.15 on random vectors of 3 to 100000 elements
//! (scripts/golden/torch_mean.py; tests/golden.rs).
//!
//! The cascade (`row_sum`) views the items as rows of 4 (ILP), sums the rows in four levels of
//! accumulators that are flushed upwards every `2^p` rows (p = max(4, ⌈log2 rows⌉ / 4)), adds the
//! leftover items to the first column, then folds the four columns.
//!
//! torch splits reductions of more than 32768 elements across threads, which changes the order
//! again; we reproduce the single-threaded result. Such absmax vectors (tensors of more than two
//! million elements at blocksize 64) can therefore get an offset 1 ulp away from bnb's on a
//! multi-core machine; the offset is stored in the checkpoint, so dequantization is unaffected.

/// Lanes of the `Vectorized<float>` torch's CPU sum kernel uses.
const LANES: usize = 8;

/// `x.mean()` as torch computes it for a contiguous f32 vector on one thread.
pub fn torch_mean(x: &[f32]) -> f32 {
    if x.is_empty() {
        return f32::NAN;
    }
    torch_sum(x) / x.len() as f32
}

/// `x.sum()` as torch's `cascade_sum` computes it for a contiguous f32 vector on one thread.
pub fn torch_sum(x: &[f32]) -> f32 {
    if x.len() < LANES {
        return cascade::<1>(x.len(), |i| [x[i]])[0];
    }
    let (vectors, tail) = x.as_chunks::<LANES>();
    let lanes = cascade::<LANES>(vectors.len(), |i| vectors[i]);
    let mut total = 0f32;
    for &v in tail {
        total += v;
    }
    for v in lanes {
        total += v;
    }
    total
}

fn add<const L: usize>(a: &mut [f32; L], b: [f32; L]) {
    for (a, b) in a.iter_mut().zip(b) {
        *a += b;
    }
}

/// torch's `row_sum` with an ILP factor of 4 over `count` items of `L` lanes each.
fn cascade<const L: usize>(count: usize, item: impl Fn(usize) -> [f32; L]) -> [f32; L] {
    const ILP: usize = 4;
    const LEVELS: usize = 4;
    let rows = count / ILP;
    // torch's utils::CeilLog2: 1 for x ≤ 2, else the bit width of x − 1.
    let ceil_log2 = if rows <= 2 { 1 } else { usize::BITS - (rows - 1).leading_zeros() } as usize;
    let level_power = (ceil_log2 / LEVELS).max(4);
    let level_step = 1usize << level_power;
    let level_mask = level_step - 1;

    let mut acc = [[[0f32; L]; ILP]; LEVELS];
    let mut i = 0;
    while i + level_step <= rows {
        for _ in 0..level_step {
            for (k, column) in acc[0].iter_mut().enumerate() {
                add(column, item(i * ILP + k));
            }
            i += 1;
        }
        for j in 1..LEVELS {
            let (lower, upper) = acc.split_at_mut(j);
            for (up, low) in upper[0].iter_mut().zip(lower[j - 1].iter_mut()) {
                add(up, std::mem::replace(low, [0.0; L]));
            }
            if i & (level_mask << (j * level_power)) != 0 {
                break;
            }
        }
    }
    for row in i..rows {
        for (k, column) in acc[0].iter_mut().enumerate() {
            add(column, item(row * ILP + k));
        }
    }
    let mut columns = acc[0];
    for level in &acc[1..] {
        for (column, upper) in columns.iter_mut().zip(level) {
            add(column, *upper);
        }
    }
    for leftover in rows * ILP..count {
        add(&mut columns[0], item(leftover));
    }
    let mut total = columns[0];
    for column in &columns[1..] {
        add(&mut total, *column);
    }
    total
}
