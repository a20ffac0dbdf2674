"""Reference values for quantbound-theory from scipy.stats.gennorm (not part of CI).

Writes crates/quantbound-theory/tests/data/:
  gennorm.json         pdf, logpdf, cdf at fixed points, ppf at fixed probabilities, entropy (nats)
                       and variance, for several beta, loc 0.3, scale 1.7;
  fit_samples.safetensors
                       fixed samples x_<beta> (f32, n = 20000, loc 0.01, scale 0.05) and, per beta,
                       scipy's gennorm.fit (beta, loc, scale) and its log-likelihood on the same
                       f32 values (as f64) in fit.json; and x_grid, a gennorm(1.6) sample with 40
                       outliers rounded to a grid of 0.004 (as a GGUF's weights are: repeated values,
                       and a kurtosis that starts the fit far below its β), with its fit in
                       fit.json's "grid".

Ran with Python 3.11.7, numpy 2.4.6, scipy 1.17.1, safetensors 0.8.0:
  /tmp/qbvenv/bin/python scripts/theory/scipy_reference.py
"""
import json
import pathlib
import time

import numpy as np
import scipy
from scipy.stats import gennorm, norm
from safetensors.numpy import save_file

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/quantbound-theory/tests/data"
BETAS = [0.5, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0]
FIT_BETAS = [0.8, 1.0, 1.5, 2.0, 3.0]
XS = [-4.0, -1.3, -0.2, 0.0, 0.3, 0.31, 1.0, 2.5, 6.0]
PS = [1e-6, 0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99, 1 - 1e-6]


def histogram_kl(x, bins=200, eps=1e-12):
    """The seed's KL of the weight histogram to a Gaussian of the same mean and std, in bits."""
    counts, edges = np.histogram(x, bins=bins)
    p = counts / counts.sum()
    centres = (edges[:-1] + edges[1:]) / 2
    q = norm.pdf(centres, x.mean(), x.std()) * np.diff(edges)
    q = q / q.sum()
    return float(np.sum(p * np.log2((p + eps) / (q + eps))))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    values = {"scipy": scipy.__version__, "loc": 0.3, "scale": 1.7, "x": XS, "p": PS, "cases": []}
    for beta in BETAS:
        d = gennorm(beta, loc=0.3, scale=1.7)
        values["cases"].append({
            "beta": beta,
            "pdf": d.pdf(XS).tolist(), "logpdf": d.logpdf(XS).tolist(), "cdf": d.cdf(XS).tolist(),
            "ppf": d.ppf(PS).tolist(), "entropy_nats": float(d.entropy()), "var": float(d.var()),
        })
    (OUT / "gennorm.json").write_text(json.dumps(values, indent=1))

    rng = np.random.default_rng(20261122)
    samples, fits = {}, {"scipy": scipy.__version__, "n": 20000, "cases": []}
    for beta in FIT_BETAS:
        x = gennorm.rvs(beta, loc=0.01, scale=0.05, size=20000, random_state=rng).astype(np.float32)
        x64 = x.astype(np.float64)
        t = time.perf_counter()
        b, loc, scale = gennorm.fit(x64)
        seconds = time.perf_counter() - t
        samples[f"x_{beta}"] = x
        fits["cases"].append({"beta_true": beta, "beta": b, "loc": loc, "scale": scale,
                              "loglik": float(gennorm.logpdf(x64, b, loc, scale).sum()), "seconds": seconds,
                              "kl_to_gauss_bits": histogram_kl(x64)})
    # Rounded weights with outliers: the kinks of Σ|x−μ|^β at repeated values, and a kurtosis
    # start (β ≈ 0.4) far below the fit (β ≈ 1.14).
    x = gennorm.rvs(1.6, loc=0.002, scale=0.04, size=20000, random_state=rng)
    x[:40] = rng.choice([-1.0, 1.0], 40) * rng.uniform(0.3, 0.6, 40)
    x = (np.round(x / 0.004) * 0.004).astype(np.float32)
    x64 = x.astype(np.float64)
    t = time.perf_counter()
    b, loc, scale = gennorm.fit(x64)
    seconds = time.perf_counter() - t
    samples["x_grid"] = x
    fits["grid"] = {"beta": b, "loc": loc, "scale": scale, "loglik": float(gennorm.logpdf(x64, b, loc, scale).sum()),
                    "seconds": seconds}
    save_file(samples, str(OUT / "fit_samples.safetensors"))
    (OUT / "fit.json").write_text(json.dumps(fits, indent=1))
    print(json.dumps(fits, indent=1))


if __name__ == "__main__":
    main()
