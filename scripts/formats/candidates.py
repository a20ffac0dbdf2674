"""Models quantized elsewhere, for `--candidate`: a tiny random Llama, its Q4_K_M-style GGUF made as
llama.cpp makes one, its bnb-4bit NF4 checkpoint saved by transformers, and what each scores
against the base in transformers.

The base (tests/data/candidates/base) is a random LlamaForCausalLM: 1 layer, hidden 256 (so every
row of every decoder linear is whole 256-weight super-blocks and Q4_K needs no Q5_0 stand-in),
intermediate 256, 4 heads of 64, 2 KV heads, vocabulary 512 with the byte-level BPE tokenizer of
crates/quantbound-llama/tests/data/tiny_llama/tied_gqa, tied embeddings, default RoPE. Its weights
are rounded to bf16 and stored as bf16.

q4_k_m.gguf is written with gguf-py's GGUFWriter as convert_hf_to_gguf + llama-quantize Q4_K_M
lay it out: metadata under `llama.*`, the tokenizer as `tokenizer.ggml.*` (model gpt2), attn_q and
attn_k rows permuted for ggml's rotary layout (convert_hf_to_gguf's LlamaModel.permute), every
decoder linear Q4_K except attn_v and ffn_down, which Q4_K_M makes Q6_K, token_embd Q8_0 (a
mixture that reads every block type the report must), norms F32. The Q4_K and Q6_K bytes come from
ggml's C reference quantizers (quantize_row_q4_K_ref, quantize_row_q6_K_ref: llama-quantize
without an importance matrix), built as scripts/formats/ggml_ref.py builds them; Q8_0 from
gguf-py's quantizer. The values come back through gguf-py's numpy dequantizers, checked equal to
ggml's C dequantize_row_*.

bnb_nf4 is transformers' save_pretrained of the base loaded with BitsAndBytesConfig(load_in_4bit,
nf4, double quant, fp32 compute) on CPU: bnb's bytes, quant states (dtype bf16, the base's) and
config. Its values are bnb's reference dequantization formula (code[nibble] * absmax over flat
blocks, as docs/formats/bnb-4bit.md gives it; the absmax rebuilt from its double quant, rounded to bf16), not bnb's CPU dequantiser.

llama3_rope_q8_0.gguf is the Llama-3-style fixture crates/quantbound-llama/tests/data/tiny_llama/
llama32_rope (llama3 RoPE scaling, θ 500000, untied head) with every tensor but the norms in Q8_0
(gguf-py's quantizer), and its RoPE scaling as convert_hf_to_gguf writes it: a rope_freqs.weight
tensor of per-frequency divisors. It is scored against llama32_rope itself.

For each candidate, expected.json records every decoder linear's weight MSE against the base
(float64 over the float32 values), the bits per weight its decoder linears take, and the logit
metrics of transformers' base model holding the candidate's values (fp32, eager attention; the
embedding too for the GGUF) against the unmodified base on SENTENCES, tokenized by the base's
tokenizer (its ids are recorded too), as quantbound's LogitAccumulator defines them
(scripts/sensitivity/single_layer.py's `metrics`).

Ran with Python 3.11.7, torch 2.15.0, transformers 5.23.0, bitsandbytes 0.50.2, accelerate 1.16.0,
gguf 0.19.0, numpy 2.3.5, safetensors 0.8.0, gcc 12, ggml at commit
d99724f2b141fed9e1a9f402213506c081433465:
  /tmp/qbvenv/bin/python scripts/formats/candidates.py /tmp/ggml
Writes tests/data/candidates/{base/, q4_k_m.gguf, bnb_nf4/, llama3_rope_q8_0.gguf, expected.json}.
"""
import copy
import ctypes
import json
import math
import pathlib
import shutil
import sys

import numpy as np
import torch
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, TokenType
from gguf.quants import dequantize, quantize
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, LlamaConfig, LlamaForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts/sensitivity"))
sys.path.insert(0, str(ROOT / "scripts/formats"))
from ggml_ref import build  # noqa: E402
from single_layer import LINEARS, logits_of, metrics  # noqa: E402

TOKENIZER = ROOT / "crates/quantbound-llama/tests/data/tiny_llama/tied_gqa"
OUT = ROOT / "tests/data/candidates"
SENTENCES = [
    "The capital of France is Paris, and the capital of Italy is Rome.",
    "Rust is a systems programming language focused on safety.",
    "the theory of the rate and the distortion",
]
# HF linear → (GGUF name, Q4_K_M's type for it).
GGUF_LINEARS = {
    "self_attn.q_proj": ("attn_q", T.Q4_K), "self_attn.k_proj": ("attn_k", T.Q4_K),
    "self_attn.v_proj": ("attn_v", T.Q6_K), "self_attn.o_proj": ("attn_output", T.Q4_K),
    "mlp.gate_proj": ("ffn_gate", T.Q4_K), "mlp.up_proj": ("ffn_up", T.Q4_K), "mlp.down_proj": ("ffn_down", T.Q6_K),
}
BITS = {T.Q4_K: 4.5, T.Q6_K: 6.5625, T.Q8_0: 8.5}
# A Llama-3-style model (llama3 RoPE scaling, untied head) as an all-Q8_0 GGUF: its RoPE scaling
# travels as rope_freqs.weight, as convert_hf_to_gguf writes it.
LLAMA3 = ROOT / "crates/quantbound-llama/tests/data/tiny_llama/llama32_rope"
Q8_LINEARS = {hf: (name, T.Q8_0) for hf, (name, _) in GGUF_LINEARS.items()}
BLOCK = {T.Q4_K: (256, 144), T.Q6_K: (256, 210)}


def base_model():
    torch.manual_seed(20261204)
    config = LlamaConfig(vocab_size=512, hidden_size=256, intermediate_size=256, num_hidden_layers=1,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=64, max_position_embeddings=512,
                         rms_norm_eps=1e-5, tie_word_embeddings=True, initializer_range=0.1, bos_token_id=1,
                         eos_token_id=2, pad_token_id=0)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:  # the norms: not all ones, so a GGUF's F32 norms are read, not assumed
                p.copy_(1 + 0.1 * torch.randn_like(p))
            p.copy_(p.to(torch.bfloat16).float())
    return model


def permute(w, n_head, n_head_kv):
    """convert_hf_to_gguf's LlamaModel.permute."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def unpermute(w, n_head):
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def c_quantize(lib, w, qtype):
    per, nbytes = BLOCK[qtype]
    fn = {T.Q4_K: lib.quantize_row_q4_K_ref, T.Q6_K: lib.quantize_row_q6_K_ref}[qtype]
    fn.argtypes, fn.restype = [ctypes.POINTER(ctypes.c_float), ctypes.c_void_p, ctypes.c_int64], None
    x = np.ascontiguousarray(w, dtype=np.float32)
    out = np.zeros((x.shape[0], x.shape[1] // per * nbytes), dtype=np.uint8)
    fn(x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.ctypes.data, x.size)
    back = {T.Q4_K: lib.dequantize_row_q4_K, T.Q6_K: lib.dequantize_row_q6_K}[qtype]
    back.argtypes, back.restype = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64], None
    c_values = np.zeros_like(x)
    back(out.ctypes.data, c_values.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), x.size)
    py_values = dequantize(out, qtype)
    assert np.array_equal(c_values, py_values), f"gguf-py and ggml dequantize {qtype.name} differently"
    return out, py_values


def rope_factors(cfg):
    """convert_hf_to_gguf's LlamaModel.generate_extra_tensors for rope_type llama3: the divisors
    llama.cpp applies to each inverse frequency (rope_freqs.weight)."""
    rope = cfg.rope_parameters
    base, dim = rope["rope_theta"], cfg.head_dim
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor, low, high = rope.get("factor", 8.0), rope.get("low_freq_factor", 1.0), rope.get("high_freq_factor", 4.0)
    old = rope.get("original_max_position_embeddings", 8192)
    low_wavelen, high_wavelen = old / low, old / high
    factors = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen:
            factors.append(1)
        elif wavelen > low_wavelen:
            factors.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return np.array(factors, dtype=np.float32)


def write_gguf(model, lib, path, linears=GGUF_LINEARS, embd_type=T.Q8_0):
    """`model` as a GGUF at `path`, each decoder linear in `linears`' type; its values as stored and
    each linear's bits per weight."""
    cfg = model.config
    tok = json.loads((TOKENIZER / "tokenizer.json").read_text())
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    assert [i for _, i in vocab] == list(range(cfg.vocab_size))
    special = {t["id"] for t in tok["added_tokens"] if t["special"]}
    w = GGUFWriter(str(path), "llama")
    w.add_name("quantbound tiny candidate")
    w.add_context_length(cfg.max_position_embeddings)
    w.add_embedding_length(cfg.hidden_size)
    w.add_block_count(cfg.num_hidden_layers)
    w.add_feed_forward_length(cfg.intermediate_size)
    w.add_head_count(cfg.num_attention_heads)
    w.add_head_count_kv(cfg.num_key_value_heads)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]))
    w.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    w.add_file_type(15)  # LLAMA_FTYPE_MOSTLY_Q4_K_M
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt2")
    w.add_token_list([t for t, _ in vocab])
    w.add_token_types([TokenType.CONTROL if i in special else TokenType.NORMAL for _, i in vocab])
    w.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(0)
    w.add_add_bos_token(True)

    values = {}
    sd = {k: v.float().numpy() for k, v in model.state_dict().items()}
    embd = quantize(sd["model.embed_tokens.weight"], embd_type)
    values["model.embed_tokens.weight"] = dequantize(embd, embd_type)
    w.add_tensor("token_embd.weight", embd, raw_dtype=embd_type)
    if not cfg.tie_word_embeddings:
        head = quantize(sd["lm_head.weight"], embd_type)
        values["lm_head.weight"] = dequantize(head, embd_type)
        w.add_tensor("output.weight", head, raw_dtype=embd_type)
    if cfg.rope_parameters.get("rope_type") == "llama3":
        w.add_tensor("rope_freqs.weight", rope_factors(cfg))
    for layer in range(cfg.num_hidden_layers):
        w.add_tensor(f"blk.{layer}.attn_norm.weight", sd[f"model.layers.{layer}.input_layernorm.weight"])
        w.add_tensor(f"blk.{layer}.ffn_norm.weight", sd[f"model.layers.{layer}.post_attention_layernorm.weight"])
        for hf, (name, qtype) in linears.items():
            weight = sd[f"model.layers.{layer}.{hf}.weight"]
            heads = {"self_attn.q_proj": cfg.num_attention_heads, "self_attn.k_proj": cfg.num_key_value_heads}.get(hf)
            if heads is not None:
                weight = permute(weight, cfg.num_attention_heads, heads if hf == "self_attn.k_proj" else None)
            if qtype in BLOCK:
                packed, v = c_quantize(lib, weight, qtype)
            else:
                packed = quantize(weight, qtype)
                v = dequantize(packed, qtype)
            values[f"model.layers.{layer}.{hf}.weight"] = unpermute(v, heads) if heads is not None else v
            w.add_tensor(f"blk.{layer}.{name}.weight", packed, raw_dtype=qtype)
    w.add_tensor("output_norm.weight", sd["model.norm.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    bits = {f"model.layers.{l}.{hf}.weight": BITS[q] for l in range(cfg.num_hidden_layers)
            for hf, (_, q) in linears.items()}
    return values, bits


def bnb_values(model):
    """Each quantized linear's values by bnb's reference formula, the absmax rebuilt from its nested
    quantization; and the bits it takes (packed codes, nested absmax bytes, nested scales)."""
    import bitsandbytes.functional as F
    from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
    values, bits = {}, {}
    for name, module in model.named_modules():
        state = getattr(getattr(module, "weight", None), "quant_state", None)
        if state is None:
            continue
        absmax = F.dequantize_blockwise(state.absmax, state.state2) + state.offset
        v = _dequantize_4bit_compute(module.weight.data.reshape(-1), absmax.float(), state.code, state.blocksize,
                                     state.shape, state.dtype)
        values[f"{name}.weight"] = v.reshape(state.shape).float().numpy()
        n = state.shape.numel()
        # The code tables and the one f32 offset are the format's constants, not counted (4.127 bits).
        stored = module.weight.data.numel() * 8 + state.absmax.numel() * 8 + state.state2.absmax.numel() * 32
        bits[f"{name}.weight"] = stored / n
    return values, bits


def score(base, values, ids, mask, ref):
    model = copy.deepcopy(base)
    with torch.no_grad():
        for name, v in values.items():
            model.get_parameter(name).copy_(torch.from_numpy(np.asarray(v, dtype=np.float32)))
    sd = {k: v.float().numpy() for k, v in base.state_dict().items()}
    weight_mse = {name: float(np.mean((np.float64(v) - np.float64(sd[name])) ** 2))
                  for name, v in values.items() if name not in ("model.embed_tokens.weight", "lm_head.weight")}
    return weight_mse, metrics(ref, logits_of(model, ids, mask), ids, mask)


def main():
    ggml = pathlib.Path(sys.argv[1])
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "base").mkdir(parents=True)
    model = base_model()
    model.to(torch.bfloat16).save_pretrained(OUT / "base")
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(TOKENIZER / f, OUT / "base" / f)
    base = AutoModelForCausalLM.from_pretrained(OUT / "base", dtype=torch.float32, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(OUT / "base")
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    ids, mask = batch["input_ids"], batch["attention_mask"]
    ref = logits_of(base, ids, mask)
    out = {"sentences": SENTENCES, "input_ids": [row[m.bool()].tolist() for row, m in zip(ids, mask)],
           "candidates": {}}

    values, bits = write_gguf(base, build(ggml), OUT / "q4_k_m.gguf")
    weight_mse, m = score(base, values, ids, mask, ref)
    out["candidates"]["q4_k_m.gguf"] = {"weight_mse": weight_mse, "bits": bits, **m}

    quantized = AutoModelForCausalLM.from_pretrained(
        OUT / "base", attn_implementation="eager", device_map="cpu",
        quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                               bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=torch.float32))
    quantized.save_pretrained(OUT / "bnb_nf4")
    for f in ["tokenizer.json", "tokenizer_config.json"]:
        shutil.copy(TOKENIZER / f, OUT / "bnb_nf4" / f)
    values, bits = bnb_values(quantized)
    weight_mse, m = score(base, values, ids, mask, ref)
    out["candidates"]["bnb_nf4"] = {"weight_mse": weight_mse, "bits": bits, **m}

    # The Llama-3-style GGUF, against its own HF folder on the same sentences.
    llama3 = AutoModelForCausalLM.from_pretrained(LLAMA3, dtype=torch.float32, attn_implementation="eager").eval()
    ref3 = logits_of(llama3, ids, mask)
    values, bits = write_gguf(llama3, None, OUT / "llama3_rope_q8_0.gguf", Q8_LINEARS)
    weight_mse, m = score(llama3, values, ids, mask, ref3)
    out["candidates"]["llama3_rope_q8_0.gguf"] = {"weight_mse": weight_mse, "bits": bits, **m}
    (OUT / "expected.json").write_text(json.dumps(out, indent=1) + "\n")
    for name, c in out["candidates"].items():
        print(name, {k: c[k] for k in ["logits_mse", "kl_mean", "delta_ce", "top1_agreement"]})


if __name__ == "__main__":
    main()
