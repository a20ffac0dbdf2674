//! numpy's random stream against numpy itself (`tests/data/numpy_random.json`, written by
//! `scripts/numpy/random_stream.py` with numpy 2.3.5): SeedSequence(0)'s state words, PCG64's raw
//! output, the 64-bit bounded draw, and `Generator.choice(n, k, replace=False)` index for index
//! on both of its paths, one generator shared across the cases as the seed shares it across
//! layers.

use quantbound_theory::numpy_random::{Pcg64, SeedSequence};
use sha2::{Digest, Sha256};

fn fixture() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/numpy_random.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn u64s(value: &serde_json::Value) -> Vec<u64> {
    value.as_array().unwrap().iter().map(|v| v.as_str().unwrap().parse().unwrap()).collect()
}

#[test]
fn seed_sequence_and_pcg64_match_numpy() {
    let data = fixture();
    let words: Vec<u32> =
        data["seed_sequence_0_u32"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    assert_eq!(SeedSequence::new(0).generate_state_u32(8), words);
    let mut rng = Pcg64::default_rng(0);
    let raw: Vec<u64> = (0..8).map(|_| rng.next_u64()).collect();
    assert_eq!(raw, u64s(&data["pcg64_0_raw"]));
    // integers(0, 2**40 + 12345): bounded on 0..=2**40 + 12344 by the 64-bit Lemire path.
    let mut rng = Pcg64::default_rng(0);
    let drawn: Vec<u64> = (0..8).map(|_| rng.bounded((1 << 40) + 12_344)).collect();
    assert_eq!(drawn, u64s(&data["integers_2_40"]));
}

#[test]
fn choice_without_replacement_matches_numpy_index_for_index() {
    let data = fixture();
    let mut rng = Pcg64::default_rng(0);
    let mut paths = std::collections::BTreeSet::new();
    for case in data["choice"].as_array().unwrap() {
        let (n, k) = (case["n"].as_u64().unwrap() as usize, case["k"].as_u64().unwrap() as usize);
        let idx = rng.choice_without_replacement(n, k).unwrap();
        let ends = |v: &[usize]| v.iter().map(|&i| i as u64).collect::<Vec<_>>();
        let first: Vec<u64> = case["first"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        let last: Vec<u64> = case["last"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(ends(&idx[..first.len()]), first, "n {n}, k {k}: first indices");
        assert_eq!(ends(&idx[idx.len() - last.len()..]), last, "n {n}, k {k}: last indices");
        let bytes: Vec<u8> = idx.iter().flat_map(|&i| (i as u64).to_le_bytes()).collect();
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(digest, case["sha256"].as_str().unwrap(), "n {n}, k {k}: all {k} indices");
        paths.insert(case["path"].as_str().unwrap().to_owned());
    }
    assert_eq!(paths.len(), 2, "both of choice's paths are exercised");
    assert!(rng.choice_without_replacement(3, 4).is_err());
}
