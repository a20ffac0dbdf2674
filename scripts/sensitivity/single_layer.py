"""Reference numbers for the report's per-layer sensitivity, computed by transformers + bitsandbytes.

For a model and a set of token sequences, each run replaces the weights of some decoder linears by
bitsandbytes' dequantize(quantize_4bit(W)) (blocksize 64, no double quant, flat blocks over the
weight as bnb stores it) and runs transformers' LlamaForCausalLM (fp32, eager attention) on the
right-padded batch. Against the unmodified model's logits it computes, as quantbound's
LogitAccumulator defines them:
  logits_mse      mean (z_ref - z_q)^2 over real positions x vocabulary;
  kl_mean         mean KL(p_ref || p_q), nats, over scored positions (those whose next token is
                  real), each clamped at 0;
  delta_ce        mean next-token CE of q minus that of the reference, over scored positions;
  top1_agreement  fraction of scored positions where both argmaxes agree.

Outputs (committed; see tests/data/sensitivity/README.md):
  tiny.json            the tiny random Llama of crates/quantbound-llama/tests/data/tiny_llama/
                       tied_gqa on its four sequences: every (format, layer) run with only that
                       layer quantized, the fully quantized model, the sums over layers, and the
                       run keeping the most sensitive layer (k = 1 of the report's allocation);
  tiny_layer1_nf4_logits.safetensors
                       the logits [4, 24, 512] of the model whose layer 1 alone is NF4;
  smollm2_layer8.json  the sample SmolLM2-135M-Instruct (its Q4_1 GGUF, dequantized by
                       transformers) on two sentences, layer 8 alone quantized, NF4 and FP4, with
                       the token ids transformers' tokenizer gave.

Ran with Python 3.11.7, torch 2.15.0, bitsandbytes 0.50.2, transformers 5.23.0, gguf 0.19.0,
safetensors 0.8.0, numpy 2.3.5:
  python3 -m venv /tmp/qbvenv
  /tmp/qbvenv/bin/pip install torch==2.15.0 bitsandbytes==0.50.2 transformers==5.23.0 gguf==0.19.0 \
      accelerate safetensors numpy
  /tmp/qbvenv/bin/python scripts/sensitivity/single_layer.py [path/to/SmolLM2-135M-Instruct.Q4_1.gguf]
The GGUF defaults to the sample's cache path (`cargo xtask fetch-sample`).
"""
import copy
import json
import pathlib
import sys

import torch
import bitsandbytes.functional as F
from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ROOT / "crates/quantbound-llama/tests/data/tiny_llama/tied_gqa"
OUT = ROOT / "tests/data/sensitivity"
SAMPLE = pathlib.Path.home() / ".cache/quantbound/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
BLOCKSIZE = 64
SENTENCES = [
    "The capital of France is Paris, and the capital of Italy is Rome.",
    "Rust is a systems programming language focused on safety.",
]


def bnb_roundtrip(w, quant_type):
    """bnb's dequantize(quantize_4bit(w)), flat blocks (bnb's generic dequantiser; its CPU kernel
    is wrong where a row is not whole blocks)."""
    packed, state = F.quantize_4bit(w.contiguous(), blocksize=BLOCKSIZE, compress_statistics=False,
                                    quant_type=quant_type)
    out = _dequantize_4bit_compute(packed.reshape(-1), state.absmax, state.code, BLOCKSIZE, state.shape,
                                   state.dtype)
    return out.reshape(w.shape)


def quantized(model, layers, quant_type, linears=LINEARS):
    """A copy of `model` whose decoder linears `linears` in `layers` are bnb round trips."""
    m = copy.deepcopy(model)
    for layer in layers:
        for name in linears:
            module = m.get_submodule(f"model.layers.{layer}.{name}")
            with torch.no_grad():
                module.weight.copy_(bnb_roundtrip(module.weight.data, quant_type))
    return m


@torch.no_grad()
def logits_of(model, ids, mask):
    return model(input_ids=ids, attention_mask=mask).logits.float()


def metrics(ref, q, ids, mask):
    """The LogitAccumulator numbers of logits `q` against `ref` ([batch, seq, vocab])."""
    ref, q = ref.double(), q.double()
    real = mask.bool()
    se = ((ref - q) ** 2).sum(-1)[real]
    scored = real[:, :-1] & real[:, 1:]
    targets = ids[:, 1:]
    lp_ref = torch.log_softmax(ref[:, :-1], -1)
    lp_q = torch.log_softmax(q[:, :-1], -1)
    kl = (lp_ref.exp() * (lp_ref - lp_q)).sum(-1).clamp_min(0)[scored]
    t_ref = lp_ref.gather(-1, targets[..., None])[..., 0][scored]
    t_q = lp_q.gather(-1, targets[..., None])[..., 0][scored]
    top1 = (lp_ref.argmax(-1) == lp_q.argmax(-1))[scored].double()
    return {
        "logits_mse": float(se.sum() / (se.numel() * ref.shape[-1])),
        "kl_mean": float(kl.mean()),
        "delta_ce": float((-t_q).mean() - (-t_ref).mean()),
        "top1_agreement": float(top1.mean()),
        "scored_positions": int(scored.sum()),
    }


def tiny():
    reference = load_file(str(TINY / "reference.safetensors"))
    ids, mask = reference["input_ids"], reference["attention_mask"]
    model = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32, attn_implementation="eager").eval()
    layers = model.config.num_hidden_layers
    ref = logits_of(model, ids, mask)
    out = {"blocksize": BLOCKSIZE, "layers": [], "linears": [], "full": {}, "sums": {}, "kept": {}}
    for quant_type in ["nf4", "fp4"]:
        per_layer = []
        for layer in range(layers):
            logits = logits_of(quantized(model, [layer], quant_type), ids, mask)
            if (layer, quant_type) == (1, "nf4"):
                save_file({"logits": logits.contiguous()}, str(OUT / "tiny_layer1_nf4_logits.safetensors"))
            m = metrics(ref, logits, ids, mask)
            per_layer.append(m)
            out["layers"].append({"layer": layer, "format": quant_type, **m})
        out["full"][quant_type] = metrics(ref, logits_of(quantized(model, range(layers), quant_type), ids, mask), ids,
                                          mask)
        out["sums"][quant_type] = {"sum_kl": sum(m["kl_mean"] for m in per_layer),
                                   "sum_delta_ce": sum(m["delta_ce"] for m in per_layer)}
        for name in LINEARS:
            logits = logits_of(quantized(model, range(layers), quant_type, [name]), ids, mask)
            out["linears"].append({"linear": name, "format": quant_type, **metrics(ref, logits, ids, mask)})
        most = max(range(layers), key=lambda l: per_layer[l]["kl_mean"])
        rest = [l for l in range(layers) if l != most]
        kept = metrics(ref, logits_of(quantized(model, rest, quant_type), ids, mask), ids, mask)
        out["kept"][quant_type] = {"k": 1, "kept_layers": [most], **kept}
    return out


def smollm2(gguf):
    folder, name = gguf.parent, gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    rows = [tokenizer(s)["input_ids"] for s in SENTENCES]
    seq = max(map(len, rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([r + [pad] * (seq - len(r)) for r in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (seq - len(r)) for r in rows])
    ref = logits_of(model, ids, mask)
    out = {"blocksize": BLOCKSIZE, "sentences": SENTENCES, "input_ids": rows, "layer": 8, "runs": {}}
    for quant_type in ["nf4", "fp4"]:
        out["runs"][quant_type] = metrics(ref, logits_of(quantized(model, [8], quant_type), ids, mask), ids, mask)
    return out


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tiny.json").write_text(json.dumps(tiny(), indent=1) + "\n")
    gguf = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLE
    (OUT / "smollm2_layer8.json").write_text(json.dumps(smollm2(gguf), indent=1) + "\n")
    print("wrote", *sorted(p.name for p in OUT.iterdir()))


if __name__ == "__main__":
    main()
