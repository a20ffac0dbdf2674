"""Time scipy.stats.gennorm.fit on the sample sizes of benches/theory.rs (not part of CI).

Draws GGD(β = 1.6, σ = 0.02) samples of 884,736 and 16,777,216 values (float32, as weights are),
fits them once each, and prints seconds and the fit. With a folder argument it also saves the
samples there as ggd_samples.safetensors ([N/4096, 4096] f32 tensors), so that
`cargo xtask fit --input DIR/ggd_samples.safetensors` fits the very same data.
Ran with Python 3.11.7, numpy 2.4.6, scipy 1.17.1, safetensors 0.8.0:
  /tmp/qbvenv/bin/python scripts/theory/scipy_fit_timing.py /tmp/ggd
"""
import pathlib
import sys
import time

import numpy as np
from scipy.special import gamma
from scipy.stats import gennorm

BETA = 1.6
SCALE = 0.02 * np.sqrt(gamma(1 / BETA) / gamma(3 / BETA))

samples = {}
for n in (884_736, 16_777_216):
    x32 = gennorm.rvs(BETA, scale=SCALE, size=n, random_state=np.random.default_rng(7)).astype(np.float32)
    samples[f"samples_{n}"] = x32.reshape(n // 4096, 4096)
    x = x32.astype(np.float64)
    t = time.perf_counter()
    b, loc, scale = gennorm.fit(x)
    seconds = time.perf_counter() - t
    print(f"n {n}: {seconds:.2f} s, beta {b:.6f} loc {loc:.3e} scale {scale:.6e} loglik {gennorm.logpdf(x, b, loc, scale).sum():.4f}")
if len(sys.argv) > 1:
    from safetensors.numpy import save_file
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    save_file(samples, str(out / "ggd_samples.safetensors"))
