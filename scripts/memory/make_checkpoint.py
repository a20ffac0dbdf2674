"""Writes a large dense sharded safetensors checkpoint for the memory-bound run of issue 14
(scripts/memory/bounded.sh): SHARDS shards of TENSORS f32 tensors of ROWS × COLS each, named like
a Llama's decoder linears, and model.safetensors.index.json as transformers writes it.

The values are one block of 2^20 Gaussian numbers (Python's random.Random(0).gauss, σ 0.02)
repeated to fill each tensor, so that writing gigabytes takes seconds without numpy; the memory
the commands use does not depend on the values. Python 3 standard library only:

    python3 scripts/memory/make_checkpoint.py OUT_DIR [--shards 4 --tensors 6 --rows 8192 --cols 8192]
"""
import argparse
import json
import pathlib
import random
import struct

parser = argparse.ArgumentParser()
parser.add_argument("out", type=pathlib.Path)
parser.add_argument("--shards", type=int, default=4)
parser.add_argument("--tensors", type=int, default=6)
parser.add_argument("--rows", type=int, default=8192)
parser.add_argument("--cols", type=int, default=8192)
args = parser.parse_args()

rng = random.Random(0)
block = struct.pack("<1048576f", *(rng.gauss(0.0, 0.02) for _ in range(1 << 20)))
numel = args.rows * args.cols
tensor_bytes = numel * 4
args.out.mkdir(parents=True, exist_ok=True)
weight_map, total = {}, 0
kinds = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj"]
for s in range(args.shards):
    shard = f"model-{s + 1:05d}-of-{args.shards:05d}.safetensors"
    names = [f"model.layers.{s}.{kinds[t % len(kinds)]}.weight" if t < len(kinds) else f"model.layers.{s}.extra{t}.weight"
             for t in range(args.tensors)]
    header, pos = {"__metadata__": {"format": "pt"}}, 0
    for name in sorted(names):
        header[name] = {"dtype": "F32", "shape": [args.rows, args.cols], "data_offsets": [pos, pos + tensor_bytes]}
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
(args.out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
print(f"wrote {args.shards} shards, {total / 2**30:.2f} GiB, largest tensor {tensor_bytes / 2**20:.0f} MiB, to {args.out}")
