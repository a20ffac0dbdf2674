"""Check that transformers + bitsandbytes load what `cargo xtask quantize` writes (not part of CI).

For several settings it quantizes the tiny fp32 Llama in the codebook crate's test data with our
xtask, loads the folder with transformers on CPU, and checks that
  1. loading succeeds and every decoder linear is a bnb Linear4bit with our settings;
  2. bnb's own dequantization of every loaded weight equals `cargo xtask dequantize` bit for bit;
  3. a forward pass gives finite logits, and for NF4 + double quant + blocksize 64 (transformers'
     own settings) the logits equal those of transformers quantizing the fp32 model itself.

Where a weight's rows are not a multiple of the blocksize, bnb 0.50.2's CPU kernels are wrong
(its AVX-512 dequantiser picks the wrong absmax, docs/formats/bnb-4bit.md) and its CPU forward
cannot even repack the weight. There the weights are compared with bnb's generic torch
dequantiser instead, and the forward is skipped, saying so.

Ran with Python 3.11.7, torch 2.15.0, bitsandbytes 0.50.2, transformers 5.23.0, safetensors 0.8.0:
  python3 -m venv /tmp/qbvenv
  /tmp/qbvenv/bin/pip install torch==2.15.0 bitsandbytes==0.50.2 transformers==5.23.0 accelerate safetensors
  /tmp/qbvenv/bin/python scripts/verify/transformers_load.py
"""
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile

import torch
import bitsandbytes as bnb
import bitsandbytes.functional as F
from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ROOT / "crates/quantbound-codebook/tests/data/bnb4bit/tiny_llama_fp32"
LINEARS = r"layers\.\d+\.(self_attn|mlp)\.\w+_proj\.weight$"
SETTINGS = [("nf4", 64, True), ("nf4", 64, False), ("fp4", 64, True), ("fp4", 128, False), ("nf4", 32, True), ("nf4", 4096, False)]


def xtask(*args):
    subprocess.run(["cargo", "xtask", *args], cwd=ROOT, check=True, capture_output=True)


def main():
    tokens = torch.tensor([[1, 5, 9, 17, 33, 2, 40, 63]])
    reference = AutoModelForCausalLM.from_pretrained(
        TINY,
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.float32),
        device_map="cpu")
    with torch.no_grad():
        reference_logits = reference(tokens).logits
    failures = 0
    for quant_type, blocksize, dq in SETTINGS:
        label = f"{quant_type} blocksize {blocksize} double_quant {dq}"
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "model"
            out.mkdir()
            args = ["quantize", "--input", str(TINY / "model.safetensors"), "--output", str(out / "model.safetensors"),
                    "--quant-type", quant_type, "--blocksize", str(blocksize), "--only", LINEARS]
            xtask(*(args + (["--double-quant"] if dq else [])))
            xtask("dequantize", "--input", str(out / "model.safetensors"), "--output", str(pathlib.Path(tmp) / "dense.safetensors"))
            dense = load_file(str(pathlib.Path(tmp) / "dense.safetensors"))

            model = AutoModelForCausalLM.from_pretrained(out, device_map="cpu")
            linears = {n: m for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)}
            assert len(linears) == 7, f"{label}: {len(linears)} Linear4bit modules"
            bnb_cpu_ok = all(m.in_features % blocksize == 0 for m in linears.values())
            for name, module in linears.items():
                state = module.weight.quant_state
                assert (state.quant_type, state.blocksize, state.nested) == (quant_type, blocksize, dq), (label, name)
                if module.in_features % blocksize == 0:
                    theirs = F.dequantize_4bit(module.weight.data, state).reshape(-1)
                else:
                    absmax = F.dequantize_blockwise(state.absmax, state.state2) + state.offset if dq else state.absmax
                    theirs = _dequantize_4bit_compute(module.weight.data.reshape(-1), absmax, state.code,
                                                      blocksize, state.shape, state.dtype).reshape(-1)
                ours = dense[name + ".weight"].reshape(-1)
                if not torch.equal(theirs, ours):
                    failures += 1
                    print(f"FAIL {label}: {name} bnb dequantization differs from ours")
            if not bnb_cpu_ok:
                print(f"ok   {label}: loaded, 7 Linear4bit, weights equal bnb's generic dequantiser; forward "
                      "skipped (bnb's CPU forward needs in_features to be a multiple of the blocksize)")
                continue
            with torch.no_grad():
                logits = model(tokens).logits
            assert torch.isfinite(logits).all(), label
            same = torch.equal(logits, reference_logits)
            if (quant_type, blocksize, dq) == ("nf4", 64, True) and not same:
                failures += 1
                print(f"FAIL {label}: logits differ from transformers' own quantization")
            print(f"ok   {label}: loaded, 7 Linear4bit, weights equal, logits finite"
                  + (", logits equal transformers' own quantization" if same else ""))
    print("transformers", __import__("transformers").__version__, "bitsandbytes", bnb.__version__, "torch", torch.__version__)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
