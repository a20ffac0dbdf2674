"""Golden bytes for the llama.cpp formats gguf-py cannot quantize (Q4_K, IQ4_NL, NVFP4, Q5_0), from
ggml's own C reference quantizers, and for Q4_0, Q4_1 and MXFP4 a second reference beside gguf-py's.

gguf-py 0.19 has no quantizer for these, so this script compiles ggml's src/ggml-quants.c into a
shared library and calls, through ctypes, the functions llama.cpp's `llama-quantize` runs for a
model without an importance matrix:
  - Q4_K:   quantize_row_q4_K_ref (what quantize_q4_K calls without quant_weights);
  - IQ4_NL: quantize_iq4_nl(..., quant_weights=NULL), which searches 7 scales either side (ntry 7;
            the separate quantize_row_iq4_nl_ref uses ntry -1 and is not what llama-quantize runs);
  - NVFP4:  quantize_row_nvfp4_ref (ggml's NVFP4: UE4M3 scales per 16, no per-tensor scale);
  - Q5_0:   quantize_row_q5_0_ref (llama-quantize's stand-in for Q4_K where a row is not a whole
            number of 256-weight super-blocks);
  - Q4_0, Q4_1, MXFP4: quantize_row_*_ref, which gguf-py's numpy quantizers follow.
and the matching dequantize_row_* for the values. The library is built without -march/-mfma, so
the compiler cannot contract a*b+c into an FMA (x86-64 has none without -mfma), as Rust never does;
-DNDEBUG as llama.cpp's release builds.

Ran with Python 3.11.7, numpy 2.3.5, gcc 12, ggml at commit d99724f2b141fed9e1a9f402213506c081433465
(2026-08-21; ggml's src/ is llama.cpp's ggml/src/):
  git clone <ggml> /tmp/ggml && cd /tmp/ggml && git checkout d99724f2b141fed9e1a9f402213506c081433465
  /tmp/npvenv/bin/python scripts/formats/ggml_ref.py /tmp/ggml
Writes crates/quantbound-formats/tests/data/ggml_ref.json (hex strings, float32 as bit patterns).
"""
import ctypes
import json
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/quantbound-formats/tests/data/ggml_ref.json"

STUBS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <stddef.h>
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "ggml_abort %s:%d\n", file, line); abort(); }
size_t ggml_row_size(int type, int64_t ne) { (void) type; (void) ne; abort(); }
size_t ggml_type_size(int type) { (void) type; abort(); }
const char * ggml_type_name(int type) { (void) type; return "?"; }
"""

# name: (weights per block, bytes per block)
BLOCKS = {"q4_k": (256, 144), "iq4_nl": (32, 18), "nvfp4_ggml": (64, 36), "q5_0": (32, 22),
          "q4_0": (32, 18), "q4_1": (32, 20), "mxfp4": (32, 17)}


def build(ggml: pathlib.Path) -> ctypes.CDLL:
    tmp = pathlib.Path(tempfile.mkdtemp())
    (tmp / "stubs.c").write_text(STUBS)
    lib = tmp / "libggmlq.so"
    subprocess.run(["gcc", "-O2", "-fPIC", "-shared", "-std=gnu11", "-DNDEBUG", f"-I{ggml}/include", f"-I{ggml}/src",
                    "-o", str(lib), str(ggml / "src/ggml-quants.c"), str(tmp / "stubs.c"), "-lm"], check=True)
    return ctypes.CDLL(str(lib))


def quantizers(lib):
    f32p, vp, i64 = ctypes.POINTER(ctypes.c_float), ctypes.c_void_p, ctypes.c_int64

    def row(fn):
        fn.argtypes, fn.restype = [f32p, vp, i64], None
        return lambda x, out: fn(x.ctypes.data_as(f32p), out.ctypes.data, x.size)

    iq4 = lib.quantize_iq4_nl
    iq4.argtypes, iq4.restype = [f32p, vp, i64, i64, f32p], ctypes.c_size_t
    return {
        "q4_k": row(lib.quantize_row_q4_K_ref),
        "iq4_nl": lambda x, out: iq4(x.ctypes.data_as(f32p), out.ctypes.data, 1, x.size, None),
        "nvfp4_ggml": row(lib.quantize_row_nvfp4_ref),
        "q5_0": row(lib.quantize_row_q5_0_ref),
        "q4_0": row(lib.quantize_row_q4_0_ref),
        "q4_1": row(lib.quantize_row_q4_1_ref),
        "mxfp4": row(lib.quantize_row_mxfp4_ref),
    }


def dequantizers(lib):
    f32p, vp, i64 = ctypes.POINTER(ctypes.c_float), ctypes.c_void_p, ctypes.c_int64
    out = {}
    for name, fn in {"q4_k": "dequantize_row_q4_K", "iq4_nl": "dequantize_row_iq4_nl",
                     "nvfp4_ggml": "dequantize_row_nvfp4", "q5_0": "dequantize_row_q5_0",
                     "q4_0": "dequantize_row_q4_0", "q4_1": "dequantize_row_q4_1", "mxfp4": "dequantize_row_mxfp4"}.items():
        fn = getattr(lib, fn)
        fn.argtypes, fn.restype = [vp, f32p, i64], None
        out[name] = (lambda fn: lambda q, y: fn(q.ctypes.data, y.ctypes.data_as(f32p), y.size))(fn)
    return out


def cases():
    rng = np.random.default_rng(12)
    out = {}
    for scale in [1.0, 0.02, 3e-4]:
        out[f"normal_{scale}"] = rng.standard_normal(256 * 2).astype(np.float32) * np.float32(scale)
    out["laplace"] = rng.laplace(size=256 * 2).astype(np.float32)
    out["zeros"] = np.zeros(256, np.float32)
    out["equal"] = np.concatenate([np.full(256, 0.5, np.float32), np.full(256, -3.0, np.float32)])
    # All positive (Q4_K's minimum clamps to 0), and all negative.
    out["positive"] = np.abs(rng.standard_normal(256)).astype(np.float32) + np.float32(0.1)
    out["negative"] = -np.abs(rng.standard_normal(256)).astype(np.float32)
    # Sub-blocks of very different size in one super-block: Q4_K's 6-bit sub-scales round to 0 for
    # the small ones (its "if (!d) continue" keeps the first pass's codes), and a zero sub-block.
    mixed = rng.standard_normal(256).astype(np.float32)
    for j, s in enumerate([1, 1e-3, 0, 2e-2, 5, 1e-6, 0.3, 1]):
        mixed[32 * j:32 * (j + 1)] *= np.float32(s)
    out["mixed_magnitude"] = mixed
    # Rounding ties: the E2M1 grid's midpoints under a sub-block maximum of 6 (NVFP4's scale 1), and
    # half-integers of a Q5_0/IQ4_NL-style grid.
    t = np.concatenate([np.arange(-12, 13, dtype=np.float32) / 4, np.array([6, -6, 5, -5, 0.25, -0.25, 0.75], np.float32)])
    out["ties"] = np.tile(t, 8)
    halves = np.arange(-64, 64, dtype=np.float32) / 4
    halves[0] = -16
    out["half_steps"] = np.tile(halves, 2)
    both = rng.standard_normal(256).astype(np.float32)
    both[3], both[20], both[40], both[63] = 2.5, -2.5, -1.75, 1.75
    out["plus_minus_max"] = both
    sub = rng.standard_normal(256).astype(np.float32) * np.float32(1e-39)
    sub[0] = 1e-30
    out["subnormals"] = sub
    # NVFP4's UE4M3 scale of amax/6: its round bit set and clear, its subnormal range (amax/6 below
    # 2^-6), and the top of its range (ggml saturates anything from 2^8 to 448).
    blocks = []
    for a6 in [1.0625, 1.0624, 1.1875, 1.9375, 2.0**-7, 3 * 2.0**-9, 2.0**-10, 2.0**-11, 300.0, 448.0, 1000.0, 0.011]:
        b = rng.uniform(-1, 1, 16).astype(np.float32) * np.float32(a6 * 6)
        b[5] = np.float32(a6 * 6)
        blocks.append(b)
    out["scale_rounding"] = np.concatenate(blocks + [np.zeros(64, np.float32)])[:256]
    return out


def main():
    ggml = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/ggml")
    lib = build(ggml)
    quant, dequant = quantizers(lib), dequantizers(lib)
    commit = subprocess.run(["git", "-C", str(ggml), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = {"ggml": commit or "d99724f2b141fed9e1a9f402213506c081433465", "numpy": np.__version__, "cases": []}
    for name, x in cases().items():
        x = np.ascontiguousarray(x, dtype=np.float32)
        for fmt, (weights, size) in BLOCKS.items():
            if x.size % weights:
                continue
            q = np.zeros(x.size // weights * size, np.uint8)
            quant[fmt](x, q)
            y = np.zeros(x.size, np.float32)
            dequant[fmt](q, y)
            result["cases"].append({
                "case": name,
                "format": fmt,
                "input": [int(v) for v in x.view(np.uint32)],
                "bytes": q.tobytes().hex(),
                "dequantized": [int(v) for v in y.view(np.uint32)],
            })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result) + "\n")
    print(f"wrote {OUT} ({len(result['cases'])} cases, {OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
