"""The malformed-input corpus of tests/data/malformed/: broken GGUF files, safetensors files and
model folders, each with one defect, and the intact controls they are cut from.

Python 3 standard library only; no model runs. The inputs are the repo's own fixtures:
- the tokenizer metadata (512 byte-level BPE tokens, 253 merges) of
  tests/data/candidates/q4_k_m.gguf, and tests/data/candidates/base/tokenizer.json, the same
  tokenizer as transformers saved it;
- the bnb-4bit tensor set of model.layers.0.mlp.down_proj.weight in
  crates/quantbound-codebook/tests/data/bnb4bit/tiny_llama_bnb4bit_nf4_dq/model.safetensors
  (saved by transformers, bitsandbytes 0.50.2), and its plain-absmax form;
- random weights from Python's `random.Random(0)` for a tiny Llama (1 layer, hidden 16, 2 heads
  of 8, 1 KV head, intermediate 32, vocabulary 512, tied embeddings), written as a GGUF (F16
  matrices, F32 norms, as convert_hf_to_gguf lays them out) and as a Hugging Face folder.

Writes tests/data/malformed/: control/ (the intact files, which every command accepts), one file
or folder per defect, and manifest.json, which says for each entry what is wrong and which words
the error must contain. crates/quantbound-cli/tests/malformed.rs runs every command on every entry.

Ran with CPython 3.11 (any Python 3.8+ gives the same bytes):
  python3 scripts/malformed/make_corpus.py
"""
import json
import pathlib
import random
import shutil
import struct

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "tests/data/malformed"
CANDIDATES = ROOT / "tests/data/candidates"
BNB_SOURCE = ROOT / "crates/quantbound-codebook/tests/data/bnb4bit/tiny_llama_bnb4bit_nf4_dq/model.safetensors"

HIDDEN, HEADS, KV_HEADS, HEAD_DIM, FFN, VOCAB = 16, 2, 1, 8, 32, 512

# ---------------------------------------------------------------------------------------------
# safetensors


def st_read(path):
    b = path.read_bytes()
    (n,) = struct.unpack_from("<Q", b)
    header = json.loads(b[8 : 8 + n])
    meta = header.pop("__metadata__", None)
    data = b[8 + n :]
    tensors = {k: (v["dtype"], v["shape"], data[v["data_offsets"][0] : v["data_offsets"][1]]) for k, v in header.items()}
    return meta, tensors


def st_bytes(tensors, meta=None, header_edit=None):
    """tensors: {name: (dtype, shape, bytes)} in the order given. `header_edit(header)` may
    change the header after the offsets are computed."""
    header, blobs, pos = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [pos, pos + len(data)]}
        blobs.append(data)
        pos += len(data)
    if header_edit:
        header_edit(header)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def f32s(values):
    return struct.pack(f"<{len(values)}f", *values)


def f16s(values):
    return struct.pack(f"<{len(values)}e", *values)


# ---------------------------------------------------------------------------------------------
# GGUF (v3, little-endian)

U32, I32, F32, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32, GGML_F16 = 0, 1


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_value(kind, value):
    if kind == U32:
        return struct.pack("<I", value)
    if kind == I32:
        return struct.pack("<i", value)
    if kind == F32:
        return struct.pack("<f", value)
    if kind == BOOL:
        return struct.pack("<B", value)
    if kind == STRING:
        return gguf_string(value)
    if kind == ARRAY:
        item, items = value
        return struct.pack("<IQ", item, len(items)) + b"".join(gguf_value(item, v) for v in items)
    raise ValueError(kind)


class Gguf:
    """A GGUF file built from parts, remembering where each section starts."""

    def __init__(self, kvs, tensors, version=3, alignment=32):
        self.kvs, self.tensors, self.version, self.alignment = kvs, tensors, version, alignment

    def build(self):
        out = bytearray(b"GGUF")
        marks = {"magic": 4}
        out += struct.pack("<I", self.version)
        marks["version"] = len(out)
        out += struct.pack("<QQ", len(self.tensors), len(self.kvs))
        marks["counts"] = len(out)
        for key, kind, value in self.kvs:
            marks[f"key {key}"] = len(out)
            out += gguf_string(key) + struct.pack("<I", kind)
            marks[f"value {key}"] = len(out)
            out += gguf_value(kind, value)
        marks["metadata"] = len(out)
        pos = 0
        offsets = []
        for name, dims, ggml_type, data in self.tensors:
            marks[f"info {name}"] = len(out)
            offsets.append(pos)
            out += gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
            out += struct.pack("<IQ", ggml_type, pos)
            pos += len(data) + (-len(data) % self.alignment)
        marks["infos"] = len(out)
        out += b"\0" * (-len(out) % self.alignment)
        marks["data"] = len(out)
        for (name, _, _, data), offset in zip(self.tensors, offsets):
            marks[f"data {name}"] = len(out)
            out += data + b"\0" * (-len(data) % self.alignment)
        return bytes(out), marks


def gguf_read_tokenizer(path):
    """The tokenizer.ggml.* entries of a GGUF, as (key, kind, value) triples."""
    b = path.read_bytes()
    pos = 24
    (n_kv,) = struct.unpack_from("<Q", b, 16)

    def string():
        nonlocal pos
        (n,) = struct.unpack_from("<Q", b, pos)
        pos += 8 + n
        return b[pos - n : pos].decode()

    def value(kind):
        nonlocal pos
        fixed = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "B", 10: "Q", 11: "q", 12: "d"}
        if kind == STRING:
            return string()
        if kind == ARRAY:
            item, n = struct.unpack_from("<IQ", b, pos)
            pos += 12
            return (item, [value(item) for _ in range(n)])
        (v,) = struct.unpack_from("<" + fixed[kind], b, pos)
        pos += struct.calcsize(fixed[kind])
        return v

    out = []
    for _ in range(n_kv):
        key = string()
        (kind,) = struct.unpack_from("<I", b, pos)
        pos += 4
        v = value(kind)
        if key.startswith("tokenizer."):
            out.append((key, kind, v))
    return out


# ---------------------------------------------------------------------------------------------
# The tiny model


def tiny_weights():
    """HF name → (shape, values), the tiny Llama's weights."""
    rng = random.Random(0)
    gauss = lambda n: [rng.gauss(0.0, 0.05) for _ in range(n)]
    w = {"model.embed_tokens.weight": ([VOCAB, HIDDEN], gauss(VOCAB * HIDDEN))}
    p = "model.layers.0."
    w[p + "input_layernorm.weight"] = ([HIDDEN], [1.0] * HIDDEN)
    w[p + "post_attention_layernorm.weight"] = ([HIDDEN], [1.0] * HIDDEN)
    for name, shape in [
        ("self_attn.q_proj", [HEADS * HEAD_DIM, HIDDEN]),
        ("self_attn.k_proj", [KV_HEADS * HEAD_DIM, HIDDEN]),
        ("self_attn.v_proj", [KV_HEADS * HEAD_DIM, HIDDEN]),
        ("self_attn.o_proj", [HIDDEN, HEADS * HEAD_DIM]),
        ("mlp.gate_proj", [FFN, HIDDEN]),
        ("mlp.up_proj", [FFN, HIDDEN]),
        ("mlp.down_proj", [HIDDEN, FFN]),
    ]:
        w[p + name + ".weight"] = (shape, gauss(shape[0] * shape[1]))
    w["model.norm.weight"] = ([HIDDEN], [1.0] * HIDDEN)
    return w


GGUF_NAMES = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.layers.0.input_layernorm.weight": "blk.0.attn_norm.weight",
    "model.layers.0.post_attention_layernorm.weight": "blk.0.ffn_norm.weight",
    "model.layers.0.self_attn.q_proj.weight": "blk.0.attn_q.weight",
    "model.layers.0.self_attn.k_proj.weight": "blk.0.attn_k.weight",
    "model.layers.0.self_attn.v_proj.weight": "blk.0.attn_v.weight",
    "model.layers.0.self_attn.o_proj.weight": "blk.0.attn_output.weight",
    "model.layers.0.mlp.gate_proj.weight": "blk.0.ffn_gate.weight",
    "model.layers.0.mlp.up_proj.weight": "blk.0.ffn_up.weight",
    "model.layers.0.mlp.down_proj.weight": "blk.0.ffn_down.weight",
    "model.norm.weight": "output_norm.weight",
}


def tiny_gguf_parts(weights, tokenizer_kvs):
    kvs = [
        ("general.architecture", STRING, "llama"),
        ("general.name", STRING, "quantbound malformed-corpus control"),
        ("llama.context_length", U32, 256),
        ("llama.embedding_length", U32, HIDDEN),
        ("llama.block_count", U32, 1),
        ("llama.feed_forward_length", U32, FFN),
        ("llama.attention.head_count", U32, HEADS),
        ("llama.attention.head_count_kv", U32, KV_HEADS),
        ("llama.rope.dimension_count", U32, HEAD_DIM),
        ("llama.rope.freq_base", F32, 10000.0),
        ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
        ("general.file_type", U32, 1),
    ] + tokenizer_kvs
    tensors = []
    for hf, gg in GGUF_NAMES.items():
        shape, values = weights[hf]
        if len(shape) == 1:
            tensors.append((gg, shape, GGML_F32, f32s(values)))
        else:
            # GGUF lists dims fastest first: [in_features, out_features]. The q/k rows would be
            # permuted by convert_hf_to_gguf; random weights need no permutation to stay random.
            tensors.append((gg, shape[::-1], GGML_F16, f16s(values)))
    return kvs, tensors


def tiny_config():
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": HIDDEN,
        "intermediate_size": FFN,
        "num_hidden_layers": 1,
        "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS,
        "head_dim": HEAD_DIM,
        "vocab_size": VOCAB,
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "bos_token_id": 0,
        "eos_token_id": 0,
        "torch_dtype": "float16",
        "hidden_act": "silu",
    }


def write_folder(path, config, weights, tokenizer):
    path.mkdir(parents=True)
    (path / "config.json").write_text(config if isinstance(config, str) else json.dumps(config, indent=2) + "\n")
    tensors = {}
    for name, (shape, values) in weights.items():
        tensors[name] = ("F16", shape, f16s(values))
    (path / "model.safetensors").write_bytes(st_bytes(tensors, {"format": "pt"}))
    (path / "tokenizer.json").write_text(tokenizer)


# ---------------------------------------------------------------------------------------------


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "control").mkdir(parents=True)
    manifest = {}

    def entry(name, defect, expect, data=None):
        """`expect`: words the error must contain (beside the entry's name) from the commands
        that read this kind of input."""
        if data is not None:
            (OUT / name).write_bytes(data)
        manifest[name] = {"defect": defect, "expect": expect}

    weights = tiny_weights()
    tokenizer_kvs = gguf_read_tokenizer(CANDIDATES / "q4_k_m.gguf")
    kvs, tensors = tiny_gguf_parts(weights, tokenizer_kvs)
    control, marks = Gguf(kvs, tensors).build()
    (OUT / "control/tiny.gguf").write_bytes(control)

    # --- GGUF -------------------------------------------------------------------------------
    entry("gguf_empty.gguf", "a zero-length file", "shorter than 4 bytes", b"")
    entry("gguf_bad_magic.gguf", "the magic is GGML, not GGUF", "magic", b"GGML" + control[4:])
    entry("gguf_version_4.gguf", "GGUF version 4", "version 4", control[:4] + struct.pack("<I", 4) + control[8:])
    entry("gguf_version_1.gguf", "GGUF version 1 (no 64-bit counts)", "version 1", control[:4] + struct.pack("<I", 1) + control[8:])
    cuts = [
        ("magic", 2, "magic"),
        ("version", marks["magic"] + 2, "version"),
        ("counts", marks["version"] + 12, "the metadata count"),
        ("first_key", marks["key general.architecture"] + 10, "metadata key 0"),
        ("first_value", marks["value general.architecture"] + 3, "general.architecture"),
        ("token_array", marks["value tokenizer.ggml.tokens"] + 3000, "tokenizer.ggml.tokens"),
        ("metadata_end", marks["metadata"], "tensor name 0"),
        # Inside the first dim, after the name, the rank and 4 bytes of the dim.
        ("tensor_info", marks["info blk.0.attn_q.weight"] + 8 + len("blk.0.attn_q.weight") + 4 + 4, "blk.0.attn_q.weight"),
        ("infos_end", marks["infos"], "the data of token_embd.weight"),
        ("data", marks["data blk.0.ffn_up.weight"] + 100, "the data of blk.0.ffn_up.weight"),
        ("last_byte", len(control) - 1, "the data of output_norm.weight"),
    ]
    for what, at, expect in cuts:
        entry(f"gguf_truncated_{what}.gguf", f"cut at byte {at} of {len(control)} ({what})", expect, control[:at])

    def patched(offset, fmt, value):
        b = bytearray(control)
        struct.pack_into(fmt, b, offset, value)
        return bytes(b)

    entry("gguf_huge_tensor_count.gguf", "tensor count 2^62", "tensor count", patched(8, "<Q", 1 << 62))
    entry("gguf_huge_metadata_count.gguf", "metadata count 2^62", "metadata count", patched(16, "<Q", 1 << 62))
    entry(
        "gguf_huge_string_length.gguf",
        "the first key's length is 2^63",
        "metadata key 0",
        patched(marks["counts"], "<Q", 1 << 63),
    )
    entry(
        "gguf_huge_array_length.gguf",
        "tokenizer.ggml.tokens claims 2^40 items",
        "tokenizer.ggml.tokens",
        patched(marks["value tokenizer.ggml.tokens"] + 4, "<Q", 1 << 40),
    )
    q_info = marks["info blk.0.attn_q.weight"] + 8 + len("blk.0.attn_q.weight")
    entry(
        "gguf_negative_dim.gguf",
        "blk.0.attn_q.weight's second dim is -1 as int64",
        "blk.0.attn_q.weight",
        patched(q_info + 4 + 8, "<q", -1),
    )
    entry(
        "gguf_huge_dims.gguf",
        "blk.0.attn_q.weight's dims multiply past 2^64",
        "blk.0.attn_q.weight",
        patched(q_info + 4, "<Q", 1 << 40)[: q_info + 12] + struct.pack("<Q", 1 << 40) + control[q_info + 20 :],
    )
    entry("gguf_rank_9.gguf", "blk.0.attn_q.weight claims rank 9", "rank 9", patched(q_info, "<I", 9))
    entry(
        "gguf_unknown_type.gguf",
        "blk.0.attn_q.weight has GGML type 99",
        "blk.0.attn_q.weight",
        patched(q_info + 4 + 16, "<I", 99),
    )
    entry(
        "gguf_offset_past_end.gguf",
        "blk.0.attn_q.weight's data offset is past the end of the file",
        "the data of blk.0.attn_q.weight",
        patched(q_info + 4 + 16 + 4, "<Q", len(control)),
    )
    entry(
        "gguf_unknown_value_type.gguf",
        "general.name has value type 13",
        "unknown value type 13",
        patched(marks["value general.name"] - 4, "<I", 13),
    )
    # Arrays of arrays nested far deeper than any reader allows: a stack overflow if followed.
    deep = bytearray(control[:24]) + gguf_string("general.deep") + struct.pack("<I", ARRAY)
    deep += struct.pack("<IQ", ARRAY, 1) * 1000 + struct.pack("<IQ", U32, 0)
    deep[16:24] = struct.pack("<Q", 1)
    deep[8:16] = struct.pack("<Q", 0)
    entry("gguf_nested_arrays.gguf", "an array nested 1000 deep", "array of arrays", bytes(deep))

    def gguf_with(edit_kvs=None, edit_tensors=None):
        k = [kv for kv in kvs]
        t = [x for x in tensors]
        if edit_kvs:
            k = edit_kvs(k)
        if edit_tensors:
            t = edit_tensors(t)
        return Gguf(k, t).build()[0]

    def replace_kv(key, kind, value):
        return lambda k: [(key, kind, value) if kv[0] == key else kv for kv in k]

    entry(
        "gguf_missing_block_count.gguf",
        "no llama.block_count",
        "llama.block_count",
        gguf_with(lambda k: [kv for kv in k if kv[0] != "llama.block_count"]),
    )
    entry(
        "gguf_wrong_architecture.gguf",
        "general.architecture is mamba",
        "mamba",
        gguf_with(replace_kv("general.architecture", STRING, "mamba")),
    )
    entry(
        "gguf_tokenizer_model.gguf",
        "tokenizer.ggml.model is a model no builder knows",
        "tokenizer.ggml.model",
        gguf_with(replace_kv("tokenizer.ggml.model", STRING, "wordpiece-9000")),
    )
    tokens = next(v for k, _, v in kvs if k == "tokenizer.ggml.tokens")
    entry(
        "gguf_tokenizer_merges.gguf",
        "a merge names tokens that are not in the vocabulary",
        "tokenizer",
        gguf_with(replace_kv("tokenizer.ggml.merges", ARRAY, (STRING, ["qqq zzz"]))),
    )
    entry(
        "gguf_tokenizer_bos.gguf",
        "tokenizer.ggml.bos_token_id is outside the vocabulary",
        "tokenizer.ggml.bos_token_id",
        gguf_with(replace_kv("tokenizer.ggml.bos_token_id", U32, len(tokens[1]) + 7)),
    )
    entry(
        "gguf_missing_tensor.gguf",
        "no blk.0.ffn_down.weight",
        "blk.0.ffn_down.weight",
        gguf_with(edit_tensors=lambda t: [x for x in t if x[0] != "blk.0.ffn_down.weight"]),
    )
    entry(
        "gguf_wrong_shape.gguf",
        "blk.0.ffn_up.weight is [16, 16], the config says [16, 32]",
        "blk.0.ffn_up.weight",
        gguf_with(edit_tensors=lambda t: [(n, [16, 16], ty, d[: 16 * 16 * 2]) if n == "blk.0.ffn_up.weight" else (n, s, ty, d) for n, s, ty, d in t]),
    )
    nan_half = struct.pack("<H", 0x7E00)
    entry(
        "gguf_nan_weights.gguf",
        "a NaN in blk.0.ffn_down.weight",
        "NaN",
        gguf_with(edit_tensors=lambda t: [(n, s, ty, nan_half + d[2:]) if n == "blk.0.ffn_down.weight" else (n, s, ty, d) for n, s, ty, d in t]),
    )

    # --- safetensors: dense -----------------------------------------------------------------
    q_name = "model.layers.0.self_attn.q_proj.weight"
    q_shape, q_values = weights[q_name]
    dense = {q_name: ("F32", q_shape, f32s(q_values))}
    (OUT / "control/dense.safetensors").write_bytes(st_bytes(dense, {"format": "pt"}))
    dense_bytes = st_bytes(dense, {"format": "pt"})
    entry("st_empty.safetensors", "a zero-length file", "", b"")
    entry("st_header_length_huge.safetensors", "the header claims 2^40 bytes", "", struct.pack("<Q", 1 << 40) + dense_bytes[8:])
    entry("st_truncated_header.safetensors", "cut inside the JSON header", "", dense_bytes[:40])
    entry("st_truncated_data.safetensors", "cut inside the tensor data", "", dense_bytes[:-100])
    entry("st_header_not_json.safetensors", "the header is not JSON", "", struct.pack("<Q", 16) + b"{not json at al}" + dense_bytes[-64:])
    entry(
        "st_shape_mismatch.safetensors",
        "the shape says 16x17 for 16x16 values",
        "",
        st_bytes(dense, {"format": "pt"}, lambda h: h[q_name].update(shape=[16, 17])),
    )
    for what, bits in [("nan", 0x7FC00000), ("inf", 0x7F800000), ("neg_inf", 0xFF800000)]:
        values = bytearray(dense[q_name][2])
        struct.pack_into("<I", values, 4 * 37, bits)
        entry(
            f"dense_{what}.safetensors",
            f"element 37 of {q_name} is {what}",
            f"{q_name}",
            st_bytes({q_name: ("F32", q_shape, bytes(values))}, {"format": "pt"}),
        )

    # --- safetensors: bnb-4bit --------------------------------------------------------------
    _, source = st_read(BNB_SOURCE)
    w = "model.layers.0.mlp.down_proj.weight"
    bnb = {k: v for k, v in source.items() if k == w or k.startswith(w + ".")}
    (OUT / "control/bnb_nf4_dq.safetensors").write_bytes(st_bytes(bnb, {"format": "pt"}))
    qs_key = w + ".quant_state.bitsandbytes__nf4"
    qs = json.loads(bnb[qs_key][2])

    def with_state(state):
        text = json.dumps(state).encode()
        return st_bytes({**bnb, qs_key: ("U8", [len(text)], text)}, {"format": "pt"})

    dtype, shape, absmax = bnb[w + ".absmax"]
    entry(
        "bnb_absmax_short.safetensors",
        "one absmax code too few",
        "absmax",
        st_bytes({**bnb, w + ".absmax": (dtype, [shape[0] - 1], absmax[:-1])}, {"format": "pt"}),
    )
    dtype, shape, packed = bnb[w]
    entry(
        "bnb_packed_short.safetensors",
        "the packed weight is 2 bytes short",
        "packed weight",
        st_bytes({**bnb, w: (dtype, [shape[0] - 2] + shape[1:], packed[:-2])}, {"format": "pt"}),
    )
    entry(
        "bnb_quant_map_short.safetensors",
        "quant_map has 15 entries",
        "quant_map",
        st_bytes({**bnb, w + ".quant_map": ("F32", [15], bnb[w + ".quant_map"][2][:60])}, {"format": "pt"}),
    )
    missing = {k: v for k, v in qs.items() if k != "blocksize"}
    entry("bnb_state_missing_field.safetensors", "the quant state has no blocksize", "blocksize", with_state(missing))
    entry(
        "bnb_state_extra_field.safetensors",
        "the quant state has a field bnb never writes",
        "unknown field",
        with_state({**qs, "rotation": "hadamard"}),
    )
    entry(
        "bnb_state_shape_overflow.safetensors",
        "the quant state's shape multiplies past 2^64",
        "shape",
        with_state({**qs, "shape": [1 << 40, 1 << 40]}),
    )
    entry(
        "bnb_state_bad_blocksize.safetensors",
        "blocksize 100",
        "100",
        with_state({**qs, "blocksize": 100}),
    )
    entry(
        "bnb_state_not_json.safetensors",
        "the quant state is not JSON",
        qs_key,
        st_bytes({**bnb, qs_key: ("U8", [9], b"{quant_ty")}, {"format": "pt"}),
    )
    entry(
        "bnb_state_quant_type.safetensors",
        "quant_type fp4 under a __nf4 key",
        "fp4",
        with_state({**qs, "quant_type": "fp4"}),
    )

    # --- model folders ----------------------------------------------------------------------
    tokenizer = (CANDIDATES / "base/tokenizer.json").read_text()
    write_folder(OUT / "control/tiny", tiny_config(), weights, tokenizer)
    config = tiny_config()
    del config["num_hidden_layers"]
    write_folder(OUT / "folder_config_missing_field", config, weights, tokenizer)
    entry("folder_config_missing_field", "config.json has no num_hidden_layers", "num_hidden_layers")
    write_folder(OUT / "folder_config_not_json", '{"hidden_size": 16,', weights, tokenizer)
    entry("folder_config_not_json", "config.json is cut short", "config.json")
    write_folder(OUT / "folder_config_huge_layers", {**tiny_config(), "num_hidden_layers": 1 << 40}, weights, tokenizer)
    entry("folder_config_huge_layers", "num_hidden_layers is 2^40", "num_hidden_layers")
    write_folder(OUT / "folder_config_huge_vocab", {**tiny_config(), "vocab_size": 1 << 62}, weights, tokenizer)
    entry("folder_config_huge_vocab", "vocab_size is 2^62", "vocab_size")
    write_folder(OUT / "folder_tokenizer_broken", tiny_config(), weights, '{"version": "1.0", "model": {"type": "BPE"')
    entry("folder_tokenizer_broken", "tokenizer.json is cut short", "tokenizer.json")
    bad_tok = json.loads(tokenizer)
    bad_tok["model"]["merges"] = ["qqq zzz"]
    write_folder(OUT / "folder_tokenizer_bad_merge", tiny_config(), weights, json.dumps(bad_tok))
    entry("folder_tokenizer_bad_merge", "tokenizer.json merges tokens it does not have", "tokenizer.json")
    nan_w = dict(weights)
    shape, values = nan_w["model.layers.0.mlp.down_proj.weight"]
    nan_w["model.layers.0.mlp.down_proj.weight"] = (shape, [float("nan")] + values[1:])
    write_folder(OUT / "folder_nan_weights", tiny_config(), nan_w, tokenizer)
    entry("folder_nan_weights", "a NaN in model.layers.0.mlp.down_proj.weight", "NaN")
    short_w = {k: v for k, v in weights.items() if k != "model.norm.weight"}
    write_folder(OUT / "folder_missing_tensor", tiny_config(), short_w, tokenizer)
    entry("folder_missing_tensor", "no model.norm.weight", "model.norm.weight")
    (OUT / "folder_empty").mkdir()
    (OUT / "folder_empty/.keep").write_text("")
    entry("folder_empty", "an empty folder", "config.json")

    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {len(manifest)} entries and the controls to {OUT} ({total / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
