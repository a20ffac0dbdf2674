"""A tiny all-F32 Llama GGUF and what llama.cpp's own `llama-perplexity` prints for it, so that
quantbound's `--ppl-mode llama-cpp` and its KLD/PPL statistics can be tested equal to llama.cpp's.

The model (tests/data/llamacpp/tiny_f32.gguf) is a random Llama: 2 layers, hidden 64, intermediate
128, 4 heads of 16, 2 KV heads, vocabulary 512 with the byte-level BPE tokenizer of
crates/quantbound-llama/tests/data/tiny_llama/tied_gqa written into `tokenizer.ggml.*` as
scripts/formats/candidates.py writes it for q4_k_m.gguf (model gpt2, BOS 1 added, EOS 2, PAD 0)
but with pre "gpt-2", the name llama.cpp gives the GPT-2 split regex (it refuses candidates.py's
"gpt2"), tied embeddings (no output.weight), rms_norm_eps 1e-5, RoPE θ 10000 (default RoPE),
context_length 2048. Every tensor is F32, so llama.cpp's matmuls are plain f32. attn_q and attn_k
rows are permuted for ggml's rotary layout (convert_hf_to_gguf's LlamaModel.permute). Weights come
from numpy's default_rng(SEED): token_embd N(0, EMBD_STD), decoder linears N(0, LINEAR_STD), norms
1 + N(0, 0.1), all float32.

The "quantized" model it is compared with is the same GGUF with every decoder linear (attn_q,
attn_k, attn_v, attn_output, ffn_gate, ffn_up, ffn_down) replaced by its Q4_0 round trip (gguf-py's
quantize then dequantize, blocks of 32 along rows), stored as F32; token_embd and the norms are
untouched. It is written to /tmp/lc/tiny_q4_0_f32.gguf only: quantbound rebuilds those values with
its own Q4_0. The round trip is checked bit-equal to ggml's C quantize_row_q4_0_ref +
dequantize_row_q4_0 (what llama-quantize Q4_0 runs without an importance matrix), built from the
llama.cpp tree as scripts/formats/ggml_ref.py builds it.

Then it runs, from the repository root, with 1 thread, n_ctx 64, batch 64 and llama.cpp's defaults
otherwise, on tests/data/llamacpp/document.txt (prose written for this fixture, no trailing newline):
  ppl_base    llama-perplexity -m tests/data/llamacpp/tiny_f32.gguf -f tests/data/llamacpp/document.txt -c 64 -b 64 -t 1
  ppl_q4_0    the same with -m /tmp/lc/tiny_q4_0_f32.gguf
  kld_base    ppl_base + --kl-divergence-base /tmp/lc/base.kld
  kld         llama-perplexity -m /tmp/lc/tiny_q4_0_f32.gguf -c 64 -b 64 -t 1 --kl-divergence --kl-divergence-base /tmp/lc/base.kld
The defaults include flash attention "auto", which the CPU backend turns on, and llama.cpp's graph
then casts K (after RoPE) and V to F16 before ggml_flash_attn_ext whatever the KV cache type, so
these logits are not an f32 forward's (about 2e-5 in ln PPL here). So each of the four runs is
repeated with `-fa off -ctk f32 -ctv f32` (attention all in f32), as *_f32attn; -ctk/-ctv f32
alone would change nothing. And
  tokenize        llama-tokenize -m tests/data/llamacpp/tiny_f32.gguf -f tests/data/llamacpp/document.txt --ids --log-disable
  tokenize_no_bos the same with --no-bos
It saves each run's stdout+stderr as tests/data/llamacpp/logs/<name>.txt (the command first) and
parses every number into tests/data/llamacpp/expected.json. As a check of the model layout and of
the formulas, a float64 numpy forward of both models (HF layout, rotate-half RoPE on the unpermuted
weights; K and V rounded to f16 for the default runs) recomputes the same statistics with
llama.cpp's formulas (uint16 base log-probs included); its values and largest absolute differences
from llama.cpp's printed ones are recorded under "numpy_check".

Ran with Python 3.11.7, numpy 2.4.6, gguf 0.19.0, tokenizers 0.23.3 (optional: the check that the HF
tokenizer gives the same ids), cmake 4.4.5, gcc 12.2.0, llama.cpp at commit
0c1e57098 (the llama.cpp vendored in the llama-cpp-python 0.3.36 source distribution, whose
changelog names that commit; 0c1e57098bba43ac29e6e3b677cdceebdd22334f, build b11312, as public
references expand it; the tree has no .git to confirm it; ggml 0.25.3), built on x86-64 (CPU backend, -march=native):
  cmake -B build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF -DBUILD_SHARED_LIBS=OFF
  cmake --build build -j2 --target llama-perplexity llama-tokenize
  /tmp/lcvenv/bin/python scripts/llamacpp/make_fixture.py /tmp/llama.cpp
Writes tests/data/llamacpp/{tiny_f32.gguf, expected.json, logs/*.txt} and /tmp/lc/{tiny_q4_0_f32.gguf, base.kld, base_f32attn.kld}.
"""
import json
import pathlib
from importlib import metadata
import re
import subprocess
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, TokenType
from gguf.quants import dequantize, quantize

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts/formats"))

TOKENIZER = ROOT / "crates/quantbound-llama/tests/data/tiny_llama/tied_gqa"
OUT = ROOT / "tests/data/llamacpp"
REL = OUT.relative_to(ROOT)
TMP = pathlib.Path("/tmp/lc")
BASE = OUT / "tiny_f32.gguf"
QUANT = TMP / "tiny_q4_0_f32.gguf"
DOC = OUT / "document.txt"

SEED = 20260
EMBD_STD = 0.2
LINEAR_STD = 0.1
N_LAYER, HIDDEN, FFN, N_HEAD, N_KV, HEAD_DIM, VOCAB = 2, 64, 128, 4, 2, 16, 512
EPS, THETA, CTX_TRAIN = 1e-5, 10000.0, 2048
N_CTX, N_BATCH = 64, 64
# llama.cpp's defaults (flash attention "auto", which the CPU backend takes, with an F16 KV cache; its
# flash attention casts K and V to F16 whatever the cache type), and an all-f32 attention.
VARIANTS = {"": [], "_f32attn": ["-fa", "off", "-ctk", "f32", "-ctv", "f32"]}
BOS = 1
# HF name → GGUF name, (rows, columns) in HF layout.
LINEARS = {"q_proj": ("attn_q", (N_HEAD * HEAD_DIM, HIDDEN)), "k_proj": ("attn_k", (N_KV * HEAD_DIM, HIDDEN)),
           "v_proj": ("attn_v", (N_KV * HEAD_DIM, HIDDEN)), "o_proj": ("attn_output", (HIDDEN, N_HEAD * HEAD_DIM)),
           "gate_proj": ("ffn_gate", (FFN, HIDDEN)), "up_proj": ("ffn_up", (FFN, HIDDEN)),
           "down_proj": ("ffn_down", (HIDDEN, FFN))}


def weights():
    """The base model in HF layout (unpermuted q/k), float32."""
    rng = np.random.default_rng(SEED)

    def normal(shape, std):
        return rng.normal(0.0, std, shape).astype(np.float32)

    w = {"embed": normal((VOCAB, HIDDEN), EMBD_STD), "layers": []}
    for _ in range(N_LAYER):
        layer = {"attn_norm": 1 + normal((HIDDEN,), 0.1), "ffn_norm": 1 + normal((HIDDEN,), 0.1)}
        for hf, (_, shape) in LINEARS.items():
            layer[hf] = normal(shape, LINEAR_STD)
        w["layers"].append(layer)
    w["norm"] = 1 + normal((HIDDEN,), 0.1)
    return w


def q4_0_round_trip(w):
    out = {"embed": w["embed"], "norm": w["norm"], "layers": []}
    for layer in w["layers"]:
        out["layers"].append({k: dequantize(quantize(v, T.Q4_0), T.Q4_0) if k in LINEARS else v
                              for k, v in layer.items()})
    return out


def permute(w, n_head, n_head_kv):
    """convert_hf_to_gguf's LlamaModel.permute."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(w, path, name):
    tok = json.loads((TOKENIZER / "tokenizer.json").read_text())
    vocab = sorted(tok["model"]["vocab"].items(), key=lambda kv: kv[1])
    assert [i for _, i in vocab] == list(range(VOCAB))
    special = {t["id"] for t in tok["added_tokens"] if t["special"]}
    g = GGUFWriter(str(path), "llama")
    g.add_name(name)
    g.add_context_length(CTX_TRAIN)
    g.add_embedding_length(HIDDEN)
    g.add_block_count(N_LAYER)
    g.add_feed_forward_length(FFN)
    g.add_head_count(N_HEAD)
    g.add_head_count_kv(N_KV)
    g.add_rope_dimension_count(HEAD_DIM)
    g.add_rope_freq_base(THETA)
    g.add_layer_norm_rms_eps(EPS)
    g.add_file_type(0)  # LLAMA_FTYPE_ALL_F32
    g.add_tokenizer_model("gpt2")
    g.add_tokenizer_pre("gpt-2")  # llama.cpp knows the GPT-2 regex as "gpt-2" ("gpt2" is refused)
    g.add_token_list([t for t, _ in vocab])
    g.add_token_types([TokenType.CONTROL if i in special else TokenType.NORMAL for _, i in vocab])
    g.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tok["model"]["merges"]])
    g.add_bos_token_id(BOS)
    g.add_eos_token_id(2)
    g.add_pad_token_id(0)
    g.add_add_bos_token(True)
    g.add_tensor("token_embd.weight", w["embed"])
    for i, layer in enumerate(w["layers"]):
        g.add_tensor(f"blk.{i}.attn_norm.weight", layer["attn_norm"])
        for hf, (name, _) in LINEARS.items():
            v = layer[hf]
            if hf == "q_proj":
                v = permute(v, N_HEAD, None)
            elif hf == "k_proj":
                v = permute(v, N_HEAD, N_KV)
            g.add_tensor(f"blk.{i}.{name}.weight", np.ascontiguousarray(v, dtype=np.float32))
        g.add_tensor(f"blk.{i}.ffn_norm.weight", layer["ffn_norm"])
    g.add_tensor("output_norm.weight", w["norm"])
    g.write_header_to_file()
    g.write_kv_data_to_file()
    g.write_tensors_to_file()
    g.close()


def check_q4_0_against_ggml(llama_cpp, w):
    """gguf-py's Q4_0 round trip bit-equal to ggml's C reference (and its bytes equal too)."""
    from ggml_ref import build
    import ctypes
    lib = build(pathlib.Path(llama_cpp) / "ggml")
    for layer in w["layers"]:
        for hf in LINEARS:
            x = np.ascontiguousarray(layer[hf], dtype=np.float32)
            out = np.zeros((x.shape[0], x.shape[1] // 32 * 18), dtype=np.uint8)
            lib.quantize_row_q4_0_ref.argtypes = [ctypes.POINTER(ctypes.c_float), ctypes.c_void_p, ctypes.c_int64]
            lib.quantize_row_q4_0_ref(x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), out.ctypes.data, x.size)
            assert np.array_equal(out, quantize(x, T.Q4_0)), hf
            back = np.zeros_like(x)
            lib.dequantize_row_q4_0.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64]
            lib.dequantize_row_q4_0(out.ctypes.data, back.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), x.size)
            assert np.array_equal(back, dequantize(quantize(x, T.Q4_0), T.Q4_0)), hf


# ---- a float64 numpy forward (HF layout) -------------------------------------------------------

def rms_norm(x, weight):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + EPS) * weight


def rope(x, pos):
    """HF's rotate-half RoPE on (n, heads, HEAD_DIM)."""
    inv = THETA ** (-np.arange(0, HEAD_DIM, 2, dtype=np.float64) / HEAD_DIM)
    ang = pos[:, None] * inv[None]
    cos = np.concatenate([np.cos(ang)] * 2, -1)[:, None]
    sin = np.concatenate([np.sin(ang)] * 2, -1)[:, None]
    half = HEAD_DIM // 2
    return x * cos + np.concatenate([-x[..., half:], x[..., :half]], -1) * sin


def forward(w, ids, kv_f16=False):
    """The logits of `ids`; with kv_f16, K (after RoPE) and V rounded to f16, as llama.cpp's flash
    attention casts them."""
    n = len(ids)
    f64 = lambda a: a.astype(np.float64)  # noqa: E731
    x = f64(w["embed"])[ids]
    pos = np.arange(n, dtype=np.float64)
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for layer in w["layers"]:
        h = rms_norm(x, f64(layer["attn_norm"]))
        q = rope((h @ f64(layer["q_proj"]).T).reshape(n, N_HEAD, HEAD_DIM), pos)
        k = rope((h @ f64(layer["k_proj"]).T).reshape(n, N_KV, HEAD_DIM), pos)
        v = (h @ f64(layer["v_proj"]).T).reshape(n, N_KV, HEAD_DIM)
        if kv_f16:
            k, v = (a.astype(np.float32).astype(np.float16).astype(np.float64) for a in (k, v))
        k, v = np.repeat(k, N_HEAD // N_KV, axis=1), np.repeat(v, N_HEAD // N_KV, axis=1)
        s = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(HEAD_DIM) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        x = x + np.einsum("hij,jhd->ihd", s, v).reshape(n, -1) @ f64(layer["o_proj"]).T
        h = rms_norm(x, f64(layer["ffn_norm"]))
        g = h @ f64(layer["gate_proj"]).T
        x = x + ((g / (1 + np.exp(-g))) * (h @ f64(layer["up_proj"]).T)) @ f64(layer["down_proj"]).T
    return rms_norm(x, f64(w["norm"])) @ f64(w["embed"]).T


def chunk_logits(w, tokens, n_chunk, kv_f16=False):
    """llama.cpp's chunks: n_ctx tokens each, the first replaced by BOS; the logits of positions
    n_ctx/2 .. n_ctx-2 (which score tokens n_ctx/2+1 .. n_ctx-1), as float32."""
    first = N_CTX // 2
    out = []
    for c in range(n_chunk):
        ids = list(tokens[c * N_CTX:(c + 1) * N_CTX])
        ids[0] = BOS
        lg = forward(w, ids, kv_f16).astype(np.float32)
        out.append((lg[first:N_CTX - 1], np.array(tokens[c * N_CTX + first + 1:(c + 1) * N_CTX])))
    return out


# ---- llama.cpp's statistics, in numpy ----------------------------------------------------------

def mean_unc(s, s2, n):
    f = s / n
    df = s2 / n - f * f
    return f, (np.sqrt(df / (n - 1)) if df > 0 and n > 10 else 0.0)


def percentile(values, fraction):
    fraction = np.float32(fraction)
    p = np.float32(fraction * np.float32(len(values) - 1))
    ip = int(p)
    p = np.float32(p - ip)
    return float((np.float32(1) - p) * values[ip] + p * values[min(ip + 1, len(values) - 1)])


def median(values):
    n = len(values)
    return float(np.float32(0.5) * (values[n // 2] + values[n // 2 - 1])) if n % 2 == 0 else float(values[n // 2])


def ppl_stats(chunks):
    """The plain run: per-chunk running PPL and the final estimate ± error."""
    nll, nll2, count, running = 0.0, 0.0, 0, []
    for lg, tgt in chunks:
        for row, t in zip(lg, tgt):
            m = row.max()
            v = -(float(row[t]) - float(m) - np.log(np.exp(row - m, dtype=np.float32).astype(np.float64).sum()))
            nll += v
            nll2 += v * v
            count += 1
        running.append(float(np.exp(nll / count)))
    mean = nll / count
    ppl = float(np.exp(mean))
    return {"per_chunk": running, "ppl": ppl, "ppl_err": float(np.sqrt((nll2 / count - mean * mean) / (count - 1)) * ppl)}


def compress(row):
    """The base file's record for one position: scale, min_log_prob and uint16 codes."""
    mx, mn = row.max(), row.min()
    mn = max(mn, np.float32(mx - np.float32(16)))
    lse = np.float32(np.log(np.exp(row - mx, dtype=np.float32).astype(np.float64).sum()))
    min_log_prob = np.float32(np.float32(mn - mx) - lse)
    scale = np.float32(np.float32(mx - mn) / np.float32(65535))
    inv = np.float32(1) / scale
    codes = np.where(row > mn, np.rint(inv * (row - mn)), 0).astype(np.uint16)
    return scale, min_log_prob, codes


def kld_stats(base_chunks, q_chunks):
    s = dict(nll=0.0, nll2=0.0, nb=0.0, nb2=0.0, nnb=0.0, kld=0.0, kld2=0.0, pd=0.0, pd2=0.0, pd4=0.0)
    same, n, klds, pdiffs = 0, 0, [], []
    for (lb, tgt), (lq, _) in zip(base_chunks, q_chunks):
        for rb, rq, t in zip(lb, lq, tgt):
            scale, min_lp, codes = compress(rb)
            mx = rq.max()
            lse = np.float32(np.log(np.exp(rq - mx, dtype=np.float32).astype(np.float64).sum()))
            nll = float(np.float32(np.float32(mx + lse) - rq[t]))
            nll_b = float(-(np.float32(scale * np.float32(codes[t])) + min_lp))
            lp_b = (scale * codes.astype(np.float32) + min_lp).astype(np.float32)
            keep = lp_b > -16
            kld = float((np.exp(lp_b[keep]).astype(np.float64)
                         * (lp_b[keep] - rq[keep] + np.float32(mx + lse)).astype(np.float64)).sum())
            pdiff = float(np.float32(np.exp(np.float32(-nll)) - np.exp(np.float32(-nll_b))))
            s["nll"] += nll; s["nll2"] += nll * nll; s["nb"] += nll_b; s["nb2"] += nll_b * nll_b
            s["nnb"] += nll * nll_b; s["kld"] += kld; s["kld2"] += kld * kld
            s["pd"] += pdiff; s["pd2"] += pdiff * pdiff; s["pd4"] += pdiff ** 4
            same += int(np.argmax(rq) == np.argmax(lp_b))
            n += 1
            klds.append(kld)
            pdiffs.append(pdiff)
    klds = np.sort(np.array(klds, dtype=np.float32))
    pdiffs = np.sort(np.array(pdiffs, dtype=np.float32))
    lq, lq_u = mean_unc(s["nll"], s["nll2"], n)
    lb, lb_u = mean_unc(s["nb"], s["nb2"], n)
    cov = (s["nnb"] / n - (s["nll"] / n) * (s["nb"] / n)) / (n - 1)
    ppl_q, ppl_b = np.exp(lq), np.exp(lb)
    ratio_u = np.sqrt(lq_u ** 2 + lb_u ** 2 - 2 * cov)
    kl, kl_u = mean_unc(s["kld"], s["kld2"], n)
    pd, pd_u = mean_unc(s["pd"], s["pd2"], n)
    mse, mse_u = mean_unc(s["pd2"], s["pd4"], n)
    top = same / n
    r = {
        "ppl_q": ppl_q, "ppl_q_err": ppl_q * lq_u, "ppl_base": ppl_b, "ppl_base_err": ppl_b * lb_u,
        "cor_ln_ppl_pct": 100 * cov / (lq_u * lb_u),
        "ln_ppl_ratio": lq - lb, "ln_ppl_ratio_err": ratio_u,
        "ppl_ratio": np.exp(lq - lb), "ppl_ratio_err": np.exp(lq - lb) * ratio_u,
        "ppl_diff": ppl_q - ppl_b,
        "ppl_diff_err": np.sqrt((ppl_q * lq_u) ** 2 + (ppl_b * lb_u) ** 2 - 2 * ppl_q * ppl_b * cov),
        "kld_mean": kl, "kld_mean_err": kl_u, "kld_max": float(klds[-1]), "kld_median": median(klds),
        "kld_min": float(klds[0]),
        "dp_mean_pct": 100 * pd, "dp_mean_err_pct": 100 * pd_u,
        "dp_max_pct": 100 * float(pdiffs[-1]), "dp_median_pct": 100 * median(pdiffs), "dp_min_pct": 100 * float(pdiffs[0]),
        "dp_rms_pct": 100 * np.sqrt(mse), "dp_rms_err_pct": 100 * 0.5 / np.sqrt(mse) * mse_u,
        "same_top_pct": 100 * top, "same_top_err_pct": 100 * np.sqrt(top * (1 - top) / (n - 1)),
        "count": n,
    }
    for pct in ["99.9", "99.0", "95.0", "90.0", "10.0", "5.0", "1.0", "0.1"]:
        r[f"kld_p{pct}"] = percentile(klds, float(pct) / 100)
    for pct in ["99.9", "99.0", "95.0", "90.0", "75.0", "25.0", "10.0", "5.0", "1.0", "0.1"]:
        r[f"dp_p{pct}_pct"] = 100 * percentile(pdiffs, float(pct) / 100)
    return {k: float(v) if k != "count" else v for k, v in r.items()}


# ---- running llama.cpp and reading what it prints ----------------------------------------------

def run(name, argv):
    p = subprocess.run(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    text = f"$ {' '.join(argv)}\n" + p.stdout
    (OUT / "logs" / f"{name}.txt").write_text(text)
    assert p.returncode == 0, f"{name} failed:\n{p.stdout[-3000:]}"
    return p.stdout


NUM = r"(-?[0-9.]+(?:e[-+]?[0-9]+)?|-?nan|-?inf)"


def parse_ppl(text):
    per_chunk = [float(v) for v in re.findall(r"\[\d+\]([0-9.]+),", text)]
    m = re.search(r"Final estimate: PPL = " + NUM + r" \+/- " + NUM, text)
    n_chunk = int(re.search(r"calculating perplexity over (\d+) chunks", text).group(1))
    return {"per_chunk_ppl": per_chunk, "ppl": float(m.group(1)), "ppl_err": float(m.group(2)), "n_chunk": n_chunk}


FINALS = {
    "Mean PPL(Q)": ("ppl_q", "ppl_q_err"), "Mean PPL(base)": ("ppl_base", "ppl_base_err"),
    "Mean ln(PPL(Q)/PPL(base))": ("ln_ppl_ratio", "ln_ppl_ratio_err"),
    "Mean PPL(Q)/PPL(base)": ("ppl_ratio", "ppl_ratio_err"), "Mean PPL(Q)-PPL(base)": ("ppl_diff", "ppl_diff_err"),
    "Mean    KLD": ("kld_mean", "kld_mean_err"),
}


def parse_kld(text):
    r = {}
    for label, (k, ke) in FINALS.items():
        m = re.search(re.escape(label) + r"\s*:\s*" + NUM + r" ± +" + NUM, text)
        r[k], r[ke] = float(m.group(1)), float(m.group(2))
    r["cor_ln_ppl_pct"] = float(re.search(r"Cor\(ln\(PPL\(Q\)\), ln\(PPL\(base\)\)\):\s*" + NUM + "%", text).group(1))
    for label, k in [("Maximum KLD", "kld_max"), ("Median  KLD", "kld_median"), ("Minimum KLD", "kld_min")]:
        r[k] = float(re.search(re.escape(label) + r":\s*" + NUM, text).group(1))
    for pct in ["99.9", "99.0", "95.0", "90.0", "10.0", "5.0", "1.0", "0.1"]:
        r[f"kld_p{pct}"] = float(re.search(r"^\s*" + re.escape(pct) + r"%\s+KLD:\s*" + NUM, text, re.M).group(1))
    m = re.search(r"Mean    Δp:\s*" + NUM + r" ± +" + NUM + " %", text)
    r["dp_mean_pct"], r["dp_mean_err_pct"] = float(m.group(1)), float(m.group(2))
    for label, k in [("Maximum Δp", "dp_max_pct"), ("Median  Δp", "dp_median_pct"), ("Minimum Δp", "dp_min_pct")]:
        r[k] = float(re.search(re.escape(label) + r":\s*" + NUM + "%", text).group(1))
    for pct in ["99.9", "99.0", "95.0", "90.0", "75.0", "25.0", "10.0", "5.0", "1.0", "0.1"]:
        r[f"dp_p{pct}_pct"] = float(re.search(r"^\s*" + re.escape(pct) + r"%\s+Δp:\s*" + NUM + "%", text, re.M).group(1))
    m = re.search(r"RMS Δp    :\s*" + NUM + r" ± +" + NUM + " %", text)
    r["dp_rms_pct"], r["dp_rms_err_pct"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"Same top p:\s*" + NUM + r" ± +" + NUM + " %", text)
    r["same_top_pct"], r["same_top_err_pct"] = float(m.group(1)), float(m.group(2))
    rows = []
    row = re.compile(r"^\s*(\d+)\s+" + NUM + r" ± +" + NUM + r"\s+" + NUM + r" ± +" + NUM + r"\s+" + NUM + r" ± +" + NUM
                     + r"\s+" + NUM + r" ± +" + NUM + r" %\s+" + NUM + r" ± +" + NUM + r" %\s*$", re.M)
    for m in row.finditer(text):
        v = [float(x) for x in m.groups()[1:]]
        rows.append({"chunk": int(m.group(1)), "ppl_q": v[0], "ppl_q_err": v[1], "ln_ppl_ratio": v[2],
                     "ln_ppl_ratio_err": v[3], "kld_mean": v[4], "kld_mean_err": v[5], "dp_rms_pct": v[6],
                     "dp_rms_err_pct": v[7], "same_top_pct": v[8], "same_top_err_pct": v[9]})
    r["per_chunk"] = rows
    r["n_chunk"] = int(re.search(r"computing over (\d+) chunks", text).group(1))
    return r


def main():
    llama_cpp = pathlib.Path(sys.argv[1])
    bin_dir = llama_cpp / "build/bin"
    TMP.mkdir(parents=True, exist_ok=True)
    (OUT / "logs").mkdir(parents=True, exist_ok=True)

    w = weights()
    wq = q4_0_round_trip(w)
    check_q4_0_against_ggml(llama_cpp, w)
    write_gguf(w, BASE, "quantbound tiny f32")
    write_gguf(wq, QUANT, "quantbound tiny f32 (Q4_0 round trip)")

    ppl = str(bin_dir / "llama-perplexity")
    tok = str(bin_dir / "llama-tokenize")
    base, doc = str(REL / "tiny_f32.gguf"), str(REL / "document.txt")
    common = ["-c", str(N_CTX), "-b", str(N_BATCH), "-t", "1"]

    def token_ids(name, extra):
        text = run(name, [tok, "-m", base, "-f", doc, "--ids", "--log-disable"] + extra)
        return [int(x) for x in re.search(r"\[([0-9, ]+)\]", text).group(1).split(",")]

    ids, ids_no_bos = token_ids("tokenize", []), token_ids("tokenize_no_bos", ["--no-bos"])
    assert ids[0] == BOS and ids[1:] == ids_no_bos
    try:  # optional: the HF tokenizer (its post-processor adds BOS) gives the same ids
        from tokenizers import Tokenizer
        hf_same = Tokenizer.from_file(str(TOKENIZER / "tokenizer.json")).encode(DOC.read_text()).ids == ids
        assert hf_same
    except ImportError:
        hf_same = None

    runs = {}
    for suffix, extra in VARIANTS.items():
        kld_file = str(TMP / f"base{suffix}.kld")
        runs["ppl_base" + suffix] = parse_ppl(run("ppl_base" + suffix, [ppl, "-m", base, "-f", doc] + common + extra))
        runs["ppl_q4_0" + suffix] = parse_ppl(run("ppl_q4_0" + suffix, [ppl, "-m", str(QUANT), "-f", doc] + common + extra))
        runs["kld_base" + suffix] = parse_ppl(run("kld_base" + suffix, [ppl, "-m", base, "-f", doc] + common + extra
                                                  + ["--kl-divergence-base", kld_file]))
        runs["kld" + suffix] = parse_kld(run("kld" + suffix, [ppl, "-m", str(QUANT)] + common + extra
                                             + ["--kl-divergence", "--kl-divergence-base", kld_file]))

    # The numpy check: tokens as llama-perplexity sees them (with BOS; one trailing newline would be
    # stripped by its -f, and the document has none).
    n_chunk = len(ids) // N_CTX
    assert all(runs[k]["n_chunk"] == n_chunk for k in runs)
    checks, diffs = {}, {}
    for suffix, kv_f16 in [("", True), ("_f32attn", False)]:
        base_chunks, q_chunks = chunk_logits(w, ids, n_chunk, kv_f16), chunk_logits(wq, ids, n_chunk, kv_f16)
        check = {"ppl_base": ppl_stats(base_chunks), "ppl_q4_0": ppl_stats(q_chunks), "kld": kld_stats(base_chunks, q_chunks)}
        checks["kv_f16" if kv_f16 else "f32"] = check
        for k in ["ppl_base", "ppl_q4_0"]:
            diffs[k + suffix] = max(abs(check[k]["ppl"] - runs[k + suffix]["ppl"]),
                                    *(abs(a - b) for a, b in zip(check[k]["per_chunk"], runs[k + suffix]["per_chunk_ppl"])))
        diffs["kld" + suffix] = {k: abs(check["kld"][k] - v) for k, v in runs["kld" + suffix].items()
                                 if isinstance(v, float) and k in check["kld"]}

    expected = {
        "llama_cpp_commit": "0c1e57098",
        "llama_cpp_commit_full": "0c1e57098bba43ac29e6e3b677cdceebdd22334f",
        "llama_cpp_commit_full_note": "expanded from public references to build b11312; the source tree has no .git",
        "llama_cpp_source": "vendor/llama.cpp of the llama-cpp-python 0.3.36 sdist (its CHANGELOG: ggml-org/llama.cpp@0c1e57098)",
        "ggml_version": "0.25.3",
        "gguf_py_version": metadata.version("gguf"),
        "numpy_version": np.__version__,
        "seed": SEED, "embd_std": EMBD_STD, "linear_std": LINEAR_STD,
        "n_ctx": N_CTX, "n_batch": N_BATCH, "threads": 1,
        "n_chunk": n_chunk, "scored_per_chunk": N_CTX - 1 - N_CTX // 2,
        "n_scored": n_chunk * (N_CTX - 1 - N_CTX // 2),
        "bos_id": BOS, "add_bos": True,
        "n_tokens_with_bos": len(ids),
        "hf_tokenizers_gives_same_ids": hf_same,
        "token_ids_with_bos": ids,
        "runs": runs,
        "numpy_check": {"note": "float64 numpy forward; 'kv_f16' rounds K (after RoPE) and V to f16 and is compared with "
                                "the default runs, 'f32' is not and is compared with the *_f32attn runs",
                        "values": checks, "max_abs_diff_vs_llama_cpp": diffs},
    }
    text = json.dumps(expected, indent=1)
    # lists of numbers on one line
    text = re.sub(r"\[\s+([-+0-9.,e\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)
    assert json.loads(text) == expected
    (OUT / "expected.json").write_text(text + "\n")
    print(json.dumps(diffs, indent=1))


if __name__ == "__main__":
    main()
