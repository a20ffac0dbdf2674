"""Golden outputs of INT4 round-to-nearest with a zero-point per group, by AutoAWQ's own code.

The reference is `AwqQuantizer.pseudo_quantize_tensor` from AutoAWQ 0.2.9 (awq/quantize/
quantizer.py): per group of g weights along a row, scale = clamp(max − min, 1e-5) / 15 and zero =
clamp(−round(min / scale), 0, 15), q = clamp(round(w / scale) + zero, 0, 15), w' = (q − zero) ·
scale; and its symmetric branch (scale = clamp(max|w|, 1e-5) / 7, q in [−8, 7]). AutoAWQ runs it
on an f16 model, so the inputs here are f16 and torch does the arithmetic in f16 on the CPU. The
package needs `datasets` and a CUDA-era transformers to import, so this script takes the one
method's source out of the downloaded sdist with `ast` and runs it as is, with an object that has
the three attributes it reads (w_bit, group_size, zero_point).

Ran with Python 3.11.7, torch 2.15.0, numpy 2.3.5 (the venv of scripts/sensitivity/single_layer.py):
  /tmp/qbvenv/bin/pip download autoawq==0.2.9 --no-deps -d /tmp/awq_dl
  tar xzf /tmp/awq_dl/autoawq-0.2.9.tar.gz -C /tmp/awq_dl
  /tmp/qbvenv/bin/python scripts/formats/awq_int4.py /tmp/awq_dl/autoawq-0.2.9/awq/quantize/quantizer.py
Writes crates/quantbound-formats/tests/data/awq_int4.json (f16 bit patterns).
"""
import ast
import json
import pathlib
import sys
import types

import numpy as np
import torch

OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/quantbound-formats/tests/data/awq_int4.json"


def awq_method(path):
    tree = ast.parse(pathlib.Path(path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == "pseudo_quantize_tensor":
            namespace = {"torch": torch}
            exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), namespace)
            return namespace["pseudo_quantize_tensor"]
    raise SystemExit(f"{path}: no pseudo_quantize_tensor")


def cases(rng):
    out = {}
    for scale in [1.0, 0.02]:
        out[f"normal_{scale}"] = (rng.standard_normal((2, 128)) * scale).astype(np.float16)
    out["laplace"] = rng.laplace(size=(1, 256)).astype(np.float16) * np.float16(0.05)
    zeros = np.zeros((2, 128), np.float16)
    zeros[1, :64] = 1e-7  # below the 1e-5 clamp
    out["zeros_and_tiny"] = zeros
    out["equal"] = np.concatenate([np.full((1, 128), 0.25, np.float16), np.full((1, 128), -2.0, np.float16)])
    # Multiples of half a step in a group whose range is 15 (scale 1): round-half-even ties.
    ties = np.tile(np.arange(-8, 8, 0.5, dtype=np.float16), 4)[None, :128]
    ties[0, 0], ties[0, 1] = -7.5, 7.5
    out["ties"] = ties
    out["positive_only"] = (np.abs(rng.standard_normal((1, 128))) + 0.5).astype(np.float16)
    return out


def main():
    quantize = awq_method(sys.argv[1])
    rng = np.random.default_rng(3)
    result = {"autoawq": "0.2.9", "torch": torch.__version__, "cases": []}
    for name, w in cases(rng).items():
        for group in [32, 64, 128]:
            for zero_point in [True, False]:
                this = types.SimpleNamespace(w_bit=4, group_size=group, zero_point=zero_point)
                wq, scales, zeros = quantize(this, torch.from_numpy(w.copy()))
                result["cases"].append({
                    "case": name,
                    "group": group,
                    "zero_point": zero_point,
                    "shape": list(w.shape),
                    "input": [int(v) for v in w.reshape(-1).view(np.uint16)],
                    "output": [int(v) for v in wq.numpy().reshape(-1).view(np.uint16)],
                    "scales": [int(v) for v in scales.numpy().reshape(-1).view(np.uint16)],
                    "zeros": None if zeros is None else [int(v) for v in zeros.numpy().reshape(-1)],
                })
    OUT.write_text(json.dumps(result) + "\n")
    print(f"wrote {OUT} ({len(result['cases'])} cases, {OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
