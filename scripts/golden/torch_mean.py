"""Reference values for quantbound-codebook's `torch_mean`: the f32 `x.mean()` and `x.sum()` of
torch's CPU kernel on one thread, whose summation order decides the double-quant offset bit for
bit. Writes crates/quantbound-codebook/tests/data/torch_mean.safetensors (tensors x_<n>, sum_<n>,
mean_<n>).

Ran with Python 3.11.7, torch 2.15.0 (+cu132 wheel, on CPU, get_cpu_capability() = AVX512),
numpy 2.4.6, safetensors 0.8.0:
  /tmp/qbvenv/bin/python scripts/golden/torch_mean.py
"""
import pathlib

import numpy as np
import torch
from safetensors.numpy import save_file

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/quantbound-codebook/tests/data/torch_mean.safetensors"
SIZES = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257, 258, 1000, 1023, 4099, 8231, 20000]


def main():
    torch.set_num_threads(1)
    rng = np.random.default_rng(4242)
    tensors = {}
    for n in SIZES:
        # Magnitudes spread over six decades, so the summation order shows in the last bits.
        x = (rng.random(n) * rng.choice([1e-3, 1.0, 1e3], n)).astype(np.float32)
        t = torch.from_numpy(x)
        tensors[f"x_{n}"] = x
        tensors[f"sum_{n}"] = t.sum().numpy().reshape(1)
        tensors[f"mean_{n}"] = t.mean().numpy().reshape(1)
    save_file(tensors, str(OUT), metadata={"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability()})
    print(f"wrote {OUT} ({len(SIZES)} sizes)")


if __name__ == "__main__":
    main()
