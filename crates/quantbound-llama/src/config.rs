//! The model configuration: Hugging Face `config.json` as it is on disk (either transformers 5's
//! `rope_parameters` layout or the older top-level `rope_theta`/`rope_scaling`), or GGUF metadata,
//! resolved into one [`LlamaConfig`]. Covers Llama 2, 3, 3.1 and 3.2, and the Llama-family
//! `model_type`s that differ from it only in what the config states: Mistral (a sliding attention
//! window) and Qwen2 (biases on q, k and v).

use serde::Deserialize;

use crate::error::{LlamaError, Result};
use crate::gguf::Gguf;
use crate::layout::LinearKind;

/// A token id or a list of them (Llama 3.1+ lists several eos ids).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
enum TokenIds {
    One(u32),
    Many(Vec<u32>),
}

impl TokenIds {
    fn into_vec(self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![id],
            TokenIds::Many(ids) => ids,
        }
    }
}

/// RoPE settings as either layout writes them (`rope_parameters`, or `rope_scaling` beside a
/// top-level `rope_theta`).
#[derive(Clone, Debug, Default, Deserialize)]
struct RawRope {
    rope_theta: Option<f64>,
    rope_type: Option<String>,
    #[serde(rename = "type")]
    legacy_type: Option<String>,
    factor: Option<f64>,
    low_freq_factor: Option<f64>,
    high_freq_factor: Option<f64>,
    original_max_position_embeddings: Option<f64>,
}

/// `config.json` as it is on disk.
#[derive(Clone, Debug, Deserialize)]
struct RawConfig {
    model_type: Option<String>,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    vocab_size: usize,
    rms_norm_eps: f64,
    max_position_embeddings: Option<usize>,
    rope_theta: Option<f64>,
    rope_scaling: Option<RawRope>,
    rope_parameters: Option<RawRope>,
    #[serde(default)]
    tie_word_embeddings: bool,
    bos_token_id: Option<TokenIds>,
    eos_token_id: Option<TokenIds>,
    hidden_act: Option<String>,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    /// Mistral's attention window; Qwen2's only where `use_sliding_window` is true.
    sliding_window: Option<usize>,
    #[serde(default)]
    use_sliding_window: bool,
    dtype: Option<String>,
    torch_dtype: Option<String>,
}

/// Llama 3's frequency-dependent RoPE scaling (`rope_type: "llama3"`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Llama3Scaling {
    pub factor: f64,
    pub low_freq_factor: f64,
    pub high_freq_factor: f64,
    pub original_max_position_embeddings: f64,
}

/// Rotary embedding settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Rope {
    pub theta: f64,
    pub scaling: Option<Llama3Scaling>,
    /// llama.cpp's per-frequency divisors, a GGUF's `rope_freqs.weight`: how convert_hf_to_gguf
    /// stores Llama 3's scaling (1 where kept, `factor` where divided, the blend between).
    pub freq_factors: Option<Vec<f32>>,
}

impl Rope {
    /// The inverse frequencies, in f32 as transformers computes them.
    ///
    /// # Formula
    /// inv_freq[i] = 1 / θ^(2i/d), i < d/2. With llama3 scaling, wavelen = 2π/inv_freq:
    /// above L/low_freq_factor it is divided by `factor`; below L/high_freq_factor it is kept; in
    /// between it is blended, (1 − s)·inv_freq/factor + s·inv_freq with
    /// s = (L/wavelen − low_freq_factor)/(high_freq_factor − low_freq_factor), L the original context.
    ///
    /// With a GGUF's `freq_factors` r, inv_freq[i]/r[i], as llama.cpp's rope divides by them.
    pub fn inv_freq(&self, head_dim: usize) -> Vec<f32> {
        let theta = self.theta as f32;
        let base: Vec<f32> = (0..head_dim / 2).map(|i| 1.0 / theta.powf((2 * i) as f32 / head_dim as f32)).collect();
        if let Some(factors) = &self.freq_factors {
            return base.iter().zip(factors).map(|(f, r)| f / r).collect();
        }
        let Some(s) = self.scaling else { return base };
        let (factor, low, high, context) = (
            s.factor as f32,
            s.low_freq_factor as f32,
            s.high_freq_factor as f32,
            s.original_max_position_embeddings as f32,
        );
        let (low_wavelen, high_wavelen) = (context / low, context / high);
        base.iter()
            .map(|&f| {
                let wavelen = 2.0 * std::f32::consts::PI / f;
                let scaled = if wavelen > low_wavelen { f / factor } else { f };
                let smooth = (context / wavelen - low) / (high - low);
                let blended = (1.0 - smooth) * scaled / factor + smooth * scaled;
                if (high_wavelen..=low_wavelen).contains(&wavelen) {
                    blended
                } else {
                    scaled
                }
            })
            .collect()
    }
}

/// The `config.json` model types read: Llama, and those that are Llama with [`LlamaConfig::bias`]
/// or [`LlamaConfig::sliding_window`].
pub const MODEL_TYPES: [&str; 3] = ["llama", "mistral", "qwen2"];

/// The resolved configuration the model is built from.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f64,
    pub max_position_embeddings: Option<usize>,
    pub rope: Rope,
    pub tie_word_embeddings: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    /// The checkpoint's own dtype, as the config names it (`"bfloat16"`, …), if it does.
    pub dtype: Option<String>,
    /// The decoder linears that add a bias (`[out]`, kept dense; none in Llama).
    pub bias: Vec<LinearKind>,
    /// Keys further back than this many positions are not attended to (Mistral); `None`: all.
    pub sliding_window: Option<usize>,
}

impl LlamaConfig {
    /// The id batches pad with: the first eos (padding is masked, so any id would do), else 0.
    pub fn pad_id(&self) -> u32 {
        self.eos_token_ids.first().copied().unwrap_or(0)
    }

    /// Parses `config.json` text; `file` labels errors.
    pub fn from_json(text: &str, file: &str) -> Result<Self> {
        let error =
            |key: &str, reason: String| LlamaError::Config { file: file.to_owned(), key: key.to_owned(), reason };
        let raw: RawConfig = serde_json::from_str(text).map_err(|e| {
            // serde names the missing or mistyped field in its message.
            error("config.json", e.to_string())
        })?;
        let model_type = raw.model_type.as_deref().unwrap_or("llama");
        if !MODEL_TYPES.contains(&model_type) {
            return Err(error(
                "model_type",
                format!("\"{model_type}\" is not a Llama-family model (expected one of {})", MODEL_TYPES.join(", ")),
            ));
        }
        if let Some(act) = raw.hidden_act.as_deref().filter(|a| *a != "silu") {
            return Err(error("hidden_act", format!("\"{act}\" is not supported (expected \"silu\")")));
        }
        if raw.mlp_bias {
            return Err(error("mlp_bias", "biases on the MLP's linears are not supported".into()));
        }
        // transformers: Qwen2 always adds biases to q, k and v; Llama's attention_bias adds them
        // to q, k, v and o.
        let bias = match model_type {
            "qwen2" => vec![LinearKind::Q, LinearKind::K, LinearKind::V],
            _ if raw.attention_bias => vec![LinearKind::Q, LinearKind::K, LinearKind::V, LinearKind::O],
            _ => Vec::new(),
        };
        let sliding_window = match model_type {
            "mistral" => raw.sliding_window,
            "qwen2" if raw.use_sliding_window => {
                return Err(error(
                    "use_sliding_window",
                    "Qwen2's per-layer sliding window is not supported (use_sliding_window must be false)".into(),
                ))
            }
            _ => None,
        };
        let rope_raw = raw.rope_parameters.clone().or(raw.rope_scaling.clone()).unwrap_or_default();
        let theta = rope_raw.rope_theta.or(raw.rope_theta).unwrap_or(10_000.0);
        let rope_type = rope_raw.rope_type.clone().or(rope_raw.legacy_type.clone()).unwrap_or_else(|| "default".into());
        let scaling = match rope_type.as_str() {
            "default" => None,
            "llama3" => {
                let need = |v: Option<f64>, key: &str| {
                    v.ok_or_else(|| error(&format!("rope_scaling.{key}"), "missing for rope_type \"llama3\"".into()))
                };
                Some(Llama3Scaling {
                    factor: need(rope_raw.factor, "factor")?,
                    low_freq_factor: need(rope_raw.low_freq_factor, "low_freq_factor")?,
                    high_freq_factor: need(rope_raw.high_freq_factor, "high_freq_factor")?,
                    original_max_position_embeddings: need(
                        rope_raw.original_max_position_embeddings,
                        "original_max_position_embeddings",
                    )?,
                })
            }
            other => {
                return Err(error(
                    "rope_type",
                    format!("\"{other}\" is not supported (expected \"default\" or \"llama3\")"),
                ))
            }
        };
        let config = LlamaConfig {
            hidden_size: raw.hidden_size,
            intermediate_size: raw.intermediate_size,
            num_layers: raw.num_hidden_layers,
            num_heads: raw.num_attention_heads,
            num_kv_heads: raw.num_key_value_heads.unwrap_or(raw.num_attention_heads),
            head_dim: raw.head_dim.unwrap_or(raw.hidden_size / raw.num_attention_heads.max(1)),
            vocab_size: raw.vocab_size,
            rms_norm_eps: raw.rms_norm_eps,
            max_position_embeddings: raw.max_position_embeddings,
            rope: Rope { theta, scaling, freq_factors: None },
            tie_word_embeddings: raw.tie_word_embeddings,
            bos_token_id: raw.bos_token_id.and_then(|ids| ids.into_vec().first().copied()),
            eos_token_ids: raw.eos_token_id.map(TokenIds::into_vec).unwrap_or_default(),
            dtype: raw.dtype.or(raw.torch_dtype),
            bias,
            sliding_window,
        };
        config.validate(file)?;
        Ok(config)
    }

    /// The configuration a llama.cpp GGUF records in its metadata (`llama.*` keys).
    pub fn from_gguf(gguf: &Gguf<'_>, file: &str) -> Result<Self> {
        let int = |key: &str| -> Result<usize> {
            gguf.get(key, "an integer")?.as_u64().map(|v| v as usize).ok_or_else(|| LlamaError::Config {
                file: file.to_owned(),
                key: key.to_owned(),
                reason: "not an integer".into(),
            })
        };
        let float = |key: &str| gguf.metadata.get(key).and_then(|v| v.as_f64());
        let arch = gguf.get("general.architecture", "the model architecture")?.as_str().unwrap_or("");
        if arch != "llama" {
            return Err(LlamaError::Config {
                file: file.to_owned(),
                key: "general.architecture".into(),
                reason: format!("\"{arch}\", expected \"llama\""),
            });
        }
        let hidden_size = int("llama.embedding_length")?;
        let num_heads = int("llama.attention.head_count")?;
        let embed = gguf.tensor("token_embd.weight")?;
        let head_dim = gguf
            .metadata
            .get("llama.attention.key_length")
            .and_then(|v| v.as_u64())
            .map_or(hidden_size / num_heads.max(1), |v| v as usize);
        let config = LlamaConfig {
            hidden_size,
            intermediate_size: int("llama.feed_forward_length")?,
            num_layers: int("llama.block_count")?,
            num_heads,
            num_kv_heads: gguf
                .metadata
                .get("llama.attention.head_count_kv")
                .and_then(|v| v.as_u64())
                .map_or(num_heads, |v| v as usize),
            head_dim,
            vocab_size: embed.shape()[0],
            rms_norm_eps: float("llama.attention.layer_norm_rms_epsilon").unwrap_or(1e-5),
            max_position_embeddings: gguf
                .metadata
                .get("llama.context_length")
                .and_then(|v| v.as_u64())
                .map(|v| v as usize),
            rope: Rope {
                theta: float("llama.rope.freq_base").unwrap_or(10_000.0),
                scaling: None,
                freq_factors: Self::gguf_freq_factors(gguf, file, head_dim)?,
            },
            tie_word_embeddings: gguf.tensor("output.weight").is_err(),
            bos_token_id: gguf.metadata.get("tokenizer.ggml.bos_token_id").and_then(|v| v.as_u64()).map(|v| v as u32),
            eos_token_ids: gguf
                .metadata
                .get("tokenizer.ggml.eos_token_id")
                .and_then(|v| v.as_u64())
                .map(|v| vec![v as u32])
                .unwrap_or_default(),
            dtype: None,
            bias: Vec::new(),
            sliding_window: None,
        };
        config.validate(file)?;
        Ok(config)
    }

    /// A GGUF's `rope_freqs.weight`, if it has one: head_dim/2 positive finite divisors.
    fn gguf_freq_factors(gguf: &Gguf<'_>, file: &str, head_dim: usize) -> Result<Option<Vec<f32>>> {
        let Ok(info) = gguf.tensor("rope_freqs.weight") else { return Ok(None) };
        let factors = gguf.dequantize(info)?;
        if factors.len() != head_dim / 2 || factors.iter().any(|r| !(r.is_finite() && *r > 0.0)) {
            return Err(LlamaError::Config {
                file: file.to_owned(),
                key: "rope_freqs.weight".into(),
                reason: format!(
                    "expected {} positive finite frequency factors (head_dim/2), found {} values",
                    head_dim / 2,
                    factors.len()
                ),
            });
        }
        Ok(Some(factors))
    }

    fn validate(&self, file: &str) -> Result<()> {
        let error =
            |key: &str, reason: String| Err(LlamaError::Config { file: file.to_owned(), key: key.to_owned(), reason });
        let positive = [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return error(key, "must be positive".into());
        }
        if u32::try_from(self.vocab_size).is_err() {
            return error("vocab_size", format!("{} is more than 32-bit token ids can number", self.vocab_size));
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return error(
                "num_key_value_heads",
                format!("{} does not divide num_attention_heads {}", self.num_kv_heads, self.num_heads),
            );
        }
        if self.sliding_window == Some(0) {
            return error("sliding_window", "must be positive (or null for none)".into());
        }
        if !self.head_dim.is_multiple_of(2) {
            return error("head_dim", format!("{} is odd; rotary embeddings need pairs", self.head_dim));
        }
        if !(self.rms_norm_eps > 0.0 && self.rms_norm_eps.is_finite()) {
            return error("rms_norm_eps", format!("{} must be positive", self.rms_norm_eps));
        }
        if !(self.rope.theta > 0.0 && self.rope.theta.is_finite()) {
            return error("rope_theta", format!("{} must be positive", self.rope.theta));
        }
        Ok(())
    }
}
