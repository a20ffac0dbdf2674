"""Reference numbers for llama.cpp's formats in quantbound's report, from transformers + gguf-py.

The tiny random Llama of crates/quantbound-llama/tests/data/tiny_llama/llama32_rope (every row a
multiple of 32 weights) has each decoder linear replaced by gguf-py's
dequantize(quantize(W, type)) for Q4_0, Q4_1 and MXFP4 (blocks of 32 along each row, as a GGUF
stores a [out, in] weight), then runs in transformers (fp32, eager attention) on the fixture's
padded batch. For each format it records every linear's weight MSE (float64 over the float32
values) and the logit metrics against the unmodified model, defined as quantbound's
LogitAccumulator defines them (scripts/sensitivity/single_layer.py's `metrics`).

Ran with Python 3.11.7, torch 2.15.0, transformers 5.23.0, gguf 0.19.0, numpy 2.3.5,
safetensors 0.8.0 (the venv of scripts/sensitivity/single_layer.py):
  /tmp/qbvenv/bin/python scripts/formats/tiny_ggml_logits.py
Writes tests/data/formats/tiny_ggml.json.
"""
import copy
import json
import pathlib
import sys

import numpy as np
import torch
from gguf import GGMLQuantizationType as T
from gguf.quants import dequantize, quantize
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts/sensitivity"))
from single_layer import LINEARS, logits_of, metrics  # noqa: E402

TINY = ROOT / "crates/quantbound-llama/tests/data/tiny_llama/llama32_rope"
OUT = ROOT / "tests/data/formats/tiny_ggml.json"
TYPES = {"q4_0": T.Q4_0, "q4_1": T.Q4_1, "mxfp4": T.MXFP4}


def main():
    reference = load_file(str(TINY / "reference.safetensors"))
    ids, mask = reference["input_ids"], reference["attention_mask"]
    model = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32, attn_implementation="eager").eval()
    ref = logits_of(model, ids, mask)
    out = {"formats": {}}
    for name, qtype in TYPES.items():
        m = copy.deepcopy(model)
        mse = {}
        for layer in range(m.config.num_hidden_layers):
            for linear in LINEARS:
                module = m.get_submodule(f"model.layers.{layer}.{linear}")
                w = module.weight.data.numpy().astype(np.float32)
                wq = dequantize(quantize(w, qtype), qtype).reshape(w.shape).astype(np.float32)
                mse[f"model.layers.{layer}.{linear}.weight"] = float(np.mean((w.astype(np.float64) - wq) ** 2))
                with torch.no_grad():
                    module.weight.copy_(torch.from_numpy(wq))
        out["formats"][name] = {"weight_mse": mse, **metrics(ref, logits_of(m, ids, mask), ids, mask)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
