//! numpy's random stream, reproduced exactly, so that the seed notebook's subsampling
//! (`np.random.default_rng(0)`, then `rng.choice(flat, size=200_000, replace=False)` per layer)
//! can be redone without Python.
//!
//! The algorithms are numpy 2.3.5's (`numpy/random/bit_generator.pyx`, `_pcg64.pyx` with
//! `pcg64.h`, `_generator.pyx`, `src/distributions/distributions.c`); they have not changed since
//! `Generator` appeared in numpy 1.17. `tests/numpy_random.rs` checks every step against numpy's
//! own output (`scripts/numpy/random_stream.py`).

use std::collections::{HashMap, HashSet};

use crate::error::{Result, TheoryError};

/// `SeedSequence`'s hash constants (bit_generator.pyx).
const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
/// The entropy pool's size in 32-bit words.
const POOL_SIZE: usize = 4;
/// PCG64's 128-bit LCG multiplier (pcg64.h, `PCG_DEFAULT_MULTIPLIER_128`).
const PCG_MULTIPLIER: u128 = 0x2360_ed05_1fc6_5da4_4385_df64_9fcc_f645;

/// The largest population whose tail shuffle runs on a dense `arange(n)` (16 MiB of u32).
pub const DENSE_SHUFFLE_MAX: usize = 1 << 22;

/// numpy's `SeedSequence` for an integer entropy and no spawn key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedSequence {
    pool: [u32; POOL_SIZE],
}

/// `hashmix`: one 32-bit value through the running hash constant.
fn hashmix(value: u32, hash_const: &mut u32) -> u32 {
    let mut value = value ^ *hash_const;
    *hash_const = hash_const.wrapping_mul(MULT_A);
    value = value.wrapping_mul(*hash_const);
    value ^ (value >> XSHIFT)
}

/// `mix`: two pool words into one.
fn mix(x: u32, y: u32) -> u32 {
    let result = MIX_MULT_L.wrapping_mul(x).wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    result ^ (result >> XSHIFT)
}

impl SeedSequence {
    /// `SeedSequence(entropy)`: the integer as little-endian 32-bit words (at least one), mixed
    /// into the pool.
    pub fn new(entropy: u128) -> Self {
        let mut words: Vec<u32> = (0..4).map(|i| (entropy >> (32 * i)) as u32).collect();
        while words.len() > 1 && words.last() == Some(&0) {
            words.pop();
        }
        let mut hash_const = INIT_A;
        let mut pool = [0u32; POOL_SIZE];
        for (i, slot) in pool.iter_mut().enumerate() {
            *slot = hashmix(words.get(i).copied().unwrap_or(0), &mut hash_const);
        }
        for src in 0..POOL_SIZE {
            for dst in 0..POOL_SIZE {
                if src != dst {
                    pool[dst] = mix(pool[dst], hashmix(pool[src], &mut hash_const));
                }
            }
        }
        for &word in words.iter().skip(POOL_SIZE) {
            for slot in &mut pool {
                *slot = mix(*slot, hashmix(word, &mut hash_const));
            }
        }
        SeedSequence { pool }
    }

    /// `generate_state(n, np.uint32)`.
    pub fn generate_state_u32(&self, n: usize) -> Vec<u32> {
        let mut hash_const = INIT_B;
        (0..n)
            .map(|i| {
                let mut value = self.pool[i % POOL_SIZE] ^ hash_const;
                hash_const = hash_const.wrapping_mul(MULT_B);
                value = value.wrapping_mul(hash_const);
                value ^ (value >> XSHIFT)
            })
            .collect()
    }

    /// `generate_state(n, np.uint64)`: pairs of 32-bit words, the first the low half.
    pub fn generate_state_u64(&self, n: usize) -> Vec<u64> {
        self.generate_state_u32(2 * n).chunks(2).map(|w| u64::from(w[0]) | u64::from(w[1]) << 32).collect()
    }
}

/// numpy's `PCG64` bit generator (PCG XSL-RR 128/64) with its buffered 32-bit output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pcg64 {
    state: u128,
    increment: u128,
    /// The high half of the last 64-bit output, when only its low half was used.
    buffered: Option<u32>,
}

impl Pcg64 {
    /// `PCG64(seed_sequence)`: four 64-bit words as (state, increment) seeds, then
    /// `pcg_setseq_128_srandom_r`.
    pub fn from_seed_sequence(seed: &SeedSequence) -> Self {
        let w = seed.generate_state_u64(4);
        let initial_state = u128::from(w[0]) << 64 | u128::from(w[1]);
        let sequence = u128::from(w[2]) << 64 | u128::from(w[3]);
        let mut rng = Pcg64 { state: 0, increment: sequence << 1 | 1, buffered: None };
        rng.step();
        rng.state = rng.state.wrapping_add(initial_state);
        rng.step();
        rng
    }

    /// The generator of `np.random.default_rng(seed)`.
    pub fn default_rng(seed: u128) -> Self {
        Self::from_seed_sequence(&SeedSequence::new(seed))
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULTIPLIER).wrapping_add(self.increment);
    }

    /// `next_uint64` (`random_raw`): step, then the XSL-RR output of the new state.
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let folded = (self.state >> 64) as u64 ^ self.state as u64;
        folded.rotate_right((self.state >> 122) as u32)
    }

    /// `next_uint32`: the low half of a 64-bit output, then its high half.
    pub fn next_u32(&mut self) -> u32 {
        if let Some(high) = self.buffered.take() {
            return high;
        }
        let next = self.next_u64();
        self.buffered = Some((next >> 32) as u32);
        next as u32
    }

    /// `random_bounded_uint64(state, 0, max, 0, use_masked=false)`: uniform on 0..=max by
    /// Lemire's method, on 32-bit draws while `max` fits in 32 bits.
    pub fn bounded(&mut self, max: u64) -> u64 {
        if max == 0 {
            0
        } else if max <= u64::from(u32::MAX) {
            if max == u64::from(u32::MAX) {
                return u64::from(self.next_u32());
            }
            // buffered_bounded_lemire_uint32 with no buffer.
            let excl = max + 1;
            let mut m = u64::from(self.next_u32()) * excl;
            if (m & 0xffff_ffff) < excl {
                let threshold = (u64::from(u32::MAX) - max) % excl;
                while (m & 0xffff_ffff) < threshold {
                    m = u64::from(self.next_u32()) * excl;
                }
            }
            m >> 32
        } else if max == u64::MAX {
            self.next_u64()
        } else {
            // bounded_lemire_uint64.
            let excl = max + 1;
            let mut m = u128::from(self.next_u64()) * u128::from(excl);
            if (m as u64) < excl {
                let threshold = (u64::MAX - max) % excl;
                while (m as u64) < threshold {
                    m = u128::from(self.next_u64()) * u128::from(excl);
                }
            }
            (m >> 64) as u64
        }
    }

    /// `Generator.choice(n, size=k, replace=False)`: k distinct indices of 0..n, in numpy's
    /// order. For n > 10000 and k > n / 50 numpy shuffles the tail of `arange(n)` (the last k
    /// Fisher–Yates steps) and keeps it; otherwise it draws by Floyd's algorithm and shuffles the
    /// result. Up to [`DENSE_SHUFFLE_MAX`] values the tail shuffle runs on `arange(n)` as numpy's
    /// does; above it, sparsely (only moved entries are stored), in O(k) memory.
    ///
    /// k > n is an error, as numpy's ValueError.
    pub fn choice_without_replacement(&mut self, n: usize, k: usize) -> Result<Vec<usize>> {
        if k > n {
            return Err(TheoryError::InvalidArgument(format!(
                "cannot take a sample of {k} without replacement from {n} values"
            )));
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        if n > 10_000 && k > n / 50 {
            // _shuffle_int(n, max(n - k, 1), arange(n)), then [n - k:].
            let steps = (n - k).max(1)..n;
            if n <= DENSE_SHUFFLE_MAX {
                let mut data: Vec<u32> = (0..n as u32).collect();
                for i in steps.rev() {
                    let j = self.bounded(i as u64) as usize;
                    data.swap(i, j);
                }
                return Ok(data[n - k..].iter().map(|&v| v as usize).collect());
            }
            let mut moved: HashMap<usize, usize> = HashMap::with_capacity(2 * k);
            let at = |moved: &HashMap<usize, usize>, i: usize| moved.get(&i).copied().unwrap_or(i);
            for i in steps.rev() {
                let j = self.bounded(i as u64) as usize;
                let (value_i, value_j) = (at(&moved, i), at(&moved, j));
                moved.insert(i, value_j);
                moved.insert(j, value_i);
            }
            return Ok((n - k..n).map(|i| at(&moved, i)).collect());
        }
        // Floyd: for j in n - k..n, take a draw on 0..=j, or j itself when the draw is taken.
        let mut taken = HashSet::with_capacity(k);
        let mut out: Vec<usize> = (n - k..n)
            .map(|j| {
                let draw = self.bounded(j as u64) as usize;
                let value = if taken.contains(&draw) { j } else { draw };
                taken.insert(value);
                value
            })
            .collect();
        // _shuffle_int(k, 1, out).
        for i in (1..k).rev() {
            let j = self.bounded(i as u64) as usize;
            out.swap(i, j);
        }
        Ok(out)
    }
}
