"""Golden bytes for quantbound's llama.cpp formats from the `gguf` Python package's own quantizers.

gguf-py's `gguf.quants.quantize` is the reference: for Q4_0, Q4_1 and MXFP4 it is llama.cpp's
`quantize_row_*_ref` written in numpy (float32 throughout). For each case this script quantizes a
float32 vector with it and dequantizes the result with gguf-py too, and stores the input, the
bytes and the dequantized values. The cases cover random normal weights at several scales, exact
rounding ties, zeros, all-equal blocks, negative and positive block maxima of equal magnitude,
subnormal values in a normal block, block maxima just below and at powers of two (MXFP4's shared
exponent), and several whole blocks (llama.cpp's formats have no partial blocks; quantbound refuses
a length that is not a multiple of 32, and NaN/Inf, for which llama.cpp's C code is undefined).

Ran with Python 3.11.7, numpy 2.3.5, gguf 0.19.0:
  python3 -m venv /tmp/npvenv && /tmp/npvenv/bin/pip install numpy==2.3.5 gguf==0.19.0
  /tmp/npvenv/bin/python scripts/formats/gguf_quants.py
Writes crates/quantbound-formats/tests/data/gguf_quants.json (hex strings, float32 as bit patterns).
"""
import json
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/quantbound-formats/tests/data/gguf_quants.json"
TYPES = {"q4_0": T.Q4_0, "q4_1": T.Q4_1, "mxfp4": T.MXFP4}


def cases():
    rng = np.random.default_rng(11)
    out = {}
    for scale in [1.0, 0.02, 3e-4]:
        out[f"normal_{scale}"] = rng.standard_normal(32 * 8).astype(np.float32) * np.float32(scale)
    out["laplace"] = rng.laplace(size=32 * 4).astype(np.float32)
    out["zeros"] = np.zeros(64, np.float32)
    out["equal"] = np.concatenate([np.full(32, 0.5, np.float32), np.full(32, -3.0, np.float32)])
    # Rounding ties of every format: multiples of half a step of a block whose maximum is 8 (Q4_0's
    # d = -1, Q4_1 with min -8, max 7: d = 1) or 6 (MXFP4: d = 0.5, so the E2M1 grid in halves).
    ties = np.arange(-16, 16, dtype=np.float32) / 2
    ties[0] = -8
    out["ties_q4"] = ties
    out["ties_mxfp4"] = np.concatenate([np.arange(-12, 13, dtype=np.float32) / 4, np.array([6, -6, 5, -5, 0.25, -0.25, 0.75], np.float32)])
    # +max and -max of the same magnitude: argmax takes the first.
    both = rng.standard_normal(32).astype(np.float32)
    both[3], both[20] = 2.5, -2.5
    out["plus_minus_max"] = both
    minus_first = both.copy()
    minus_first[3], minus_first[20] = -2.5, 2.5
    out["minus_plus_max"] = minus_first
    sub = rng.standard_normal(32).astype(np.float32) * np.float32(1e-39)
    sub[0] = 1e-30
    out["subnormals"] = sub
    # MXFP4's exponent floor(log2(amax)) where amax sits just below, at and just above 2^k.
    blocks = []
    for k in [-7, -1, 0, 3]:
        for amax in [np.nextafter(np.float32(2.0**k), np.float32(0)), np.float32(2.0**k), np.nextafter(np.float32(2.0**k), np.float32(np.inf))]:
            b = rng.uniform(-1, 1, 32).astype(np.float32) * amax
            b[7] = amax
            blocks.append(b)
    out["powers_of_two"] = np.concatenate(blocks)
    return out


def main():
    result = {"gguf": "0.19.0", "numpy": np.__version__, "cases": []}
    for name, x in cases().items():
        x = np.ascontiguousarray(x, dtype=np.float32)
        for fmt, qtype in TYPES.items():
            q = quantize(x.reshape(1, -1), qtype)
            y = dequantize(q, qtype).reshape(-1)
            result["cases"].append({
                "case": name,
                "format": fmt,
                "input": [int(v) for v in x.view(np.uint32)],
                "bytes": q.tobytes().hex(),
                "dequantized": [int(v) for v in y.astype(np.float32).view(np.uint32)],
            })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result) + "\n")
    print(f"wrote {OUT} ({len(result['cases'])} cases, {OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
