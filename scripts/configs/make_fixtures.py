"""Tiny random Mistral and Qwen2 checkpoints with transformers' reference logits, laid out as the
tiny Llama fixtures are (crates/quantbound-llama/tests/data/tiny_llama/tied_gqa), so the Llama
forward can be checked against transformers on these two Llama-family configs.

Both models: vocabulary 512 (the byte-level BPE tokenizer of tied_gqa, its tokenizer.json,
tokenizer_config.json and tokenization.json copied unchanged), hidden 64, intermediate 128,
2 layers, 4 heads and 2 KV heads of 16, RMSNorm eps 1e-5, silu, bos 1 / eos 2 / pad 0, f32 on disk,
RoPE θ 1e6 (transformers' default for both is 1e4, tied_gqa's value):
  tiny_mistral  MistralForCausalLM, untied lm_head, sliding_window 4096 (longer than any sequence
                here, so it never masks anything);
  tiny_qwen2    Qwen2ForCausalLM, tied embeddings, use_sliding_window false, q/k/v projections with
                biases (Qwen2 always has them; o_proj and the MLP have none).

Initialisation is tied_gqa's (this recipe with its seed 1234 reproduces its weights exactly):
torch.manual_seed, build the model, then overwrite every parameter, in the order of
sorted(named_parameters()), from torch.Generator().manual_seed(seed): embed_tokens ~ N(0, 0.3²),
every norm weight 1 + 0.1·N(0, 1), every *_proj.weight ~ N(0, 0.15²); and, new here, the untied
lm_head ~ N(0, 0.3²) (llama32_rope's 0.2 gives a logit std of 1.6 at hidden 64, against tied_gqa's
2.4) and every *_proj.bias ~ N(0, 0.1²). The logits then have a std of about 2.4 and a max |logit|
of about 10, as tied_gqa's.

Each folder gets save_pretrained's config.json, generation_config.json and model.safetensors;
config_legacy.json (top-level rope_theta/rope_scaling and torch_dtype, which transformers loads to
bitwise-equal logits, checked here); and reference.safetensors, computed from the saved folder
reloaded with AutoModelForCausalLM (fp32, eager attention, eval, no_grad) on tied_gqa's four
right-padded sequences (input_ids, attention_mask, lengths copied from its reference):
  logits                     [4, 24, 512] f32
  logits_nf4                 the same with the weight of every decoder linear
                             (self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj) replaced by bnb's
                             quantize_4bit (nf4, blocksize 64, no double quant) and bnb's flat-block
                             reference dequantisation; biases, norms, embeddings, lm_head untouched
  ce, ce_nf4, ce_mask,       per-position next-token CE (float64 from the f32 logits, stored f32, 0
  loss, loss_nf4             where ce_mask is 0), and sum(ce)/sum(ce_mask)
  inv_freq                   [8] f32, transformers' RoPE inverse frequencies
  logits_window8             tiny_mistral only: the fp32 logits of the same model and inputs with
                             config.sliding_window = 8 (each query sees itself and the 7 keys before
                             it), so that the sliding-window mask is exercised
The nf4_dq and fp4 variants of tied_gqa's reference are not written here (to keep the repo small);
the 4-bit recipe is still checked first by rebuilding tied_gqa's logits_nf4/_nf4_dq/_fp4 bitwise.
Each folder is then reloaded and its logits checked bitwise against the reference. logits_window8
is checked to be bitwise equal to logits at positions < 8, different at every real position >= 8,
bitwise equal to a load with from_pretrained(..., sliding_window=8), and within 1e-4 of a float64
re-implementation of the forward with an explicit window-8 causal mask (which also checks that a
window of 8 means "the query and the 7 keys before it").

Ran with Python 3.11.7, torch 2.15.0 (CPU, 1 thread), transformers 5.23.0, bitsandbytes 0.50.2,
accelerate 1.16.0, safetensors 0.8.0, tokenizers 0.23.3, numpy 2.4.6:
  python3 -m venv /tmp/qbvenv
  /tmp/qbvenv/bin/pip install torch==2.15.0 transformers==5.23.0 bitsandbytes==0.50.2 \
      accelerate==1.16.0 safetensors==0.8.0 tokenizers==0.23.3 numpy
  /tmp/qbvenv/bin/python scripts/configs/make_fixtures.py
Writes crates/quantbound-llama/tests/data/{tiny_mistral,tiny_qwen2}/.
"""
import json
import os
import pathlib
import shutil
import tempfile

import torch
import bitsandbytes.functional as F
from bitsandbytes.backends.default.ops import _dequantize_4bit_compute
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "crates/quantbound-llama/tests/data"
TIED_GQA = DATA / "tiny_llama/tied_gqa"
TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json", "tokenization.json"]
LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
BLOCKSIZE = 64
# tied_gqa's reference suffix → (quant_type, double quant): all three rebuild tied_gqa's bitwise
RECIPE_VARIANTS = {"_nf4": ("nf4", False), "_nf4_dq": ("nf4", True), "_fp4": ("fp4", False)}
# the ones written to tiny_mistral's and tiny_qwen2's reference (nf4_dq and fp4 dropped to keep the repo small)
VARIANTS = {"_nf4": RECIPE_VARIANTS["_nf4"]}
WINDOW = 8  # tiny_mistral's logits_window8: the sliding window that masks keys 8 or more positions back
SHARED = dict(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
              rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, bos_token_id=1, eos_token_id=2,
              pad_token_id=0, attn_implementation="eager")


def mistral():
    config = MistralConfig(**SHARED, head_dim=16, sliding_window=4096, tie_word_embeddings=False)
    return MistralForCausalLM, config, 3141, WINDOW


def qwen2():
    # Qwen2's config has no head_dim: it is hidden_size / num_attention_heads = 16.
    config = Qwen2Config(**SHARED, tie_word_embeddings=True, use_sliding_window=False)
    return Qwen2ForCausalLM, config, 2718, None


def initialise(model, seed):
    """tied_gqa's initialisation (see the docstring), biases added."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "embed_tokens" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif "lm_head" in name:  # the embedding's scale: logits spread as tied_gqa's
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
            elif "norm" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("_proj.weight"):
                p.copy_(0.15 * torch.randn(p.shape, generator=g))
            elif name.endswith("_proj.bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                raise ValueError(f"no initialisation for {name}")


def dequant_replacement(w, quant_type, double_quant):
    """bnb's quantize_4bit of `w` and its flat-block reference dequantisation: code[nibble] *
    absmax[i // 64], the absmax first rebuilt from its double quant when there is one."""
    packed, state = F.quantize_4bit(w.contiguous(), blocksize=BLOCKSIZE, compress_statistics=double_quant,
                                    quant_type=quant_type)
    absmax = state.absmax
    if double_quant:
        absmax = F.dequantize_blockwise(state.absmax, state.state2) + state.offset
    out = _dequantize_4bit_compute(packed.reshape(-1), absmax.float(), state.code, BLOCKSIZE, state.shape,
                                   state.dtype)
    return out.reshape(w.shape)


@torch.no_grad()
def logits_of(model, ids, mask, quant=None):
    """Logits of `model`, or, with quant = (quant_type, double_quant), of the same model with its decoder
    linears' weights replaced by their dequantisation (restored afterwards)."""
    saved = {}
    if quant is not None:
        for layer in range(model.config.num_hidden_layers):
            for name in LINEARS:
                weight = model.get_submodule(f"model.layers.{layer}.{name}").weight
                saved[weight] = weight.detach().clone()
                weight.copy_(dequant_replacement(weight.data, *quant))
    logits = model(input_ids=ids, attention_mask=mask).logits.float()
    for weight, value in saved.items():
        weight.copy_(value)
    return logits


def cross_entropy(logits, ids, mask):
    """Per-position next-token CE (float64, stored f32; 0 where the next token is padding) and its mean."""
    ce_mask = mask[:, 1:]
    lp = torch.log_softmax(logits[:, :-1].double(), -1)
    ce = -lp.gather(-1, ids[:, 1:, None])[..., 0] * ce_mask
    loss = ce.sum() / ce_mask.sum()
    return ce.float(), ce_mask, loss.float().reshape(1)


def load(folder, **kwargs):
    return AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager",
                                                **kwargs).eval()


def manual_logits(folder, ids, mask, window):
    """A float64 re-implementation of the Mistral forward (no biases, untied head) with an explicit mask:
    query i sees key j when j <= i, i - j < window and j is not padding; positions are 0..T-1."""
    config = json.loads((folder / "config.json").read_text())
    w = {k: v.double() for k, v in load_file(str(folder / "model.safetensors")).items()}
    heads, kv_heads, head_dim = config["num_attention_heads"], config["num_key_value_heads"], config["head_dim"]
    eps, theta = config["rms_norm_eps"], config["rope_parameters"]["rope_theta"]
    batch, seq = ids.shape
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(seq, dtype=torch.float64), inv_freq).repeat(1, 2)
    cos, sin = angles.cos(), angles.sin()
    query, key = torch.arange(seq)[:, None], torch.arange(seq)[None, :]
    allowed = ((key <= query) & (query - key < window))[None] & mask.bool()[:, None, :]  # [B, T, T]

    def rms(x, weight):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

    def rope(x):
        half = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin

    x = w["model.embed_tokens.weight"][ids]
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q, k, v = (h @ w[p + f"self_attn.{n}_proj.weight"].T for n in "qkv")
        q = rope(q.view(batch, seq, heads, head_dim).transpose(1, 2))
        k = rope(k.view(batch, seq, kv_heads, head_dim).transpose(1, 2)).repeat_interleave(heads // kv_heads, 1)
        v = v.view(batch, seq, kv_heads, head_dim).transpose(1, 2).repeat_interleave(heads // kv_heads, 1)
        scores = (q @ k.transpose(-1, -2) / head_dim ** 0.5).masked_fill(~allowed[:, None], float("-inf"))
        # a padding query whose window holds only padding sees no key: its NaN row is zeroed, so that no NaN
        # reaches the real positions through the next layer's values
        attention = (torch.softmax(scores, -1).nan_to_num(0.0) @ v).transpose(1, 2).reshape(batch, seq, heads * head_dim)
        x = x + attention @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        gate, up = h @ w[p + "mlp.gate_proj.weight"].T, h @ w[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ w[p + "mlp.down_proj.weight"].T
    return rms(x, w["model.norm.weight"]) @ w["lm_head.weight"].T


def window_logits(folder, ids, mask, window, logits):
    """The fp32 logits of the saved model with config.sliding_window = window, checked to take effect."""
    model = load(folder)
    model.config.sliding_window = window  # set after loading: read at each forward (checked below)
    windowed = logits_of(model, ids, mask)
    real = mask.bool()
    assert torch.equal(windowed, logits_of(load(folder, sliding_window=window), ids, mask)), "set vs from_pretrained"
    assert torch.equal(windowed[:, :window], logits[:, :window]), "window changed positions < window"
    moved = (windowed - logits).abs().amax(-1)[:, window:][real[:, window:]]
    assert moved.numel() > 0 and (moved > 0).all(), "window left a real position >= window unchanged"
    manual = (manual_logits(folder, ids, mask, window) - windowed.double()).abs()[real].max()
    assert manual <= 1e-4, f"float64 re-implementation with window {window}: max |Δ| {manual}"
    full = (manual_logits(folder, ids, mask, 1 << 30) - logits.double()).abs()[real].max()
    assert full <= 1e-4, f"float64 re-implementation without a window: max |Δ| {full}"
    print(f"{folder.name}: sliding_window {window} bitwise equal to logits at positions < {window}, differs at "
          f"all {moved.numel()} real positions >= {window} (max |Δ| {moved.max():.4f}, min {moved.min():.4f}); "
          f"float64 re-implementation max |Δ| {manual:.2e} (no window {full:.2e})")
    return windowed


def legacy_config(config):
    """config.json in the older layout: top-level rope_theta and rope_scaling, torch_dtype."""
    legacy = dict(config)
    rope = dict(legacy.pop("rope_parameters"))
    legacy["rope_theta"] = rope.pop("rope_theta")
    legacy["rope_scaling"] = None if rope == {"rope_type": "default"} else rope
    legacy["torch_dtype"] = legacy.pop("dtype")
    return json.dumps(legacy, indent=2, sort_keys=True) + "\n"


def check_recipe():
    """The 4-bit recipe rebuilds tied_gqa's quantised logits bitwise."""
    reference = load_file(str(TIED_GQA / "reference.safetensors"))
    model = load(TIED_GQA)
    for suffix, quant in RECIPE_VARIANTS.items():
        logits = logits_of(model, reference["input_ids"], reference["attention_mask"], quant)
        assert torch.equal(logits, reference[f"logits{suffix}"]), f"tied_gqa logits{suffix} not rebuilt"
        _, _, loss = cross_entropy(logits, reference["input_ids"], reference["attention_mask"])
        assert torch.equal(loss, reference[f"loss{suffix}"]), f"tied_gqa loss{suffix} not rebuilt"
    print("tied_gqa: the 4-bit recipe rebuilds logits_nf4, logits_nf4_dq, logits_fp4 bitwise")


def write(name, make):
    cls, config, seed, window = make()
    out = DATA / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    torch.manual_seed(seed)
    model = cls(config).eval()
    initialise(model, seed)
    model.save_pretrained(out)
    for f in TOKENIZER_FILES:
        shutil.copy(TIED_GQA / f, out / f)
    (out / "config_legacy.json").write_text(legacy_config(json.loads((out / "config.json").read_text())))

    inputs = load_file(str(TIED_GQA / "reference.safetensors"))
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    reloaded = load(out)
    reference = {"input_ids": ids, "attention_mask": mask, "lengths": inputs["lengths"],
                 "inv_freq": reloaded.model.rotary_emb.inv_freq.float()}
    for suffix, quant in {"": None, **VARIANTS}.items():
        logits = logits_of(reloaded, ids, mask, quant)
        ce, ce_mask, loss = cross_entropy(logits, ids, mask)
        reference.update({f"logits{suffix}": logits, f"ce{suffix}": ce, f"loss{suffix}": loss,
                          "ce_mask": ce_mask})
    if window is not None:
        reference[f"logits_window{window}"] = window_logits(out, ids, mask, window, reference["logits"])
    reference = {k: v.contiguous().clone() for k, v in reference.items()}  # no views, no shared storage
    save_file(reference, str(out / "reference.safetensors"), metadata={"format": "pt"})
    for f in out.iterdir():
        os.chmod(f, 0o644)  # safetensors writes 0600

    # The model in memory, the folder reloaded and the legacy config give the same logits bitwise; so
    # does a second 4-bit pass; transformers' labels= loss agrees with ours.
    real = mask.bool()
    assert torch.equal(logits_of(model, ids, mask)[real], reference["logits"][real]), f"{name}: in-memory logits"
    assert torch.equal(logits_of(load(out), ids, mask), reference["logits"]), f"{name}: reload not bitwise"
    assert torch.equal(logits_of(reloaded, ids, mask, VARIANTS["_nf4"]), reference["logits_nf4"])
    with tempfile.TemporaryDirectory() as tmp:
        for f in out.iterdir():
            shutil.copy(f, tmp)
        shutil.copy(out / "config_legacy.json", pathlib.Path(tmp) / "config.json")
        assert torch.equal(logits_of(load(tmp), ids, mask), reference["logits"]), f"{name}: legacy config"
    with torch.no_grad():
        labels = ids.masked_fill(mask == 0, -100)
        hf_loss = reloaded(input_ids=ids, attention_mask=mask, labels=labels).loss
    assert abs(float(hf_loss) - float(reference["loss"])) <= 1e-6, f"{name}: loss {hf_loss} vs {reference['loss']}"

    stored = load_file(str(out / "model.safetensors"))
    biases = sorted(k for k in stored if k.endswith(".bias"))
    assert all(stored[k].abs().min() > 0 for k in biases), f"{name}: a zero bias"
    logits = reference["logits"][real]
    print(f"{name}: {type(reloaded).__name__}, reload/legacy bitwise; max |logit| {logits.abs().max():.4f}, "
          f"std {logits.std():.4f}, loss {float(reference['loss']):.4f} "
          + " ".join(f"{s[1:]} {float(reference['loss' + s]):.4f}" for s in VARIANTS)
          + ", max |Δ| vs fp32 " + " ".join(f"{s[1:]} {(reference['logits' + s][real] - logits).abs().max():.3f}"
                                              for s in VARIANTS)
          + f"; {len(stored)} tensors, biases {biases}")


def main():
    torch.set_num_threads(1)
    check_recipe()
    write("tiny_mistral", mistral)
    write("tiny_qwen2", qwen2)


if __name__ == "__main__":
    main()
