"""The seed notebook's own job (the design material's first seed notebook, "Quantization: Bitsandbytes
4-bit"), timed on CPU with 2 threads: the peer for `cargo xtask report` (default: the sample model,
nf4,fp4, blocksize 64, the seed's 100 x "The quick brown fox ..." texts, max_length 128, batch 8,
layer 8).

The notebook's cells, same calls, plots left out, on SmolLM2-135M-Instruct instead of
Llama-3.2-1B and on CPU instead of CUDA:
  load      AutoTokenizer + AutoModelForCausalLM(torch_dtype=torch.float16, device_map="auto").
            The reference is fp16 as in the notebook: torch 2.15 runs fp16 Linear on CPU.
  quantize  two more from_pretrained loads with BitsAndBytesConfig(load_in_4bit=True,
            bnb_4bit_quant_type="nf4" / "fp4"), device_map="auto": bnb 0.50.2's CPU backend
            quantizes while loading (transformers maps "auto" to {"": "cpu"} without an
            accelerator). No blocksize knob exists in BitsAndBytesConfig; bnb's default is 64,
            asserted below. No torch_dtype, as in the notebook, so these load in the checkpoint's
            float32 with bnb_4bit_compute_dtype's default, float32 (but see "bnb on this CPU").
  weight_mse  layer 8 mlp.down_proj: dequantize_4bit vs the fp16 weights, the Gaussian bound.
  forward   tokenize, then per model collect_logits and masked_ce (two forward passes each, as the
            notebook does, 100 rows in batches of 8), logits MSE, CE, dCE, amplification.
  fit       scipy gennorm.fit on the seed layer's fp16 weights (all 884,736 of them).
  kl        the KL-to-Gaussian loop over all 30 layers' down_proj, 200,000 draws each with
            default_rng(0), 200 bins; then the gap-analysis numbers (GGD entropy, bounds).
  extras    not in the notebook and not in total_s, timed apart: the mean weight MSE over every
            quantized linear (the Rust report prints it beside the seed layer's), and dCE / logits
            MSE again with bnb's float32 compute path (below).

bnb on this CPU: the 4-bit loads work as the notebook writes them (device_map="auto" resolves to
the CPU; no workaround needed). But on a CPU with AVX512-BF16 (this one), Linear4bit's
first forward repacks its weight in place (quant_state.packing_format_for_cpu) and runs a fused
kernel that casts activations and absmax to bf16 whatever bnb_4bit_compute_dtype says
(bitsandbytes/backends/cpu/ops.py, gemv_4bit; the faster `kernels` build of it is fetched from the
Hub at run time, so the bundled C one runs, with a warning). So the timed dCE is bnb's CPU
behaviour: bf16 activations and bf16-rounded absmax. The "fp32_compute" numbers reload both 4-bit
models with that path switched off (Linear4bit.support_avx512bf16_for_cpu = False), so they run
dequantize_4bit + float32 matmul, bnb's CUDA semantics for this config. After a forward the
repacked data no longer dequantizes correctly (bnb's inverse repack leaves absmax transposed and
bf16), hence the all-linears MSE runs before the forward stage.
Notebook's `torch_dtype=` kept: transformers 5 warns it is deprecated for `dtype=`.

The checkpoint: the sample GGUF (Q4_1, /root/.cache/quantbound/smollm2/) is dequantized to float32
by transformers and saved once as an HF folder (/tmp/smollm2-hf) before the clock starts; the
timed part starts from from_pretrained of that folder, like the notebook's from_pretrained of the
Hub id (download excluded). transformers refuses save_pretrained on a GGUF-loaded model, so the
state dict is copied into a fresh LlamaForCausalLM first (needs `accelerate` in the venv).

Ran with: Python 3.11.7, torch 2.15.0, transformers 5.23.0, accelerate 1.16.0, bitsandbytes
0.50.2, scipy 1.17.1, numpy 2.4.6, pandas 3.1.1, gguf 0.19.0 (venv recipe in bnb_peer.py's header,
plus transformers scipy gguf accelerate pandas):

    /tmp/qbvenv/bin/python scripts/bench/seed_notebook.py

Prints the notebook's tables, then one JSON line: total and per-stage seconds and the key numbers.
"""
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(2)

GGUF_DIR = "/root/.cache/quantbound/smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
HF_DIR = "/tmp/smollm2-hf"


def convert_once():
    """GGUF -> HF folder (float32, the checkpoint's dequantized values). Not timed."""
    if os.path.exists(os.path.join(HF_DIR, "model.safetensors")):
        return
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    m = AutoModelForCausalLM.from_pretrained(GGUF_DIR, gguf_file=GGUF_FILE)
    cfg = m.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config  # GgufConfig: makes save_pretrained refuse
    clean = LlamaForCausalLM(cfg).eval()
    clean.load_state_dict(m.state_dict())
    clean.save_pretrained(HF_DIR)
    tok.save_pretrained(HF_DIR)


convert_once()

stages = {}
t_start = time.perf_counter()
t = t_start


def lap(name):
    global t
    now = time.perf_counter()
    stages[name] = now - t
    t = now


# === Core imports (timed, as the notebook's cell) ===
import pandas as pd
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
from scipy import stats
from scipy.stats import gennorm, entropy
from scipy.special import gamma

model_id = HF_DIR

tok = AutoTokenizer.from_pretrained(model_id, use_fast=True)

# FP16 baseline
m_fp16 = AutoModelForCausalLM.from_pretrained(
    model_id,
    torch_dtype=torch.float16,
    device_map="auto",
).eval()
model = m_fp16
print(f"Loaded: {model_id}")
print(f"Parameters: {model.num_parameters()/1e9:.2f}B")
lap("load")

# === Load bitsandbytes 4-bit Quantized Models ===
q_nf4 = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
m_nf4 = AutoModelForCausalLM.from_pretrained(
    model_id,
    device_map="auto",
    quantization_config=q_nf4,
).eval()
model_nf4 = m_nf4
NF4_AVAILABLE = True

q_fp4 = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="fp4")
m_fp4 = AutoModelForCausalLM.from_pretrained(
    model_id,
    device_map="auto",
    quantization_config=q_fp4,
).eval()
model_fp4 = m_fp4
FP4_AVAILABLE = True
lap("quantize")

for m, qt in ((model_nf4, "nf4"), (model_fp4, "fp4")):
    qs = m.model.layers[8].mlp.down_proj.weight.quant_state
    assert qs.blocksize == 64 and qs.quant_type == qt and qs.nested is False, (qs.blocksize, qs.quant_type)
    assert next(m.parameters()).device.type == "cpu"

# === 2. Weight MSE Comparison ===
target_layer = 8
w_fp16 = model.model.layers[target_layer].mlp.down_proj.weight.detach().cpu().float().numpy()


def extract_module_weight(module):
    """Return dequantized weights for bnb 4-bit modules, or raw weights otherwise."""
    w = module.weight
    if hasattr(w, "quant_state"):
        try:
            import bitsandbytes as bnb
            w_deq = bnb.functional.dequantize_4bit(w.data, w.quant_state)
            return w_deq.detach().cpu().float().numpy()
        except Exception:
            pass
        if hasattr(w, "dequantize"):
            return w.dequantize().detach().cpu().float().numpy()
    return w.detach().cpu().float().numpy()


sigma = float(np.std(w_fp16))
d_shannon_gauss = sigma ** 2 / (4 ** 4)  # 4-bit Gaussian bound

w_nf4 = extract_module_weight(model_nf4.model.layers[target_layer].mlp.down_proj)
mse_nf4 = float(np.mean((w_fp16 - w_nf4) ** 2))
w_fp4 = extract_module_weight(model_fp4.model.layers[target_layer].mlp.down_proj)
mse_fp4 = float(np.mean((w_fp16 - w_fp4) ** 2))

rows = [
    {"method": "bnb 4-bit NF4", "weight_mse": mse_nf4, "gap_bits_vs_gauss": 0.5 * np.log2(mse_nf4 / d_shannon_gauss)},
    {"method": "bnb 4-bit FP4", "weight_mse": mse_fp4, "gap_bits_vs_gauss": 0.5 * np.log2(mse_fp4 / d_shannon_gauss)},
    {"method": "Shannon bound (Gaussian)", "weight_mse": d_shannon_gauss, "gap_bits_vs_gauss": 0.0},
]
summary_weights = pd.DataFrame(rows)
print(summary_weights.to_string(index=False))
lap("weight_mse")

# === extra (not in the notebook, not in total_s): mean weight MSE over every 4-bit linear. Before
# any forward: on an AVX512-BF16 CPU the first forward repacks each weight in place
# (packing_format_for_cpu) and dequantize_4bit of the repacked data is garbage. ===
ref_linears = {n: mod for n, mod in model.named_modules() if isinstance(mod, torch.nn.Linear)}
mean_mse = {}
for name, qmodel in (("nf4", model_nf4), ("fp4", model_fp4)):
    vals = []
    for n, mod in qmodel.named_modules():
        if hasattr(getattr(mod, "weight", None), "quant_state"):
            ref = ref_linears[n].weight.detach().float().numpy()
            vals.append(float(np.mean((ref - extract_module_weight(mod)) ** 2)))
    mean_mse[name] = (float(np.mean(vals)), len(vals))
lap("extra_all_linears_mse")

# === 3. Functional Distortion ===
calibration_texts = ["The quick brown fox jumps over the lazy dog."] * 100

if tok.pad_token is None:
    tok.pad_token = tok.eos_token

calibration_inputs = tok(
    calibration_texts,
    return_tensors="pt",
    padding=True,
    truncation=True,
    max_length=128,
)


def iter_batches(inputs, batch_size):
    n = inputs["input_ids"].size(0)
    for i in range(0, n, batch_size):
        yield {k: v[i:i + batch_size] for k, v in inputs.items()}


def collect_logits(model, inputs, batch_size=8):
    model.eval()
    logits_list = []
    masks = []
    for batch in iter_batches(inputs, batch_size):
        device = next(model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad():
            logits = model(**batch).logits
        logits_list.append(logits.float().cpu())
        masks.append(batch["attention_mask"].float().cpu())
    return torch.cat(logits_list, dim=0), torch.cat(masks, dim=0)


def masked_logits_mse(logits_ref, logits_q, mask):
    diff = (logits_ref - logits_q) ** 2
    return float((diff * mask.unsqueeze(-1)).sum() / (mask.sum() * diff.shape[-1]))


def masked_ce(model, inputs, batch_size=8):
    model.eval()
    losses = []
    masks = []
    for batch in iter_batches(inputs, batch_size):
        device = next(model.parameters()).device
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad():
            logits = model(**batch).logits
        logits = logits.float().cpu()
        input_ids = batch["input_ids"].cpu()
        mask = batch["attention_mask"].cpu()

        shift_logits = logits[:, :-1, :]
        shift_labels = input_ids[:, 1:]
        shift_mask = mask[:, 1:]

        loss = F.cross_entropy(
            shift_logits.reshape(-1, shift_logits.size(-1)),
            shift_labels.reshape(-1),
            reduction="none",
        ).view(shift_labels.size(0), -1)

        losses.append(loss)
        masks.append(shift_mask)

    loss = torch.cat(losses, dim=0)
    mask = torch.cat(masks, dim=0)
    return float((loss * mask).sum() / mask.sum())


logits_fp16, mask = collect_logits(model, calibration_inputs, batch_size=8)
ce_fp16 = masked_ce(model, calibration_inputs, batch_size=8)

functional_rows = []
logits_nf4, _ = collect_logits(model_nf4, calibration_inputs, batch_size=8)
mse_logits_nf4 = masked_logits_mse(logits_fp16, logits_nf4, mask)
ce_nf4 = masked_ce(model_nf4, calibration_inputs, batch_size=8)
functional_rows.append({
    "method": "bnb 4-bit NF4", "weight_mse": mse_nf4, "logits_mse": mse_logits_nf4,
    "delta_ce": ce_nf4 - ce_fp16, "amplification": mse_logits_nf4 / mse_nf4,
})
logits_fp4, _ = collect_logits(model_fp4, calibration_inputs, batch_size=8)
mse_logits_fp4 = masked_logits_mse(logits_fp16, logits_fp4, mask)
ce_fp4 = masked_ce(model_fp4, calibration_inputs, batch_size=8)
functional_rows.append({
    "method": "bnb 4-bit FP4", "weight_mse": mse_fp4, "logits_mse": mse_logits_fp4,
    "delta_ce": ce_fp4 - ce_fp16, "amplification": mse_logits_fp4 / mse_fp4,
})
functional_summary = pd.DataFrame(functional_rows)
print(functional_summary.to_string(index=False))
lap("forward")

# === 4. Distribution Analysis ===
flat = w_fp16.reshape(-1).astype(np.float32)
beta, loc, scale = gennorm.fit(flat)
print(f"GGD shape β = {beta:.2f} (2=Gaussian, 1=Laplacian)")
# (histogram plot left out; the percentiles and pdf it draws are cheap)
lap("fit")


def kl_to_gaussian(flat, bins=200):
    flat = flat.astype(np.float32)
    mu = float(np.mean(flat))
    sigma = float(np.std(flat))

    hist, bin_edges = np.histogram(flat, bins=bins, density=False)
    hist = hist.astype(np.float64)
    hist = hist / np.maximum(hist.sum(), 1.0)

    bin_centers = (bin_edges[:-1] + bin_edges[1:]) / 2.0
    bin_widths = (bin_edges[1:] - bin_edges[:-1])
    gaussian_pdf = stats.norm.pdf(bin_centers, mu, sigma)
    gaussian_p = gaussian_pdf * bin_widths
    gaussian_p = gaussian_p / np.maximum(gaussian_p.sum(), 1.0)

    return float(entropy(hist + 1e-12, gaussian_p + 1e-12, base=2))


max_samples = 200_000
rng = np.random.default_rng(0)
kl_vals = []
for layer_idx in range(len(model.model.layers)):
    w = model.model.layers[layer_idx].mlp.down_proj.weight.detach().cpu().float().numpy()
    flat = w.reshape(-1)
    if flat.size > max_samples:
        flat = rng.choice(flat, size=max_samples, replace=False)
    kl_vals.append(kl_to_gaussian(flat, bins=200))

mean_kl = float(np.mean(kl_vals))
print(f"Mean KL to Gaussian: {mean_kl:.4f} bits")


# === 5. Gap Analysis (plot left out) ===
def ggd_entropy(beta, alpha):
    return (1.0 / beta) - np.log2(beta / (2.0 * alpha * gamma(1.0 / beta)))


def gaussian_entropy(sigma):
    return 0.5 * np.log2(2.0 * np.pi * np.e * sigma ** 2)


def distortion_bound_from_entropy(h_bits, rates):
    return (2 ** (2 * (h_bits - rates))) / (2 * np.pi * np.e)


h_gaussian = gaussian_entropy(sigma)
h_ggd = ggd_entropy(beta, scale)
bonus = h_gaussian - h_ggd
print(f"Entropy: Gaussian={h_gaussian:.2f}, GGD={h_ggd:.2f}, Bonus={bonus:.2f} bits")
bound_ggd_4 = float(distortion_bound_from_entropy(h_ggd, 4.0))
print(f"GGD bound @4 bits: {bound_ggd_4:.2e}")
gap_bits_nf4 = 0.5 * np.log2(mse_nf4 / bound_ggd_4)
print(f"NF4 gap from GGD bound: {gap_bits_nf4:.2f} bits")

# === 6. Summary ===
summary_rows = []
for row in functional_rows:
    summary_rows.append({
        **row,
        "gap_bits_vs_gauss": 0.5 * np.log2(row["weight_mse"] / d_shannon_gauss),
        "gap_bits_vs_ggd": 0.5 * np.log2(row["weight_mse"] / bound_ggd_4),
    })
print(pd.DataFrame(summary_rows).to_string(index=False))
lap("kl")
total_s = time.perf_counter() - t_start - stages["extra_all_linears_mse"]

# === extra (not in total_s): dCE with bnb's float32 compute path. On an AVX512-BF16 CPU bnb 0.50.2's
# Linear4bit repacks the weight on first forward and runs a fused kernel that casts activations and
# absmax to bf16, whatever bnb_4bit_compute_dtype says (backends/cpu/ops.py, gemv_4bit). Reload
# both 4-bit models with that path off and rerun: dequantize_4bit + float32 matmul, as on CUDA. ===
t = time.perf_counter()
from bitsandbytes.nn import Linear4bit

bf16_path = any(getattr(mod, "support_avx512bf16_for_cpu", False) for mod in model_nf4.modules()
                if isinstance(mod, Linear4bit))
del model_nf4, model_fp4, m_nf4, m_fp4
fp32 = {}
for name, qconf in (("nf4", q_nf4), ("fp4", q_fp4)):
    qmodel = AutoModelForCausalLM.from_pretrained(model_id, device_map="auto", quantization_config=qconf).eval()
    for mod in qmodel.modules():
        if isinstance(mod, Linear4bit):
            mod.support_avx512bf16_for_cpu = False
    lq, _ = collect_logits(qmodel, calibration_inputs, batch_size=8)
    fp32[name] = (masked_ce(qmodel, calibration_inputs, batch_size=8) - ce_fp16, masked_logits_mse(logits_fp16, lq, mask))
    assert not getattr(qmodel.model.layers[target_layer].mlp.down_proj.weight.quant_state, "packing_format_for_cpu", False)
    del qmodel
lap("extra_fp32_compute_forward")


print(json.dumps({
    "total_s": round(total_s, 3),
    "stages_s": {k: round(v, 3) for k, v in stages.items()},
    "torch": torch.__version__, "threads": torch.get_num_threads(),
    "ref_dtype": str(model.dtype), "tokens_per_row": int(calibration_inputs["input_ids"].shape[1]),
    "ce_ref": ce_fp16, "delta_ce_nf4": ce_nf4 - ce_fp16, "delta_ce_fp4": ce_fp4 - ce_fp16,
    "logits_mse_nf4": mse_logits_nf4, "logits_mse_fp4": mse_logits_fp4,
    "seed_layer_weight_mse_nf4": mse_nf4, "seed_layer_weight_mse_fp4": mse_fp4,
    "mean_weight_mse_nf4": mean_mse["nf4"][0], "mean_weight_mse_fp4": mean_mse["fp4"][0],
    "n_quantized_linears": mean_mse["nf4"][1],
    "ggd_beta": float(beta), "mean_kl_bits": mean_kl,
    "bnb_cpu_bf16_path": bf16_path,
    "fp32_compute": {"delta_ce_nf4": fp32["nf4"][0], "delta_ce_fp4": fp32["fp4"][0],
                     "logits_mse_nf4": fp32["nf4"][1], "logits_mse_fp4": fp32["fp4"][1]},
}))
