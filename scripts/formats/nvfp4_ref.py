"""Golden NVIDIA NVFP4 (two-level: an f32 scale per tensor, an E4M3 scale per 16, E2M1 elements).

The recipe is torchao's (`torchao.prototype.mx_formats.nvfp4_tensor`: `per_tensor_amax_to_scale`
and `nvfp4_quantize`), NVIDIA's NVFP4 as its Blackwell kernels consume it, written here in numpy
with f32 arithmetic and true divisions, and with ml_dtypes' float8_e4m3fn and float4_e2m1fn
casts (round half to even, as torch's casts) for the two roundings, so that quantbound's own
bit-level E4M3/E2M1 rounding is checked against an independent implementation:
  global = amax(|W|) / (448 * 6)
  s      = float8_e4m3fn(clamp((amax(|x|) / 6) / global, 2**-6, 448))    per 16 weights
  q      = float4_e2m1fn(clamp(x / (global * s), -6, 6))
  x'     = q * (global * s)
Two codes a byte, the even element in the low nibble (torchao's pack_uint4).

Ran with Python 3.11.7, numpy 2.3.5, ml_dtypes 0.7.0:
  /tmp/npvenv/bin/pip install numpy==2.3.5 ml_dtypes==0.7.0
  /tmp/npvenv/bin/python scripts/formats/nvfp4_ref.py
Writes crates/quantbound-formats/tests/data/nvfp4_ref.json (float32 as bit patterns).
"""
import json
import pathlib

import ml_dtypes
import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/quantbound-formats/tests/data/nvfp4_ref.json"
F32 = np.float32


def quantize(w):
    amax = np.abs(w).max()
    glob = amax / F32(448.0 * 6.0)
    blocks = w.reshape(-1, 16)
    s = (np.abs(blocks).max(axis=1) / F32(6.0)) / glob
    s8 = np.clip(s, F32(2.0**-6), F32(448.0)).astype(ml_dtypes.float8_e4m3fn)
    total = glob * s8.astype(F32)
    scaled = np.clip(blocks / total[:, None], F32(-6.0), F32(6.0))
    q = scaled.astype(ml_dtypes.float4_e2m1fn)
    codes = q.view(np.uint8).reshape(-1) & 0x0F
    packed = (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8)
    deq = (q.astype(F32) * total[:, None]).reshape(-1)
    return glob, s8.view(np.uint8), packed, deq


def cases():
    rng = np.random.default_rng(13)
    out = {}
    for scale in [1.0, 0.02, 3e-4]:
        out[f"normal_{scale}"] = (rng.standard_normal(256) * scale).astype(F32)
    out["laplace"] = rng.laplace(size=256).astype(F32)
    # Ties of E2M1 (0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5 times the scale) under a tensor maximum of
    # 6 * 448 (global = 1), whose blocks of maximum 6 have s = 1.
    t = np.array([6, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5, 0], F32)
    top = t * F32(448)
    out["ties"] = np.concatenate([top, t, t * F32(0.5), -t])
    # E4M3 ties of the block scale (1 + 1/16, between 1 and 1.125; 1 + 3/16) and its clamps.
    big = np.zeros(16, F32)
    big[0] = F32(2688.0)
    scales = [1.0625, 1.1875, 1.0624, 2.0**-8, 1e-6, 300.0, 447.0]
    blocks = [big] + [(rng.uniform(-1, 1, 16) * a * 6).astype(F32) for a in scales]
    for b, a in zip(blocks[1:], scales):
        b[3] = F32(a * 6)
    out["scale_rounding"] = np.concatenate(blocks)
    # Zeros and signed zeros beside a nonzero block; all-equal blocks; subnormals.
    z = np.zeros(64, F32)
    z[16:32] = -0.0
    z[40] = F32(1.5)
    out["zeros"] = z
    out["equal"] = np.concatenate([np.full(16, 0.5, F32), np.full(16, -3.0, F32)])
    sub = (rng.standard_normal(64) * 1e-39).astype(F32)
    sub[0] = F32(1e-30)
    out["subnormals"] = sub
    return out


def main():
    result = {"numpy": np.__version__, "ml_dtypes": ml_dtypes.__version__, "cases": []}
    for name, w in cases().items():
        glob, s8, packed, deq = quantize(np.ascontiguousarray(w, F32))
        result["cases"].append({
            "case": name,
            "input": [int(v) for v in w.view(np.uint32)],
            "global": int(np.array([glob], F32).view(np.uint32)[0]),
            "scales": s8.tobytes().hex(),
            "codes": packed.tobytes().hex(),
            "dequantized": [int(v) for v in deq.astype(F32).view(np.uint32)],
        })
    OUT.write_text(json.dumps(result) + "\n")
    print(f"wrote {OUT} ({len(result['cases'])} cases, {OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
