//! The Llama model on Burn, generic over `B: Backend`: embeddings → N × (RMSNorm → GQA attention
//! with RoPE → residual → RMSNorm → SwiGLU MLP → residual) → RMSNorm → lm_head. It follows
//! transformers' `LlamaForCausalLM` with eager attention, in f32.

use std::collections::HashMap;
use std::path::Path;

use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Int, Tensor, TensorData};
use quantbound_codebook::{FloatSlice, QuantizeOptions, Quantized4bit};

use crate::backend::{FusedOps, QuantBackend};
use crate::config::LlamaConfig;
use crate::error::{LlamaError, Result};
use crate::gguf::Gguf;
use crate::layout::{self, LinearId, LinearKind, Scope, DECODER_LINEARS};
use crate::linear::Linear;
use crate::tokenizer::Tokenizer;
use crate::weights::{expected_tensors, GgufWeights, HostTensor, SafetensorsFolder, WeightSource};

/// RMSNorm: x / √(mean(x²) + ε) · w ([`FusedOps::rms_norm`]).
#[derive(Clone, Debug)]
struct RmsNorm<B: Backend> {
    weight: Tensor<B, 1>,
    eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    fn load(weights: &mut Weights<'_, B>, key: &str, eps: f64) -> Self {
        RmsNorm { weight: weights.tensor(key), eps }
    }
}

impl<B: FusedOps> RmsNorm<B> {
    /// # Shapes
    /// - x: [batch, seq, hidden]
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        B::rms_norm(x, &self.weight, self.eps)
    }
}

/// Rotary embeddings: the inverse frequencies, and the cos/sin tables built for the positions
/// each forward needs (pairs are (i, i + head_dim/2), as transformers' `rotate_half`).
#[derive(Clone, Debug)]
struct Rope {
    inv_freq: Vec<f32>,
}

impl Rope {
    /// cos and sin of positions start..start + len, `[len, head_dim]` each, in f32.
    fn tables<B: Backend>(&self, start: usize, len: usize, device: &B::Device) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let head_dim = 2 * self.inv_freq.len();
        let mut cos = Vec::with_capacity(len * head_dim);
        let mut sin = Vec::with_capacity(len * head_dim);
        for p in start..start + len {
            for _ in 0..2 {
                for &f in &self.inv_freq {
                    let angle = p as f32 * f;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
            }
        }
        let make = |v: Vec<f32>| Tensor::from_data(TensorData::new(v, [len, head_dim]), device);
        (make(cos), make(sin))
    }
}

/// Keys and values of earlier positions, per layer, one per kv head (not repeated for GQA).
#[derive(Clone, Debug, Default)]
pub struct KvCache<B: Backend> {
    /// Per layer: [batch, cached, kv_heads, head_dim] each.
    layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    len: usize,
}

impl<B: Backend> KvCache<B> {
    pub fn new() -> Self {
        KvCache { layers: Vec::new(), len: 0 }
    }

    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[derive(Clone, Debug)]
struct Attention<B: Backend> {
    q: Linear<B>,
    k: Linear<B>,
    v: Linear<B>,
    o: Linear<B>,
    /// The biases of q, k, v and o where the config has them ([`LlamaConfig::bias`]), dense
    /// whatever the weights are.
    bias: [Option<Tensor<B, 1>>; 4],
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

impl<B: QuantBackend> Attention<B> {
    fn load(weights: &mut Weights<'_, B>, layer: usize, config: &LlamaConfig) -> Self {
        let bias = [LinearKind::Q, LinearKind::K, LinearKind::V, LinearKind::O]
            .map(|kind| config.bias.contains(&kind).then(|| weights.tensor(&LinearId { layer, kind }.bias_name())));
        let mut linear = |kind| weights.linear(LinearId { layer, kind });
        Attention {
            q: linear(LinearKind::Q),
            k: linear(LinearKind::K),
            v: linear(LinearKind::V),
            o: linear(LinearKind::O),
            bias,
            heads: config.num_heads,
            kv_heads: config.num_kv_heads,
            head_dim: config.head_dim,
        }
    }

    /// # Shapes
    /// - x: [batch, seq, hidden]; cos/sin: [seq, head_dim];
    /// - mask: [batch, 1, seq, cached + seq], true where attention is blocked
    fn forward(
        &self,
        x: Tensor<B, 3>,
        (cos, sin): (&Tensor<B, 2>, &Tensor<B, 2>),
        mask: Tensor<B, 4, Bool>,
        cache: Option<&mut Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    ) -> Tensor<B, 3> {
        let [batch, seq, _] = x.dims();
        // [batch, seq, heads·head_dim] → [batch, seq, heads, head_dim], the layout every step
        // below keeps (no transposes).
        let heads_of = |t: Tensor<B, 3>, heads: usize| t.reshape([batch, seq, heads, self.head_dim]);
        let q = B::rope(heads_of(self.project(0, x.clone()), self.heads), cos, sin);
        let mut k = B::rope(heads_of(self.project(1, x.clone()), self.kv_heads), cos, sin);
        let mut v = heads_of(self.project(2, x), self.kv_heads);
        if let Some(cache) = cache {
            if let Some((past_k, past_v)) = cache.take() {
                k = Tensor::cat(vec![past_k, k], 1);
                v = Tensor::cat(vec![past_v, v], 1);
            }
            *cache = Some((k.clone(), v.clone()));
        }
        let out = B::gqa_attention(q, k, v, mask).reshape([batch, seq, self.heads * self.head_dim]);
        self.project(3, out)
    }

    /// q, k, v or o (`which` 0 … 3) of `x`, plus its bias if it has one.
    fn project(&self, which: usize, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let y = [&self.q, &self.k, &self.v, &self.o][which].forward(x);
        match &self.bias[which] {
            Some(bias) => y + bias.clone().unsqueeze::<3>(),
            None => y,
        }
    }
}

#[derive(Clone, Debug)]
struct Mlp<B: Backend> {
    gate: Linear<B>,
    up: Linear<B>,
    down: Linear<B>,
}

impl<B: QuantBackend> Mlp<B> {
    fn load(weights: &mut Weights<'_, B>, layer: usize) -> Self {
        let mut linear = |kind| weights.linear(LinearId { layer, kind });
        Mlp { gate: linear(LinearKind::Gate), up: linear(LinearKind::Up), down: linear(LinearKind::Down) }
    }

    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.down.forward(silu(self.gate.forward(x.clone())) * self.up.forward(x))
    }
}

#[derive(Clone, Debug)]
struct Block<B: Backend> {
    input_norm: RmsNorm<B>,
    attention: Attention<B>,
    post_norm: RmsNorm<B>,
    mlp: Mlp<B>,
}

impl<B: QuantBackend> Block<B> {
    fn load(weights: &mut Weights<'_, B>, layer: usize, config: &LlamaConfig) -> Self {
        let scope = Scope::layer(layer);
        Block {
            input_norm: RmsNorm::load(weights, &scope.key(layout::INPUT_NORM), config.rms_norm_eps),
            attention: Attention::load(weights, layer, config),
            post_norm: RmsNorm::load(weights, &scope.key(layout::POST_NORM), config.rms_norm_eps),
            mlp: Mlp::load(weights, layer),
        }
    }

    /// The field that holds each decoder linear.
    fn linear(&self, kind: LinearKind) -> &Linear<B> {
        let (a, m) = (&self.attention, &self.mlp);
        match kind {
            LinearKind::Q => &a.q,
            LinearKind::K => &a.k,
            LinearKind::V => &a.v,
            LinearKind::O => &a.o,
            LinearKind::Gate => &m.gate,
            LinearKind::Up => &m.up,
            LinearKind::Down => &m.down,
        }
    }

    fn linear_mut(&mut self, kind: LinearKind) -> &mut Linear<B> {
        let (a, m) = (&mut self.attention, &mut self.mlp);
        match kind {
            LinearKind::Q => &mut a.q,
            LinearKind::K => &mut a.k,
            LinearKind::V => &mut a.v,
            LinearKind::O => &mut a.o,
            LinearKind::Gate => &mut m.gate,
            LinearKind::Up => &mut m.up,
            LinearKind::Down => &mut m.down,
        }
    }
}

/// The loaded weights, taken part by part as each loads itself: dense tensors on the host, and
/// the decoder linears a bnb-4bit checkpoint stores quantized, already 4-bit on the device.
struct Weights<'a, B: Backend> {
    dense: HashMap<String, HostTensor>,
    quantized: HashMap<String, Linear<B>>,
    device: &'a B::Device,
}

impl<B: Backend> Weights<'_, B> {
    /// The dense tensor `key` on the device.
    fn tensor<const D: usize>(&mut self, key: &str) -> Tensor<B, D> {
        let t = self.dense.remove(key).expect("every expected tensor was loaded");
        Tensor::from_data(TensorData::new(t.values, t.shape), self.device)
    }
}

impl<B: QuantBackend> Weights<'_, B> {
    /// The decoder linear `id`: 4-bit as the checkpoint stored it, else dense.
    fn linear(&mut self, id: LinearId) -> Linear<B> {
        let name = id.tensor_name();
        self.quantized.remove(&name).unwrap_or_else(|| Linear::dense(self.tensor(&name)))
    }
}

/// A Llama causal language model.
#[derive(Clone, Debug)]
pub struct Llama<B: Backend> {
    pub config: LlamaConfig,
    embed: Tensor<B, 2>,
    blocks: Vec<Block<B>>,
    norm: RmsNorm<B>,
    lm_head: Linear<B>,
    rope: Rope,
}

/// A folder's `config.json`.
fn folder_config(dir: &Path) -> Result<LlamaConfig> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|source| crate::LlamaError::Io { file: path.display().to_string(), source })?;
    LlamaConfig::from_json(&text, &path.display().to_string())
}

/// Maps the GGUF at `path` and hands its parsed form and file name to `f`; the mapping lives only
/// for the call.
fn with_gguf<T, E: From<LlamaError>>(
    path: &Path,
    f: impl FnOnce(&Gguf<'_>, &str) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let name = path.display().to_string();
    let io = |source| crate::LlamaError::Io { file: name.clone(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    // SAFETY: a read-only mapping, dropped before returning; checkpoints are not rewritten while a
    // model loads.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    f(&Gguf::parse(&bytes, &name)?, &name)
}

/// The configuration and weights of the checkpoint at `path` (a GGUF file, or a Hugging Face
/// folder of one safetensors file or shards), handed to `f` without building the model: for
/// analyses that read one tensor at a time, so that memory follows the largest tensor.
pub fn with_weights<T, E: From<LlamaError>>(
    path: &Path,
    f: impl FnOnce(&LlamaConfig, &dyn WeightSource) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    if path.is_dir() {
        let config = folder_config(path)?;
        return f(&config, &SafetensorsFolder::open(path)?);
    }
    with_gguf(path, |gguf, name| {
        let config = LlamaConfig::from_gguf(gguf, name)?;
        f(&config, &GgufWeights::new(gguf, name))
    })
}

/// A change applied to each weight on the host before it goes to the device (by name).
pub type WeightTransform<'a> = dyn Fn(&str, HostTensor) -> Result<HostTensor> + 'a;

/// The causal mask of `seq` queries after `past` cached positions, `[seq, past + seq]`, true where
/// blocked: query i sits at position past + i and reads keys j ≤ past + i, and with a sliding
/// `window` only those with past + i − j < window (transformers' Mistral mask).
fn causal_mask<B: Backend>(seq: usize, past: usize, window: Option<usize>, device: &B::Device) -> Tensor<B, 2, Bool> {
    let window = window.unwrap_or(usize::MAX);
    let blocked: Vec<bool> =
        (0..seq).flat_map(|i| (0..past + seq).map(move |j| j > past + i || past + i - j >= window)).collect();
    Tensor::from_data(TensorData::new(blocked, [seq, past + seq]), device)
}

/// The attention mask of a right-padded batch: blocked are the keys [`causal_mask`] blocks and
/// the padding keys.
fn batch_mask<B: Backend>(
    [batch, seq, _]: [usize; 3],
    attention_mask: Tensor<B, 2, Int>,
    window: Option<usize>,
) -> Tensor<B, 4, Bool> {
    let causal = causal_mask::<B>(seq, 0, window, &attention_mask.device()).unsqueeze::<4>();
    let padding = attention_mask.equal_elem(0).reshape([batch, 1, 1, seq]);
    causal.expand([batch, 1, seq, seq]).bool_or(padding.expand([batch, 1, seq, seq]))
}

/// The weights bnb quantizes: the decoder linears (q, k, v, o, gate, up, down).
pub fn is_decoder_linear(name: &str) -> bool {
    LinearId::parse(name).is_some()
}

impl<B: QuantBackend> Llama<B> {
    /// Loads every weight the config needs from `source`, passing each through `transform`
    /// (the identity for a dense model; e.g. quantize-then-dequantize for the decoder linears).
    pub fn load(
        config: &LlamaConfig,
        source: &dyn WeightSource,
        device: &B::Device,
        transform: &WeightTransform<'_>,
    ) -> Result<Self> {
        // A layer count the checkpoint does not back (a corrupt or hostile config) is refused
        // before the list of tensors it implies is built.
        let last = Scope::layer(config.num_layers - 1).key(layout::INPUT_NORM);
        if !source.contains(&last) {
            return Err(LlamaError::Config {
                file: source.origin(),
                key: "num_hidden_layers".into(),
                reason: format!("is {}, but the checkpoint has no {last}", config.num_layers),
            });
        }
        // Decoder linears a bnb-4bit checkpoint stores quantized stay 4-bit; the rest is dense.
        let mut weights = Weights { dense: HashMap::new(), quantized: HashMap::new(), device };
        for (name, shape) in expected_tensors(config) {
            if is_decoder_linear(&name) {
                if let Some(q) = source.load_4bit(&name, &shape)? {
                    weights.quantized.insert(name.clone(), Linear::quantized(&q, &name, device)?);
                    continue;
                }
            }
            let host = transform(&name, source.load(&name, &shape)?)?;
            weights.dense.insert(name, host);
        }
        tracing::info!(
            dense = weights.dense.len(),
            quantized = weights.quantized.len(),
            layers = config.num_layers,
            "weights loaded"
        );
        let embed = weights.tensor(layout::EMBED);
        let blocks = (0..config.num_layers).map(|layer| Block::load(&mut weights, layer, config)).collect();
        let norm = RmsNorm::load(&mut weights, layout::FINAL_NORM, config.rms_norm_eps);
        let lm_head =
            Linear::dense(if config.tie_word_embeddings { embed.clone() } else { weights.tensor(layout::LM_HEAD) });
        let rope = Rope { inv_freq: config.rope.inv_freq(config.head_dim) };
        Ok(Llama { config: config.clone(), embed, blocks, norm, lm_head, rope })
    }

    /// The device the model lives on.
    pub fn device(&self) -> B::Device {
        self.embed.device()
    }

    /// The decoder linears, layer by layer in [`DECODER_LINEARS`] order.
    pub fn linears(&self) -> Vec<(LinearId, &Linear<B>)> {
        self.blocks
            .iter()
            .enumerate()
            .flat_map(|(layer, b)| DECODER_LINEARS.map(|kind| (LinearId { layer, kind }, b.linear(kind))))
            .collect()
    }

    /// The decoder linear `id`, if the model has its layer.
    pub fn linear(&self, id: LinearId) -> Option<&Linear<B>> {
        self.blocks.get(id.layer).map(|b| b.linear(id.kind))
    }

    /// A copy of the model with each decoder linear replaced by `replace(id, linear)`, in the
    /// order of [`Llama::linears`]. Embeddings, norms and lm_head are shared, untouched.
    pub fn map_linears(&self, mut replace: impl FnMut(LinearId, &Linear<B>) -> Result<Linear<B>>) -> Result<Self> {
        let mut model = self.clone();
        for (layer, block) in model.blocks.iter_mut().enumerate() {
            for kind in DECODER_LINEARS {
                let linear = block.linear_mut(kind);
                *linear = replace(LinearId { layer, kind }, linear)?;
            }
        }
        Ok(model)
    }

    /// The model with exactly the layers bnb quantizes (the decoder linears) held in 4 bits with
    /// `options`, quantized bit-exactly as bnb does from the weights this model uses.
    pub fn quantize(&self, options: &QuantizeOptions) -> Result<Self> {
        self.map_linears(|id, linear| {
            let name = id.tensor_name();
            let q = Quantized4bit::quantize(&name, FloatSlice::F32(&linear.weight_values()), &linear.shape(), options)?;
            Linear::quantized(&q, &name, &linear.device())
        })
    }

    /// A Hugging Face model folder: `config.json` and its safetensors weights (dense or bnb-4bit).
    pub fn from_folder(dir: &Path, device: &B::Device, transform: &WeightTransform<'_>) -> Result<Self> {
        Self::load(&folder_config(dir)?, &SafetensorsFolder::open(dir)?, device, transform)
    }

    /// [`Llama::from_folder`], and the folder's `tokenizer.json` (padding with the first eos).
    pub fn from_folder_with_tokenizer(
        dir: &Path,
        device: &B::Device,
        transform: &WeightTransform<'_>,
    ) -> Result<(Self, Tokenizer)> {
        let config = folder_config(dir)?;
        let tokenizer = Tokenizer::from_file(&dir.join("tokenizer.json"), config.pad_id())?;
        Ok((Self::load(&config, &SafetensorsFolder::open(dir)?, device, transform)?, tokenizer))
    }

    /// A llama.cpp GGUF file: configuration from its metadata, weights dequantized to f32 with
    /// Hugging Face names and layout. The file is memory-mapped only while loading.
    pub fn from_gguf_file(path: &Path, device: &B::Device, transform: &WeightTransform<'_>) -> Result<Self> {
        with_gguf(path, |gguf, name| {
            let config = LlamaConfig::from_gguf(gguf, name)?;
            Self::load(&config, &GgufWeights::new(gguf, name), device, transform)
        })
    }

    /// [`Llama::from_gguf_file`], and the tokenizer its metadata describes (padding with the first eos).
    pub fn from_gguf_file_with_tokenizer(
        path: &Path,
        device: &B::Device,
        transform: &WeightTransform<'_>,
    ) -> Result<(Self, Tokenizer)> {
        with_gguf(path, |gguf, name| {
            let config = LlamaConfig::from_gguf(gguf, name)?;
            let tokenizer = Tokenizer::from_gguf(gguf, name, config.pad_id())?;
            Ok((Self::load(&config, &GgufWeights::new(gguf, name), device, transform)?, tokenizer))
        })
    }

    /// Logits for a right-padded batch.
    ///
    /// # Shapes
    /// - input_ids, attention_mask: [batch, seq] (mask 1 for real tokens) → [batch, seq, vocab]
    pub fn forward(&self, input_ids: Tensor<B, 2, Int>, attention_mask: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let x = burn::tensor::module::embedding(self.embed.clone(), input_ids);
        self.forward_from(0, x, attention_mask)
    }

    /// [`Llama::forward`], keeping the residual stream that enters each decoder layer: a model
    /// that differs from this one only from layer `l` on gives its logits from `residuals[l]`
    /// ([`Llama::forward_from`]) without recomputing the layers before.
    ///
    /// # Shapes
    /// - input_ids, attention_mask: [batch, seq] → `num_layers` × [batch, seq, hidden], and the
    ///   logits [batch, seq, vocab]
    pub fn forward_traced(
        &self,
        input_ids: Tensor<B, 2, Int>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> (Vec<Tensor<B, 3>>, Tensor<B, 3>) {
        let x = burn::tensor::module::embedding(self.embed.clone(), input_ids);
        let mask = batch_mask(x.dims(), attention_mask, self.config.sliding_window);
        let mut residuals = Vec::with_capacity(self.blocks.len());
        let logits = self.decode(0, x, mask, None, Some(&mut residuals));
        (residuals, logits)
    }

    /// Logits from the residual stream `residual` entering decoder layer `layer` (the embeddings
    /// for layer 0), through layers `layer..` and the head.
    ///
    /// # Shapes
    /// - residual: [batch, seq, hidden]; attention_mask: [batch, seq] → [batch, seq, vocab]
    pub fn forward_from(
        &self,
        layer: usize,
        residual: Tensor<B, 3>,
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let mask = batch_mask(residual.dims(), attention_mask, self.config.sliding_window);
        self.decode(layer, residual, mask, None, None)
    }

    /// Logits for `input_ids` following the `cache.len()` positions already in `cache` (batch 1,
    /// no padding), appending their keys and values to it.
    ///
    /// # Shapes
    /// - input_ids: [1, seq] → [1, seq, vocab]
    pub fn forward_cached(&self, input_ids: Tensor<B, 2, Int>, cache: &mut KvCache<B>) -> Tensor<B, 3> {
        let [batch, seq] = input_ids.dims();
        let past = cache.len;
        let mask = causal_mask::<B>(seq, past, self.config.sliding_window, &input_ids.device())
            .unsqueeze::<4>()
            .expand([batch, 1, seq, past + seq]);
        let x = burn::tensor::module::embedding(self.embed.clone(), input_ids);
        let logits = self.decode(0, x, mask, Some(cache), None);
        cache.len += seq;
        logits
    }

    /// Decoder layers `first..` on the residual stream `x`, then the head; pushes each layer's
    /// input onto `trace` when given.
    fn decode(
        &self,
        first: usize,
        mut x: Tensor<B, 3>,
        mask: Tensor<B, 4, Bool>,
        mut cache: Option<&mut KvCache<B>>,
        mut trace: Option<&mut Vec<Tensor<B, 3>>>,
    ) -> Tensor<B, 3> {
        let seq = x.dims()[1];
        let start = cache.as_ref().map_or(0, |c| c.len);
        let (cos, sin) = self.rope.tables::<B>(start, seq, &x.device());
        if let Some(cache) = cache.as_deref_mut() {
            cache.layers.resize(self.blocks.len(), None);
        }
        for (l, block) in self.blocks.iter().enumerate().skip(first) {
            if let Some(trace) = trace.as_deref_mut() {
                trace.push(x.clone());
            }
            let layer_cache = cache.as_deref_mut().map(|c| &mut c.layers[l]);
            let attention =
                block.attention.forward(block.input_norm.forward(x.clone()), (&cos, &sin), mask.clone(), layer_cache);
            let h = x + attention;
            x = h.clone() + block.mlp.forward(block.post_norm.forward(h));
        }
        self.lm_head.forward(self.norm.forward(x))
    }

    /// Greedy decoding with the KV cache: up to `max_new_tokens` argmax tokens after `prompt`,
    /// stopping after any of `eos`.
    pub fn generate_greedy(&self, prompt: &[u32], max_new_tokens: usize, eos: &[u32], device: &B::Device) -> Vec<u32> {
        let mut cache = KvCache::new();
        let ids = |ids: Vec<i64>| {
            let len = ids.len();
            Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, len]), device)
        };
        let mut next = ids(prompt.iter().map(|&t| i64::from(t)).collect());
        let mut out = Vec::new();
        for _ in 0..max_new_tokens {
            let logits = self.forward_cached(next, &mut cache);
            let [_, seq, vocab] = logits.dims();
            let last = logits.slice([0..1, seq - 1..seq, 0..vocab]).reshape([1, vocab]);
            let token: Vec<i64> = last.argmax(1).into_data().convert::<i64>().to_vec().expect("argmax gives integers");
            let token = token[0] as u32;
            out.push(token);
            if eos.contains(&token) {
                break;
            }
            next = ids(vec![i64::from(token)]);
        }
        out
    }
}
