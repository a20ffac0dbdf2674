//! The checkpoint's layout, stated once: the scoped key builder every part loads its weights
//! through ([`Scope`], as candle's `VarBuilder::pp`), the table of a decoder layer's linears
//! ([`DECODER_LINEARS`]: Hugging Face path, llama.cpp name, shape) and [`LinearId`], which names
//! one linear of the model.

use std::fmt;

use crate::config::LlamaConfig;

/// The token embedding (`[vocab, hidden]`).
pub const EMBED: &str = "model.embed_tokens.weight";
/// The final RMSNorm (`[hidden]`).
pub const FINAL_NORM: &str = "model.norm.weight";
/// The output head (`[vocab, hidden]`), absent when tied to [`EMBED`].
pub const LM_HEAD: &str = "lm_head.weight";
/// A decoder layer's RMSNorm before attention, under [`Scope::layer`] (`[hidden]`).
pub const INPUT_NORM: &str = "input_layernorm.weight";
/// A decoder layer's RMSNorm before the MLP, under [`Scope::layer`] (`[hidden]`).
pub const POST_NORM: &str = "post_attention_layernorm.weight";

/// A key prefix: `Scope::layer(8).pp("mlp").key("down_proj.weight")` is
/// `model.layers.8.mlp.down_proj.weight`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    /// The empty prefix.
    pub fn root() -> Self {
        Scope(String::new())
    }

    /// `model.layers.{layer}`, where decoder layer `layer` keeps its weights.
    pub fn layer(layer: usize) -> Self {
        Scope::root().pp("model").pp("layers").pp(layer)
    }

    /// This prefix extended by one component.
    pub fn pp(&self, part: impl fmt::Display) -> Self {
        if self.0.is_empty() {
            Scope(part.to_string())
        } else {
            Scope(format!("{}.{part}", self.0))
        }
    }

    /// The full key of `leaf` under this prefix.
    pub fn key(&self, leaf: &str) -> String {
        self.pp(leaf).0
    }
}

/// One of a decoder layer's seven linears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LinearKind {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

/// Which rows of a weight llama.cpp permutes for its rotary layout, by head count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopePermute {
    None,
    Heads,
    KvHeads,
}

/// A decoder linear's names and shape.
struct Row {
    kind: LinearKind,
    /// Under the layer's scope, as transformers names it.
    path: &'static str,
    /// Under `blk.N.`, as llama.cpp names it.
    gguf: &'static str,
    permute: RopePermute,
}

/// The table: every fact about a decoder linear's naming lives in this one place.
const ROWS: [Row; 7] = [
    Row { kind: LinearKind::Q, path: "self_attn.q_proj", gguf: "attn_q", permute: RopePermute::Heads },
    Row { kind: LinearKind::K, path: "self_attn.k_proj", gguf: "attn_k", permute: RopePermute::KvHeads },
    Row { kind: LinearKind::V, path: "self_attn.v_proj", gguf: "attn_v", permute: RopePermute::None },
    Row { kind: LinearKind::O, path: "self_attn.o_proj", gguf: "attn_output", permute: RopePermute::None },
    Row { kind: LinearKind::Gate, path: "mlp.gate_proj", gguf: "ffn_gate", permute: RopePermute::None },
    Row { kind: LinearKind::Up, path: "mlp.up_proj", gguf: "ffn_up", permute: RopePermute::None },
    Row { kind: LinearKind::Down, path: "mlp.down_proj", gguf: "ffn_down", permute: RopePermute::None },
];

/// A decoder layer's linears in checkpoint order (q, k, v, o, gate, up, down): the ones bnb
/// quantizes.
pub const DECODER_LINEARS: [LinearKind; 7] =
    [LinearKind::Q, LinearKind::K, LinearKind::V, LinearKind::O, LinearKind::Gate, LinearKind::Up, LinearKind::Down];

impl LinearKind {
    fn row(self) -> &'static Row {
        &ROWS[self as usize]
    }

    /// The path under the layer, e.g. `mlp.down_proj`.
    pub fn path(self) -> &'static str {
        self.row().path
    }

    /// Whose heads llama.cpp interleaves in this weight's rows.
    pub fn rope_permute(self) -> RopePermute {
        self.row().permute
    }

    /// The kind whose path is `path` (`self_attn.q_proj`, …).
    pub fn from_path(path: &str) -> Option<Self> {
        ROWS.iter().find(|r| r.path == path).map(|r| r.kind)
    }

    /// What llama.cpp calls it under `blk.N.` (`attn_q`, …).
    pub fn gguf_name(self) -> &'static str {
        self.row().gguf
    }

    /// The kind llama.cpp calls `gguf` (`attn_q`, …).
    pub fn from_gguf_name(gguf: &str) -> Option<Self> {
        ROWS.iter().find(|r| r.gguf == gguf).map(|r| r.kind)
    }

    /// `[out_features, in_features]` in a model of `config`.
    pub fn shape(self, config: &LlamaConfig) -> [usize; 2] {
        let (h, i) = (config.hidden_size, config.intermediate_size);
        let (q, kv) = (config.num_heads * config.head_dim, config.num_kv_heads * config.head_dim);
        match self {
            LinearKind::Q => [q, h],
            LinearKind::K | LinearKind::V => [kv, h],
            LinearKind::O => [h, q],
            LinearKind::Gate | LinearKind::Up => [i, h],
            LinearKind::Down => [h, i],
        }
    }
}

impl fmt::Display for LinearKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}

impl serde::Serialize for LinearKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.path())
    }
}

impl<'de> serde::Deserialize<'de> for LinearKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let path = String::deserialize(deserializer)?;
        LinearKind::from_path(&path).ok_or_else(|| {
            let known: Vec<&str> = ROWS.iter().map(|r| r.path).collect();
            serde::de::Error::custom(format!("unknown decoder linear {path:?}: expected one of {known:?}"))
        })
    }
}

/// One decoder linear of a model: its layer and kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinearId {
    pub layer: usize,
    pub kind: LinearKind,
}

impl LinearId {
    /// The weight's checkpoint name, e.g. `model.layers.8.mlp.down_proj.weight`.
    pub fn tensor_name(self) -> String {
        Scope::layer(self.layer).pp(self.kind.path()).key("weight")
    }

    /// The bias's checkpoint name, e.g. `model.layers.0.self_attn.q_proj.bias` (Qwen2's).
    pub fn bias_name(self) -> String {
        Scope::layer(self.layer).pp(self.kind.path()).key("bias")
    }

    /// The linear whose weight is called `name`, if it is a decoder linear.
    pub fn parse(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("model.layers.")?.strip_suffix(".weight")?;
        let (layer, path) = rest.split_once('.')?;
        let id = LinearId { layer: layer.parse().ok()?, kind: LinearKind::from_path(path)? };
        // `model.layers.08…` is not a name transformers writes.
        (id.tensor_name() == name).then_some(id)
    }
}

impl fmt::Display for LinearId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tensor_name())
    }
}
