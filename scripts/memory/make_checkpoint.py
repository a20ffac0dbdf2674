"""Writes a large dense sharded safetensors checkpoint for the memory-bound run of issue 14
(scripts/memory/bounded.sh): a Llama of SHARDS decoder layers, one layer's seven linears per
shard (f32; q, k, v, gate and up ROWS × COLS, o and down COLS × ROWS), a config.json to match
(hidden COLS, intermediate ROWS, heads of 128), and model.safetensors.index.json as transformers
writes it. Only the decoder linears are written: the weight-only commands need nothing else.

The values are one block of 2^20 Gaussian numbers (Python's random.Random(0).gauss, σ 0.02)
repeated to fill each tensor, so that writing gigabytes takes seconds without numpy; the memory
the commands use does not depend on the values. Python 3 standard library only:

    python3 scripts/memory/make_checkpoint.py OUT_DIR [--shards 4 --rows 8192 --cols 8192]
"""
import argparse
import json
import pathlib
import random
import struct

parser = argparse.ArgumentParser()
parser.add_argument("out", type=pathlib.Path)
parser.add_argument("--shards", type=int, default=4)
parser.add_argument("--rows", type=int, default=8192)
parser.add_argument("--cols", type=int, default=8192)
args = parser.parse_args()

rng = random.Random(0)
block = struct.pack("<1048576f", *(rng.gauss(0.0, 0.02) for _ in range(1 << 20)))
numel = args.rows * args.cols
tensor_bytes = numel * 4
args.out.mkdir(parents=True, exist_ok=True)
weight_map, total = {}, 0
kinds = {
    "self_attn.q_proj": [args.rows, args.cols],
    "self_attn.k_proj": [args.rows, args.cols],
    "self_attn.v_proj": [args.rows, args.cols],
    "self_attn.o_proj": [args.cols, args.rows],
    "mlp.gate_proj": [args.rows, args.cols],
    "mlp.up_proj": [args.rows, args.cols],
    "mlp.down_proj": [args.cols, args.rows],
}
assert args.rows % 128 == 0, "ROWS must be whole heads of 128"
for s in range(args.shards):
    shard = f"model-{s + 1:05d}-of-{args.shards:05d}.safetensors"
    names = [f"model.layers.{s}.{kind}.weight" for kind in kinds]
    header, pos = {"__metadata__": {"format": "pt"}}, 0
    for name in sorted(names):
        shape = kinds[name.split(".", 3)[3].rsplit(".", 1)[0]]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [pos, pos + tensor_bytes]}
        pos += tensor_bytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(args.out / shard, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for _ in names:
            left = tensor_bytes
            while left:
                chunk = block[: min(left, len(block))]
                f.write(chunk)
                left -= len(chunk)
    for name in names:
        weight_map[name] = shard
    total += pos
index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
config = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": args.cols,
    "intermediate_size": args.rows,
    "num_hidden_layers": args.shards,
    "num_attention_heads": args.rows // 128,
    "num_key_value_heads": args.rows // 128,
    "head_dim": 128,
    "vocab_size": 32000,
    "rms_norm_eps": 1e-05,
    "rope_theta": 10000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
}
(args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
(args.out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
print(f"wrote {args.shards} shards, {total / 2**30:.2f} GiB, largest tensor {tensor_bytes / 2**20:.0f} MiB, to {args.out}")
