//! Where the model's weights come from: a Hugging Face folder (one safetensors file or shards
//! with `model.safetensors.index.json`, dense or bnb-4bit) or a llama.cpp GGUF, behind one
//! [`WeightSource`], with every tensor checked against the shape the config implies.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors};

use quantbound_codebook::shards::{self, ShardIndex};
use quantbound_codebook::{FloatDtype, FloatVec, Quantized4bit};

use crate::config::LlamaConfig;
use crate::error::{LlamaError, Result};
use crate::gguf::Gguf;
use crate::layout::{self, LinearId, Scope, DECODER_LINEARS};

/// A tensor on the host, as f32, with the dtype it had in the checkpoint.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
    /// The checkpoint's dtype: "F32", "F16", "BF16", or a GGML type for GGUF.
    pub source_dtype: String,
}

/// Anything that yields named weights.
pub trait WeightSource {
    /// Loads `name`, which must have `shape`.
    fn load(&self, name: &str, shape: &[usize]) -> Result<HostTensor>;

    /// `name`'s bnb 4-bit state where the checkpoint stores it quantized (a pre-quantized
    /// bnb-4bit checkpoint), so the model can keep it 4-bit; `None` for a plain tensor.
    fn load_4bit(&self, name: &str, shape: &[usize]) -> Result<Option<Quantized4bit>> {
        let _ = (name, shape);
        Ok(None)
    }

    /// Whether the checkpoint has a tensor for `name`, in whatever form.
    fn contains(&self, name: &str) -> bool;

    /// The file (or files) the weights come from, for messages.
    fn origin(&self) -> String;
}

/// A weight that holds a NaN or an infinity is a broken checkpoint: refused, naming the element,
/// before any number is computed from it.
fn check_finite(tensor: HostTensor, file: &str, name: &str) -> Result<HostTensor> {
    match tensor.values.iter().position(|v| !v.is_finite()) {
        None => Ok(tensor),
        Some(i) => Err(LlamaError::Tensor {
            file: file.to_owned(),
            tensor: name.to_owned(),
            reason: format!("element {i} is {}; a model's weights must be finite", tensor.values[i]),
        }),
    }
}

/// Every weight a Llama of `config` needs, by Hugging Face name, with its shape
/// (`[out_features, in_features]` for linears, as PyTorch stores them).
pub fn expected_tensors(config: &LlamaConfig) -> Vec<(String, Vec<usize>)> {
    let (h, v) = (config.hidden_size, config.vocab_size);
    let mut out = vec![(layout::EMBED.to_owned(), vec![v, h])];
    for layer in 0..config.num_layers {
        let scope = Scope::layer(layer);
        out.push((scope.key(layout::INPUT_NORM), vec![h]));
        out.push((scope.key(layout::POST_NORM), vec![h]));
        out.extend(DECODER_LINEARS.map(|kind| (LinearId { layer, kind }.tensor_name(), kind.shape(config).to_vec())));
        out.extend(config.bias.iter().map(|&kind| (LinearId { layer, kind }.bias_name(), vec![kind.shape(config)[0]])));
    }
    out.push((layout::FINAL_NORM.to_owned(), vec![h]));
    if !config.tie_word_embeddings {
        out.push((layout::LM_HEAD.to_owned(), vec![v, h]));
    }
    out
}

/// One memory-mapped safetensors file and its parsed header.
struct Shard {
    path: PathBuf,
    map: Mmap,
    metadata: Metadata,
    data_start: usize,
}

/// A Hugging Face model folder's safetensors weights.
pub struct SafetensorsFolder {
    shards: Vec<Shard>,
    /// Tensor name → index into `shards`.
    index: HashMap<String, usize>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LlamaError + '_ {
    move |source| LlamaError::Io { file: path.display().to_string(), source }
}

impl SafetensorsFolder {
    /// Opens `model.safetensors`, or the shards `model.safetensors.index.json` lists.
    pub fn open(dir: &Path) -> Result<Self> {
        let files: Vec<PathBuf> = match shards::weights_file(dir) {
            Some(index) if index.ends_with(shards::INDEX_FILE) => {
                ShardIndex::read(&index)?.shard_files().into_iter().map(|f| dir.join(f)).collect()
            }
            Some(single) => vec![single],
            None => {
                return Err(LlamaError::Io {
                    file: dir.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no model.safetensors or model.safetensors.index.json",
                    ),
                })
            }
        };
        let mut shards = Vec::new();
        let mut index = HashMap::new();
        for path in files {
            let file = std::fs::File::open(&path).map_err(io(&path))?;
            // SAFETY: a read-only mapping; checkpoints are not rewritten while a model loads.
            let map = unsafe { Mmap::map(&file) }.map_err(io(&path))?;
            let (header_len, metadata) = SafeTensors::read_metadata(&map).map_err(|e| LlamaError::Tensor {
                file: path.display().to_string(),
                tensor: "(header)".into(),
                reason: format!("not a readable safetensors file: {e}"),
            })?;
            if metadata.data_len() + 8 + header_len > map.len() {
                return Err(LlamaError::Truncated {
                    file: path.display().to_string(),
                    what: "the tensor data".into(),
                    len: map.len(),
                });
            }
            for name in metadata.tensors().keys() {
                index.insert(name.clone(), shards.len());
            }
            shards.push(Shard { path, map, metadata, data_start: 8 + header_len });
        }
        Ok(SafetensorsFolder { shards, index })
    }
}

impl SafetensorsFolder {
    /// The shard holding `name`.
    fn shard(&self, name: &str) -> Result<&Shard> {
        let Some(&i) = self.index.get(name) else {
            return Err(LlamaError::MissingTensor { file: self.origin(), tensor: name.to_owned() });
        };
        Ok(&self.shards[i])
    }
}

impl WeightSource for SafetensorsFolder {
    /// A bnb-4bit weight: packed nibbles (U8) with its quant state beside it.
    fn load_4bit(&self, name: &str, shape: &[usize]) -> Result<Option<Quantized4bit>> {
        let shard = self.shard(name)?;
        if shard.metadata.info(name).expect("indexed from this shard").dtype != Dtype::U8 {
            return Ok(None);
        }
        let file = shard.path.display().to_string();
        let st = SafeTensors::deserialize(&shard.map).map_err(|e| LlamaError::Tensor {
            file: file.clone(),
            tensor: name.to_owned(),
            reason: format!("not a readable safetensors file: {e}"),
        })?;
        if quantbound_codebook::hf::bnb_quant_type(&st, name).is_none() {
            return Ok(None);
        }
        let bad = |reason: String| LlamaError::Tensor { file: file.clone(), tensor: name.to_owned(), reason };
        let q = quantbound_codebook::hf::from_safetensors(&st, name, &file).map_err(|e| bad(e.to_string()))?;
        if q.state.shape != shape {
            return Err(bad(format!("quant_state shape {:?}, expected {shape:?}", q.state.shape)));
        }
        Ok(Some(q))
    }

    /// A dense tensor, or a bnb-4bit one dequantized with quantbound-codebook's bit-exact
    /// flat-block formula.
    fn load(&self, name: &str, shape: &[usize]) -> Result<HostTensor> {
        if let Some(q) = self.load_4bit(name, shape)? {
            let source_dtype = format!(
                "bnb {} ({})",
                q.state.code.quant_type().map_or("custom", |t| t.as_str()),
                q.state.dtype.bnb_name()
            );
            let file = self.shard(name)?.path.display().to_string();
            let tensor = HostTensor { shape: shape.to_vec(), values: q.dequantize().to_f32_vec(), source_dtype };
            return check_finite(tensor, &file, name);
        }
        let shard = self.shard(name)?;
        let file = shard.path.display().to_string();
        let info = shard.metadata.info(name).expect("indexed from this shard");
        let bad = |reason: String| LlamaError::Tensor { file: file.clone(), tensor: name.to_owned(), reason };
        if info.shape != shape {
            return Err(bad(format!("shape {:?}, expected {shape:?}", info.shape)));
        }
        let (start, end) = info.data_offsets;
        let bytes = &shard.map[shard.data_start + start..shard.data_start + end];
        let dtype = FloatDtype::from_safetensors(info.dtype)
            .ok_or_else(|| bad(format!("dtype {:?} is not supported (expected F32, F16 or BF16)", info.dtype)))?;
        let values = FloatVec::from_le_bytes(dtype, bytes).expect("safetensors checked the byte count").to_f32_vec();
        check_finite(
            HostTensor { shape: shape.to_vec(), values, source_dtype: format!("{:?}", info.dtype) },
            &file,
            name,
        )
    }

    fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    fn origin(&self) -> String {
        self.shards.iter().map(|s| s.path.display().to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// A GGUF's tensors under their Hugging Face names.
pub struct GgufWeights<'a> {
    gguf: &'a Gguf<'a>,
    file: String,
    /// Hugging Face name → index into the GGUF's tensors.
    index: HashMap<String, usize>,
}

impl<'a> GgufWeights<'a> {
    pub fn new(gguf: &'a Gguf<'a>, file: &str) -> Self {
        let index = gguf
            .tensors
            .iter()
            .enumerate()
            .filter_map(|(i, t)| crate::gguf::hf_name(&t.name).map(|(name, _)| (name, i)))
            .collect();
        GgufWeights { gguf, file: file.to_owned(), index }
    }
}

impl WeightSource for GgufWeights<'_> {
    fn load(&self, name: &str, shape: &[usize]) -> Result<HostTensor> {
        let &i = self.index.get(name).ok_or_else(|| LlamaError::MissingTensor {
            file: self.file.clone(),
            tensor: match crate::gguf::gguf_name(name) {
                Some(gguf) => format!("{gguf} ({name})"),
                None => name.to_owned(),
            },
        })?;
        let info = &self.gguf.tensors[i];
        let tensor = self.gguf.hf_tensor(info)?.expect("indexed because it maps");
        if tensor.shape != shape {
            return Err(LlamaError::Tensor {
                file: self.file.clone(),
                tensor: format!("{name} ({})", info.name),
                reason: format!("shape {:?}, expected {shape:?}", tensor.shape),
            });
        }
        let ggml_type = self.gguf.ggml_type(info)?;
        let tensor = HostTensor { shape: tensor.shape, values: tensor.values, source_dtype: ggml_type.name().into() };
        check_finite(tensor, &self.file, &format!("{} ({name})", info.name))
    }

    fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    fn origin(&self) -> String {
        self.file.clone()
    }
}
