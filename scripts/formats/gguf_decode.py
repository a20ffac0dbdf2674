"""Golden dequantizations of every GGUF block type quantbound reads, from the `gguf` Python package.

gguf-py 0.19's `gguf.quants.dequantize` is llama.cpp's `dequantize_row_*` in numpy. For Q4_0,
Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K, IQ4_NL, MXFP4 and NVFP4 this script draws random block bytes (every code
and packed scale bit pattern occurs), with each f16 field a random finite half (so no NaN payloads
are compared), and stores the bytes with gguf-py's float32 result.

Ran with Python 3.11.7, numpy 2.3.5, gguf 0.19.0 (the venv of scripts/formats/gguf_quants.py):
  /tmp/npvenv/bin/python scripts/formats/gguf_decode.py
Writes crates/quantbound-formats/tests/data/gguf_decode.json (hex bytes, float32 bit patterns).
"""
import json
import pathlib

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/quantbound-formats/tests/data/gguf_decode.json"
# Each type's f16 fields as byte offsets within its block.
F16_FIELDS = {
    T.Q4_0: [0], T.Q4_1: [0, 2], T.Q8_0: [0], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208], T.IQ4_NL: [0],
    T.MXFP4: [], T.Q5_0: [0], T.NVFP4: [],
}
BLOCKS = 6


def main():
    rng = np.random.default_rng(5)
    cases = []
    for qtype, fields in F16_FIELDS.items():
        block, size = GGML_QUANT_SIZES[qtype]
        raw = rng.integers(0, 256, size=(BLOCKS, size), dtype=np.uint8)
        for offset in fields:
            halves = (rng.standard_normal(BLOCKS) * 0.05).astype(np.float16)
            raw[:, offset:offset + 2] = halves.view(np.uint8).reshape(BLOCKS, 2)
        if qtype == T.MXFP4:
            raw[:, 0] = rng.integers(100, 140, size=BLOCKS)  # exponents around 2^0
        if qtype == T.NVFP4:
            # UE4M3 scales: every byte but 0x7F (E4M3's NaN, which ggml reads as 0) and 0xFF.
            raw[:, :4] = rng.integers(0, 0x7F, size=(BLOCKS, 4))
            raw[0, 0] = 0x7F
        values = dequantize(raw.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
        assert values.size == BLOCKS * block and np.isfinite(values).all()
        cases.append({
            "type": qtype.name,
            "bytes": raw.tobytes().hex(),
            "dequantized": [int(v) for v in values.view(np.uint32)],
        })
    OUT.write_text(json.dumps({"gguf": "0.19.0", "numpy": np.__version__, "cases": cases}) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
