"""Golden MXFP4 as the OCP Microscaling reference library rounds it (`mxfp4_ocp`).

The OCP MX v1.0 specification's authors publish microxcaling (github microsoft/microxcaling) as
its reference. Its `_quantize_mx` (mx/mx_ops.py) with elem_format fp4_e2m1, scale_bits 8,
block_size 32 along the last axis, shared_exp_method "max" and its default round "nearest" does,
in torch float32 (these are its steps, written out here, not its code):
  shared_exp = floor(log2(max|x| + FP32_MIN_NORMAL * (max == 0)))      per block of 32
  shared_exp = shared_exp - 2                     (E2M1's emax), then clamped below at -127
  a          = x / 2**shared_exp
  private    = clip(floor(log2(|a| + (a == 0))), min=0)                E2M1's smallest exponent 0
  a          = sign(a) * floor(|a| / 2**private * 2 + 0.5) / 2 * 2**private   ("nearest": half up)
  a          = clamp(a, -6, 6)
  x'         = a * 2**shared_exp
ggml's MXFP4 (`mxfp4`) has the same shared exponent but sends ties to the smaller magnitude; the
two differ only on ties (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5 times the scale) and where the
maximum is subnormal.

Ran with Python 3.11.7, torch 2.15.0, numpy 2.3.5 (the venv of scripts/sensitivity/single_layer.py):
  /tmp/qbvenv/bin/python scripts/formats/mxfp4_ocp_ref.py
Writes crates/quantbound-formats/tests/data/mxfp4_ocp_ref.json (float32 as bit patterns).
"""
import json
import pathlib

import numpy as np
import torch

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/quantbound-formats/tests/data/mxfp4_ocp_ref.json"
FP32_MIN_NORMAL = 2.0 ** -126


def quantize_mx_fp4(x):
    a = torch.from_numpy(x).reshape(-1, 32)
    amax = a.abs().max(dim=1, keepdim=True).values
    shared = torch.floor(torch.log2(amax + FP32_MIN_NORMAL * (amax == 0).float())) - 2
    shared[shared < -127] = -127
    a = a / (2 ** shared)
    private = torch.floor(torch.log2(a.abs() + (a == 0).float())).clip(min=0)
    a = a / (2 ** private) * 2
    a = torch.sign(a) * torch.floor(a.abs() + 0.5)
    a = a / 2 * (2 ** private)
    a = torch.clamp(a, -6, 6)
    return (a * (2 ** shared)).reshape(-1).numpy()


def cases():
    rng = np.random.default_rng(21)
    f = np.float32
    out = {}
    for scale in [1.0, 0.02, 3e-4]:
        out[f"normal_{scale}"] = (rng.standard_normal(256) * scale).astype(f)
    out["laplace"] = rng.laplace(size=256).astype(f)
    # Every E2M1 tie, with both signs, under a block maximum of 4 (scale 1) and of 6·2^-3.
    t = np.array([4, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, 0.1, -0.1, 0], f)
    out["ties"] = np.concatenate([t, -t, t * f(0.125), 5 * np.ones(16, f)])
    # Block maxima just below, at and just above powers of two; values beyond 6 times the scale.
    edges = []
    for m in [2.0, 1.0, 0.5]:
        for v in [np.nextafter(f(m), f(0)), f(m), np.nextafter(f(m), f(10))]:
            b = rng.uniform(-1, 1, 32).astype(f) * v
            b[7] = v
            edges.append(b)
    out["edges"] = np.concatenate(edges)
    z = np.zeros(64, f)
    z[40] = f(1.5)
    z[41] = f(-0.0)
    out["zeros"] = z
    out["equal"] = np.concatenate([np.full(32, 0.5, f), np.full(32, -3.0, f)])
    sub = (rng.standard_normal(64) * 1e-39).astype(f)
    sub[0] = f(1e-30)
    out["subnormals"] = sub
    return out


def main():
    out = []
    for name, x in cases().items():
        y = quantize_mx_fp4(x)
        out.append({"case": name, "input": x.view(np.uint32).tolist(), "dequantized": y.astype(np.float32).view(np.uint32).tolist()})
    OUT.write_text(json.dumps({"source": "microxcaling _quantize_mx, fp4_e2m1, block 32, round nearest", "cases": out}) + "\n")


if __name__ == "__main__":
    main()
