"""numpy's random stream, as quantbound-theory's `numpy_random` reproduces it: writes
crates/quantbound-theory/tests/data/numpy_random.json.

Ran with numpy 2.3.5 (CPython 3.11). Everything comes from numpy itself:
  seed_sequence_0_u32  SeedSequence(0).generate_state(8, np.uint32)
  pcg64_0_raw          PCG64(0).random_raw(8)  (default_rng(0)'s bit generator)
  integers_2_40        default_rng(0).integers(0, 2**40 + 12345, size=8, dtype=np.uint64)
                       (the 64-bit Lemire path of random_bounded_uint64)
  choice               one default_rng(0) shared by every case in order, as the seed notebook
                       shares one across its layers: Generator.choice(n, size=k, replace=False)
                       for each (n, k); per case the first and last 16 indices and the sha256 of
                       all k indices as little-endian uint64 bytes.
The cases cover both paths of choice: Floyd's algorithm (n <= 10000, or k <= n // 50) and the
tail shuffle (n > 10000 and k > n // 50), the latter at the sample model's down_proj size
(576 x 1536 = 884,736) and at 9,437,184, a size whose tail is barely over n // 50.
"""
import hashlib
import json
import sys

import numpy as np

CASES = [(5_000, 100), (1_000_000, 1_000), (884_736, 200_000), (20, 20), (9_437_184, 200_000), (50_000, 3_000)]


def main(out):
    rng = np.random.default_rng(0)
    choice = []
    for n, k in CASES:
        idx = rng.choice(n, size=k, replace=False).astype("<u8")
        choice.append({
            "n": n,
            "k": k,
            "path": "tail shuffle" if n > 10_000 and k > n // 50 else "floyd",
            "first": [int(v) for v in idx[:16]],
            "last": [int(v) for v in idx[-16:]],
            "sha256": hashlib.sha256(idx.tobytes()).hexdigest(),
        })
    data = {
        "numpy": np.__version__,
        "seed_sequence_0_u32": [int(v) for v in np.random.SeedSequence(0).generate_state(8, np.uint32)],
        "pcg64_0_raw": [str(v) for v in np.random.PCG64(0).random_raw(8)],
        "integers_2_40": [str(v) for v in np.random.default_rng(0).integers(0, 2**40 + 12345, size=8, dtype=np.uint64)],
        "choice": choice,
    }
    with open(out, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "crates/quantbound-theory/tests/data/numpy_random.json")
