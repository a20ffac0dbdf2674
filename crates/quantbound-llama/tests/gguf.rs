//! The GGUF reader: synthetic files for exact block decoding and bad input, and the real sample
//! model against transformers' dequantized weights (sha256 per tensor, tests/data/smollm2).

use half::f16;
use quantbound_llama::gguf::{Gguf, HfTensor, Value};
use quantbound_llama::LlamaError;
use sha2::{Digest, Sha256};

/// A minimal GGUF writer for the tests: metadata (u32 and string values) and raw tensors.
fn gguf(metadata: &[(&str, Value)], tensors: &[(&str, &[u64], u32, Vec<u8>)]) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    out.extend((tensors.len() as u64).to_le_bytes());
    out.extend((metadata.len() as u64).to_le_bytes());
    let string = |out: &mut Vec<u8>, s: &str| {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    };
    for (key, value) in metadata {
        string(&mut out, key);
        match value {
            Value::U32(v) => {
                out.extend(4u32.to_le_bytes());
                out.extend(v.to_le_bytes());
            }
            Value::String(s) => {
                out.extend(8u32.to_le_bytes());
                string(&mut out, s);
            }
            other => panic!("writer does not handle {other:?}"),
        }
    }
    let mut offset = 0u64;
    for (name, dims, ty, data) in tensors {
        string(&mut out, name);
        out.extend((dims.len() as u32).to_le_bytes());
        for d in *dims {
            out.extend(d.to_le_bytes());
        }
        out.extend(ty.to_le_bytes());
        out.extend(offset.to_le_bytes());
        offset += (data.len() as u64).next_multiple_of(32);
    }
    out.resize(out.len().next_multiple_of(32), 0);
    for (_, _, _, data) in tensors {
        out.extend(data);
        out.resize(out.len().next_multiple_of(32), 0);
    }
    out
}

fn f16_bytes(v: f32) -> [u8; 2] {
    f16::from_f32(v).to_le_bytes()
}

/// One block of each quantized type with known values, plus F32 and F16.
fn sample_file() -> Vec<u8> {
    let mut q8 = f16_bytes(0.5).to_vec();
    q8.extend((0..32).map(|i| (i as i8 - 16) as u8));
    let mut q40 = f16_bytes(0.25).to_vec();
    q40.extend((0..16).map(|j| (j as u8) | ((15 - j as u8) << 4)));
    let mut q41 = f16_bytes(2.0).to_vec();
    q41.extend(f16_bytes(-1.0));
    q41.extend((0..16).map(|j| (j as u8) | ((15 - j as u8) << 4)));
    let f32s: Vec<u8> = [1.5f32, -2.0, 0.25].iter().flat_map(|v| v.to_le_bytes()).collect();
    let f16s: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|&v| f16_bytes(v)).collect();
    gguf(
        &[("general.architecture", Value::String("llama".into())), ("llama.attention.head_count", Value::U32(2))],
        &[
            ("q8", &[32], 8, q8),
            ("q40", &[32], 2, q40),
            ("q41", &[32], 3, q41),
            ("f32", &[3], 0, f32s),
            ("f16", &[2], 1, f16s),
        ],
    )
}

#[test]
fn decodes_every_block_type_exactly() {
    let bytes = sample_file();
    let g = Gguf::parse(&bytes, "synthetic.gguf").unwrap();
    assert_eq!(g.metadata["general.architecture"].as_str(), Some("llama"));
    let values = |name: &str| g.dequantize(g.tensor(name).unwrap()).unwrap();
    let q8: Vec<f32> = (0..32).map(|i| 0.5 * (i as f32 - 16.0)).collect();
    assert_eq!(values("q8"), q8);
    // Element j is byte j's low nibble, element j + 16 its high nibble (ggml's order).
    let q40: Vec<f32> = (0..32).map(|i| 0.25 * (if i < 16 { i as f32 } else { (31 - i) as f32 } - 8.0)).collect();
    assert_eq!(values("q40"), q40);
    let q41: Vec<f32> = (0..32).map(|i| 2.0 * if i < 16 { i as f32 } else { (31 - i) as f32 } - 1.0).collect();
    assert_eq!(values("q41"), q41);
    assert_eq!(values("f32"), vec![1.5, -2.0, 0.25]);
    assert_eq!(values("f16"), vec![1.5, -2.0]);
}

#[test]
fn bad_files_are_errors_not_panics() {
    let bytes = sample_file();
    // Every truncation is an error that names the file.
    for len in (0..bytes.len() - 32).step_by(7) {
        match Gguf::parse(&bytes[..len], "cut.gguf") {
            Ok(_) => panic!("a file cut to {len} bytes parsed"),
            Err(e) => assert!(e.to_string().contains("cut.gguf"), "{e}"),
        }
    }
    let mut wrong = bytes.clone();
    wrong[..4].copy_from_slice(b"GGML");
    assert!(matches!(Gguf::parse(&wrong, "x"), Err(LlamaError::NotGguf { .. })));
    // An unsupported type (10 = Q2_K) is named when the file is opened.
    let k = gguf(&[], &[("blk.0.ffn_down.weight", &[256], 10, vec![0; 84])]);
    let err = Gguf::parse(&k, "k.gguf").err().expect("Q2_K is unsupported");
    assert!(err.to_string().contains("blk.0.ffn_down.weight") && err.to_string().contains("not supported"), "{err}");
    // Found by the gguf fuzz target: dims whose product fits in usize but whose bytes do not
    // (2^62 f32 elements) overflowed the data length.
    let huge = gguf(&[], &[("output_norm.weight", &[1 << 62], 0, vec![0; 4])]);
    let err = Gguf::parse(&huge, "huge.gguf").err().expect("2^62 f32 do not fit");
    assert!(err.to_string().contains("the data of output_norm.weight"), "{err}");
    // Found by the gguf fuzz target (a timeout): a zero dim beside 2^60 rows holds no data but
    // drove the q/k un-permutation over every row.
    let empty = gguf(&[], &[("blk.0.attn_q.weight", &[0, 1 << 60], 0, vec![])]);
    let err = Gguf::parse(&empty, "empty.gguf").err().expect("a tensor of no elements is refused");
    assert!(err.to_string().contains("blk.0.attn_q.weight") && err.to_string().contains("no elements"), "{err}");
}

/// q_proj rows come back in transformers' order: per head, the even rows of llama.cpp's layout
/// and then the odd ones.
#[test]
fn undoes_the_rotary_permutation() {
    // 2 heads × 4 rows, 1 column: row r holds the value r.
    let rows: Vec<u8> = (0..8).flat_map(|r| (r as f32).to_le_bytes()).collect();
    let bytes = gguf(&[("llama.attention.head_count", Value::U32(2))], &[("blk.3.attn_q.weight", &[1, 8], 0, rows)]);
    let g = Gguf::parse(&bytes, "q.gguf").unwrap();
    let HfTensor { name, shape, values } = g.hf_tensor(g.tensor("blk.3.attn_q.weight").unwrap()).unwrap().unwrap();
    assert_eq!(name, "model.layers.3.self_attn.q_proj.weight");
    assert_eq!(shape, vec![8, 1]);
    assert_eq!(values, vec![0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]);
    // Without the head count the error says which key is missing.
    let bytes = gguf(&[], &[("blk.0.attn_k.weight", &[1, 8], 0, vec![0; 32])]);
    let g = Gguf::parse(&bytes, "k.gguf").unwrap();
    let err = g.hf_tensor(g.tensor("blk.0.attn_k.weight").unwrap()).unwrap_err();
    assert!(err.to_string().contains("llama.attention.head_count_kv"), "{err}");
}

/// The real sample: every tensor, dequantized and mapped to HF names and layout, hashes to what
/// transformers' GGUF loader produced (fixtures/smollm2/weights_sha256.json). Needs the sample
/// (`cargo xtask fetch-sample`, which CI runs); without it the test says it was skipped.
#[test]
fn sample_weights_equal_transformers() {
    let path = match quantbound_llama::sample::find() {
        Ok(path) => path,
        Err(e) => {
            eprintln!("SKIPPED sample_weights_equal_transformers: {e}");
            return;
        }
    };
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: read-only mapping of a file nothing else writes during the test.
    let bytes = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    let g = Gguf::parse(&bytes, &path.display().to_string()).unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(include_bytes!("data/smollm2/weights_sha256.json")).unwrap();
    let expected = expected.as_object().unwrap();
    assert_eq!(g.tensors.len(), 272);
    assert_eq!(expected.len(), 272);
    for info in &g.tensors {
        let HfTensor { name, shape, values } =
            g.hf_tensor(info).unwrap().unwrap_or_else(|| panic!("{} is not mapped", info.name));
        let entry = &expected[&name];
        let expected_shape: Vec<usize> =
            entry["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(shape, expected_shape, "{name}");
        let digest: String =
            Sha256::digest(bytemuck::cast_slice::<f32, u8>(&values)).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, entry["sha256_f32_le"].as_str().unwrap(), "{name} ({})", info.name);
    }
    assert_eq!(g.get("llama.attention.head_count", "").unwrap().as_u64(), Some(9));
    assert_eq!(g.get("llama.attention.head_count_kv", "").unwrap().as_u64(), Some(3));
}
